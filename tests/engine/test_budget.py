"""The budget lock that keeps `--n-trials` exact across processes must not disturb SQLite's own
locks: closing any descriptor of a database file drops every POSIX lock this process holds on it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from hpsearch.engine.budget import StudyLock

WRITER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
try:
    connection.execute("BEGIN EXCLUSIVE")
except sqlite3.OperationalError as error:
    print(error)
else:
    print("got the exclusive lock")
"""


def another_process_gets_exclusive_access(database: Path) -> bool:
    done = subprocess.run([sys.executable, "-c", WRITER, str(database)], capture_output=True,
                          text=True, timeout=60, check=True)
    return done.stdout.strip() == "got the exclusive lock"


def test_taking_the_budget_lock_keeps_sqlites_locks_in_this_process(tmp_path: Path) -> None:
    database = tmp_path / "study.db"
    reader = sqlite3.connect(database, isolation_level=None)
    reader.execute("CREATE TABLE t (x)")
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM t").fetchall()  # a read transaction: a shared lock on the file
    assert not another_process_gets_exclusive_access(database)
    lock = StudyLock(f"sqlite:///{database}", "study")
    with lock.held():
        pass
    lock.close()
    # Had the lock opened and closed the database file, the shared lock would be gone.
    assert not another_process_gets_exclusive_access(database)
    reader.execute("COMMIT")
    assert another_process_gets_exclusive_access(database)
