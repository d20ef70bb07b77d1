from __future__ import annotations

import pytest
import torch

from hpsearch.tasks.base import CLASSIFICATION, REGRESSION, mlp
from hpsearch.training.tables import fit
from tests.conftest import on_cpu, tiny_classification, tiny_regression


def sgd(lr: float, clip: float | None = None) -> dict:
    return {"optimizer": "sgd", "hyperparameters": {"lr": lr, "weight_decay": 0.0},
            "schedule": {"name": "none"}, "clip_grad_norm": clip}


def test_a_huge_learning_rate_is_reported_as_divergence_and_training_stops() -> None:
    data = on_cpu(tiny_regression())
    results = list(fit(data, mlp(6, 1, (32,)), sgd(1e4), REGRESSION, epochs=20, batch_size=16,
                       seed=0))
    assert results[-1].diverged is not None
    assert len(results) < 20
    assert all(r.diverged is None for r in results[:-1])


def test_regression_reports_rmse_in_target_units_and_r2() -> None:
    data = on_cpu(tiny_regression())
    results = list(fit(data, mlp(6, 1, (32,)), sgd(0.01), REGRESSION, epochs=15, batch_size=16,
                       seed=0))
    rmse, r2 = results[-1].metrics
    # Predicting the mean would give an RMSE near the targets' spread (~100 units here).
    assert rmse < 0.5 * data.target_scale
    assert 0.5 < r2 <= 1.0
    assert results[-1].train_loss < results[0].train_loss


def test_same_seed_same_run_other_seed_other_run() -> None:
    data = on_cpu(tiny_classification())

    def run(seed: int) -> list[float]:
        torch.manual_seed(seed)
        model = mlp(8, 3, (16,))
        return [r.train_loss for r in fit(data, model, sgd(0.1), CLASSIFICATION, 3, 16, seed)]

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_gradient_clipping_bounds_every_update() -> None:
    data = on_cpu(tiny_classification())
    torch.manual_seed(0)
    model = mlp(8, 3, (16,))
    before = torch.nn.utils.parameters_to_vector(model.parameters()).clone()
    steps = len(range(0, len(data.x_train), 16))
    list(fit(data, model, sgd(1.0, clip=1e-3), CLASSIFICATION, 1, 16, 0))
    moved = (torch.nn.utils.parameters_to_vector(model.parameters()) - before).norm()
    assert 0 < moved <= 1.0 * 1e-3 * steps + 1e-6


def test_updates_count_one_per_step_for_a_first_order_optimizer() -> None:
    data = on_cpu(tiny_classification())
    steps_per_epoch = len(range(0, len(data.x_train), 32))
    results = list(fit(data, mlp(8, 3, (16,)), sgd(0.1), CLASSIFICATION, 3, 32, 0))
    assert [r.updates for r in results] == [steps_per_epoch * (e + 1) for e in range(3)]
    assert [r.closure_evaluations for r in results] == [r.updates for r in results]


def test_lbfgs_updates_are_its_inner_iterations(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without a line search, each inner iteration moves the parameters exactly once (_add_grad).
    moves = []
    add_grad = torch.optim.LBFGS._add_grad

    def counted(self: torch.optim.LBFGS, step_size: float, update: torch.Tensor) -> None:
        moves.append(step_size)
        add_grad(self, step_size, update)

    monkeypatch.setattr(torch.optim.LBFGS, "_add_grad", counted)
    config = {"optimizer": "lbfgs", "schedule": {"name": "none"}, "clip_grad_norm": None,
              "hyperparameters": {"lr": 0.5, "history_size": 10, "line_search_fn": None}}
    data = on_cpu(tiny_classification())
    updates = []
    for result in fit(data, mlp(8, 3, (16,)), config, CLASSIFICATION, 3, 32, 0):
        updates.append(result.updates)
        assert result.updates == len(moves)
        assert result.closure_evaluations >= result.updates
    assert updates[0] > 1 and updates == sorted(updates)  # many per full-batch step, cumulative
