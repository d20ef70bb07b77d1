"""A function as the trial: `fn(config, report)` trains in hpsearch's process, and pruning raises
inside `report`."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest
import torch
from click.testing import CliRunner
from optuna.trial import TrialState

import hpsearch
from hpsearch.cli import cli

STORAGE = "sqlite:///studies/hpsearch.db"
# A function in a file of its own, as `--train FILE.py:FUNCTION` names it: its loss is best at
# lr = 1e-2; it swallows the stop that pruning raises and carries on, as a careless loop might.
SWALLOWING = """
import math

calls = []


def train(config, report):
    lr = config["hyperparameters"]["lr"]
    for index, step in enumerate(range(0, config["steps"] + 1, config["eval_every"])):
        try:
            report(step, abs(math.log10(lr) + 2.0) + 1.0 / (1 + step), train_loss=1.0)
        except Exception:
            calls.append(("went on after", step))
    return 123.0
"""


def trials(study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=STORAGE).trials


def test_a_function_from_a_file_on_the_command_line(workdir: Path) -> None:
    Path("mytrain.py").write_text(SWALLOWING)
    result = CliRunner().invoke(cli, [
        "tune", "--train", "mytrain.py:train", "--optimizers", "adamw", "--steps", "80",
        "--eval-every", "10", "--n-trials", "10", "--sampler", "random", "--study", "fn"])
    assert result.exit_code == 0, result.output
    done = trials("fn")
    pruned = [t for t in done if t.state == TrialState.PRUNED]
    assert pruned, "no trial was pruned"
    for trial in pruned:  # it caught the stop and returned 123: still pruned, at its step
        record = trial.user_attrs["record"]
        assert record["reason"] == f"pruned by the pruner after step {record['point_steps'][-1]}"
    for trial in done:
        if trial.state == TrialState.COMPLETE:  # the last point's value, not the number returned
            lr = trial.user_attrs["config"]["hyperparameters"]["lr"]
            assert trial.value == pytest.approx(abs(math.log10(lr) + 2) + 1 / 81)
            assert trial.user_attrs["record"]["metrics"] == {"train_loss": 1.0}


def real_training(config: dict, report) -> None:  # type: ignore[no-untyped-def]
    """A real model trained with the configuration through the public builders."""
    torch.manual_seed(config["seed"])
    x = torch.randn(256, 8)
    y = x @ torch.randn(8, 1)
    model = torch.nn.Linear(8, 1)
    optimizer = hpsearch.build_optimizer(config, model)
    scheduler = hpsearch.build_scheduler(config, optimizer, total_steps=config["steps"])
    for step in range(1, config["steps"] + 1):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        if scheduler is not None:  # None: a constant rate
            scheduler.step()
        if step % config["eval_every"] == 0:
            report(step, loss.item())


def test_the_python_api_trains_a_function(workdir: Path) -> None:
    result = hpsearch.tune(train=real_training, optimizers="adam,sgd", steps=40, eval_every=10,
                           n_trials=6, study="api", storage=STORAGE, pruner="none")
    done = trials("api")
    assert [t.state for t in done] == [TrialState.COMPLETE] * 6
    assert {t.params["optimizer"] for t in done} <= {"adam", "sgd"}
    assert done[0].user_attrs["record"]["point_steps"] == [10, 20, 30, 40]
    assert result.best_config["optimizer"] in ("adam", "sgd")
    assert done[0].user_attrs["record"]["command"] == f"{__name__}:real_training"


def returns_only(config: dict, report) -> float:  # type: ignore[no-untyped-def]
    return config["hyperparameters"]["lr"] * 10


def raises(config: dict, report) -> None:  # type: ignore[no-untyped-def]
    raise ValueError("the data loader broke")


def test_a_returned_number_and_a_raised_error(workdir: Path) -> None:
    hpsearch.tune(train=returns_only, optimizers="sgd", epochs=3, n_trials=2, study="returns",
                  storage=STORAGE)
    for trial in trials("returns"):
        assert trial.value == pytest.approx(trial.params["sgd_lr"] * 10)
    result = hpsearch.tune(train=raises, optimizers="sgd", epochs=3, n_trials=2, study="raises",
                           storage=STORAGE)
    assert "3 trials in a row failed" in str(result.stopped)
    assert {t.user_attrs["record"]["reason"] for t in trials("raises")} == {
        "ValueError: the data loader broke"}


def test_workers_need_a_function_they_can_import(workdir: Path) -> None:
    def local(config: dict, report) -> float:  # type: ignore[no-untyped-def]
        return 1.0

    with pytest.raises(hpsearch.ConfigError, match="each worker imports the function by name"):
        hpsearch.tune(train=local, workers=2, epochs=2, n_trials=2, storage=STORAGE)
    assert not Path("studies/hpsearch.db").exists()


def test_resuming_needs_the_function_again(workdir: Path) -> None:
    hpsearch.tune(train=returns_only, optimizers="sgd", epochs=2, n_trials=1, study="again",
                  storage=STORAGE)
    with pytest.raises(hpsearch.StudyMismatchError, match="give it again with --train"):
        hpsearch.tune("small", study="again", n_trials=2, storage=STORAGE)
    with pytest.raises(hpsearch.StudyMismatchError, match="train="):
        hpsearch.tune(train=raises, optimizers="sgd", epochs=2, n_trials=2, study="again",
                      storage=STORAGE)


def test_a_function_file_is_imported_once_a_process(workdir: Path) -> None:
    Path("counted.py").write_text("import os\nos.makedirs('imports', exist_ok=True)\n"
                                  "open(f'imports/{os.getpid()}-{len(os.listdir(\"imports\"))}', 'w')"
                                  ".close()\n\ndef train(config, report):\n    return 1.0\n")
    result = CliRunner().invoke(cli, ["tune", "--train", "counted.py:train", "--optimizers", "sgd",
                                      "--epochs", "2", "--n-trials", "4", "--study", "once"])
    assert result.exit_code == 0, result.output
    assert len(list(Path("imports").iterdir())) == 1  # the check before the study, and 4 trials


SLOW = """
import time


def train(config, report):
    for step in range(1, 6):
        time.sleep(0.3)  # a training step that takes its time
        report(step, 1.0 / step)
"""


def test_the_trial_timeout_is_checked_at_each_report_and_workers_import_by_name(
        workdir: Path) -> None:
    Path("slow.py").write_text(SLOW)
    result = CliRunner().invoke(cli, [
        "tune", "--train", "slow.py:train", "--optimizers", "sgd", "--epochs", "5",
        "--n-trials", "2", "--trial-timeout", "0.5", "--workers", "2", "--study", "slow"])
    assert result.exit_code == 0, result.output
    done = trials("slow")
    assert len(done) == 2 and all(t.state == TrialState.PRUNED for t in done)
    for trial in done:  # stopped at the report after the timeout, by whichever worker ran it
        record = trial.user_attrs["record"]
        assert record["reason"].startswith("trial timeout") and record["epochs_run"] < 5
    assert len({t.user_attrs["worker"]["pid"] for t in done}) >= 1
