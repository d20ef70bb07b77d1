from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import tomllib
import torch
from click.testing import CliRunner

from hpsearch import build_optimizer, build_scheduler
from hpsearch.cli import cli
from hpsearch.space.optimizers import OPTIMIZERS
from hpsearch.tasks.base import mlp

TINY = ["--n-trials", "3", "--epochs", "2", "--optimizers", "adam,momentum"]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def tiny_sweep(url: str) -> str:
    """A finished two-trial sweep of `small` (Adam, one epoch) stored at `url`, for readers."""
    code, output = invoke("tune", "--task", "small", "--n-trials", "2", "--epochs", "1",
                          "--optimizers", "adam", "--quiet", "--storage", url)
    assert code == 0, output
    return url


def assert_one_line_error(code: int, output: str, expected_code: int, *fragments: str) -> None:
    assert code == expected_code, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), output
    assert "Traceback" not in output
    for fragment in fragments:
        assert fragment in lines[0]


def test_importing_the_cli_does_not_import_torch() -> None:
    code = "import sys, hpsearch, hpsearch.cli; print(sorted(m for m in ('torch', 'optuna', " \
           "'sklearn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_tune_runs_resumes_and_says_when_done(workdir: Path) -> None:
    code, output = invoke("tune", "--task", "classification", *TINY)
    assert code == 0, output
    assert "results: sqlite:///studies/hpsearch.db, study 'classification' (3 trials" in output
    assert "hpsearch best --study classification" in output
    assert "[3/3]" in output and "best" in output
    table = output[output.index("optimizer "):]
    assert any(line.startswith(("adam ", "momentum ")) for line in table.splitlines())
    assert (workdir / "studies" / "hpsearch.db").exists()

    code, output = invoke("tune", "--task", "classification", *TINY)
    assert code == 0
    assert "already holds 3 of 3 trials; nothing to run." in output

    code, output = invoke("tune", "--task", "classification", *TINY[2:], "--n-trials", "4")
    assert code == 0 and "resuming at 3/4" in output and "(4 trials" in output


def test_regression_task_end_to_end(workdir: Path) -> None:
    code, output = invoke("tune", "--task", "regression", *TINY, "--study", "diab",
                          "--pruner", "none", "--sampler", "random")
    assert code == 0, output
    assert "best rmse" in output
    code, output = invoke("best", "--study", "diab")
    best = json.loads(output)
    assert best["metric"]["name"] == "rmse" and best["metric"]["direction"] == "minimize"


@pytest.mark.parametrize("args, code, fragments", [
    (["--optimizers", "adam,adamx"], 2, ["'adamx'", "valid choices: all, classic, modern, sgd, momentum"]),
    (["--pruner", "patient"], 2, ["'patient'", "'median'", "'none'"]),
    (["--task", "vision"], 2, ["'vision'", "'classification'"]),
    (["--n-trials", "0"], 2, ["n_trials must be a positive integer; got 0"]),
    (["--config", "missing.toml"], 2, ["config file 'missing.toml' does not exist"]),
    (["--storage", "redis://h"], 2, ["unknown storage 'redis://h'", "sqlite:///PATH"]),
])
def test_bad_input_is_one_line_with_the_value_and_the_choices(
    workdir: Path, args: list[str], code: int, fragments: list[str]
) -> None:
    assert_one_line_error(*invoke("tune", "--task", "classification", *args), code, *fragments)
    assert not (workdir / "studies" / "hpsearch.db").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_an_absent_device_is_a_usage_error(workdir: Path) -> None:
    assert_one_line_error(*invoke("tune", "--task", "classification", "--device", "cuda"), 2,
                          "device 'cuda' is not available", "valid choices here: auto, cpu")


def test_a_study_name_used_for_another_space_is_a_usage_error_and_changes_nothing(workdir: Path) -> None:
    assert invoke("tune", "--task", "classification", *TINY)[0] == 0
    db = "sqlite:///studies/hpsearch.db"
    before = optuna.load_study(study_name="classification", storage=db)
    code, output = invoke("tune", "--task", "classification", *TINY[:4], "--optimizers", "sgd",
                          "--n-trials", "5")
    assert_one_line_error(code, output, 2, "study 'classification' was made with")
    after = optuna.load_study(study_name="classification", storage=db)
    assert len(after.trials) == len(before.trials) and after.user_attrs == before.user_attrs


def test_best_exports_json_toml_and_python_that_build_the_same_optimizer(workdir: Path) -> None:
    assert invoke("tune", "--task", "classification", *TINY, "--pruner", "none")[0] == 0
    as_json = json.loads(invoke("best", "--study", "classification")[1])
    as_toml = tomllib.loads(invoke("best", "--study", "classification", "--format", "toml")[1])
    assert as_toml["optimizer"] == as_json["optimizer"]
    assert as_toml["hyperparameters"] == {k: v for k, v in as_json["hyperparameters"].items()
                                          if v is not None}
    assert as_toml["metric"] == as_json["metric"]

    model = mlp(64, 10, (8,))
    expected = build_optimizer(as_json, model)
    scheduler = build_scheduler(as_json, expected)  # as the pasted code builds one, if any
    code = invoke("best", "--study", "classification", "--format", "python")[1]
    namespace: dict = {"model": model}
    exec(code, namespace)
    pasted = namespace["optimizer"]
    assert type(pasted) is type(expected)
    assert pasted.param_groups[0].keys() == expected.param_groups[0].keys()
    for key, value in expected.param_groups[0].items():
        if key != "params":
            assert pasted.param_groups[0][key] == value, key
    assert (scheduler is None) == ("scheduler" not in namespace)
    for _ in range(as_json["steps"]):  # the same learning rate at every step of the run
        assert pasted.param_groups[0]["lr"] == pytest.approx(expected.param_groups[0]["lr"])
        for built in (namespace.get("scheduler"), scheduler):
            if built is not None:
                built.optimizer.step()
                built.step()


def test_best_names_the_studies_there_are(workdir: Path) -> None:
    code, output = invoke("best", "--study", "nope")
    assert_one_line_error(code, output, 2, "does not exist; run `hpsearch tune` first")
    assert invoke("tune", "--task", "classification", *TINY, "--study", "one")[0] == 0
    assert_one_line_error(*invoke("best", "--study", "nope"), 2,
                          "unknown study 'nope'; valid choices: one")


def test_listing_commands(workdir: Path) -> None:
    code, output = invoke("optimizers")
    assert code == 0
    for key, spec in OPTIMIZERS.items():
        assert f"{key} " in output and spec.torch_class in output
    assert "adam_lr" in output and "1e-05..0.1 (log)" in output
    assert "lbfgs_line_search_fn" in output and "lbfgs_weight_decay" not in output
    code, output = invoke("tasks")
    assert code == 0 and "classification" in output and "rmse (minimize)" in output


def test_ctrl_c_records_the_running_trial_prints_the_summary_and_exits_130(workdir: Path) -> None:
    import signal

    process = subprocess.Popen(
        [sys.executable, "-m", "hpsearch", "tune", "--task", "classification", "--n-trials",
         "1000", "--epochs", "3", "--optimizers", "adam,sgd"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    seen = []
    for line in process.stdout:  # progress lines: interrupt once two trials are stored
        seen.append(line)
        if line.startswith("[2/1000]"):
            process.send_signal(signal.SIGINT)
            break
    rest = process.stdout.read()
    assert process.wait(timeout=60) == 130, "".join(seen) + rest
    assert "interrupted" in rest and "best accuracy" in rest and "Traceback" not in rest
    study = optuna.load_study(study_name="classification", storage="sqlite:///studies/hpsearch.db")
    states = [t.state for t in study.trials]
    assert optuna.trial.TrialState.RUNNING not in states
    assert len(states) >= 2
