"""The Optuna private API hpsearch relies on, exercised against the installed Optuna: a release that
changes any of it fails here first (`pyproject.toml` keeps Optuna below its next major version)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from hpsearch.engine.optuna_adapter import fail_trial, heartbeat


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
