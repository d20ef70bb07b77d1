"""The default sampler, TPE for a conditional space: each trial draws only the parameters it uses,
a branch's parameters modelled on the trials of that branch; a study that drew with Optuna's TPE
as `tpe` before keeps drawing with it."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import optuna
from click.testing import CliRunner

from hpsearch import record
from hpsearch.cli import cli
from hpsearch.engine.conditional_tpe import branch_of, conditional_tpe
from hpsearch.space.conditional import SearchSpace, suggest


def synthetic(config) -> float:  # type: ignore[no-untyped-def]
    """Best with Adam near lr 3e-3; other optimizers worse."""
    lr = config.hyperparameters["lr"]
    return (0.0 if config.optimizer == "adam" else 0.3) + 0.1 * (math.log10(lr) + 2.5) ** 2


def test_branches() -> None:
    optimizers = ("adam", "adamw", "schedulefree_adamw", "sgd")
    assert branch_of("adamw_lr", optimizers) == ("optimizer", "adamw")
    assert branch_of("adam_one_minus_beta1", optimizers) == ("optimizer", "adam")
    assert branch_of("schedulefree_adamw_lr", optimizers) == ("optimizer", "schedulefree_adamw")
    assert branch_of("schedule_cosine_floor", optimizers) == ("schedule", "cosine")
    assert branch_of("clip_grad_max_norm", optimizers) == ("clip_grad", "True")
    assert branch_of("optimizer", optimizers) is None and branch_of("schedule", optimizers) is None


def test_it_draws_each_branch_from_its_own_trials_and_finds_the_good_region() -> None:
    warnings.simplefilter("ignore")
    study = optuna.create_study(sampler=conditional_tpe(seed=0))
    space = SearchSpace(optimizers=("adam", "sgd", "adagrad"))
    for _ in range(60):
        trial = study.ask()
        study.tell(trial, synthetic(suggest(trial, space, 10)))
    later = study.trials[30:]
    # After the random start, the sampler prefers the better optimizer and its good lr range.
    assert sum(t.params["optimizer"] == "adam" for t in later) > len(later) / 2
    assert study.best_value < 0.01
    for trial in study.trials:  # only the parameters its optimizer and schedule use
        own = {n for n in trial.params if branch_of(n, tuple(space.optimizers)) is not None
               and branch_of(n, tuple(space.optimizers))[0] == "optimizer"}
        assert all(n.startswith(trial.params["optimizer"] + "_") for n in own)


def test_same_seed_same_draws() -> None:
    warnings.simplefilter("ignore")
    draws = []
    for _ in range(2):
        study = optuna.create_study(sampler=conditional_tpe(seed=3))
        for _ in range(15):
            trial = study.ask()
            study.tell(trial, synthetic(suggest(trial, SearchSpace(), 10)))
        draws.append([t.params for t in study.trials])
    assert draws[0] == draws[1]


def test_a_study_that_drew_with_optunas_tpe_as_tpe_keeps_it(workdir: Path) -> None:
    runner = CliRunner()
    args = ["tune", "--task", "small", "--epochs", "2", "--storage", "sqlite:///x.db"]
    assert runner.invoke(cli, [*args, "--n-trials", "1"]).exit_code == 0
    study = optuna.load_study(study_name="small", storage="sqlite:///x.db")
    (key,) = [k for k in study.user_attrs if k.startswith(record.RUN_PREFIX)]
    assert study.user_attrs[key]["tpe"] == "conditional"  # a new run says it drew with this
    # Rewrite that run as one from before: `tpe` without the mark was Optuna's TPE.
    old = {k: v for k, v in study.user_attrs[key].items() if k != "tpe"}
    study.set_user_attr(key, old)
    result = runner.invoke(cli, [*args, "--n-trials", "2"])
    assert result.exit_code == 0, result.output
    assert "sampler: optuna-tpe" in result.output
    runs = record.runs_of(optuna.load_study(study_name="small",
                                                storage="sqlite:///x.db").user_attrs)
    assert [record.sampler_of(run) for run in runs] == ["optuna-tpe", "optuna-tpe"]
