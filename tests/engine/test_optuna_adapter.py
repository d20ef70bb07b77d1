"""The Optuna private API hpsearch relies on, exercised against the installed Optuna: a release that
changes any of it fails here first (`pyproject.toml` keeps Optuna below its next major version)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import optuna
import pytest
from optuna.pruners import MedianPruner
from optuna.samplers import TPESampler
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from hpsearch.engine.optuna_adapter import (
    cancel_waiting,
    fail_trial,
    heartbeat,
    median_pruner,
    tpe_sampler,
    trials_read_once,
)


def heartbeats(database: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT trial_id, heartbeat FROM trial_heartbeats").fetchall()


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_the_heartbeat_is_written_while_a_trial_runs(tmp_path: Path) -> None:
    database = tmp_path / "beat.db"
    storage = RDBStorage(f"sqlite:///{database}", heartbeat_interval=60, grace_period=120)
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    with heartbeat(study, trial):
        deadline = time.monotonic() + 30  # the thread's first beat comes at once: poll for it
        while not heartbeats(database) and time.monotonic() < deadline:
            time.sleep(0.01)
        beats = heartbeats(database)
    assert [trial_id for trial_id, _ in beats] == [trial._trial_id]
    study.tell(trial, 1.0)
    assert study.trials[0].state == TrialState.COMPLETE


def test_without_a_heartbeat_the_context_does_nothing(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'plain.db'}")
    trial = study.ask()
    with heartbeat(study, trial):
        pass
    assert study.trials[0].state == TrialState.RUNNING


def test_a_running_trial_of_another_process_is_failed_once(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'fail.db'}")
    study.ask()  # left RUNNING, as by a process that was killed
    running = study.trials[0]
    assert fail_trial(study, running, {"reason": "its process ended"}) is True
    failed = study.trials[0]
    assert failed.state == TrialState.FAIL and failed.user_attrs == {"reason": "its process ended"}
    assert fail_trial(study, running, {"reason": "again"}) is False  # finished: left as it is
    assert study.trials[0].user_attrs == {"reason": "its process ended"}


def test_a_waiting_trial_is_cancelled_only_while_no_process_has_taken_it(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'cancel.db'}")
    study.enqueue_trial({"x": 0.5})
    study.enqueue_trial({"x": 0.25})
    first, second = study.trials
    assert cancel_waiting(study, first, {"reason": "cancelled"}) is True
    taken = study.ask()  # the queue's next: the first is no longer waiting
    assert taken.number == second.number
    assert cancel_waiting(study, second, {"reason": "cancelled"}) is False  # running: left alone
    cancelled, running = study.trials
    assert cancelled.state == TrialState.FAIL and cancelled.user_attrs == {"reason": "cancelled"}
    assert running.state == TrialState.RUNNING and running.user_attrs == {}


def test_within_one_sampling_the_trials_are_read_from_the_storage_once(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'reads.db'}")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    with trials_read_once(study):
        first = study.get_trials(deepcopy=False)
        study.enqueue_trial({"x": 0.5})  # a change the block does not see
        assert study.get_trials(deepcopy=False) is first
    assert len(study.get_trials(deepcopy=False)) == 4  # the class's own read again


def test_a_block_inside_another_hands_the_outer_reads_back(tmp_path: Path) -> None:
    # A configuration is drawn in one block, and TPE's own sampling opens another inside it.
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'nested.db'}")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    with trials_read_once(study):
        outer = study.get_trials(deepcopy=False)
        with trials_read_once(study):
            assert study.get_trials(deepcopy=False) is outer  # the outer block's read
        study.enqueue_trial({"x": 0.5})
        assert study.get_trials(deepcopy=False) is outer  # still the outer block's
    assert len(study.get_trials(deepcopy=False)) == 3


@pytest.mark.parametrize("constant_liar", [True, False])
def test_the_one_read_tpe_sampler_draws_what_optunas_draws(tmp_path: Path, constant_liar: bool) -> None:
    def objective(trial: optuna.trial.Trial) -> float:
        kind = trial.suggest_categorical("kind", ["a", "b"])
        x = trial.suggest_float(f"{kind}_x", 1e-3, 1.0, log=True)
        return x if kind == "a" else 1 - x

    draws = []
    for name, sampler in (("optuna", TPESampler), ("adapter", tpe_sampler)):
        study = optuna.create_study(storage=f"sqlite:///{tmp_path / name}.db", sampler=sampler(
            seed=3, multivariate=True, group=True, n_startup_trials=4, constant_liar=constant_liar))
        study.optimize(objective, n_trials=14)
        draws.append([t.params for t in study.trials])
    assert draws[0] == draws[1]


def test_the_one_read_median_pruner_prunes_as_optunas_does(tmp_path: Path) -> None:
    def objective(trial: optuna.trial.Trial) -> float:
        slope = trial.suggest_float("slope", -1.0, 1.0)
        for step in range(8):
            trial.report(slope * step, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return slope * 8

    outcomes = []
    for name, pruner in (("optuna", MedianPruner), ("adapter", median_pruner)):
        study = optuna.create_study(storage=f"sqlite:///{tmp_path / name}.db", direction="maximize",
                                    sampler=optuna.samplers.RandomSampler(seed=0),
                                    pruner=pruner(n_startup_trials=3, n_warmup_steps=2))
        study.optimize(objective, n_trials=16)
        outcomes.append([(t.state, max(t.intermediate_values)) for t in study.trials])
    assert outcomes[0] == outcomes[1]
    assert any(state == TrialState.PRUNED for state, _ in outcomes[0])
