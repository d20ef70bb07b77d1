"""`hpsearch compare` over the user's own training: a command and a function, each re-run with its
own seed and scored on a held-out value the training reports."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import optuna
from click.testing import CliRunner
from optuna.trial import TrialState

import hpsearch
from hpsearch.cli import cli

STORAGE = "sqlite:///studies/hpsearch.db"
# Best at lr = 1e-2; the seed moves the result a little; a held-out line at the end.
PROGRAM = r"""
import math, random, sys
args = dict(a.split("=", 1) for a in sys.argv[1:])
random.seed(int(args["--seed"]))
lr, steps = float(args["--lr"]), int(args["--steps"])
for step in range(0, steps + 1, 10):
    loss = abs(math.log10(lr) + 2.0) + 1.0 / (1 + step) + 0.01 * random.random()
    print(f"step {step}: train loss {loss:.4f}, val loss {loss:.4f}")
print(f"test loss {loss + 0.05:.4f}")
"""
COMMAND = f"{sys.executable} train.py --lr={{lr}} --steps={{steps}} --seed={{seed}} --opt={{optimizer}}"
METRIC = r"step (?P<step>\d+): .*val loss (?P<value>[0-9.]+)"
TEST = r"test loss (?P<value>[0-9.]+)"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def trials(study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=STORAGE).trials


def test_compare_a_command_end_to_end(workdir: Path) -> None:
    Path("train.py").write_text(PROGRAM)
    code, output = invoke("compare", "--command", COMMAND, "--metric-regex", METRIC,
                          "--test-regex", TEST, "--optimizers", "adamw,sgd", "--steps", "30",
                          "--budget", "2", "--seeds", "2", "--studies", "1")
    assert code == 0, output
    assert "== compare-command" in output and "rank  optimizer" in output
    done = trials("compare-command")
    assert len(done) == 2 * (2 + 1 + 2) and all(t.state == TrialState.COMPLETE for t in done)
    reruns = [t for t in done if t.user_attrs.get("phase") == "rerun"]
    seeds = set()
    for trial in reruns:
        record = trial.user_attrs["record"]
        assert math.isclose(record["test_value"], trial.value + 0.05, abs_tol=2e-4)
        assert f"--seed={record['seed']}" in record["command"]
        seeds.add(record["seed"])
    assert len(seeds) == 4  # each re-run its own {seed}
    code, output = invoke("report", "--study", "compare-command", "--out", "page.html")
    assert code == 0, output
    assert "comparison on task command" in Path("page.html").read_text()


def test_a_comparison_that_cannot_score_its_reruns_is_refused(workdir: Path) -> None:
    Path("train.py").write_text(PROGRAM)
    code, output = invoke("compare", "--command", COMMAND, "--metric-regex", METRIC,
                          "--optimizers", "adamw", "--steps", "30")
    assert code == 2 and "give --test-regex" in output, output
    assert not Path("studies/hpsearch.db").exists()


def scored(config: dict, report) -> None:  # type: ignore[no-untyped-def]
    lr = config["hyperparameters"]["lr"]
    for step in range(0, config["steps"] + 1, config["eval_every"]):
        value = abs(math.log10(lr) + 2.0) + 1.0 / (1 + step) + config["seed"] % 7 * 1e-3
        report(step, value, test=value + 0.05)


def unscored(config: dict, report) -> None:  # type: ignore[no-untyped-def]
    report(1, config["hyperparameters"]["lr"])


def test_compare_a_function_through_the_api(workdir: Path) -> None:
    result = hpsearch.compare(train=scored, optimizers="adam,sgd", steps=20, budget=2, seeds=2,
                              studies=2, storage=STORAGE)
    assert result.stopped is None
    for name in ("compare-function", "compare-function-study2"):
        done = trials(name)
        assert all(t.state == TrialState.COMPLETE for t in done) and len(done) == 10
        assert all("test_value" in t.user_attrs["record"] for t in done
                   if t.user_attrs.get("phase") == "rerun")
    code, output = invoke("report")
    assert code == 0 and "== compare-function: 2 studies (comparison on task function" in output
    assert "compare-function" in Path("studies/report.html").read_text()


def test_a_rerun_without_a_test_value_fails_with_that_reason(workdir: Path) -> None:
    result = hpsearch.compare(train=unscored, optimizers="sgd", epochs=2, budget=1, seeds=1,
                              studies=1, storage=STORAGE)
    assert "re-run reported no test value" in str(result.stopped)
    failed = [t for t in trials("compare-function") if t.state == TrialState.FAIL]
    assert failed and all(t.user_attrs.get("phase") == "rerun" for t in failed)
