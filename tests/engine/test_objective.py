from __future__ import annotations

import math

import optuna
import pytest
import torch
from optuna.trial import TrialState

from hpsearch.engine.objective import Objective
from hpsearch.record import trial_attrs
from hpsearch.space.conditional import SearchSpace
from hpsearch.tasks import get_task
from hpsearch.training.tables import DeviceData

CPU = torch.device("cpu")


def objective(task: str, space: SearchSpace, epochs: int = 5) -> Objective:
    spec = get_task(task)
    data = DeviceData.from_task_data(spec.load(), CPU)
    return Objective(spec, data, space, epochs=epochs, batch_size=64, seed=0, device=CPU)


def test_a_forced_divergence_becomes_a_pruned_trial_with_its_reason() -> None:
    space = SearchSpace(optimizers=("sgd",), ranges={"sgd_lr": (1e5, 1e6)}, schedules=("none",),
                        clip=False)
    study = optuna.create_study(direction="minimize")
    study.optimize(objective("regression", space), n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.PRUNED
    assert trial_attrs(trial)["diverged"] is True
    assert trial_attrs(trial)["diverged_epoch"] == trial_attrs(trial)["epochs_run"]
    assert "not finite" in trial_attrs(trial)["reason"] or "loss is" in trial_attrs(trial)["reason"]
    # The sampler learns from it: the diverged epoch is reported as NaN, the worst value.
    assert math.isnan(trial.intermediate_values[trial_attrs(trial)["diverged_epoch"] - 1])


def test_a_pruned_trial_really_stops_training() -> None:
    space = SearchSpace(optimizers=("adam",), schedules=("none",), clip=False)
    # Accuracy can never exceed 1.1, so this real pruner prunes at the first report.
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.ThresholdPruner(lower=1.1))
    study.optimize(objective("classification", space, epochs=8), n_trials=2)
    for trial in study.trials:
        assert trial.state == TrialState.PRUNED
        assert trial_attrs(trial)["epochs_run"] == 1
        assert list(trial.intermediate_values) == [0]
        assert "pruned by the pruner" in trial_attrs(trial)["reason"]
        assert not trial_attrs(trial).get("diverged")


def test_a_complete_trial_records_what_reports_need() -> None:
    space = SearchSpace(optimizers=("adam",), ranges={"adam_lr": (1e-3, 3e-3)})
    study = optuna.create_study(direction="minimize")
    study.optimize(objective("regression", space, epochs=4), n_trials=1)
    trial = study.trials[0]
    attrs = trial_attrs(trial)
    assert trial.state == TrialState.COMPLETE
    assert trial.value == trial.intermediate_values[3]  # the last epoch's metric
    assert attrs["epochs_run"] == 4
    assert attrs["best_value"] == min(trial.intermediate_values.values())
    assert trial.intermediate_values[attrs["best_epoch"] - 1] == attrs["best_value"]
    assert attrs["device"] == "cpu" and attrs["seconds"] > 0
    assert attrs["closure_evaluations"] > 0
    assert -10 < attrs["r2"] <= 1
    assert attrs["config"]["optimizer"] == "adam"
    assert attrs["config"]["implementation"] == {"fused": True}
    assert 1e-3 <= attrs["config"]["hyperparameters"]["lr"] <= 3e-3


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_same_trial_number_same_seed_same_value(task: str) -> None:
    space = SearchSpace(optimizers=("momentum",))
    values = []
    for _ in range(2):
        study = optuna.create_study(direction=get_task(task).problem.direction,
                                    sampler=optuna.samplers.RandomSampler(seed=3))
        study.optimize(objective(task, space, epochs=2), n_trials=2)
        values.append([t.value for t in study.trials])
    assert values[0] == values[1]


def test_every_trial_records_its_cost_and_lbfgs_counts_its_closure_evaluations() -> None:
    """Cost per trial: seconds, epochs, closure evaluations and parameter updates. First-order
    optimizers evaluate the closure once per update, one update per batch; L-BFGS evaluates it
    several times per update (its line search), with one step per full-batch epoch."""
    epochs = 3
    records = []
    for key in ("sgd", "lbfgs"):
        study = optuna.create_study(direction="minimize")
        space = SearchSpace(optimizers=(key,), schedules=("none",), clip=False)
        if key == "lbfgs":
            study.enqueue_trial({"optimizer": "lbfgs", "lbfgs_line_search_fn": "strong_wolfe"})
        else:  # a rate that trains all its epochs (a drawn one up to 1.0 may diverge and stop)
            study.enqueue_trial({"optimizer": "sgd", "sgd_lr": 0.01, "sgd_weight_decay_on": False})
        study.optimize(objective("regression", space, epochs=epochs), n_trials=1)
        records.append(trial_attrs(study.trials[0]))
    sgd, lbfgs = records
    batches = math.ceil(len(get_task("regression").load().train.y) / 64)
    assert sgd["epochs_run"] == lbfgs["epochs_run"] == epochs
    assert sgd["closure_evaluations"] == sgd["updates"] == batches * epochs
    assert lbfgs["updates"] >= epochs  # every inner iteration moves the parameters
    assert lbfgs["closure_evaluations"] > lbfgs["updates"]
    assert sgd["seconds"] > 0 and lbfgs["seconds"] > 0
