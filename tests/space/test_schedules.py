"""Schedules are fractions of the run, stepped every step: the same shape at any length."""

from __future__ import annotations

import optuna
import pytest
import torch

from hpsearch.errors import ConfigError
from hpsearch.space.schedules import (
    SCHEDULES,
    WARMUP_START_FACTOR,
    build_scheduler,
    decay_start,
    lr_factor,
    python_code,
)

SCHEDULE = {  # one of each kind, as a search stores it
    "none": {"name": "none"},
    "constant": {"name": "constant", "warmup_fraction": 0.1},
    "step": {"name": "step", "warmup_fraction": 0.2, "every_fraction": 0.25, "gamma": 0.5},
    "exponential": {"name": "exponential", "warmup_fraction": 0.1, "final_fraction": 0.01},
    "cosine": {"name": "cosine", "warmup_fraction": 0.1, "floor": 0.1},
    "linear": {"name": "linear", "warmup_fraction": 0.1, "floor": 0.0},
    "wsd": {"name": "wsd", "warmup_fraction": 0.1, "decay_fraction": 0.2, "shape": "1-sqrt",
            "floor": 0.05},
}


def learning_rates(schedule: dict, n: int, lr: float = 0.1, total: int | None = None,
                   **config: object) -> list[float]:
    """The learning rate of each step, stepping the scheduler after every optimizer step."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = build_scheduler({"schedule": schedule, **config}, optimizer, total)
    rates = []
    for _ in range(n):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return rates


def test_every_kind_is_tested_here() -> None:
    assert set(SCHEDULE) == set(SCHEDULES)


@pytest.mark.parametrize("kind", list(SCHEDULE))
def test_each_schedule_has_the_same_shape_at_twice_the_length(kind: str) -> None:
    short, long = learning_rates(SCHEDULE[kind], 101, total=101), learning_rates(
        SCHEDULE[kind], 201, total=201)
    assert long[::2] == pytest.approx(short, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("kind", [k for k in SCHEDULE if k != "none"])
def test_warm_up_then_the_decay_starts_where_the_schedule_says(kind: str) -> None:
    rates = learning_rates(SCHEDULE[kind], 101, total=101)  # step t is at progress t / 100
    assert rates[0] == pytest.approx(0.1 * WARMUP_START_FACTOR)
    warm = round(SCHEDULE[kind]["warmup_fraction"] * 100)
    assert all(a < b for a, b in zip(rates[:warm], rates[1:warm + 1], strict=True))  # warming up
    assert rates[warm] == pytest.approx(0.1)  # the end of warm-up: the full rate
    start = round(decay_start(SCHEDULE[kind]) * 100)
    if kind == "step":  # the first multiplication by gamma comes at the decay's start
        assert rates[start - 1] == pytest.approx(0.1) and rates[start] == pytest.approx(0.05)
    elif kind != "constant":  # the peak at the decay's start, less from the next step on
        assert rates[start] == pytest.approx(0.1) and rates[start + 1] < 0.1
    assert max(rates) == pytest.approx(0.1)


def test_the_last_step_ends_where_each_schedule_ends() -> None:
    last = {kind: learning_rates(SCHEDULE[kind], 101, total=101)[-1] / 0.1 for kind in SCHEDULE}
    assert last["none"] == last["constant"] == pytest.approx(1.0)
    assert last["step"] == pytest.approx(0.5 ** 4)  # four quarters of the decay
    assert last["exponential"] == pytest.approx(0.01)
    assert last["cosine"] == pytest.approx(0.1) and last["linear"] == pytest.approx(0.0)
    assert last["wsd"] == pytest.approx(0.05)


def test_wsd_is_stable_until_its_decay_fraction_then_falls_in_its_shape() -> None:
    for shape in ("linear", "cosine", "1-sqrt"):
        schedule = {**SCHEDULE["wsd"], "shape": shape, "decay_fraction": 0.3, "floor": 0.0}
        rates = learning_rates(schedule, 101, total=101)
        assert rates[10:71] == pytest.approx([0.1] * 61)  # stable from warm-up to 70 %
        assert all(a > b for a, b in zip(rates[70:], rates[71:], strict=False))
        halfway = rates[85] / 0.1  # halfway through the decay
        assert halfway == pytest.approx({"linear": 0.5, "cosine": 0.5, "1-sqrt": 1 - 0.5 ** 0.5}[shape])
    assert lr_factor({**SCHEDULE["wsd"], "shape": "cosine"}, 0.8 + 0.2 * 0.25) > lr_factor(
        {**SCHEDULE["wsd"], "shape": "linear"}, 0.8 + 0.2 * 0.25)  # cosine starts slower


def test_without_total_steps_the_searched_length_is_used_and_old_configurations_still_build() -> None:
    assert learning_rates(SCHEDULE["cosine"], 51, steps=51) == pytest.approx(
        learning_rates(SCHEDULE["cosine"], 51, total=51))
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ConfigError, match="pass total_steps"):
        build_scheduler({"schedule": SCHEDULE["cosine"]}, optimizer)
    # Stored before schedules were fractions: the epoch-wise torch scheduler it trained with.
    old = learning_rates({"name": "cosine", "warmup_epochs": 2, "T_max": 8}, 10)
    assert old[0] == pytest.approx(0.001) and old[2] == pytest.approx(0.1) and old[-1] < 0.01
    assert learning_rates({"name": "step", "step_size": 2, "gamma": 0.5}, 4) == pytest.approx(
        [0.1, 0.1, 0.05, 0.05])


@pytest.mark.parametrize("kind", [k for k in SCHEDULE if k != "none"])
def test_python_code_builds_the_same_scheduler(kind: str) -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    namespace = {"optimizer": optimizer}
    exec("\n".join(python_code(SCHEDULE[kind], 40)), namespace)
    rates = []
    for _ in range(40):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        namespace["scheduler"].step()
    assert rates == pytest.approx(learning_rates(SCHEDULE[kind], 40, total=40))


def test_the_search_draws_fractions_only() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for kind, spec in SCHEDULES.items():
        drawn = spec.suggest(study.ask())
        assert set(drawn) == set(SCHEDULE[kind]) - {"name"}
        assert all(0 <= v <= 1 for k, v in drawn.items() if k != "shape")


def test_python_code_of_an_epoch_wise_configuration_is_still_plain_torch() -> None:
    schedule = {"name": "cosine", "warmup_epochs": 3, "T_max": 7}
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    namespace = {"torch": torch, "optimizer": optimizer}
    code = "\n".join(python_code(schedule, None))
    assert "hpsearch" not in code
    exec(code, namespace)
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        namespace["scheduler"].step()
    assert rates == pytest.approx(learning_rates(schedule, 10))
