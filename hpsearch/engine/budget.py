"""Taking a trial under the lock every process of a study shares.

A process takes a trial only while holding the study's lock, after the protocol said there is room
for one: for `tune`, while the finished and running trials are fewer than the total; for `compare`,
while its plan has a trial left. No two processes can take the last slot. The lock lives where the
study lives: a PostgreSQL advisory lock, or an exclusive `flock` on the lock file beside the SQLite
database or journal file (see `locks`).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.engine.locks import PostgresLock, file_lock, lock_file
from hpsearch.engine.storage import display, is_server, server_url, storage_url

if TYPE_CHECKING:
    import optuna

# Called under the lock: None to take a trial (enqueued or new), else why there is none to take.
Chooser = Callable[["optuna.Study"], "str | None"]
DONE = "done"


class StudyLock:
    """The lock every process of one study shares, whatever its storage."""

    def __init__(self, url: str | None, study_name: str) -> None:
        self.url = storage_url(url)
        self.key = int.from_bytes(hashlib.sha256(study_name.encode()).digest()[:8], "big",
                                  signed=True)
        self.server = (PostgresLock(server_url(self.url), self.key, display(self.url))
                       if is_server(self.url) else None)
        self._local = threading.Lock()  # processes are the unit here; this orders threads

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._local:
            if self.server is not None:
                with self.server.held():
                    yield
            elif self.url.startswith(("sqlite:///", "journal:")):
                path = self.url.removeprefix("sqlite:///").removeprefix("journal:")
                with file_lock(lock_file(Path(path))):
                    yield
            else:
                yield

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def below_total(total: int) -> Chooser:
    """`tune`'s rule: room while finished and running trials are fewer than `total`."""

    def choose(study: optuna.Study) -> str | None:
        from optuna.trial import TrialState

        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        return DONE if len(study.get_trials(deepcopy=False, states=states)) >= total else None

    return choose


def from_plan(next_of: Callable[[optuna.Study, list[optuna.trial.FrozenTrial]], Any]) -> Chooser:
    """A planned protocol's rule (`compare`, `scale`): a trial a killed run left enqueued is taken
    first; else `next_of(study, trials)` is enqueued and taken (anything with `params` and
    `attrs`), or its answer given: DONE for None, or its reason (what is left waits on another
    process's trials)."""

    def choose(study: optuna.Study) -> str | None:
        from optuna.trial import TrialState

        trials = study.get_trials(deepcopy=False)  # one read: this runs for every trial taken
        if any(t.state == TrialState.WAITING for t in trials):
            return None
        found = next_of(study, trials)
        if found is None or isinstance(found, str):
            return found or DONE
        with warnings.catch_warnings():  # torch's defaults may sit outside a narrowed range
            warnings.simplefilter("ignore")
            study.enqueue_trial(found.params, user_attrs=found.attrs, skip_if_exists=False)
        return None

    return choose


def take_trial(study: optuna.Study, lock: StudyLock, choose: Chooser) -> optuna.trial.Trial | str:
    """Under the lock: fail the trials of dead workers (their slots come free), ask the protocol,
    and start a trial (RUNNING from then on: counted by every other process, and naming this
    process as its worker from the transaction that creates it); or why there is none."""
    taken = take_trials(study, lock, choose, 1)
    return taken if isinstance(taken, str) else taken[0]


def take_trials(study: optuna.Study, lock: StudyLock, choose: Chooser, most: int
                ) -> list[optuna.trial.Trial] | str:
    """Up to `most` trials taken as `take_trial` takes one, under one hold of the lock: the study
    is read once, and the protocol asked again for each next trial from this process's copy, which
    holds the trials just taken (no other process takes one meanwhile). Each is later drawn by the
    sampler in turn, whose constant liar sees the ones drawn before. Why there is none, if none."""
    from hpsearch import record
    from hpsearch.engine.optuna_adapter import ask, served
    from hpsearch.engine.recovery import this_worker

    taken: list[optuna.trial.Trial] = []
    worker = {record.WORKER: this_worker()}
    with lock.held():
        fail_stale_trials(study)
        while len(taken) < most:
            with contextlib.nullcontext() if not taken else served(study):
                reason = choose(study)  # the first reads the study: the sampler's, the pruner's
            if reason is not None:
                return taken or reason
            taken.append(ask(study, worker))  # what `choose` enqueued, if it did
    return taken


STALE_CHECKED: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail (and retry) the trials whose heartbeat stopped, as Optuna's `optimize` does before each
    trial, but at most once per heartbeat interval: a trial is stale only once its heartbeat is a
    grace period old, so looking more often finds nothing sooner."""
    import optuna

    from hpsearch.engine.optuna_adapter import heartbeat_interval

    interval = heartbeat_interval(study)
    if interval is None:
        return
    now = time.monotonic()
    if now - STALE_CHECKED.get(study, -math.inf) < interval:
        return
    STALE_CHECKED[study] = now
    with warnings.catch_warnings():  # a dead worker's heartbeat-stale trials hold no budget
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
