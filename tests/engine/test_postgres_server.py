"""The PostgreSQL test server (tests/postgres.py): a real server on 127.0.0.1 with password
authentication that Optuna can store studies in, gone with its files once the context exits.
Without PostgreSQL these skip, except on CI (CI=true) where they fail; `make postgres` installs it."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import optuna
import psycopg
import pytest

from tests.conftest import require
from tests.postgres import PostgresServer, postgres_server


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    require("postgresql")
    with postgres_server() as running:
        yield running


def test_accepts_the_password_and_gives_the_hpsearch_database(server: PostgresServer) -> None:
    assert server.url == f"postgresql://hpsearch:{server.password}@127.0.0.1:{server.port}/hpsearch"
    with psycopg.connect(server.url) as connection:
        row = connection.execute(
            "SELECT current_user, current_database(), pg_get_userbyid(datdba) "
            "FROM pg_database WHERE datname = current_database()"
        ).fetchone()
        assert row == ("hpsearch", "hpsearch", "hpsearch")
        connection.execute("CREATE TABLE t (x int)")  # the role owns the database and can use it
        connection.execute("INSERT INTO t VALUES (1)")
        assert connection.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_refuses_a_wrong_or_missing_password(server: PostgresServer) -> None:
    wrong = server.url.replace(server.password, server.password + "x")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5)
    no_password = f"postgresql://hpsearch@127.0.0.1:{server.port}/hpsearch"
    with pytest.raises(psycopg.OperationalError, match="no password supplied|password authentication"):
        psycopg.connect(no_password, connect_timeout=5, passfile="/dev/null", password="")


def test_listens_on_loopback_only(server: PostgresServer) -> None:
    with psycopg.connect(server.superuser_url) as connection:
        row = connection.execute(
            "SELECT inet_server_addr()::text, inet_server_port(), current_setting('listen_addresses'), "
            "current_setting('unix_socket_directories')"
        ).fetchone()
    assert row is not None
    addr, port, listen, sockets = row
    assert (addr, port, listen) == ("127.0.0.1/32", server.port, "127.0.0.1")
    # The unix socket is the server's own, not the system's /var/run/postgresql.
    assert sockets == str(server.socket_dir)
    assert (server.socket_dir / f".s.PGSQL.{server.port}").is_socket()
    # Not on the IPv6 loopback either (a machine without IPv6 cannot connect there at all).
    with pytest.raises(OSError), socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
        probe.settimeout(5)
        probe.connect(("::1", server.port))


def test_optuna_stores_and_loads_a_study(server: PostgresServer) -> None:
    storage = optuna.storages.RDBStorage(server.url)
    assert (storage.engine.dialect.name, storage.engine.dialect.driver) == ("postgresql", "psycopg")
    study = optuna.create_study(storage=storage, study_name="x")
    study.optimize(lambda trial: (trial.suggest_float("v", -1.0, 1.0) - 0.5) ** 2, n_trials=3)

    loaded = optuna.load_study(study_name="x", storage=server.url)  # a fresh storage, by URL
    assert [t.state for t in loaded.trials] == [optuna.trial.TrialState.COMPLETE] * 3
    assert loaded.best_value == study.best_value
    assert optuna.get_all_study_names(server.url) == ["x"]
    with pytest.raises(optuna.exceptions.DuplicatedStudyError):
        optuna.create_study(storage=server.url, study_name="x")
    storage.engine.dispose()


@pytest.mark.parametrize("fails", [False, True], ids=["exits", "test-fails"])
def test_stops_the_server_and_removes_its_files(fails: bool) -> None:
    require("postgresql")
    with pytest.raises(RuntimeError) if fails else contextlib.nullcontext():  # noqa: SIM117
        with postgres_server() as running:
            with psycopg.connect(running.url) as connection:
                assert connection.execute("SELECT 1").fetchone() == (1,)
            assert running.data_dir.is_dir() and _alive(running.pid)
            if fails:
                raise RuntimeError("the test failed")
    assert not running.directory.exists()
    assert not _alive(running.pid)
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.settimeout(5)
        probe.connect(("127.0.0.1", running.port))
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(running.url, connect_timeout=5)


def _alive(pid: int) -> bool:
    """Whether the process runs; a zombie (stopped, not yet reaped by init) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
