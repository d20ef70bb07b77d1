"""Where studies live: an SQLite file by default, a journal file, or a PostgreSQL server."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.engine import sqlite
from hpsearch.engine.locks import PostgresLock, file_lock, lock_file, session_options
from hpsearch.errors import ConfigError, choices

if TYPE_CHECKING:
    import optuna

DEFAULT_STORAGE = "sqlite:///studies/hpsearch.db"
ENV_VAR = "HPSEARCH_STORAGE"
SCHEMES = ("sqlite:///PATH", "journal:PATH", "postgresql://USER:PASSWORD@HOST/DB")


def storage_url(url: str | None) -> str:
    """The URL in force: the argument, else $HPSEARCH_STORAGE, else the default SQLite file."""
    return url or os.environ.get(ENV_VAR) or DEFAULT_STORAGE


def local_folder(url: str | None) -> Path:
    """The folder beside a storage file (`studies/` for a server): where runs keep their files."""
    url = storage_url(url)
    for scheme in ("sqlite:///", "journal:"):
        if url.startswith(scheme):
            return Path(url.removeprefix(scheme)).parent
    return Path("studies")


def is_server(url: str | None) -> bool:
    """Whether the storage is a database server, which processes on other machines may share."""
    return storage_url(url).startswith(("postgresql", "postgres://"))


SECRET_QUERY_KEYS = ("password", "passwd", "sslpassword")  # libpq takes a password here too


def parsed_url(url: str) -> Any:
    """SQLAlchemy's URL object for a server URL. A password written raw with a character the URL
    grammar reserves (`@`, `/`, `?`, `#`), which SQLAlchemy would read as part of the host or path,
    is percent-encoded first: the user information ends at the last `@` before the query."""
    from urllib.parse import quote

    from sqlalchemy.engine import make_url

    scheme, _, rest = url.partition("://")
    before_query = rest.split("?", 1)[0]
    if "@" in before_query:
        userinfo, after = rest[:before_query.rindex("@")], rest[before_query.rindex("@") + 1:]
        user, colon, password = userinfo.partition(":")
        if any(c in password for c in "@/?#"):
            url = f"{scheme}://{user}{colon}{quote(password, safe='%:')}@{after}"
    return make_url(url)


def server_url(url: str) -> str:
    """A server URL as every driver reads it alike: `postgresql://`, the password percent-encoded."""
    try:
        parsed = parsed_url(url.replace("postgres://", "postgresql://", 1))
    except Exception:
        raise ConfigError(f"storage '{display(url)}' is not a valid URL; valid choices: "
                          f"{choices(SCHEMES)}") from None
    return str(parsed.render_as_string(hide_password=False))


def secrets_of(url: str) -> list[str]:
    """Every form in which the URL's password may appear in a message: as written, decoded and
    encoded, and any password given in the query string; longest first."""
    from urllib.parse import quote

    if "://" not in url or url.startswith("sqlite"):
        return []
    try:
        parsed = parsed_url(url)
    except Exception:  # not a URL SQLAlchemy reads: hide everything after the scheme
        return [url.partition("://")[2]]
    found = [str(parsed.password)] if parsed.password else []
    found += [str(value) for key, values in parsed.query.items() if key.lower() in SECRET_QUERY_KEYS
              for value in ((values,) if isinstance(values, str) else values)]
    found += [quote(secret, safe="") for secret in found]
    return sorted({secret for secret in found if secret}, key=len, reverse=True)


def display(url: str) -> str:
    """The URL with every password masked (after the user name, however written, and in the query
    string), safe to print and to store."""
    if "://" not in url or url.startswith("sqlite"):
        return url  # a file path holds no password
    try:
        parsed = parsed_url(url)
    except Exception:
        return f"{url.partition('://')[0]}://***"
    query = {key: "***" if key.lower() in SECRET_QUERY_KEYS else value
             for key, value in parsed.query.items()}
    shown = str(parsed.set(query=query).render_as_string(hide_password=True))
    return shown.replace("%2A%2A%2A", "***")  # the mask as the query encodes it


def resolve(url: str | None, *, create: bool = True, heartbeat: bool = False,
            read_only: bool = False) -> optuna.storages.BaseStorage:
    """An Optuna storage for the URL. `create=False` refuses a local file that does not exist;
    `heartbeat=True` (for sweeps) lets RDB storages fail and retry the trials of dead workers;
    `read_only=True` (for commands that only read) opens an SQLite file without changing it, and a
    journal file without the repair of a half-written last record that precedes a writer's writes."""
    given = url or os.environ.get(ENV_VAR)
    url = storage_url(url)
    if url.startswith("journal:"):
        from hpsearch.engine.journal import open_journal

        path = Path(url.removeprefix("journal:"))
        _check_local_file(path, url, create, may_create_folder=not given)
        return open_journal(path, url, writing=not read_only)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        _check_local_file(path, url, create and not read_only, may_create_folder=not given)
        if read_only:
            return _rdb(url, {"creator": sqlite.reading_connector(path)}, heartbeat)
        # Taken even when the file exists: it exists as soon as the first process connects,
        # before its tables do, and a second process must not create them too.
        with file_lock(lock_file(path)):
            storage = _rdb(url, {"creator": sqlite.writing_connector(path)}, heartbeat)
        sqlite.close_when_done(path, storage.engine)  # type: ignore[attr-defined]
        return storage
    if url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ConfigError(
                "storage "
                f"'{display(url)}' needs a PostgreSQL driver: pip install 'hpsearch[postgres]'"
            ) from None
        url = server_url(url)
        with _postgres_creation_lock(url):  # a dropped connection is opened again, not an error
            return _rdb(url, {"pool_pre_ping": True, "connect_args": session_options()}, heartbeat)
    raise ConfigError(f"unknown storage '{display(url)}'; valid choices: {choices(SCHEMES)}")


# Processes that open one fresh database at the same moment would race to create Optuna's
# tables (a duplicate-key error in PostgreSQL, "UNIQUE constraint failed: alembic_version" in
# SQLite): whoever comes first creates them while the others wait on a lock.
SCHEMA_LOCK_KEY = 0x6870736561726368  # "hpsearch", for PostgreSQL's advisory lock


@contextlib.contextmanager
def _postgres_creation_lock(url: str) -> Iterator[None]:
    import psycopg

    lock = PostgresLock(url, SCHEMA_LOCK_KEY, display(url))
    try:
        lock.take()
    except psycopg.Error as error:
        raise ConfigError(f"cannot open storage '{display(url)}': "
                          f"{_masked(str(error), url)}") from None
    try:
        yield
    finally:
        lock.release()
        lock.close()


def _masked(message: str, url: str) -> str:
    """The message's first line with the URL's password hidden, in whatever form it appears."""
    detail = message.strip().splitlines()[0] if message.strip() else ""
    for secret in secrets_of(url):
        detail = detail.replace(secret, "***")
    return detail


def _rdb(url: str, engine_kwargs: dict[str, object],
         heartbeat: bool) -> optuna.storages.BaseStorage:
    import warnings

    import optuna
    from optuna.storages import RDBStorage

    from hpsearch.engine.optuna_adapter import LocalCopy
    from hpsearch.engine.recovery import HEARTBEAT_GRACE_S, HEARTBEAT_INTERVAL_S, retry_once

    beat = ({"heartbeat_interval": HEARTBEAT_INTERVAL_S, "grace_period": HEARTBEAT_GRACE_S,
             "heartbeat_stale_trial_callback": retry_once} if heartbeat else {})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # Optuna's own cache over the database, which the trial's path reads without a round
            # trip (see `optuna_adapter.local_copy`).
            return LocalCopy(RDBStorage(url, engine_kwargs=engine_kwargs,
                                        **beat))  # type: ignore[arg-type]
    except Exception as error:  # unreachable server, bad credentials, not a database file
        raise ConfigError(f"cannot open storage '{display(url)}': {type(error).__name__}: "
                          f"{_masked(str(error), url)}") from None


def _check_local_file(path: Path, url: str, create: bool, may_create_folder: bool) -> None:
    """The default storage's folder is made on first use; a folder the user named must exist."""
    if path.exists():
        if path.is_dir():
            raise ConfigError(f"storage '{url}' is a directory, not a file")
        return
    if not create:
        raise ConfigError(f"storage '{url}' does not exist; run `hpsearch tune` first")
    if not path.parent.is_dir():
        if not may_create_folder:
            raise ConfigError(f"storage '{url}': directory '{path.parent}' does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)


def load_studies(url: str | None, names: Sequence[str] | None = None) -> list[optuna.Study]:
    """The named studies of a storage that must exist (all of them when `names` is None); an
    unknown name is refused with the valid choices, and nothing is written."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    backend = resolve(url, create=False, read_only=True)
    known = optuna.get_all_study_names(backend)
    for name in names or ():
        if name not in known:
            raise ConfigError(f"unknown study '{name}'; valid choices: "
                              f"{choices(known) or '(no studies yet)'}")
    return [optuna.load_study(study_name=name, storage=backend) for name in (names or known)]


def load_study(url: str | None, name: str | None) -> optuna.Study:
    """One study; its name may be left out when the storage holds exactly one."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    known = optuna.get_all_study_names(resolve(url, create=False, read_only=True))
    if name is None and len(known) == 1:
        name = known[0]
    if name is None:
        raise ConfigError(f"no --study given; valid choices: {choices(known) or '(no studies yet)'}")
    return load_studies(url, [name])[0]
