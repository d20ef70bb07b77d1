"""A sweep stopped by SIGTERM says how many trials it found in flight, and each of them, alone or one
of a batch, is recorded as failed with its record: its seconds, the epochs it ran, the signal.

The signal is real and comes at a set moment: the storage sends it to this process (where
`signals.handled` takes it) as it starts writing the first evaluation point."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from optuna.trial import TrialState

from hpsearch.cli import cli
from hpsearch.record import trial_attrs
from tests.engine.test_stop_while_storing import stored

SWEEP = ["tune", "--task", "small", "--optimizers", "adam", "--sampler", "random", "--pruner", "none",
         "--epochs", "5", "--n-trials", "20", "--seed", "0"]


def sigterm_at_first_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM to this process once, as the first evaluation point starts being written: a trial's
    alone, or a batch's, all its trials' in one transaction."""
    from hpsearch.engine.optuna_adapter import statements

    sent: list[bool] = []

    def stop_once() -> None:
        if not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)

    insert = statements.insert_reports

    def insert_reports(connection: Any, rows: list[tuple[int, int, float]]) -> None:
        if rows:  # a trial's start, written with no report, is not a point
            stop_once()
        insert(connection, rows)

    monkeypatch.setattr(statements, "insert_reports", insert_reports)


@pytest.mark.parametrize(("batch", "line"), [
    (4, "the 4 trials in flight are recorded as failed"),
    (1, "the trial in flight is recorded as failed"),
])
def test_a_stopped_sweep_says_how_many_trials_it_failed_and_records_each(
        workdir: Path, monkeypatch: pytest.MonkeyPatch, batch: int, line: str) -> None:
    sigterm_at_first_report(monkeypatch)
    result = CliRunner().invoke(cli, [*SWEEP, "--batch-trials", str(batch)])
    assert result.exit_code == 143, result.output
    assert f"stopped by SIGTERM: {line}; run the same command to continue" in result.output
    trials = stored()
    assert [t.state for t in trials] == [TrialState.FAIL] * batch, result.output
    for trial in trials:
        kept = trial_attrs(trial)
        assert kept["reason"] == "stopped by SIGTERM" and kept["epochs_run"] == 1, kept
        assert kept["seconds"] > 0 and kept.get("trials_in_batch", 1) == batch, kept
    listed = CliRunner().invoke(cli, ["trials", "--study", "small", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(row["reason"], row["seconds"] > 0) for row in rows] == [("stopped by SIGTERM", True)] * batch
