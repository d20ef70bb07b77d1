"""The SQLite file alone holds the results once a command ends, and commands that only read
change nothing: no journal-mode switch, no `-wal` or `-shm` beside the file."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import optuna
from click.testing import CliRunner

import hpsearch
from hpsearch.cli import cli
from tests.conftest import require

DB = Path("studies/hpsearch.db")


def journal_mode(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        return str(connection.execute("PRAGMA journal_mode").fetchone()[0])


def test_after_a_sweep_the_database_file_alone_holds_every_trial(workdir: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "hpsearch", "tune", "--task", "classification",
                           "--n-trials", "5", "--epochs", "2", "--optimizers", "adam,sgd",
                           "--workers", "2"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    # No log beside it; only the processes' lock file, which holds nothing.
    assert sorted(p.name for p in DB.parent.glob("hpsearch.db*")) == ["hpsearch.db", "hpsearch.db-lock"]
    assert (DB.parent / "hpsearch.db-lock").stat().st_size == 0
    assert journal_mode(DB) == "delete"
    copy = workdir / "copied" / "hpsearch.db"  # as CI artefacts, scp or DVC take it: the file only
    copy.parent.mkdir()
    shutil.copyfile(DB, copy)
    trials = optuna.load_study(study_name="classification", storage=f"sqlite:///{copy}").trials
    assert sum(t.state.is_finished() for t in trials) == 5


def plain_optuna_study(path: Path) -> None:
    """A study made with Optuna alone (a user's own loop), in Optuna's default journal mode."""
    study = optuna.create_study(study_name="mine", storage=f"sqlite:///{path}", direction="maximize")
    for value in (0.5, 0.7, 0.6):
        trial = study.ask()
        hpsearch.suggest_optimizer(trial, epochs=3)
        study.tell(trial, value)


def test_reading_commands_leave_a_plain_optuna_file_as_it_was(workdir: Path) -> None:
    path = workdir / "plain.db"
    plain_optuna_study(path)
    before, mode = path.read_bytes(), journal_mode(path)
    url = f"sqlite:///{path}"
    for command in (["studies", "--storage", url], ["best", "--storage", url],
                    ["report", "--storage", url, "--out", str(workdir / "r.html")]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 0, result.output
    assert path.read_bytes() == before and journal_mode(path) == mode == "delete"
    assert sorted(p.name for p in workdir.glob("plain.db*")) == ["plain.db"]


def test_reading_commands_work_on_a_read_only_mount(workdir: Path) -> None:
    unshare = require("unshare")
    shelf = workdir / "shelf"
    shelf.mkdir()
    plain_optuna_study(shelf / "plain.db")
    before = (shelf / "plain.db").read_bytes()
    hpsearch_command = f"{sys.executable} -m hpsearch"
    url = f"sqlite:///{shelf / 'plain.db'}"
    # As root, permissions prove nothing: the folder is bind-mounted read-only in a private mount
    # namespace, where no write can succeed, whoever tries.
    script = "\n".join([
        "set -e",
        f"mount --bind {shelf} {shelf}",
        f"mount -o remount,bind,ro {shelf}",
        f"if touch {shelf / 'probe'} 2>/dev/null; then echo 'the mount is writable'; exit 9; fi",
        f"{hpsearch_command} studies --storage {url}",
        f"{hpsearch_command} best --storage {url}",
        f"{hpsearch_command} report --storage {url} --out {workdir / 'report.html'}",
    ])
    done = subprocess.run([unshare, "-m", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mine" in done.stdout and "Traceback" not in done.stderr
    assert (workdir / "report.html").stat().st_size > 0
    assert (shelf / "plain.db").read_bytes() == before
