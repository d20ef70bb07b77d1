from __future__ import annotations

import sys
from pathlib import Path

import optuna
import pytest

from hpsearch.engine.storage import DEFAULT_STORAGE, display, resolve, storage_url
from hpsearch.errors import ConfigError


def test_the_default_is_one_sqlite_file_and_the_environment_overrides_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HPSEARCH_STORAGE", raising=False)
    assert storage_url(None) == DEFAULT_STORAGE == "sqlite:///studies/hpsearch.db"
    monkeypatch.setenv("HPSEARCH_STORAGE", "journal:x.log")
    assert storage_url(None) == "journal:x.log"
    assert storage_url("sqlite:///y.db") == "sqlite:///y.db"


@pytest.mark.parametrize("scheme", ["sqlite:///{}/s.db", "journal:{}/s.log"])
def test_local_storages_hold_studies(tmp_path: Path, scheme: str) -> None:
    with pytest.raises(ConfigError, match="directory '.*sub' does not exist"):
        resolve(scheme.format(tmp_path / "sub"))  # a folder the user names must exist
    (tmp_path / "sub").mkdir()
    url = scheme.format(tmp_path / "sub")
    study = optuna.create_study(storage=resolve(url), study_name="x")
    study.optimize(lambda t: t.suggest_float("a", 0, 1), n_trials=2)
    again = optuna.load_study(study_name="x", storage=resolve(url, create=False))
    assert len(again.trials) == 2


def test_the_default_storage_makes_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPSEARCH_STORAGE", raising=False)
    resolve(None)
    assert (tmp_path / "studies").is_dir()


def test_missing_files_and_unknown_schemes_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; run `hpsearch tune` first"):
        resolve(f"sqlite:///{tmp_path}/none.db", create=False)
    with pytest.raises(ConfigError, match="unknown storage 'redis://h'; valid choices: sqlite"):
        resolve("redis://h")


def test_passwords_never_reach_the_screen() -> None:
    assert display("postgresql://ann:s3cret@db:5432/hp") == "postgresql://ann:***@db:5432/hp"
    assert display("sqlite:///studies/hpsearch.db") == "sqlite:///studies/hpsearch.db"


def test_postgresql_without_its_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    with pytest.raises(ConfigError, match=r"pip install 'hpsearch\[postgres\]'") as error:
        resolve("postgresql://ann:s3cret@127.0.0.1/hp")
    assert "s3cret" not in str(error.value)
