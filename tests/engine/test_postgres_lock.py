"""The study's lock on a real PostgreSQL server survives a dropped session and never waits forever
on a holder that stopped answering."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import psycopg
import pytest
from optuna.trial import TrialState

from hpsearch.engine.budget import StudyLock
from hpsearch.engine.locks import IDLE_SESSION_TIMEOUT_S, LOCK_TIMEOUT_S, PostgresLock
from hpsearch.errors import HpsearchError
from tests.conftest import serve_postgres
from tests.postgres import PostgresServer

LOCK_SESSIONS = "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'hpsearch pid %'"


server = pytest.fixture(scope="module", name="server")(serve_postgres)


def test_a_sweep_whose_lock_session_is_terminated_finishes_with_every_trial(
    server: PostgresServer, workdir: Path
) -> None:
    command = [sys.executable, "-m", "hpsearch", "tune", "--task", "classification", "--epochs",
               "3", "--optimizers", "adam,sgd", "--n-trials", "10", "--storage", server.url]
    terminated = 0
    with open("sweep.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        with psycopg.connect(server.superuser_url, autocommit=True) as admin:
            deadline = time.monotonic() + 240
            while process.poll() is None and time.monotonic() < deadline:
                for (pid,) in admin.execute(LOCK_SESSIONS).fetchall():
                    # As a proxy's idle timeout, a failover or an operator would end it.
                    terminated += bool(admin.execute("SELECT pg_terminate_backend(%s)",
                                                     (pid,)).fetchone()[0])
                time.sleep(0.02)
        assert process.wait(timeout=60) == 0, Path("sweep.log").read_text()[-3000:]
    finally:
        process.kill()
    assert terminated >= 2  # the sweep took the lock again after each
    trials = optuna.load_study(study_name="classification", storage=server.url).trials
    assert len(trials) == 10 and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED)
                                     for t in trials)


HOLD_AND_STOP = """
import os, signal, sys
from hpsearch.engine.budget import StudyLock
lock = StudyLock(sys.argv[1], "stopped")
holding = lock.held()  # kept: a context dropped would be collected, releasing the lock
holding.__enter__()
print("held", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)  # suspended while holding the lock, as by Ctrl-Z or a freeze
"""


def test_a_holder_that_stopped_answering_loses_the_lock_within_a_minute(
    server: PostgresServer,
) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_AND_STOP, server.url],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        lock = StudyLock(server.url, "stopped")
        started = time.monotonic()
        with lock.held():
            waited = time.monotonic() - started
            (keepalive,) = lock.server.connection.execute(  # type: ignore[union-attr]
                "SHOW tcp_keepalives_idle").fetchone()
        lock.close()
        assert waited < 60 and waited < LOCK_TIMEOUT_S
        assert waited >= IDLE_SESSION_TIMEOUT_S - 5  # it was held until the server ended it
        assert keepalive == "10"  # the server notices a holder's machine gone in ~25 s
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_a_waiter_that_times_out_names_the_holder(server: PostgresServer) -> None:
    holder = PostgresLock(server.url, 42, "the server")
    waiter = PostgresLock(server.url, 42, "the server", timeout_s=1)
    with holder.held(), pytest.raises(HpsearchError) as error:
        waiter.take()
    message = str(error.value)
    assert "not free within 1 s" in message
    assert f"hpsearch pid {os.getpid()}" in message and "server process" in message
    waiter.take()  # free again once the holder released it
    waiter.release()
    holder.close()
    waiter.close()
