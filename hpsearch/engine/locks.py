"""The two locks every process of a study can share: an exclusive `flock` on a folder (SQLite and
journal files) and a PostgreSQL advisory lock. Never a lock on the database file itself: closing any
descriptor of that file drops every POSIX lock SQLite holds on it in this process, and another
process may then delete the WAL index under it ("disk I/O error")."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on `folder`, held by this process until the block ends."""
    import fcntl

    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def connect_postgres(url: str) -> Any:
    """A psycopg connection (autocommit) for the storage URL."""
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    return psycopg.connect(plain, autocommit=True, connect_timeout=30)


@contextlib.contextmanager
def advisory_lock(connection: Any, key: int) -> Iterator[None]:
    """PostgreSQL's session-level advisory lock `key`, on an open connection."""
    connection.execute("SELECT pg_advisory_lock(%s)", (key,))
    try:
        yield
    finally:
        connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
