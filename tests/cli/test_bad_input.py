"""Nothing wrong let through: each bad value is one line naming it, exit 2 (1 at run time), no
traceback, and the storage as it was, byte for byte (the database and its log hashed together)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from hpsearch.cli import cli
from hpsearch.definition.config import StudyConfig, load_config
from hpsearch.definition.study_file import FILE_TYPES, USER_KEYS
from tests.cli.test_cli import TINY, assert_one_line_error, invoke

STORED = Path("studies")

GOOD_ROWS = "".join(f"{i % 7},{(i * 3) % 5},{'ab'[i % 2]},{i * 0.5 + (i % 3)}\n" for i in range(60))
TABLES = {  # name -> (CSV text, --task, --target)
    "inf-target": ("x1,x2,c,y\n" + GOOD_ROWS + "1,2,a,inf\n", "regression", "y"),
    "empty-target": ("x1,x2,y\n" + "".join(f"{i},{i % 3},\n" for i in range(20)), "regression", "y"),
    "inf-feature": ("x1,x2,c,y\n" + GOOD_ROWS + "-inf,2,a,3.0\n", "regression", "y"),
    "label-copy": ("x1,x2,copy,c\n" + "".join(
        f"{i % 7},{(i * 3) % 5},{'yn'[i % 2]},{'ab'[i % 2]}\n" for i in range(60)),
        "classification", "c"),
    "scaled-copy": ("x1,x2,cents,y\n" + "".join(
        f"{i % 7},{(i * 3) % 5},{(i * 0.5 + (i % 3)) * 100},{i * 0.5 + (i % 3)}\n"
        for i in range(60)), "regression", "y"),
}
BAD_MODEL = """
import torch
def build(n_features, n_outputs):
    class Extra(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(n_features, n_outputs)
        def forward(self, x):
            return self.linear(x)[:, None, :]   # (N, 1, n_outputs): one dimension too many
    return Extra()


def raises(n_features, n_outputs):
    class Broken(torch.nn.Linear):
        def forward(self, x):
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")
    return Broken(n_features, n_outputs)
"""
STUDY_FILES = {  # name -> (TOML text, the fragments the error names)
    "clip-string": ('clip = "false"\n', ["'clip'", "boolean", "'false'"]),
    "timeout-bool": ("timeout = true\n", ["'timeout'", "number", "True"]),
    "study-int": ("study = 5\n", ["'study'", "string", "5"]),
    "seed-float": ("seed = 1.5\n", ["'seed'", "integer", "1.5"]),
    "epochs-string": ('epochs = "5"\n', ["'epochs'", "integer", "'5'"]),
    "optimizers-int": ("optimizers = 3\n", ["'optimizers'", "list of names", "3"]),
    "ranges-strings": ('[ranges]\nadam_lr = ["a", "b"]\n', ["'ranges'", "[low, high] pairs"]),
}


def storage_bytes() -> str:
    """The database with its log, if any: what a copy of the folder would hold."""
    digest = hashlib.sha256()
    for suffix in ("", "-wal", "-journal"):
        path = STORED / f"hpsearch.db{suffix}"
        digest.update(path.read_bytes() if path.exists() else b"-")
    return digest.hexdigest()


@pytest.fixture
def stored(workdir: Path) -> str:
    """A storage holding one finished sweep; returns its bytes' hash."""
    assert invoke("tune", "--task", "classification", *TINY)[0] == 0
    for name, (text, _, _) in TABLES.items():
        (workdir / f"{name}.csv").write_text(text)
    for name, (text, _) in STUDY_FILES.items():
        (workdir / f"{name}.toml").write_text(text)
    (workdir / "extra.py").write_text(BAD_MODEL)
    return storage_bytes()


@pytest.mark.parametrize("args, code, fragments", [
    (["--data", "inf-target.csv", "--target", "y", "--task", "regression"], 2,
     ["regression target 'y'", "1 infinite value ", "data rows 61"]),
    (["--data", "empty-target.csv", "--target", "y", "--task", "regression"], 2,
     ["target column 'y' of 'empty-target.csv' has no values"]),
    (["--data", "inf-feature.csv", "--target", "y", "--task", "regression"], 2,
     ["feature column 'x1'", "1 infinite value "]),
    (["--data", "label-copy.csv", "--target", "c", "--task", "classification"], 2,
     ["column 'copy' of 'label-copy.csv' repeats the target 'c'"]),
    (["--data", "scaled-copy.csv", "--target", "y", "--task", "regression"], 2,
     ["column 'cents'", "repeats the target 'y'"]),
    (["--task", "regression", "--model", "extra.py:build"], 2,
     ["returned output of shape (4, 1, 1)", "it must be (4, 1)"]),
    (["--task", "classification", "--model", "extra.py:raises"], 2,
     ["failed on a batch of 4 training rows (4, 64)", "RuntimeError: mat1 and mat2"]),
    (["--task", "classification", "--seed", "-1"], 2, ["seed must be an integer from 0", "-1"]),
    *[(["--task", "classification", "--config", f"{name}.toml"], 2, fragments)
      for name, (_, fragments) in STUDY_FILES.items()],
])
def test_bad_input_to_tune_changes_nothing_stored(stored: str, args: list[str], code: int,
                                                  fragments: list[str]) -> None:
    assert_one_line_error(*invoke("tune", *args, *TINY[2:]), code, *fragments)
    assert storage_bytes() == stored


@pytest.mark.parametrize("args, fragments", [
    (["report", "--out", "report.html/inside.html"], ["cannot write --out 'report.html/inside.html'"]),
    (["report", "--out", "studies"], ["'studies'", "is a directory"]),
    (["lr-find", "--task", "classification", "--out", "report.html/page.html"],
     ["cannot write --out 'report.html/page.html'"]),
    (["lr-find", "--task", "classification", "--seed", "-2"], ["--seed must be an integer", "-2"]),
    (["compare", "--task", "small", "--seed", "-1"], ["seed must be an integer from 0"]),
])
def test_bad_input_to_the_other_commands_changes_nothing_stored(
    stored: str, workdir: Path, args: list[str], fragments: list[str]
) -> None:
    (workdir / "report.html").write_text("a file, not a folder")
    assert_one_line_error(*invoke(*args), 2, *fragments)
    assert storage_bytes() == stored


def test_a_bare_string_is_a_list_of_names_never_of_letters(workdir: Path) -> None:
    (workdir / "one.toml").write_text('optimizers = "adam"\nschedules = "none, cosine"\n'
                                      'warm_start = "earlier"\n')
    config = load_config("classification", workdir / "one.toml")
    assert config.space.optimizers == ("adam",)
    assert config.space.schedules == ("none", "cosine")
    assert config.warm_start == ("earlier",)


def test_every_key_of_a_study_config_has_a_type_in_study_files() -> None:
    from dataclasses import fields

    keys = {f.name for f in fields(StudyConfig)} - {"space", "study_name", "source", "user"}
    assert keys | {"study", "optimizers", "schedules", "clip", "ranges",
                   "weight_decay_on", *USER_KEYS} == set(FILE_TYPES)


def test_a_well_typed_file_still_reads(workdir: Path) -> None:
    (workdir / "ok.toml").write_text('clip = false\ntimeout = 30\nseed = 3\nepochs = 4\n'
                                     'optimizers = ["adam", "sgd"]\n[ranges]\nadam_lr = [1e-4, 1e-2]\n')
    result = CliRunner().invoke(cli, ["tune", "--task", "classification", "--config", "ok.toml",
                                      "--n-trials", "1"])
    assert result.exit_code == 0, result.output
