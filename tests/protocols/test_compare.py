"""`hpsearch compare`: equal budgets, torch's defaults apart, re-runs with fresh seeds scored on
the test split, resumable after a kill, shared by workers."""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState

from hpsearch.cli import cli
from hpsearch.protocols.compare_plan import rerun_source
from hpsearch.record import trial_attrs
from hpsearch.space.optimizers import OPTIMIZERS as REGISTRY
from tests.waiting import wait_for_trials

DB = "sqlite:///studies/hpsearch.db"
OPTIMIZERS = ("sgd", "adam", "lbfgs")
BUDGET, SEEDS = 3, 2
COMMAND = [sys.executable, "-m", "hpsearch", "compare", "--task", "small", "--epochs", "3",
           "--optimizers", ",".join(OPTIMIZERS), "--budget", str(BUDGET), "--seeds", str(SEEDS),
           "--studies", "1"]


def load(name: str = "compare-small") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=DB)


def check_protocol(study: optuna.Study) -> None:
    """Every optimizer: one default trial, exactly BUDGET search trials, SEEDS re-runs of its best
    search configuration with distinct seeds; every finished trial scored on the test split."""
    trials = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert not [t for t in study.trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    count = collections.Counter((t.params["optimizer"], t.user_attrs["phase"]) for t in trials)
    for key in OPTIMIZERS:
        assert count[key, "default"] == 1 and count[key, "search"] == BUDGET
        assert count[key, "rerun"] == SEEDS
    assert len(trials) == len(OPTIMIZERS) * (1 + BUDGET + SEEDS)
    seeds = [trial_attrs(t)["seed"] for t in trials]
    assert len(set(seeds)) == len(seeds)  # fresh initialisation and batch order every time
    for key in OPTIMIZERS:
        best = rerun_source(study.trials, key, "maximize")
        assert best is not None
        reruns = [t for t in trials if t.params["optimizer"] == key
                  and t.user_attrs["phase"] == "rerun"]
        assert {t.user_attrs["rerun_of"] for t in reruns} == {best.number}
        assert sorted(t.user_attrs["seed_index"] for t in reruns) == list(range(SEEDS))
        assert all(t.params == best.params for t in reruns)
        default = next(t for t in trials if t.params["optimizer"] == key
                       and t.user_attrs["phase"] == "default")
        assert default.user_attrs["config"]["hyperparameters"]["lr"] == REGISTRY[key].defaults["lr"]
        assert default.user_attrs["config"]["schedule"] == {"name": "none"}
    assert all(0.0 <= trial_attrs(t)["test_value"] <= 1.0 for t in trials
               if not trial_attrs(t).get("diverged"))
    assert study.user_attrs["protocol"]["budget"] == BUDGET


def test_compare_gives_every_optimizer_its_budget_and_fresh_seeds(workdir: Path) -> None:
    result = CliRunner().invoke(cli, COMMAND[3:])
    assert result.exit_code == 0, result.output
    study = load()
    check_protocol(study)
    # A rerun of the finished comparison runs nothing and changes nothing.
    before = [(t.number, t.state, t.value, t.user_attrs) for t in study.trials]
    assert CliRunner().invoke(cli, COMMAND[3:]).exit_code == 0
    assert [(t.number, t.state, t.value, t.user_attrs) for t in load().trials] == before
    # A larger budget continues the search; the re-runs follow the best configuration found.
    result = CliRunner().invoke(cli, [*COMMAND[3:], "--budget", str(BUDGET + 1)])
    assert result.exit_code == 0, result.output
    count = collections.Counter((t.params["optimizer"], t.user_attrs["phase"])
                                for t in load().trials if t.state == TrialState.COMPLETE)
    assert all(count[key, "search"] == BUDGET + 1 for key in OPTIMIZERS)


def test_a_killed_comparison_continues_where_it_stopped(workdir: Path) -> None:
    command = [*COMMAND, "--epochs", "40"]  # long enough trials to be caught running
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_trials(process, "compare-small", finished=5, deadline_s=240)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    before = load().trials
    lost = [t for t in before if t.state == TrialState.RUNNING]
    assert len(lost) == 1
    finished = {t.number: (t.params, t.value, t.user_attrs) for t in before
                if t.state.is_finished()}

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    study = load()
    assert {t.number: (t.params, t.value, t.user_attrs) for t in study.trials
            if t.number in finished} == finished
    killed = study.trials[lost[0].number]
    assert killed.state == TrialState.FAIL
    retry = next(t for t in study.trials if t.user_attrs.get("retry_of") == killed.number)
    assert retry.user_attrs["phase"] == killed.user_attrs["phase"]
    check_protocol(study)


def test_two_workers_share_a_comparison_exactly(workdir: Path) -> None:
    result = subprocess.run([*COMMAND, "--workers", "2"], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "database is locked" not in result.stderr
    check_protocol(load())
    from tests.conftest import summarise

    assert summarise(DB, importance=False).comparisons[0].provenance.workers == 2


@pytest.mark.parametrize("args, message", [
    (["--budget", "0"], "budget must be a positive integer; got 0"),
    (["--seeds", "-1"], "seeds must be a positive integer; got -1"),
    (["--studies", "0"], "studies must be a positive integer; got 0"),
    (["--optimizers", "adam,adamx"], "unknown optimizer 'adamx'; valid choices: all, classic, modern, sgd"),
    (["--prefix", "taken"], "study 'taken-small' was made by `hpsearch tune`"),
])
def test_bad_input_is_one_line_exit_2(workdir: Path, args: list[str], message: str) -> None:
    tuned = CliRunner().invoke(cli, ["tune", "--task", "small", "--study", "taken-small",
                                     "--n-trials", "1", "--epochs", "1"])
    assert tuned.exit_code == 0, tuned.output
    snapshot = Path("studies/hpsearch.db").read_bytes()
    result = CliRunner().invoke(cli, [*COMMAND[3:], *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert Path("studies/hpsearch.db").read_bytes() == snapshot


def test_a_slot_just_taken_is_not_taken_again(workdir: Path) -> None:
    """Two processes take trials in turn under the study's lock; a trial that has started but not
    yet drawn its parameters must already fill its slot."""
    from hpsearch.engine.budget import StudyLock, take_trial
    from hpsearch.engine.storage import resolve
    from hpsearch.protocols.compare import CompareConfig, next_from_plan
    from hpsearch.protocols.compare_plan import slot_of

    config = CompareConfig(tasks=("small",), budget=1, seeds=1, optimizers=OPTIMIZERS, epochs=1,
                           studies=1)
    study_config = config.study_configs[0]
    study = optuna.create_study(storage=resolve(DB), study_name=study_config.study_name,
                                direction="maximize")
    lock = StudyLock(DB, study_config.study_name)
    taken = []
    for _ in range(len(OPTIMIZERS) + 1):
        trial = take_trial(study, lock, next_from_plan(config, study_config))
        assert isinstance(trial, optuna.trial.Trial)
        taken.append(slot_of(study.trials[trial.number]))
    lock.close()
    assert [(j.phase, j.optimizer) for j in taken if j] == [
        ("default", "sgd"), ("default", "adam"), ("default", "lbfgs"), ("search", "sgd")]
