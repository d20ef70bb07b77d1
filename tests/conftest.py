"""Seeds, tiny data and isolated storage for the tests."""

from __future__ import annotations

import functools
import importlib
import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from sklearn.datasets import make_classification, make_regression

from hpsearch.engine.storage import display, load_studies
from hpsearch.engine.storage import storage_url as storage_url_of
from hpsearch.report.summaries.collect import Report
from hpsearch.report.summaries.collect import summarise as summarise_studies
from hpsearch.tasks.base import CLASSIFICATION, REGRESSION, TaskData, split_and_scale
from hpsearch.training.tables import DeviceData
from tests.browser import find_chromium
from tests.postgres import DEBIAN_BINDIRS, PostgresServer, find_postgres, postgres_server

REPO = Path(__file__).resolve().parent.parent

optuna.logging.set_verbosity(optuna.logging.WARNING)
# Test processes run side by side (pytest -n 2 on 2 cores): more torch threads than free cores
# makes OpenMP's spinning workers slow every epoch down by orders of magnitude. The variable
# reaches the `hpsearch` processes that tests start, too.
torch.set_num_threads(1)
os.environ["OMP_NUM_THREADS"] = "1"


# The modules of the [dev] extra that tests import, and what installs each.
DEV_MODULES = {"pyarrow": "pyarrow", "psycopg": "psycopg[binary]", "openpyxl": "openpyxl"}
TOOLS = ("unshare", "chromium", "postgresql", *DEV_MODULES)


def on_ci() -> bool:
    """Whether CI runs the tests (CI set, as CI services set it): there a missing tool fails."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(tool: str) -> str:
    """What a test needs beyond hpsearch's own dependencies: "unshare" (one that can make PID and
    mount namespaces here), "chromium", "postgresql" (its server binaries) or a module of the [dev]
    extra ("pyarrow", "psycopg", "openpyxl"). Gives the program's path (PostgreSQL's bin directory;
    the module's name). Where it is missing the test is skipped, but fails when CI is set, so that
    an install mistake never passes there as a skipped test."""
    if tool not in TOOLS:
        raise ValueError(f"unknown tool {tool!r}; valid choices: {', '.join(TOOLS)}")
    found, missing = _find(tool)
    if found is None:
        if on_ci():
            pytest.fail(missing)
        pytest.skip(missing)
    return found


def _find(tool: str) -> tuple[str | None, str]:
    """(where `tool` is, or None; the line saying what is missing and what installs it)."""
    if tool == "unshare":
        return _unshare()
    if tool == "chromium":
        return find_chromium(), "chromium not found on PATH or at $CHROMIUM: `make browser` installs it"
    if tool == "postgresql":
        bindir = find_postgres()
        return (None if bindir is None else str(bindir)), (
            "PostgreSQL server binaries (initdb, pg_ctl) not found under "
            f"{DEBIAN_BINDIRS}, at $PG_BINDIR or on PATH: `make postgres` installs them")
    try:
        importlib.import_module(tool)
    except ImportError as error:
        return None, (f"{tool} cannot be imported ({error}): the [dev] extra installs it "
                      f"({DEV_MODULES[tool]}; `make install`)")
    return tool, ""


def _unshare() -> tuple[str | None, str]:
    """unshare, probed: it may be installed yet refused (no root, user namespaces switched off)."""
    path = shutil.which("unshare")
    if path is None:
        return None, "unshare not found on PATH: util-linux installs it"
    refused = _refused(path)
    if refused:
        return None, (f"unshare cannot make PID and mount namespaces here: {refused} "
                      "(run the tests as root, or where user namespaces are allowed)")
    return path, ""


@functools.cache
def _refused(unshare: str) -> str:
    """Why `unshare` cannot make a PID namespace with its own /proc (a mount namespace), or ""."""
    probe = subprocess.run([unshare, "--pid", "--fork", "--mount-proc", "true"], capture_output=True,
                           text=True, timeout=60, check=False)
    return (probe.stderr.strip() or f"exit code {probe.returncode}") if probe.returncode else ""


def serve_postgres() -> Iterator[PostgresServer]:
    """A test module's PostgreSQL server (`pytest.fixture(scope="module")(serve_postgres)`), stopped
    and removed afterwards: skips without PostgreSQL, fails on CI."""
    require("postgresql")
    with postgres_server() as server:
        yield server


@pytest.fixture(autouse=True)
def _seeded() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory holding a copy of the shipped study files, so the default
    storage (studies/hpsearch.db) is private to the test."""
    (tmp_path / "studies").mkdir()
    for path in (REPO / "studies").glob("*.toml"):
        (tmp_path / "studies" / path.name).write_text(path.read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPSEARCH_STORAGE", raising=False)
    return tmp_path


@pytest.fixture
def storage_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


XSS = "<script>alert(1)</script>"
REPORT_SWEEP = {"n_trials": 5, "epochs": 3, "optimizers": ("adam", "momentum", "lbfgs"),
                "pruner": "none", "sampler": "random"}


@pytest.fixture(scope="session")
def storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Three real tiny sweeps (one under a hostile name) in one SQLite file, for report tests."""
    from hpsearch.definition.config import load_config
    from hpsearch.protocols.tune import run

    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'sweeps.db'}"
    for task, name in (("classification", "digits"), ("regression", "diabetes"),
                       ("classification", XSS)):
        run(load_config(task, None, {**REPORT_SWEEP, "storage": url, "study": name}))
    return url


def tiny_classification() -> TaskData:
    x, y = make_classification(n_samples=240, n_features=8, n_informative=5, n_classes=3,
                               random_state=0)
    return split_and_scale(x, y, CLASSIFICATION, seed=0, val_fraction=0.2, test_fraction=0.2)


def tiny_regression() -> TaskData:
    x, y = make_regression(n_samples=200, n_features=6, noise=5.0, random_state=0)
    return split_and_scale(x, y + 100.0, REGRESSION, seed=0, val_fraction=0.2, test_fraction=0.2)


def on_cpu(data: TaskData) -> DeviceData:
    return DeviceData.from_task_data(data, torch.device("cpu"))


def summarise(url: str | None, names: list[str] | None = None, importance: bool = True) -> Report:
    """The report's plain data of a storage's studies, loaded as `hpsearch report` loads them."""
    return summarise_studies(load_studies(url, names), display(storage_url_of(url)), importance)
