"""Waiting with a deadline for what a process started by a test does: a hang fails the test, naming
what was awaited, instead of stalling the suite.

    study, training = wait_for_trials(process, study="classification", finished=2, log=LOG)

polls the storage until trials of the study are training (RUNNING with their configuration
recorded) after some have finished, and gives the study and those trials; `poll` waits for any
condition.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from hpsearch.engine.storage import resolve

# A module for a test's `--model FILE.py:build`: `Meeting()`, last in the model, makes the first
# training step of each process wait (120 s at most) until another process is training too.
# Without it, the first process may finish every trial while the other is still importing torch.
# The test appends its own `build`.
MEETING = """
import os
import time
from pathlib import Path

import torch

arrived = False


class Meeting(torch.nn.Module):
    def forward(self, x):
        global arrived
        if torch.is_grad_enabled() and not arrived:  # training, not the check before the study
            arrived = True
            here = Path("arrived")
            here.mkdir(exist_ok=True)
            (here / str(os.getpid())).touch()
            end = time.monotonic() + 120
            while len(list(here.iterdir())) < 2 and time.monotonic() < end:
                time.sleep(0.02)
        return x
"""

DB = "sqlite:///studies/hpsearch.db"
DEADLINE_S = 120.0
INTERVAL_S = 0.05

T = TypeVar("T")


def poll(check: Callable[[], T | None], what: str, deadline_s: float = DEADLINE_S) -> T:
    """What `check` gives once it gives something other than None; the test fails, saying `what`
    was not seen, when the deadline passes first."""
    end = time.monotonic() + deadline_s
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() >= end:
            pytest.fail(f"not seen in {deadline_s:g} s: {what}")
        time.sleep(INTERVAL_S)


def wait_for_trials(process: subprocess.Popen[Any], study: str = "classification", *,
                    finished: int = 0, running: int = 1, epochs: int = 0, url: str = DB,
                    log: Path | None = None, deadline_s: float = DEADLINE_S
                    ) -> tuple[optuna.Study, list[FrozenTrial]]:
    """Poll the SQLite storage at `url` until `study` has `finished` trials finished and `running`
    training, each of those having reported `epochs` epochs; gives the study, opened as hpsearch
    opens it (writable), and the trials training. The test fails, with the end of the process's
    output (`log`, or its pipe), when `process` ends first or the deadline passes."""
    path = Path(url.removeprefix("sqlite:///"))
    opened: list[optuna.storages.BaseStorage] = []  # one storage: opening one costs more than a poll

    def check() -> tuple[optuna.Study, list[FrozenTrial]] | None:
        if process.poll() is not None:
            pytest.fail(f"the process ended (code {process.returncode}) before {study} had "
                        f"{running} trial(s) training after {finished} finished: {output(process, log)}")
        if not opened and path.exists():  # opening a missing file would create it
            opened.append(resolve(url, create=False))
        if not opened:
            return None
        with contextlib.suppress(KeyError):  # the study is still being created
            loaded = optuna.load_study(study_name=study, storage=opened[0])
            trials = loaded.trials
            training = [t for t in trials if t.state == TrialState.RUNNING and "config" in t.user_attrs
                        and len(t.intermediate_values) >= epochs]
            if len(training) >= running and sum(t.state.is_finished() for t in trials) >= finished:
                return loaded, training
        return None

    return poll(check, f"{study} with {running} trial(s) training after {finished} finished",
                deadline_s)


def output(process: subprocess.Popen[Any], log: Path | None) -> str:
    """The end of what the process wrote: its log file, or its pipe once it has ended."""
    if log is not None:
        return log.read_text(errors="replace")[-2000:]
    if process.stdout is not None and process.poll() is not None:
        written = process.stdout.read()
        return (written.decode(errors="replace") if isinstance(written, bytes) else written)[-2000:]
    return ""
