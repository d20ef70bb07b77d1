"""Budgets in steps and tokens for the table tasks: epochs become steps underneath, L-BFGS is given
the rows the others see, and every trial records its pace at each evaluation point."""

from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
import pytest
import torch
from click.testing import CliRunner

from hpsearch.cli import cli
from hpsearch.errors import ConfigError
from hpsearch.tasks.base import CLASSIFICATION, mlp
from hpsearch.training.tables import fit, steps_due
from tests.cli.test_cli import assert_one_line_error
from tests.conftest import on_cpu, tiny_classification

ADAM = {"optimizer": "adam", "hyperparameters": {"lr": 1e-2}, "clip_grad_norm": None,
        "schedule": {"name": "cosine", "warmup_fraction": 0.1, "floor": 0.1}}
LBFGS = {"optimizer": "lbfgs", "hyperparameters": {"lr": 0.5, "history_size": 10},
         "schedule": {"name": "none"}, "clip_grad_norm": None}


def run(config: dict, points: int, batch_size: int, eval_every: int | None = None) -> list:
    torch.manual_seed(0)
    data = on_cpu(tiny_classification())
    return list(fit(data, mlp(8, 3, (16,)), config, CLASSIFICATION, points, batch_size, 0,
                    eval_every))


def test_a_budget_in_epochs_is_the_same_run_as_its_budget_in_steps() -> None:
    n = len(tiny_classification().train.x)
    per_epoch = math.ceil(n / 32)
    in_epochs, in_steps = run(ADAM, 3, 32), run(ADAM, 3, 32, eval_every=per_epoch)
    assert [r.train_loss for r in in_epochs] == [r.train_loss for r in in_steps]
    assert [r.metrics for r in in_epochs] == [r.metrics for r in in_steps]
    assert in_steps[-1].total_steps == 3 * per_epoch


def test_evaluation_points_fall_every_eval_every_steps_across_epoch_boundaries() -> None:
    n = len(tiny_classification().train.x)
    results = run(ADAM, 4, 32, eval_every=5)  # 5 steps of 32 rows cross the epoch ends
    assert [r.extra["steps"] for r in results] == [5, 10, 15, 20]
    assert [r.updates for r in results] == [5, 10, 15, 20]
    assert results[-1].total_steps == 20
    rows = [r.extra["tokens"] for r in results]  # a table's token is a row
    assert rows[-1] == 20 * 32 - (32 - n % 32) * (20 * 32 // n)  # short last batch of each pass
    assert all(r.extra["seconds_per_step"] > 0 and r.extra["tokens_per_second"] > 0
               for r in results)
    norms = results[-1].extra["grad_norms"]
    assert len(norms) == 4 and all(v > 0 and math.isfinite(v) for v in norms)
    params = sum(p.numel() for p in mlp(8, 3, (16,)).parameters())
    assert results[0].extra["flops_per_token"] == 6 * params


def test_lbfgs_sees_the_rows_the_others_see() -> None:
    assert steps_due(100, 10, 4, None, full_batch=True) == [1, 2, 3, 4]  # one step an epoch
    assert steps_due(100, 16, 3, 5, full_batch=True) == [1, 2, 2]  # 80 rows a point
    assert steps_due(1000, 16, 2, 5, full_batch=True) == [0, 1]  # at least one step in all
    n = len(tiny_classification().train.x)
    first_order, full_batch = run(ADAM, 3, 32, eval_every=10), run(LBFGS, 3, 32, eval_every=10)
    seen, lbfgs_seen = first_order[-1].extra["tokens"], full_batch[-1].extra["tokens"]
    assert lbfgs_seen % n == 0 and abs(lbfgs_seen - 3 * 10 * 32) <= n / 2
    assert abs(lbfgs_seen - seen) <= n
    assert full_batch[-1].closure_evaluations > full_batch[-1].extra["steps"]


def test_tune_on_a_table_with_a_budget_in_tokens(workdir: Path) -> None:
    result = CliRunner().invoke(cli, ["tune", "--task", "classification", "--tokens", "2560",
                                      "--eval-every", "20", "--n-trials", "2",
                                      "--optimizers", "adam,lbfgs", "--pruner", "none"])
    assert result.exit_code == 0, result.output
    assert "40 steps of batch 64, evaluated every 20" in result.output
    study = optuna.load_study(study_name="classification", storage="sqlite:///studies/hpsearch.db")
    assert (study.user_attrs["steps"], study.user_attrs["eval_every"]) == (40, 20)
    for trial in study.trials:
        assert sorted(trial.intermediate_values) == [0, 1]
        measured = trial.user_attrs["record"]
        assert measured["tokens"] == pytest.approx(2560, abs=1077 / 2)
        assert len(measured["grad_norms"]) == 2
    best = json.loads(CliRunner().invoke(cli, ["best", "--study", "classification"]).output)
    assert best["steps"] == study.best_trial.user_attrs["record"]["total_steps"]

    before = [t.number for t in study.trials]
    resumed = CliRunner().invoke(cli, ["tune", "--task", "classification", "--epochs", "2",
                                       "--n-trials", "3", "--optimizers", "adam,lbfgs"])
    assert_one_line_error(resumed.exit_code, resumed.output, 2, "steps=40", "not None")
    again = optuna.load_study(study_name="classification", storage="sqlite:///studies/hpsearch.db")
    assert [t.number for t in again.trials] == before


@pytest.mark.parametrize("args, fragments", [
    (["--epochs", "3", "--steps", "40"], ["--epochs or a budget in --steps or --tokens"]),
    (["--eval-every", "10"], ["--eval-every applies to a budget in steps"]),
    (["--steps", "45", "--eval-every", "20"], ["steps (45) must be a multiple of eval_every (20)"]),
    (["--tokens", "100"], ["tokens 100 buy fewer than one evaluation interval", "64 rows"]),
    (["--width", "64"], ["--width applies to --task lm"]),
])
def test_table_budgets_that_do_not_fit_are_usage_errors(workdir: Path, args: list[str],
                                                        fragments: list[str]) -> None:
    result = CliRunner().invoke(cli, ["tune", "--task", "classification", *args])
    assert_one_line_error(result.exit_code, result.output, 2, *fragments)
    assert not (workdir / "studies" / "hpsearch.db").exists()


def test_a_step_flag_takes_the_largest_interval_that_divides_it(tmp_path: Path) -> None:
    from hpsearch.definition.config import load_config

    study_file = tmp_path / "study.toml"
    study_file.write_text('task = "classification"\nsteps = 100\neval_every = 20\n')
    config = load_config(None, study_file, {"steps": 30})
    assert (config.steps, config.eval_every, config.epochs) == (30, 15, 2)
    assert load_config(None, study_file, {}).eval_every == 20  # the file's own budget: as written
    with pytest.raises(ConfigError, match=r"steps \(30\) must be a multiple of eval_every \(20\)"):
        load_config(None, study_file, {"steps": 30, "eval_every": 20})  # as given
