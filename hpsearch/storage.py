"""Where studies live: an SQLite file by default, a journal file, or a PostgreSQL server."""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hpsearch.errors import ConfigError, choices

if TYPE_CHECKING:
    import optuna

DEFAULT_STORAGE = "sqlite:///studies/hpsearch.db"
ENV_VAR = "HPSEARCH_STORAGE"
SCHEMES = ("sqlite:///PATH", "journal:PATH", "postgresql://USER:PASSWORD@HOST/DB")
SQLITE_BUSY_TIMEOUT_S = 60


def storage_url(url: str | None) -> str:
    """The URL in force: the argument, else $HPSEARCH_STORAGE, else the default SQLite file."""
    return url or os.environ.get(ENV_VAR) or DEFAULT_STORAGE


def display(url: str) -> str:
    """The URL with any password masked, safe to print and to store."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def resolve(url: str | None, *, create: bool = True) -> optuna.storages.BaseStorage:
    """An Optuna storage for the URL; `create=False` refuses a local file that does not exist."""
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    url = storage_url(url)
    if url.startswith("journal:"):
        path = Path(url.removeprefix("journal:"))
        _check_local_file(path, url, create)
        return JournalStorage(JournalFileBackend(str(path)))
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        _check_local_file(path, url, create)
        return RDBStorage(url, engine_kwargs={"creator": _sqlite_connector(path)})
    if url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ConfigError(
                "storage "
                f"'{display(url)}' needs a PostgreSQL driver: pip install 'hpsearch[postgres]'"
            ) from None
        url = url.replace("postgres://", "postgresql://", 1)
        return RDBStorage(url)
    raise ConfigError(f"unknown storage '{display(url)}'; valid choices: {choices(SCHEMES)}")


def _sqlite_connector(path: Path) -> Callable[[], sqlite3.Connection]:
    """Connections in WAL mode: readers never block the writer, and a commit needs no full fsync
    (synchronous=NORMAL survives a killed process; only a power cut may lose the last commits).
    Measured on 20-epoch trials: 102 ms of storage time per trial against 154 ms by default."""

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    return connect


def _check_local_file(path: Path, url: str, create: bool) -> None:
    if path.exists():
        return
    if not create:
        raise ConfigError(f"storage '{url}' does not exist; run `hpsearch tune` first")
    path.parent.mkdir(parents=True, exist_ok=True)
