"""The user's own model (--model) and the user's own training loop (hpsearch.suggest_optimizer)."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from hpsearch.cli import cli
from hpsearch.record import trial_attrs

TINY = ["--task", "classification", "--n-trials", "2", "--epochs", "2", "--optimizers",
        "adam,sgd"]

MODEL_FILE = '''
import torch


class TinyNet(torch.nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(n_in, 7), torch.nn.Tanh(),
                                        torch.nn.Linear(7, n_out))

    def forward(self, x):
        return self.body(x)


def build(n_in, n_out):
    return TinyNet(n_in, n_out)


def broken(n_in, n_out):
    return "not a module"


not_a_function = 3
'''


def test_trials_train_the_users_model(workdir: Path) -> None:
    (workdir / "my_models.py").write_text(MODEL_FILE)
    result = CliRunner().invoke(cli, ["tune", *TINY, "--model", "my_models.py:build"])
    assert result.exit_code == 0, result.output
    assert "model: my_models.py:build -> TinyNet with 535 parameters" in result.output
    study = optuna.load_study(study_name="classification", storage="sqlite:///studies/hpsearch.db")
    assert len(study.trials) == 2
    for trial in study.trials:
        assert trial_attrs(trial)["model"] == "TinyNet"
        assert trial_attrs(trial)["parameters"] == 64 * 7 + 7 + 7 * 10 + 10
    assert study.user_attrs["model"] == "my_models.py:build"
    # The same study with the built-in model is another experiment: refused.
    result = CliRunner().invoke(cli, ["tune", *TINY, "--n-trials", "3"])
    assert result.exit_code == 2 and "was made with model='my_models.py:build'" in result.output


@pytest.mark.parametrize("spec, message", [
    ("my_models.build", "must be FILE.py:FUNCTION or package.module:FUNCTION"),
    ("missing.py:build", "--model file 'missing.py' does not exist"),
    ("my_models.py:nope", "'my_models.py' has no 'nope'; valid choices: TinyNet, broken, build"),
    ("my_models.py:not_a_function", "'not_a_function' is a int, not callable"),
    ("my_models.py:broken", "returned str, not a torch.nn.Module"),
    ("no_such_package.models:build", "cannot be imported: ModuleNotFoundError"),
    ("bad.py:build", "cannot be imported: SyntaxError"),
])
def test_a_bad_model_is_a_clear_error_before_the_study_starts(
    workdir: Path, spec: str, message: str
) -> None:
    (workdir / "my_models.py").write_text(MODEL_FILE)
    (workdir / "bad.py").write_text("def build(:\n")
    result = CliRunner().invoke(cli, ["tune", *TINY, "--model", spec])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (workdir / "studies" / "hpsearch.db").exists()


OWN_LOOP = '''
import optuna, torch
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader, TensorDataset
import hpsearch

x, y = load_breast_cancer(return_X_y=True)
x = torch.tensor(StandardScaler().fit_transform(x), dtype=torch.float32)
y = torch.tensor(y, dtype=torch.float32)
train = DataLoader(TensorDataset(x[:400], y[:400]), batch_size=32, shuffle=True)
EPOCHS = 3


def objective(trial):
    torch.manual_seed(trial.number)
    model = torch.nn.Linear(30, 1)                                  # your model
    config = hpsearch.suggest_optimizer(trial, epochs=EPOCHS)       # the conditional space
    optimizer = hpsearch.build_optimizer(config, model)
    scheduler = hpsearch.build_scheduler(config, optimizer)
    loss_fn = torch.nn.BCEWithLogitsLoss()                          # your loss
    for epoch in range(EPOCHS):
        for xb, yb in train:                                        # your DataLoader
            def closure():
                optimizer.zero_grad()
                loss = loss_fn(model(xb).squeeze(-1), yb)
                loss.backward()
                if config["clip_grad_norm"]:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config["clip_grad_norm"])
                return loss
            optimizer.step(closure)                                 # L-BFGS needs the closure
        if scheduler:
            scheduler.step()
        with torch.no_grad():                                       # your metric
            accuracy = ((model(x[400:]).squeeze(-1) > 0) == (y[400:] > 0.5)).float().mean().item()
        trial.report(accuracy, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return accuracy


study = optuna.create_study(study_name="mine", storage="sqlite:///own.db", direction="maximize",
                            sampler=optuna.samplers.RandomSampler(seed=0))
study.optimize(objective, n_trials=6)
'''


def test_a_users_own_objective_makes_studies_best_and_report_read(workdir: Path) -> None:
    exec(compile(OWN_LOOP, "own_loop.py", "exec"), {"__name__": "own_loop"})
    result = CliRunner().invoke(cli, ["best", "--storage", "sqlite:///own.db"])
    assert result.exit_code == 0, result.output
    best = json.loads(result.output)
    study = optuna.load_study(study_name="mine", storage="sqlite:///own.db")
    assert best["metric"]["value"] == study.best_value > 0.8
    assert best["optimizer"] == study.best_trial.params["optimizer"]
    result = CliRunner().invoke(cli, ["report", "--storage", "sqlite:///own.db", "--out",
                                      "own.html"])
    assert result.exit_code == 0, result.output
    assert "== mine (task custom" in result.output
    assert best["optimizer"] in (workdir / "own.html").read_text()


COUNTED_MODEL = '''
import pathlib
import torch

counter = pathlib.Path(__file__).with_name("executions.txt")
counter.write_text(counter.read_text() + "x" if counter.exists() else "x")


def build(n_in, n_out):
    return torch.nn.Sequential(torch.nn.Linear(n_in, 16), torch.nn.ReLU(), torch.nn.Linear(16, n_out))
'''


def test_the_task_is_prepared_once_even_with_a_range_test_first(workdir: Path) -> None:
    """The range test and the sweep share one prepared task: the user's model file runs once."""
    (workdir / "counted.py").write_text(COUNTED_MODEL)
    result = CliRunner().invoke(cli, ["tune", "--task", "small", "--n-trials", "2", "--epochs", "1",
                                      "--optimizers", "adam", "--lr-from-range-test",
                                      "--model", "counted.py:build"])
    assert result.exit_code == 0, result.output
    assert "range test adam: lr" in result.output
    assert (workdir / "executions.txt").read_text() == "x"
