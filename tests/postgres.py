"""Start a real, throwaway PostgreSQL server for a test and stop it afterwards.

    with postgres_server() as server:
        optuna.create_study(storage=server.url, study_name="x")

    # A test module's server; tests/conftest.py's serve_postgres skips without PostgreSQL (fails on CI).
    server = pytest.fixture(scope="module", name="server")(serve_postgres)

The server is Debian's (`make postgres` installs the `postgresql` package): the highest version
under /usr/lib/postgresql/*/bin, or the directory named by $PG_BINDIR, or initdb/pg_ctl on PATH.
Each server gets a fresh temporary directory (data, unix socket, log), a free port on 127.0.0.1
(TCP on loopback only; the unix socket lies in that directory, not /var/run/postgresql), password
authentication (scram-sha-256) for everyone, and a role `hpsearch` with a random password owning a
database `hpsearch`: `server.url` is `postgresql://hpsearch:<password>@127.0.0.1:<port>/hpsearch`,
which SQLAlchemy 2.x, and so Optuna's RDBStorage, opens with psycopg 3.

initdb and the server refuse to run as root, so as root they run as Debian's `postgres` system user
(`runuser -u postgres --`), which then owns the directory; as anyone else they run as that user.
`pg_ctl -w` returns once the server accepts connections and once it has gone, so nothing sleeps.
Durability is switched off (fsync, synchronous_commit, full_page_writes): a test server that
crashes is thrown away anyway. On exit, also when the test failed, the server is stopped
(`pg_ctl -m fast stop`, `-m immediate` if that fails) and the directory removed. On 2 cores a
server takes about 1.5 s to start (initdb 1.2 s of it) and 0.2 s to stop.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
USER = "hpsearch"
DATABASE = "hpsearch"
SUPERUSER = "postgres"
SYSTEM_USER = "postgres"  # the account the server runs as when the tests run as root
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"
COMMAND_TIMEOUT = 60.0  # seconds for any one initdb / pg_ctl / setup step
START_ATTEMPTS = 3  # a free port can be taken by someone else before the server binds it


class PostgresError(RuntimeError):
    """The server could not be set up, started or stopped; the message ends with its log."""


@dataclass(frozen=True)
class PostgresServer:
    url: str  # postgresql://hpsearch:<password>@127.0.0.1:<port>/hpsearch
    password: str  # the hpsearch role's
    port: int
    host: str  # 127.0.0.1
    user: str  # hpsearch
    database: str  # hpsearch, owned by `user`
    superuser_url: str  # postgresql://postgres:<password>@127.0.0.1:<port>/postgres
    directory: Path  # everything below is in here; removed on exit
    data_dir: Path
    socket_dir: Path
    log_file: Path
    bindir: Path
    version: str  # the major version, "15"
    pid: int  # the postmaster's


def find_postgres() -> Path | None:
    """The directory holding initdb and pg_ctl: $PG_BINDIR if set, else the highest version
    under /usr/lib/postgresql/*/bin (Debian), else where initdb is on PATH; None if there is none."""
    override = os.environ.get("PG_BINDIR")
    if override:
        candidates = [Path(override)]
    else:
        candidates = sorted(Path("/").glob(DEBIAN_BINDIRS.lstrip("/")), key=_version_key, reverse=True)
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if all(os.access(bindir / name, os.X_OK) for name in ("initdb", "pg_ctl")):
            return bindir
    return None


@contextlib.contextmanager
def postgres_server(bindir: Path | None = None) -> Iterator[PostgresServer]:
    """A running server with role and database `hpsearch`, stopped and deleted on exit."""
    bindir = bindir or find_postgres()
    if bindir is None:
        raise PostgresError(f"no PostgreSQL server binaries under {DEBIAN_BINDIRS}: `make postgres`")
    as_root = os.geteuid() == 0
    owner = _system_user() if as_root else None
    directory = Path(tempfile.mkdtemp(prefix="hpsearch-pg-"))
    data_dir, socket_dir, log_file = directory / "data", directory / "socket", directory / "server.log"
    try:
        socket_dir.mkdir()
        if owner is not None:
            for path in (directory, socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        superuser_password = secrets.token_urlsafe(24)
        password = secrets.token_urlsafe(24)
        _initdb(bindir, data_dir, directory, superuser_password, owner)
        for attempt in range(1, START_ATTEMPTS + 1):
            port = _free_port()
            if _start(bindir, data_dir, socket_dir, log_file, port, directory, owner,
                      last_attempt=attempt == START_ATTEMPTS):
                break
        superuser_url = f"postgresql://{SUPERUSER}:{superuser_password}@{HOST}:{port}/postgres"
        _create_role_and_database(superuser_url, password, log_file)
        yield PostgresServer(
            url=f"postgresql://{USER}:{password}@{HOST}:{port}/{DATABASE}",
            password=password,
            port=port,
            host=HOST,
            user=USER,
            database=DATABASE,
            superuser_url=superuser_url,
            directory=directory,
            data_dir=data_dir,
            socket_dir=socket_dir,
            log_file=log_file,
            bindir=bindir,
            version=(data_dir / "PG_VERSION").read_text().strip(),
            pid=int((data_dir / "postmaster.pid").read_text().split()[0]),
        )
    finally:
        try:
            if (data_dir / "postmaster.pid").exists():  # running, or pg_ctl start gave up waiting
                _stop(bindir, data_dir, log_file, directory, owner)
        finally:
            shutil.rmtree(directory, ignore_errors=True)


def _initdb(bindir: Path, data_dir: Path, directory: Path, superuser_password: str,
            owner: pwd.struct_passwd | None) -> None:
    pwfile = directory / "superuser-password"
    pwfile.write_text(superuser_password + "\n")
    pwfile.chmod(0o600)
    if owner is not None:
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    try:
        _run(owner, directory, None, [
            str(bindir / "initdb"), "--pgdata", str(data_dir), "--username", SUPERUSER,
            "--pwfile", str(pwfile), "--auth", "scram-sha-256", "--encoding", "UTF8",
            "--locale", "C", "--no-sync", "--no-instructions",
        ])
    finally:
        pwfile.unlink(missing_ok=True)


def _start(bindir: Path, data_dir: Path, socket_dir: Path, log_file: Path, port: int,
           directory: Path, owner: pwd.struct_passwd | None, last_attempt: bool) -> bool:
    """Start on `port`; False (to try another port) when the port was taken meanwhile."""
    options = (f"-c listen_addresses={HOST} -p {port} -c unix_socket_directories={socket_dir} "
               "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
    log_size = log_file.stat().st_size if log_file.exists() else 0
    try:
        _run(owner, directory, log_file, [
            str(bindir / "pg_ctl"), "start", "--wait", "--timeout", str(int(COMMAND_TIMEOUT) - 10),
            "--pgdata", str(data_dir), "--log", str(log_file), "--options", options,
        ])
    except PostgresError:
        log = _read_log(log_file)[log_size:]
        if not last_attempt and re.search(r"could not bind|Address already in use", log):
            return False
        raise
    return True


def _stop(bindir: Path, data_dir: Path, log_file: Path, directory: Path,
          owner: pwd.struct_passwd | None) -> None:
    stop = [str(bindir / "pg_ctl"), "stop", "--wait", "--timeout", "30", "--pgdata", str(data_dir)]
    try:
        _run(owner, directory, log_file, [*stop, "--mode", "fast"])
    except PostgresError:
        _run(owner, directory, log_file, [*stop, "--mode", "immediate"])


def _create_role_and_database(superuser_url: str, password: str, log_file: Path) -> None:
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(superuser_url, autocommit=True, connect_timeout=10) as connection:
            connection.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(USER), sql.Literal(password)))
            connection.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(DATABASE), sql.Identifier(USER)))
    except psycopg.Error as error:
        raise PostgresError(f"creating role and database {USER} failed: {error}\n"
                            f"{_tail(_read_log(log_file))}") from error


def _run(owner: pwd.struct_passwd | None, cwd: Path, log_file: Path | None, command: list[str]) -> None:
    """Run `command` (as `owner` via runuser, when given) and raise PostgresError with its output
    and the server log's tail when it fails or runs past COMMAND_TIMEOUT."""
    if owner is not None:
        command = ["runuser", "-u", owner.pw_name, "--", *command]
    try:
        result = subprocess.run(command, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, timeout=COMMAND_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as error:
        raise PostgresError(f"ran past {COMMAND_TIMEOUT} s: {' '.join(command)}\n"
                            f"{_tail(_read_log(log_file))}") from error
    except FileNotFoundError as error:
        raise PostgresError(f"cannot run {command[0]}: {error}") from error
    if result.returncode != 0:
        raise PostgresError(f"exited with {result.returncode}: {' '.join(command)}\n"
                            f"{result.stdout}{result.stderr}{_tail(_read_log(log_file))}")


def _system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise PostgresError(
            f"running as root, PostgreSQL needs the system user {SYSTEM_USER!r} to run as "
            "(Debian's postgresql package creates it): `make postgres`, or run the tests as "
            "another user") from None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _version_key(bindir: Path) -> tuple[int, ...]:
    """(15,) for /usr/lib/postgresql/15/bin, so that 15 sorts above 9.6."""
    return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name)) or (0,)


def _read_log(log_file: Path | None) -> str:
    if log_file is None:
        return ""
    try:
        return log_file.read_text(errors="replace")
    except OSError:
        return ""


def _tail(log: str, lines: int = 20) -> str:
    kept = log.splitlines()[-lines:]
    return "server log:\n" + "\n".join(kept) if kept else ""
