from __future__ import annotations

import pytest
import torch

from hpsearch.schedules import build_scheduler, python_code


def learning_rates(schedule: dict, epochs: int, lr: float = 0.1) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = build_scheduler({"schedule": schedule}, optimizer)
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return rates


def test_none_is_constant() -> None:
    assert learning_rates({"name": "none"}, 5) == [0.1] * 5


def test_step_decays_every_step_size_epochs() -> None:
    rates = learning_rates({"name": "step", "step_size": 2, "gamma": 0.5}, 6)
    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])


def test_cosine_warms_up_linearly_then_decays() -> None:
    rates = learning_rates({"name": "cosine", "warmup_epochs": 2, "T_max": 8}, 10)
    assert rates[0] == pytest.approx(0.001)
    assert rates[0] < rates[1] < rates[2] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(rates[2:], rates[3:], strict=False))
    assert rates[-1] < 0.01


def test_python_code_builds_the_same_scheduler() -> None:
    schedule = {"name": "cosine", "warmup_epochs": 3, "T_max": 7}
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    namespace = {"torch": torch, "optimizer": optimizer}
    exec("\n".join(python_code(schedule)), namespace)
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        namespace["scheduler"].step()
    assert rates == pytest.approx(learning_rates(schedule, 10))
