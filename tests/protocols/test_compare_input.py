"""A finished comparison is never rewritten to say what it did not do: a smaller budget, fewer
seeds, another seed, other optimizers, epochs or task settings are refused in one line, in the
flags `compare` has, and the storage stays as it was, byte for byte; a larger budget and more
seeds continue it."""

from __future__ import annotations

import collections
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from hpsearch.cli import cli
from hpsearch.cli.compare import compare
from hpsearch.protocols.compare_plan import rerun_source
from tests.cli.test_cli import assert_one_line_error
from tests.conftest import REPO

ARGS = ["compare", "--task", "small", "--epochs", "1", "--optimizers", "sgd,adam", "--budget", "2",
        "--seeds", "2", "--studies", "1", "--quiet"]
COMPARE_FLAGS = {flag for param in compare.params for flag in param.opts if flag.startswith("--")}


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished comparison: one study, 2 optimizers x (1 default + 2 search + 2 re-runs)."""
    folder = tmp_path_factory.mktemp("comparison")
    (folder / "studies").mkdir()
    for path in (REPO / "studies").glob("*.toml"):
        shutil.copy(path, folder / "studies")
    # In a process of its own: at its end the database is one plain file, ready to copy.
    env = {k: v for k, v in os.environ.items() if k != "HPSEARCH_STORAGE"}
    result = subprocess.run([sys.executable, "-m", "hpsearch", *ARGS], cwd=folder, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return folder / "studies" / "hpsearch.db"


def stored_bytes() -> bytes:
    """The database with its log, if any (a reader may leave an empty log and an index beside it)."""
    return b"".join(path.read_bytes() for suffix in ("", "-wal", "-journal")
                    if (path := Path(f"studies/hpsearch.db{suffix}")).exists())


@pytest.mark.parametrize("args, fragments", [
    (["--budget", "1"], ["--budget 2, not --budget 1", "can only grow"]),
    (["--seeds", "1"], ["--seeds 2, not --seeds 1", "can only grow"]),
    (["--seed", "7"], ["--seed 0, not --seed 7"]),
    (["--optimizers", "sgd"], ["--optimizers sgd,adam, not --optimizers sgd"]),
    (["--epochs", "2"], ["--epochs 1, not --epochs 2"]),
    (["--batch-size-in-the-study-file"], ["batch_size=", "--prefix"]),
])
def test_what_would_make_a_stored_comparison_lie_is_refused_in_compares_flags(
        workdir: Path, finished: Path, args: list[str], fragments: list[str]) -> None:
    shutil.copy(finished, workdir / "studies" / "hpsearch.db")
    if args == ["--batch-size-in-the-study-file"]:  # a setting of the task's study file changed
        toml = workdir / "studies" / "small.toml"
        toml.write_text(re.sub(r"(?m)^batch_size = .*$", "batch_size = 7", toml.read_text()))
        args = []
    before = stored_bytes()
    result = CliRunner().invoke(cli, [*ARGS, *args])
    assert_one_line_error(result.exit_code, result.output, 2, "study 'compare-small' was made with",
                          *fragments)
    named = set(re.findall(r"--[a-z][a-z-]*", result.output))
    assert named and named <= COMPARE_FLAGS, named - COMPARE_FLAGS
    assert stored_bytes() == before


def test_a_larger_budget_and_more_seeds_continue_a_comparison(workdir: Path, finished: Path) -> None:
    shutil.copy(finished, workdir / "studies" / "hpsearch.db")
    result = CliRunner().invoke(cli, [*ARGS, "--budget", "3", "--seeds", "3"])
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="compare-small", storage="sqlite:///studies/hpsearch.db")
    assert (study.user_attrs["protocol"]["budget"], study.user_attrs["protocol"]["seeds"]) == (3, 3)
    for key in ("sgd", "adam"):
        best = rerun_source(study.trials, key, "maximize")
        assert best is not None
        roles = collections.Counter(t.user_attrs["phase"] for t in study.trials
                                    if t.state.is_finished() and t.params["optimizer"] == key
                                    and t.user_attrs.get("rerun_of", best.number) == best.number)
        assert (roles["search"], roles["rerun"]) == (3, 3), roles
