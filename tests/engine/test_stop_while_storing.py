"""A stopping signal that comes while a finished trial's end is being stored: the trial is stored as it
ended (COMPLETE with its value and record, or PRUNED), then the sweep stops as a signal stops it.

The race is made deterministic with a real signal: the SQLite storage sends the process a SIGTERM
from inside the write of the trial's record (or of its end), the moment a signal from outside could
land there. Once in a process of its own, the rest in this one (`signals.handled` takes the signal)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState

from hpsearch.cli import cli
from hpsearch.engine.storage import resolve
from hpsearch.record import trial_attrs
from tests.conftest import REPO

SWEEP = ["tune", "--task", "small", "--optimizers", "adam", "--sampler", "random", "--pruner", "none",
         "--epochs", "3", "--n-trials", "20", "--seed", "0"]
CHILD = """
import sys
from hpsearch.cli import main
from tests.engine.test_stop_while_storing import sigterm_from_storage

sigterm_from_storage(sys.argv[1], setattr)
sys.argv = ["hpsearch", *sys.argv[2:]]
main()
"""


def sigterm_from_storage(where: str, patch: Callable[[Any, str, Any], None]) -> None:
    """Make SQLite storages (hpsearch's `LocalCopy`) send this process SIGTERM once, just as they
    start writing the first trial record ("record") or the first finished trial's end ("tell")."""
    from hpsearch.engine.optuna_adapter import LocalCopy

    set_user_attr, set_state = LocalCopy.set_trial_user_attr, LocalCopy.set_trial_state_values
    sent: list[bool] = []

    def stop_once(now: bool) -> None:
        if now and not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)

    def set_trial_user_attr(self: LocalCopy, trial_id: int, key: str, value: Any) -> None:
        stop_once(where == "record" and key == "record")
        set_user_attr(self, trial_id, key, value)

    def set_trial_state_values(self: LocalCopy, trial_id: int, state: TrialState,
                               values: Any = None) -> bool:
        stop_once(where == "tell" and state.is_finished())
        return set_state(self, trial_id, state, values)

    patch(LocalCopy, "set_trial_user_attr", set_trial_user_attr)
    patch(LocalCopy, "set_trial_state_values", set_trial_state_values)


def stored() -> list[optuna.trial.FrozenTrial]:
    """The trials, read afresh."""
    storage = resolve("sqlite:///studies/hpsearch.db", create=False, read_only=True)
    return optuna.load_study(study_name="small", storage=storage).trials


def assert_kept(output: str, trials: list[optuna.trial.FrozenTrial], states: list[TrialState],
                epochs: int = 3) -> None:
    """Every trial stored as it ended, with its record; the line says none was in flight."""
    assert "stopped by SIGTERM: no trial was in flight" in output and "Traceback" not in output
    assert [t.state for t in trials] == states, output  # kept, and no other trial taken
    for trial in trials:
        kept = trial_attrs(trial)
        assert kept["epochs_run"] == epochs and kept["seconds"] > 0, kept
        if trial.state == TrialState.COMPLETE:  # its last epoch's value
            assert trial.value == trial.intermediate_values[epochs - 1] and "reason" not in kept
        else:
            assert kept["reason"].startswith("trial timeout")


def test_sigterm_while_a_finished_trial_is_stored_keeps_it_complete(workdir: Path) -> None:
    done = subprocess.run([sys.executable, "-c", CHILD, "record", *SWEEP], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 143, done.stdout + done.stderr
    assert_kept(done.stdout + done.stderr, stored(), [TrialState.COMPLETE])


@pytest.mark.parametrize(("where", "flags", "states", "epochs"), [
    ("record", ("--trial-timeout", "1e-9"), [TrialState.PRUNED], 1),  # past its time after epoch 1
    ("tell", (), [TrialState.COMPLETE], 3),
    ("record", ("--batch-trials", "4"), [TrialState.COMPLETE] * 4, 3),
], ids=["pruned-while-its-record-is-written", "while-its-end-is-told", "a-batch-while-it-is-stored"])
def test_sigterm_while_trials_are_stored_keeps_them_as_they_ended(
        workdir: Path, monkeypatch: pytest.MonkeyPatch, where: str, flags: tuple[str, ...],
        states: list[TrialState], epochs: int) -> None:
    sigterm_from_storage(where, monkeypatch.setattr)
    result = CliRunner().invoke(cli, [*SWEEP, *flags])
    assert result.exit_code == 143, result.output
    assert_kept(result.output, stored(), states, epochs)
