"""`tune --batch-trials`: the trials of a batch are each their own Optuna trial, with the numbers they
get one at a time (float32: within 1e-4 for at least 7 of 8), their own seed and record; a stopping
signal leaves none of them RUNNING."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from click.testing import CliRunner

from hpsearch.cli import cli
from hpsearch.training.batched.auto import CANDIDATES, MIN_GAIN, batch_for, choose_batch
from tests.waiting import wait_for_trials

DB = "sqlite:///studies/hpsearch.db"
FLAGS = ["--task", "small", "--sampler", "random", "--pruner", "none", "--n-trials", "8", "--epochs",
         "4", "--seed", "5"]


def test_a_batch_of_enqueued_trials_gives_what_they_give_one_at_a_time(workdir: Path) -> None:
    alone = CliRunner().invoke(cli, ["tune", *FLAGS, "--study", "alone"])
    assert alone.exit_code == 0, alone.output
    drawn = optuna.load_study(study_name="alone", storage=DB).trials
    fresh = optuna.create_study(study_name="together", storage=DB, direction="maximize")
    for trial in drawn:
        fresh.enqueue_trial(trial.params)
    together = CliRunner().invoke(cli, ["tune", *FLAGS, "--study", "together", "--batch-trials", "8"])
    assert together.exit_code == 0, together.output
    batched = optuna.load_study(study_name="together", storage=DB).trials
    assert [t.params for t in batched] == [t.params for t in drawn]
    records = [t.user_attrs["record"] for t in batched]
    in_batches = [r for r in records if r.get("trials_in_batch", 1) > 1]
    assert len(in_batches) >= 2 and all(r["seconds_shared"] for r in in_batches)
    assert all(r["batch_id"] in {t.number for t in batched} for r in in_batches)
    assert [r["seed"] for r in records] == [t.user_attrs["record"]["seed"] for t in drawn]
    close = [abs(a.value - b.value) <= 1e-4 for a, b in zip(batched, drawn, strict=True)]
    assert sum(close) >= 7, [(a.value, b.value) for a, b in zip(batched, drawn, strict=True)]


SCRIPT = """
import sys
from hpsearch.cli import main
sys.argv = ["hpsearch", "tune", "--task", "small", "--optimizers", "adam", "--n-trials", "8",
            "--epochs", "400", "--batch-trials", "4", "--pruner", "none", "--study", "stopped"]
main()
"""


def test_ctrl_c_fails_every_trial_of_the_batch_and_none_stays_running(workdir: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:  # four trials taken together: RUNNING until their batch ends
        wait_for_trials(process, "stopped", running=4)  # all four training
    except BaseException:
        process.kill()
        raise
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    trials = optuna.load_study(study_name="stopped", storage=DB).trials
    assert len(trials) == 4 and all(t.state.name == "FAIL" for t in trials), output
    assert {t.user_attrs["reason"] for t in trials} == {"stopped by SIGINT"}


def test_auto_measures_and_says_what_it_chose_and_bad_values_are_one_line(workdir: Path) -> None:
    result = CliRunner().invoke(cli, ["tune", "--task", "small", "--n-trials", "4", "--epochs", "1",
                                      "--batch-trials", "auto", "--optimizers", "adam"])
    assert result.exit_code == 0, result.output
    said = [line for line in result.output.splitlines() if "batch trials:" in line]
    assert len(said) == 1 and "measured gains over one at a time 8: " in said[0]
    chosen = 1 if "one at a time (" in said[0] else int(said[0].split("batch trials: ")[1].split()[0])
    measured = said[0].split("measured gains over one at a time ")[1]
    gains = {int(n): float(gain) for n, gain in re.findall(r"(\d+): (\d+\.\d+)x", measured)}
    assert list(gains) == list(CANDIDATES) and chosen == batch_for(gains)  # the rule, on its timings
    sizes = {t.user_attrs["record"].get("trials_in_batch", 1)
             for t in optuna.load_study(study_name="small", storage=DB).trials}
    assert sizes == {min(chosen, 4)}  # four trials of one optimizer: one batch, or none
    for bad in ("0", "x"):
        refused = CliRunner().invoke(cli, ["tune", "--task", "small", "--batch-trials", bad])
        assert refused.exit_code == 2 and len(refused.output.strip().splitlines()) == 1
        assert f"batch_trials '{bad}' is neither a positive whole number nor auto" in refused.output


@pytest.mark.parametrize("gains, chosen, shown", [
    ({8: MIN_GAIN - 0.01, 32: 0.5}, 1, "8: 1.19x, 32: 0.50x"),  # below the threshold
    ({8: MIN_GAIN, 32: 0.9}, 8, "8: 1.20x, 32: 0.90x"),  # at it
    ({8: 1.5, 32: 2.5}, 32, "8: 1.50x, 32: 2.50x"),  # the larger gain wins
    ({8: 3.0, 32: 2.5}, 8, "8: 3.00x, 32: 2.50x"),
])
def test_auto_batches_only_where_the_measured_gain_reaches_min_gain(
        gains: dict[int, float], chosen: int, shown: str) -> None:
    def alone(n: int) -> float:  # seconds per trial, one at a time
        return 1.0

    def together(n: int) -> float:  # seconds per trial, in a batch of n
        return 1.0 / gains.get(n, 1.0)  # the warm-up's batch of 2: no gain

    how = "one" if chosen == 1 else str(chosen)
    assert choose_batch(alone, together) == (
        chosen, f"batch trials: {how} at a time (measured gains over one at a time {shown})")


def test_a_batched_comparison_draws_and_scores_what_it_does_one_at_a_time(workdir: Path) -> None:
    args = ["compare", "--task", "small", "--optimizers", "adam,sgd,lbfgs", "--budget", "4",
            "--seeds", "2", "--epochs", "3", "--studies", "1"]
    one = CliRunner().invoke(cli, [*args, "--prefix", "one"])
    assert one.exit_code == 0, one.output
    batched = CliRunner().invoke(cli, [*args, "--prefix", "four", "--batch-trials", "4"])
    assert batched.exit_code == 0, batched.output
    alone = optuna.load_study(study_name="one-small", storage=DB).trials
    together = optuna.load_study(study_name="four-small", storage=DB).trials

    def slot(trial: optuna.trial.FrozenTrial) -> tuple[Any, ...]:
        attrs = trial.user_attrs
        return attrs["phase"], attrs["optimizer"], attrs.get("seed_index"), sorted(trial.params.items())

    # The plan's slots in the same order, the same draws, each trained as alone (float32).
    assert [slot(t) for t in together] == [slot(t) for t in alone]
    assert all(abs(a.value - b.value) <= 1e-4 for a, b in zip(alone, together, strict=True))
    records = [t.user_attrs["record"] for t in together]
    batches: dict[int, set[str]] = {}
    for trial, entry in zip(together, records, strict=True):
        if "batch_id" in entry:
            batches.setdefault(entry["batch_id"], set()).add(trial.user_attrs["optimizer"])
    assert {"adam", "sgd"} in batches.values()  # a round's draws of both, as one batch
    assert all("lbfgs" not in optimizers for optimizers in batches.values())  # one at a time
    assert any(t.user_attrs["phase"] == "rerun" and "batch_id" in r
               for t, r in zip(together, records, strict=True))
    assert "== four-small" in batched.output and "mean test accuracy" in batched.output  # its verdict


def test_a_batched_scale_sweep_runs_the_same_plan_to_the_same_losses(workdir: Path) -> None:
    args = ["scale", "--optimizers", "adamw", "--parametrization", "mup", "--widths", "16,32",
            "--steps", "10", "--context", "8", "--batch-size", "4", "--quiet"]
    for name, batch in (("one", "1"), ("eight", "8")):
        result = CliRunner().invoke(cli, [*args, "--study", name, "--batch-trials", batch])
        assert result.exit_code == 0, result.output

    def runs(name: str) -> dict[tuple[int, float, int], optuna.trial.FrozenTrial]:
        return {(t.user_attrs["width"], round(t.user_attrs["lr"], 12), t.user_attrs["seed_index"]): t
                for t in optuna.load_study(study_name=name, storage=DB).trials}

    one, eight = runs("one"), runs("eight")
    assert one.keys() == eight.keys()  # the plan does not depend on how runs are batched
    assert max(abs(one[k].value - eight[k].value) for k in one) <= 1e-4  # float32
    sizes = [t.user_attrs["record"].get("trials_in_batch", 1) for t in eight.values()]
    assert max(sizes) >= 5  # a cell's coarse pass, five rates at once


def test_a_killed_batch_is_reclaimed_and_retried_like_any_trial(workdir: Path) -> None:
    command = [sys.executable, "-m", "hpsearch", "tune", "--task", "small", "--optimizers", "adam",
               "--n-trials", "6", "--epochs", "60", "--batch-trials", "3", "--pruner", "none",
               "--study", "killed"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_trials(process, "killed", running=3)  # the batch is training
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    lost = [t.number for t in optuna.load_study(study_name="killed", storage=DB).trials
            if t.state.name == "RUNNING"]
    assert len(lost) == 3
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"reclaimed trials {lost}" in rerun.stderr
    trials = optuna.load_study(study_name="killed", storage=DB).trials
    assert not [t for t in trials if t.state.name == "RUNNING"]
    assert sum(t.state.name == "COMPLETE" for t in trials) == 6
    retried = {t.user_attrs.get("retry_of") for t in trials} - {None}
    assert retried == set(lost)  # each killed trial retried once, with what it had drawn


GATED = """
import torch


class Gate(torch.nn.Module):  # Python control flow on a tensor's value: vmap cannot trace it
    def forward(self, x):
        return x if x.detach().sum().item() > 0 else -x


def build(in_features, out_features):
    return torch.nn.Sequential(torch.nn.Linear(in_features, out_features), Gate())
"""


def test_a_model_vmap_cannot_trace_trains_one_at_a_time_said_once(workdir: Path) -> None:
    (workdir / "gated.py").write_text(GATED)
    result = CliRunner().invoke(cli, ["tune", "--task", "small", "--model", "gated.py:build",
                                      "--optimizers", "adam", "--n-trials", "4", "--epochs", "2",
                                      "--batch-trials", "2"])
    assert result.exit_code == 0, result.output
    said = [line for line in result.output.splitlines() if "cannot be traced" in line]
    assert len(said) == 1 and said[0].startswith("batched trials: the model cannot be traced")
    trials = optuna.load_study(study_name="small", storage=DB).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    assert all("batch_id" not in t.user_attrs["record"] for t in trials)  # each trained alone


def test_a_value_torch_refuses_fails_its_own_trial_and_the_batch_goes_on(workdir: Path) -> None:
    CliRunner().invoke(cli, ["tune", *FLAGS, "--study", "refused", "--n-trials", "0"])  # made
    study = optuna.create_study(study_name="refused", storage=DB, load_if_exists=True)
    good = {"optimizer": "adam", "adam_lr": 1e-3, "adam_one_minus_beta1": 0.1, "adam_beta2": 0.999,
            "adam_eps": 1e-8, "adam_weight_decay_on": False, "schedule": "none", "clip_grad": False}
    study.enqueue_trial({**good, "adam_beta2": 1.5})  # Optuna takes it (out of range); torch not
    study.enqueue_trial(good)
    result = CliRunner().invoke(cli, ["tune", *FLAGS, "--study", "refused", "--n-trials", "2",
                                      "--batch-trials", "2"])
    assert result.exit_code == 0, result.output
    trials = optuna.load_study(study_name="refused", storage=DB).trials
    assert [t.state.name for t in trials[:2]] == ["FAIL", "COMPLETE"]  # then one more, for the total
    assert "Invalid beta parameter at index 1: 1.5" in trials[0].user_attrs["record"]["reason"]


def test_a_batched_trial_stored_before_the_rename_lists_its_trials_in_batch() -> None:
    """Records once called the batch's trial count `batch_size`, the mini-batch's word: they read
    as `trials_in_batch`, and the trials listing names that column alone."""
    from hpsearch import record
    from hpsearch.report.trials_table import trial_row

    def stored(batch: dict[str, Any]) -> optuna.trial.FrozenTrial:
        return optuna.trial.create_trial(
            params={"optimizer": "adam"},
            distributions={"optimizer": optuna.distributions.CategoricalDistribution(["adam"])},
            value=0.9, user_attrs={"record": {"seed": 1, **batch}})

    for batch in ({"batch_id": 3, "batch_size": 8, "seconds_shared": True},
                  {"batch_id": 3, "trials_in_batch": 8, "seconds_shared": True}):
        row = trial_row(stored(batch), None)
        assert (row["batch_id"], row["trials_in_batch"]) == (3, 8) and "batch_size" not in row
        assert record.trial_attrs(stored(batch))[record.TRIALS_IN_BATCH] == 8
    alone = trial_row(stored({}), None)
    assert "trials_in_batch" not in alone and "batch_size" not in alone
