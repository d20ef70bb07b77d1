"""Running trials: one at a time under the study's lock, each with Optuna's heartbeat around it and
its end told to the storage, until the protocol has none left, the deadline passes or too many
fail in a row."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from hpsearch import record
from hpsearch.engine.budget import Chooser, StudyLock, take_trial
from hpsearch.engine.objective import Objective, TrialFailed
from hpsearch.engine.optuna_adapter import heartbeat

if TYPE_CHECKING:
    import optuna

Callback = Callable[["optuna.Study", "optuna.trial.FrozenTrial"], None]
MAX_CONSECUTIVE_FAILURES = 3


class FailureLimit:
    """Says stop after `limit` trials in a row fail: a broken model must not burn the budget."""

    def __init__(self, limit: int = MAX_CONSECUTIVE_FAILURES) -> None:
        self.limit = limit
        self.failures: list[str] = []

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if record.outcome(trial) != "failed":
            self.failures = []
            return
        self.failures.append(str(record.trial_attrs(trial).get(record.REASON, "unknown error")))

    @property
    def message(self) -> str | None:
        if len(self.failures) < self.limit:
            return None
        return (f"stopped after {len(self.failures)} trials in a row failed; "
                f"the last: {self.failures[-1]}")


@contextlib.contextmanager
def interrupt_deferred() -> Iterator[list[int]]:
    """Ctrl-C held back while a trial is being taken: a trial asked for but not yet running would
    otherwise be left RUNNING. The signals that arrived are in the list; `run_one` raises them."""
    pending: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield pending
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield pending
    finally:
        signal.signal(signal.SIGINT, previous)


def run_one(study: optuna.Study, trial: optuna.trial.Trial, objective: Objective,
            interrupted: Iterable[int] = ()) -> optuna.trial.FrozenTrial:
    """Train one trial and record how it ended; Ctrl-C (also one that came while it was being
    taken) records it as failed, then stops."""
    import optuna
    from optuna.trial import TrialState

    try:
        if any(True for _ in interrupted):
            raise KeyboardInterrupt
        with heartbeat(study, trial):
            value = objective(trial)
    except optuna.TrialPruned:
        return study.tell(trial, state=TrialState.PRUNED)
    except TrialFailed:
        return study.tell(trial, state=TrialState.FAIL)
    except BaseException:
        study.tell(trial, state=TrialState.FAIL)
        raise
    return study.tell(trial, value)


def run_trials(study: optuna.Study, objective: Objective, lock: StudyLock, choose: Chooser,
               callbacks: Iterable[Callback] = (), deadline: float | None = None,
               failures: FailureLimit | None = None) -> str | None:
    """Take and run trials until `choose` says none is left, `deadline` (a `time.monotonic()`
    value) passes or too many fail in a row; returns why it stopped short, if it did. A
    `failures` limit may be shared by several studies' runs (a comparison's tasks)."""
    failures = failures or FailureLimit()
    every: list[Callback] = [failures, *callbacks]
    while failures.message is None:
        if deadline is not None and time.monotonic() >= deadline:
            break
        with interrupt_deferred() as interrupted:
            trial = take_trial(study, lock, choose)
        if isinstance(trial, str):
            if interrupted:
                raise KeyboardInterrupt
            break
        finished = run_one(study, trial, objective, interrupted)
        for callback in every:
            callback(study, finished)
    return failures.message
