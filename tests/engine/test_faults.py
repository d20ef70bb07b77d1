"""A sweep survives kills, divergence, failing models and out-of-memory; bad input stores nothing."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch
from click.testing import CliRunner
from optuna.trial import TrialState

from hpsearch.cli import cli
from hpsearch.engine.storage import resolve
from hpsearch.record import trial_attrs
from tests.waiting import wait_for_trials

DB = "sqlite:///studies/hpsearch.db"
TINY = ["--task", "classification", "--epochs", "2", "--optimizers", "adam,sgd"]


def load(name: str = "classification") -> optuna.Study:
    """The study, opened as hpsearch opens it: under the lock a sweep creates the schema under, so
    that a poll while the sweep starts never creates Optuna's tables a second time."""
    return optuna.load_study(study_name=name, storage=resolve(DB, create=False))


def snapshot(trials: list[optuna.trial.FrozenTrial]) -> dict[int, tuple]:
    return {t.number: (t.state, t.params, t.value, t.intermediate_values, t.user_attrs)
            for t in trials if t.state.is_finished()}


def test_a_sigkilled_sweep_resumes_keeps_what_finished_and_retries_the_lost_trial(
    workdir: Path,
) -> None:
    command = [sys.executable, "-m", "hpsearch", "tune", *TINY, "--epochs", "30",
               "--n-trials", "6", "--pruner", "none"]
    with open("sweep.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_trials(process, finished=2, log=Path("sweep.log"))
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    before = load().trials
    lost = [t for t in before if t.state == TrialState.RUNNING]
    assert len(lost) == 1
    finished = snapshot(before)

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"reclaimed trials [{lost[0].number}]" in rerun.stderr
    after = load().trials
    assert {n: s for n, s in snapshot(after).items() if n in finished} == finished
    assert not [t for t in after if t.state == TrialState.RUNNING]
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in after) == 6
    killed = after[lost[0].number]
    assert killed.state == TrialState.FAIL and "ended while it ran" in trial_attrs(killed)["reason"]
    retries = [t for t in after if t.user_attrs.get("retry_of") == killed.number]
    # The retry keeps every value the lost trial had drawn (all of them, once its training began).
    assert len(retries) == 1
    assert {k: retries[0].params[k] for k in killed.params} == killed.params
    assert retries[0].state == TrialState.COMPLETE


def test_every_trial_diverging_is_recorded_and_the_study_ends(workdir: Path) -> None:
    config = workdir / "explode.toml"
    config.write_text('task = "regression"\noptimizers = ["sgd"]\nschedules = ["none"]\n'
                      "clip = false\n[ranges]\nsgd_lr = [1e5, 1e6]\n")
    result = CliRunner().invoke(cli, ["tune", "--config", str(config), "--n-trials", "3",
                                      "--epochs", "5"])
    assert result.exit_code == 0, result.output
    trials = load("regression").trials
    assert [t.state for t in trials] == [TrialState.PRUNED] * 3
    assert all(trial_attrs(t)["diverged"] and trial_attrs(t)["reason"] for t in trials)
    assert "all pruned" in result.output


MODELS = '''
import torch

built = 0


class Boom(torch.nn.Module):
    def __init__(self, n_in, n_out, error):
        super().__init__()
        self.layer = torch.nn.Linear(n_in, n_out)
        self.error = error

    def forward(self, x):
        if self.error is not None and torch.is_grad_enabled():  # when training, not when checked
            raise self.error
        return self.layer(x)


def always_fails(n_in, n_out):
    return Boom(n_in, n_out, ValueError("shapes do not match: boom"))


def out_of_memory_once(n_in, n_out):
    global built
    built += 1
    # The first model is checked before the study; the first trial's model runs out of memory.
    error = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    return Boom(n_in, n_out, error if built == 2 else None)
'''


def test_a_model_that_raises_fails_its_trials_and_stops_the_study_after_three(
    workdir: Path,
) -> None:
    (workdir / "models.py").write_text(MODELS)
    result = CliRunner().invoke(cli, ["tune", *TINY, "--n-trials", "10", "--model",
                                      "models.py:always_fails"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: stopped after 3 trials in a row failed; the last: "
        "ValueError: shapes do not match: boom")
    assert "Traceback" not in result.output
    trials = load().trials
    assert [t.state for t in trials] == [TrialState.FAIL] * 3
    assert trial_attrs(trials[0])["reason"] == "ValueError: shapes do not match: boom"


def test_out_of_memory_fails_one_trial_and_the_study_goes_on(workdir: Path) -> None:
    (workdir / "models.py").write_text(MODELS)
    result = CliRunner().invoke(cli, ["tune", *TINY, "--n-trials", "3", "--model",
                                      "models.py:out_of_memory_once"])
    assert result.exit_code == 0, result.output
    trials = load().trials
    assert trials[0].state == TrialState.FAIL
    assert trial_attrs(trials[0])["reason"] == (
        "out of memory: CUDA out of memory. Tried to allocate 2.00 GiB")
    assert "#0 sgd fail: out of memory" in result.output or "#0 adam fail: out of memory" in \
        result.output
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3


def test_trial_timeout_stops_a_trial_at_the_epochs_end(workdir: Path) -> None:
    result = CliRunner().invoke(cli, ["tune", *TINY, "--epochs", "5", "--n-trials", "2",
                                      "--trial-timeout", "0.000001", "--pruner", "none"])
    assert result.exit_code == 0, result.output
    for trial in load().trials:
        assert trial.state == TrialState.PRUNED
        assert trial_attrs(trial)["epochs_run"] == 1
        assert trial_attrs(trial)["reason"].startswith("trial timeout:")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


BAD_INPUTS = [
    (["--task", "vision"], "'vision' is not one of 'classification'"),
    (["--optimizers", "adam,adamx"], "unknown optimizer 'adamx'; valid choices: all, classic, modern, sgd"),
    (["--pruner", "never"], "'never' is not one of 'median'"),
    (["--sampler", "grid"], "'grid' is not one of 'tpe', 'optuna-tpe', 'random', 'qmc'"),
    (["--n-trials", "0"], "n_trials must be a positive integer; got 0"),
    (["--epochs", "-1"], "epochs must be a positive integer; got -1"),
    (["--data", "folder", "--target", "y"], "data file 'folder' is a directory, not a file"),
    (["--data", "empty.csv", "--target", "y"], "data file 'empty.csv' is empty"),
    (["--data", "header.csv", "--target", "y"], "data file 'header.csv' has no rows"),
    (["--data", "binary.csv", "--target", "y"], "data file 'binary.csv' cannot be read"),
    (["--data", "ok.csv", "--target", "label"], "target column 'label' is not in 'ok.csv'"),
    (["--data", "one.csv", "--target", "y"], "target 'y' has a single class 'a'"),
    (["--config", "broken.toml"], "config file 'broken.toml' is not valid TOML"),
    (["--storage", "redis://localhost"], "unknown storage 'redis://localhost'; valid choices"),
    (["--storage", "sqlite:///nowhere/x.db"], "directory 'nowhere' does not exist"),
    (["--storage", "sqlite:///garbage.db"], "cannot open storage 'sqlite:///garbage.db'"),
    (["--storage", "postgresql://ann:s3cret@127.0.0.1:1/hp"], "postgresql://ann:***@127.0.0.1"),
    (["--study", "regression"], "study 'regression' was made with task='regression'"),
    (["--model", "nope.py:build"], "--model file 'nope.py' does not exist"),
    (["--model", "models.py:missing"], "'models.py' has no 'missing'"),
]
if not torch.cuda.is_available():
    BAD_INPUTS.append((["--device", "cuda"], "device 'cuda' is not available on this machine"))


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A storage holding a finished study, and the bad files the table below points at."""
    root = tmp_path_factory.mktemp("bad-input")
    (root / "studies").mkdir()
    cwd = os.getcwd()
    os.chdir(root)
    try:
        result = CliRunner().invoke(cli, ["tune", "--task", "regression", "--n-trials", "2",
                                          "--epochs", "2", "--optimizers", "adam"])
        assert result.exit_code == 0, result.output
    finally:
        os.chdir(cwd)
    (root / "folder").mkdir()
    (root / "empty.csv").write_text("")
    (root / "header.csv").write_text("x,y\n")
    (root / "binary.csv").write_bytes(bytes(range(256)) * 8)
    (root / "ok.csv").write_text("x,y\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(30)))
    (root / "one.csv").write_text("x,y\n" + "".join(f"{i},a\n" for i in range(30)))
    (root / "broken.toml").write_text("task = [\n")
    (root / "garbage.db").write_bytes(b"not a database " * 100)
    (root / "models.py").write_text(MODELS)
    return root


@pytest.mark.parametrize("args, message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_and_leaves_storage_untouched(
    stored: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(stored)
    files = {p: digest(p) for p in (stored / "studies").iterdir()}
    task = [] if "--task" in args or "--config" in args else ["--task", "classification"]
    if "--study" in args:
        task = ["--task", "classification"]
    result = CliRunner().invoke(cli, ["tune", *task, "--n-trials", "3", "--epochs", "2", *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines
    assert "s3cret" not in result.output
    assert {p: digest(p) for p in (stored / "studies").iterdir()} == files
