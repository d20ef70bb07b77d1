"""One `--n-trials` total across every process that shares a study.

A process takes a trial only under a lock that every process of the study shares, and only while
the finished and running trials are fewer than the total: no two processes can take the last slot.
The lock lives where the study lives: a PostgreSQL advisory lock, or an exclusive `flock` on the
folder of the SQLite database or journal file. Never on the database file itself: closing any
descriptor of that file drops every POSIX lock SQLite holds on it in this process, and another
process may then delete the WAL index under it ("disk I/O error").
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.storage import storage_url

if TYPE_CHECKING:
    import optuna


class BudgetLock:
    def __init__(self, url: str | None, study_name: str) -> None:
        self.url = storage_url(url)
        self.key = int.from_bytes(hashlib.sha256(study_name.encode()).digest()[:8], "big",
                                  signed=True)
        self._connection: Any = None
        self._local = threading.Lock()  # processes are the unit here; this orders threads

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._local:
            if self.url.startswith(("postgresql", "postgres://")):
                with self._advisory():
                    yield
            elif self.url.startswith(("sqlite:///", "journal:")):
                path = self.url.removeprefix("sqlite:///").removeprefix("journal:")
                with _flock(Path(path).absolute().parent):
                    yield
            else:
                yield

    @contextlib.contextmanager
    def _advisory(self) -> Iterator[None]:
        import psycopg

        if self._connection is None or self._connection.closed:
            plain = self.url.replace("postgresql+psycopg://", "postgresql://", 1)
            self._connection = psycopg.connect(plain, autocommit=True, connect_timeout=30)
        connection = self._connection
        connection.execute("SELECT pg_advisory_lock(%s)", (self.key,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (self.key,))

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    import fcntl

    descriptor = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def take_trial(study: optuna.Study, total: int, lock: BudgetLock) -> optuna.trial.Trial | None:
    """A new (or enqueued) trial if the budget has room for it, else None."""
    import warnings

    import optuna
    from optuna.trial import TrialState

    with lock.held():
        with warnings.catch_warnings():  # a dead worker's heartbeat-stale trials hold no budget
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        if len(study.get_trials(deepcopy=False, states=states)) >= total:
            return None
        with warnings.catch_warnings():  # the heartbeat runs around each trial, as in optimize
            warnings.filterwarnings("ignore", message="Heartbeat of storage")
            return study.ask()  # RUNNING from here on: counted by every other process
