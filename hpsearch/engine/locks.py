"""The two locks every process of a study can share: an exclusive `flock` on a lock file beside a
SQLite or journal file, and a PostgreSQL advisory lock.

The lock file (`hpsearch.db-lock`, named as SQLite names its own) is a regular file opened for
writing: NFS locks only such files. Never a lock on the database file itself: closing any descriptor
of that file drops every POSIX lock SQLite holds on it in this process, and another process may then
delete the WAL index under it ("disk I/O error").

The advisory lock lives in a session of its own, which must neither crash the sweep when it drops
(a proxy's idle timeout, a failover, a restart: it reconnects and retries) nor outlive a holder that
stopped answering: the server's keepalives end the session of a machine that lost power, its idle
timeout the session of a process that was suspended, and a waiter gives up after `LOCK_TIMEOUT_S`
with the name of the process that holds the lock.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hpsearch.errors import HpsearchError

LOCK_TIMEOUT_S = 60  # a waiter's longest wait; the lock is held for milliseconds at a time
IDLE_SESSION_TIMEOUT_S = 20  # a session silent this long (its process stopped) ends, and its lock
KEEPALIVE = {"keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}  # ~25 s
RECONNECT_DELAYS_S = (0.5, 1, 2, 4, 8)  # a dropped session is opened again this many times


def lock_file(path: Path) -> Path:
    """The lock file of a SQLite database or journal file."""
    return path.absolute().with_name(path.name + "-lock")


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on the regular file `path` (made if missing), held until the block ends."""
    import fcntl

    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise HpsearchError(f"cannot open the lock file '{path}': {error.strerror}") from None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        except OSError as error:  # ENOLCK, EOPNOTSUPP: an NFS mount without a lock manager
            raise HpsearchError(
                f"the file system of '{path.parent}' cannot lock files ({error.strerror}): put "
                "the storage on a local disk, or use a PostgreSQL server for several machines"
            ) from None
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def postgres_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def session_options() -> dict[str, Any]:
    """Connection options for every PostgreSQL session hpsearch opens: client keepalives, and the
    server's own (a client that vanished is noticed by the server within a minute)."""
    server = " ".join(f"-c tcp_{name}={value}" for name, value in KEEPALIVE.items())
    return {"keepalives": 1, **KEEPALIVE, "options": server, "connect_timeout": 30}


class PostgresLock:
    """PostgreSQL's session-level advisory lock `key`, in a session of its own."""

    def __init__(self, url: str, key: int, shown: str, timeout_s: int = LOCK_TIMEOUT_S) -> None:
        self.url, self.key, self.shown, self.timeout_s = postgres_url(url), key, shown, timeout_s
        self.connection: Any = None
        self.last_used = 0.0
        self.opened = False  # a server never reached is an error at once, not a dropped session

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.take()
        try:
            yield
        finally:
            self.release()

    def take(self) -> None:
        import psycopg

        for delay in (*RECONNECT_DELAYS_S, None):
            try:
                self.session().execute("SELECT pg_advisory_lock(%s)", (self.key,))
                return
            except psycopg.errors.LockNotAvailable:
                raise HpsearchError(f"the study's lock on '{self.shown}' was not free within "
                                    f"{self.timeout_s} s; it is held by {self.holder()}") from None
            except psycopg.OperationalError as error:  # the session dropped: open another
                self.close()
                if not self.opened:
                    raise
                if delay is None:
                    first = (str(error).strip().splitlines() or [""])[0]
                    raise HpsearchError(f"lost the connection to '{self.shown}' and could not "
                                        f"open it again: {first}") from None
                time.sleep(delay)

    def release(self) -> None:
        import psycopg

        try:
            self.connection.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            self.last_used = time.monotonic()
        except psycopg.OperationalError:  # the session dropped, and its lock with it
            self.close()

    def session(self) -> Any:
        """The lock's session: opened again before the server's idle timeout would end it."""
        import psycopg

        stale = time.monotonic() - self.last_used > IDLE_SESSION_TIMEOUT_S - 5
        if self.connection is not None and (self.connection.closed or stale):
            self.close()
        if self.connection is None:
            self.connection = psycopg.connect(
                self.url, autocommit=True, **session_options(),
                application_name=f"hpsearch pid {os.getpid()} on {socket.gethostname()}"[:63])
            self.opened = True
            self.connection.execute(f"SET lock_timeout = '{int(self.timeout_s)}s'")
            self.connection.execute(f"SET idle_session_timeout = '{IDLE_SESSION_TIMEOUT_S}s'")
        self.last_used = time.monotonic()
        return self.connection

    def holder(self) -> str:
        """Who holds the lock, as the server sees it."""
        unsigned = self.key & 0xFFFFFFFFFFFFFFFF
        with contextlib.suppress(Exception):
            row = self.session().execute(
                "SELECT a.application_name, a.pid, a.client_addr, a.state, "
                "extract(epoch FROM now() - a.state_change)::int FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                "AND l.granted AND l.classid = %s AND l.objid = %s AND l.objsubid = 1",
                (unsigned >> 32, unsigned & 0xFFFFFFFF)).fetchone()
            if row is not None:
                name, pid, address, state, seconds = row
                return (f"'{name or 'an unnamed session'}' (server process {pid}, from "
                        f"{address or 'a local socket'}, {state} for {seconds} s)")
        return "a session the server would not name"

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.close()
        self.connection = None
