"""Parallel workers on one machine share one study; the total holds across them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import summarise
from tests.waiting import MEETING

COMMAND = [sys.executable, "-m", "hpsearch", "tune", "--task", "classification", "--epochs", "8",
           "--optimizers", "adam,sgd,lbfgs", "--workers", "2"]

MEETING_TABLE = MEETING + """

def build(n_in, n_out):
    return torch.nn.Sequential(torch.nn.Linear(n_in, 32), torch.nn.ReLU(), torch.nn.Linear(32, n_out),
                               Meeting())
"""


@pytest.mark.parametrize("storage", ["sqlite:///studies/hpsearch.db", "journal:studies/sweep.log"])
def test_two_workers_share_one_study_and_respect_its_total(workdir: Path, storage: str) -> None:
    (workdir / "meeting.py").write_text(MEETING_TABLE)
    model = ["--model", "meeting.py:build"]
    result = subprocess.run([*COMMAND, *model, "--n-trials", "7", "--storage", storage],
                            capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "database is locked" not in output and "Traceback" not in output
    assert "[7/7]" in output  # progress covers both workers
    trials = optuna.load_study(study_name="classification", storage=_optuna_url(storage)).trials
    assert len(trials) == 7
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    # Trials were trained by both processes: this one (worker 0) and the other.
    processes = {(t.user_attrs["worker"]["host"], t.user_attrs["worker"]["pid"]) for t in trials}
    assert len(processes) == 2, processes
    # Resuming in parallel continues to the new total, never past it.
    result = subprocess.run([*COMMAND, *model, "--n-trials", "10", "--storage", storage],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    trials = optuna.load_study(study_name="classification", storage=_optuna_url(storage)).trials
    assert len(trials) == 10
    if storage.startswith("sqlite"):
        report = summarise(storage, importance=False)
        assert report.studies[0].provenance.workers == 2


def _optuna_url(storage: str) -> str | optuna.storages.BaseStorage:
    from hpsearch.engine.storage import resolve

    return resolve(storage, create=False)


def test_bad_input_found_after_the_workers_start_stops_them_and_stores_nothing(
        workdir: Path) -> None:
    """The other workers start before the input is checked; a bad input must still be one line,
    exit 2, with no worker's traceback and nothing stored."""
    first = subprocess.run([*COMMAND[:-2], "--n-trials", "2", "--epochs", "2"],
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    database = workdir / "studies" / "hpsearch.db"
    before = database.read_bytes()
    (workdir / "empty.csv").write_text("")
    for args, message in [(["--epochs", "3"], "was made with epochs=2"),
                          (["--data", "empty.csv", "--target", "y", "--study", "mine"],
                           "data file 'empty.csv' is empty")]:
        result = subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=300)
        lines = (result.stdout + result.stderr).strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and message in lines[0], lines
        assert database.read_bytes() == before
