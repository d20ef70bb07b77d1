"""Running trials: one at a time under the study's lock, each with Optuna's heartbeat around it and
its end told to the storage, until the protocol has none left, the deadline passes or too many
fail in a row."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from hpsearch import record
from hpsearch.engine import signals
from hpsearch.engine.batch import run_batch
from hpsearch.engine.budget import Chooser, StudyLock, take_trials
from hpsearch.engine.ledger import TrialLedger, end_all_stopped, tell
from hpsearch.engine.objective import Objective, ending
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


def run_one(study: optuna.Study, trial: optuna.trial.Trial, objective: Objective,
            stopping: list[int] | None = None) -> optuna.trial.FrozenTrial:
    """Train one trial and record how it ended; a stopping signal (also one that came while it was
    being taken: `stopping`) records it as failed, with the signal as its reason, then stops; one
    that comes once its record is stored stops only after its end is told as it ended. Its end is
    told with signals held (see `signals.held`); a trial another process failed while it trained
    here is stored again (see `ledger`)."""
    entry = TrialLedger(trial)
    try:
        signals.deliver(stopping or [])
        with heartbeat(study, trial):
            state, value = ending(lambda: objective(trial, entry))
    except BaseException as stop:  # Ctrl-C, another stopping signal, or an error of hpsearch's
        end_all_stopped(study, [entry], stop)
        raise
    with signals.held():
        return tell(study, entry, state, value)


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
        with signals.held(deliver=False) as stopping:  # a trial taken is run, or failed as stopped
            taken = take_trials(study, lock, choose, objective.batch_trials)
        if isinstance(taken, str):
            signals.deliver(stopping)
            break
        finished = (run_batch(study, taken, objective, stopping) if len(taken) > 1
                    else [run_one(study, taken[0], objective, stopping)])
        for trial in finished:
            for callback in every:
                callback(study, trial)
    return failures.message


def run_locked(study: optuna.Study, objective: Objective, storage: str | None, study_name: str,
               choose: Chooser, callbacks: Iterable[Callback] = (), deadline: float | None = None,
               failures: FailureLimit | None = None) -> str | None:
    """`run_trials` under the study's lock, opened here and closed however the run ends: every
    protocol's loop."""
    lock = StudyLock(storage, study_name)
    try:
        return run_trials(study, objective, lock, choose, callbacks, deadline, failures)
    finally:
        lock.close()
