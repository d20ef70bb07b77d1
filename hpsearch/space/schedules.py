"""Learning-rate schedules a search may pick, written as fractions of the run and stepped every step.

A schedule is a shape over the run's progress p (0 at the first step, 1 at the last): a linear
warm-up over its first `warmup_fraction`, then constant, step decay, exponential decay, cosine or
linear decay to a `floor`, or warmup-stable-decay (constant, then a decay over the last
`decay_fraction` shaped linear, cosine or 1-sqrt; Hägele et al. 2024). Nothing in it counts steps or
epochs, so a configuration found in a short search builds the same shape for a run ten times longer:
`build_scheduler(config, optimizer, total_steps)`. `lr_factor` is plain Python with `math` only; the
exported snippet carries its source, so the pasted code computes what the search trained with.

Configurations stored before schedules were fractions (`step_size`, `T_max`, `gamma` in epochs) are
still built, as the epoch-wise torch schedulers they were (`legacy_scheduler`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpsearch.errors import ConfigError, choices

if TYPE_CHECKING:
    import optuna
    import torch

WARMUP_START_FACTOR = 0.01  # the warm-up's first step: 1 % of the learning rate
WSD_SHAPES = ("linear", "cosine", "1-sqrt")


def lr_factor(schedule: Mapping[str, Any], progress: float) -> float:
    """The learning rate's multiplier at `progress` (0 at the first step, 1 at the last)."""
    name, p = schedule["name"], min(max(progress, 0.0), 1.0)
    if name == "none":
        return 1.0
    warmup = schedule["warmup_fraction"]
    if p < warmup:
        return 0.01 + 0.99 * p / warmup  # linear from 1 % (WARMUP_START_FACTOR) to 1
    if name == "constant":
        return 1.0
    d = (p - warmup) / (1.0 - warmup) if warmup < 1.0 else 1.0  # the decay's own progress
    if name == "step":  # multiply by gamma after every `every_fraction` of the decay
        return float(schedule["gamma"] ** math.floor(d / schedule["every_fraction"] + 1e-9))
    if name == "exponential":  # from 1 after warm-up to `final_fraction` at the last step
        return float(schedule["final_fraction"] ** d)
    floor = schedule["floor"]
    if name == "wsd":  # stable until the decay's start, then down to the floor
        start = 1.0 - schedule["decay_fraction"]
        if p < start:
            return 1.0
        d = (p - start) / schedule["decay_fraction"]
        shape = schedule["shape"]
        down = d if shape == "linear" else math.sqrt(d) if shape == "1-sqrt" else (
            0.5 * (1.0 - math.cos(math.pi * d)))
        return floor + (1.0 - floor) * (1.0 - down)
    down = d if name == "linear" else 0.5 * (1.0 - math.cos(math.pi * d))
    return floor + (1.0 - floor) * (1.0 - down)


def decay_start(schedule: Mapping[str, Any]) -> float:
    """The progress after which the learning rate is below its peak (1.0: never)."""
    name = schedule["name"]
    if name in ("none", "constant"):
        return 1.0
    if name == "wsd":
        return 1.0 - float(schedule["decay_fraction"])
    warmup = float(schedule["warmup_fraction"])
    if name == "step":  # the first multiplication by gamma
        return warmup + float(schedule["every_fraction"]) * (1.0 - warmup)
    return warmup


def _warmup(trial: optuna.trial.BaseTrial, name: str) -> dict[str, Any]:
    return {"warmup_fraction": trial.suggest_float(f"schedule_{name}_warmup_fraction", 0.0, 0.2)}


def _floor(trial: optuna.trial.BaseTrial, name: str) -> dict[str, Any]:
    return {"floor": trial.suggest_float(f"schedule_{name}_floor", 0.0, 0.3)}


def _none(trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    return {}


def _constant(trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    return _warmup(trial, "constant")


def _step(trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    return {**_warmup(trial, "step"),
            "every_fraction": trial.suggest_float("schedule_step_fraction", 0.1, 0.5),
            "gamma": trial.suggest_float("schedule_step_gamma", 0.1, 0.9)}


def _exponential(trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    return {**_warmup(trial, "exponential"), "final_fraction": trial.suggest_float(
        "schedule_exponential_final_fraction", 1e-3, 0.5, log=True)}


def _cosine(trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    return {**_warmup(trial, "cosine"), **_floor(trial, "cosine")}


def _linear(trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    return {**_warmup(trial, "linear"), **_floor(trial, "linear")}


def _wsd(trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    return {**_warmup(trial, "wsd"),
            "decay_fraction": trial.suggest_float("schedule_wsd_decay_fraction", 0.1, 0.5),
            "shape": trial.suggest_categorical("schedule_wsd_shape", WSD_SHAPES),
            **_floor(trial, "wsd")}


@dataclass(frozen=True)
class ScheduleSpec:
    key: str
    description: str
    suggest: Callable[[optuna.trial.BaseTrial], dict[str, Any]]  # its fractions, drawn


SCHEDULES: Mapping[str, ScheduleSpec] = {
    spec.key: spec
    for spec in (
        ScheduleSpec("none", "constant learning rate, no warm-up", _none),
        ScheduleSpec("constant", "warm-up, then constant", _constant),
        ScheduleSpec("step", "warm-up, then times gamma every fraction of the run", _step),
        ScheduleSpec("exponential", "warm-up, then exponential decay to a final fraction",
                     _exponential),
        ScheduleSpec("cosine", "warm-up, then cosine decay to a floor", _cosine),
        ScheduleSpec("linear", "warm-up, then linear decay to a floor", _linear),
        ScheduleSpec("wsd", "warmup-stable-decay: constant, then a final decay (linear, cosine "
                            "or 1-sqrt) to a floor", _wsd),
    )
}


def check_schedules(names: tuple[str, ...]) -> tuple[str, ...]:
    for name in names:
        if name not in SCHEDULES:
            raise ConfigError(f"unknown schedule '{name}'; valid choices: {choices(SCHEDULES)}")
    if not names:
        raise ConfigError(f"no schedule given; valid choices: {choices(SCHEDULES)}")
    return tuple(key for key in SCHEDULES if key in names)


def is_fractional(schedule: Mapping[str, Any]) -> bool:
    """Written as fractions of the run (stepped every step), not in epochs as stored before."""
    return schedule["name"] == "none" or "warmup_fraction" in schedule


def build_scheduler(config: Mapping[str, Any], optimizer: torch.optim.Optimizer,
                    total_steps: int | None = None) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The scheduler of an exported configuration for a run of `total_steps` optimizer steps (call
    `scheduler.step()` after every `optimizer.step()`); None for a constant rate. Without
    `total_steps`, the length the search trained (`config["steps"]`). A configuration stored
    before schedules were fractions builds its epoch-wise scheduler (step it once per epoch)."""
    schedule = config.get("schedule") or {"name": "none"}
    if not is_fractional(schedule):
        return legacy_scheduler(schedule, optimizer)
    total = total_steps if total_steps is not None else config.get("steps")
    if schedule["name"] != "none" and total is None:
        raise ConfigError("this schedule is written as fractions of the run: pass total_steps, "
                          "the number of optimizer steps your run takes")
    return scheduler_for(schedule, optimizer, int(total or 1))


def scheduler_for(schedule: Mapping[str, Any], optimizer: torch.optim.Optimizer,
                  total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """A per-step scheduler for `total_steps` steps: step `t` trains at `lr_factor(t / (total - 1))`."""
    from torch.optim.lr_scheduler import LambdaLR

    if schedule["name"] not in SCHEDULES:
        raise ConfigError(f"unknown schedule '{schedule['name']}'; valid choices: "
                          f"{choices(SCHEDULES)}")
    if schedule["name"] == "none":
        return None
    last = max(1, total_steps - 1)
    return LambdaLR(optimizer, lambda step: lr_factor(schedule, step / last))


def legacy_scheduler(schedule: Mapping[str, Any], optimizer: torch.optim.Optimizer
                     ) -> torch.optim.lr_scheduler.LRScheduler:
    """The epoch-wise torch scheduler of a configuration stored before schedules were fractions."""
    from torch.optim import lr_scheduler

    name = schedule["name"]
    if name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=schedule["step_size"],
                                   gamma=schedule["gamma"])
    if name == "exponential":
        return lr_scheduler.ExponentialLR(optimizer, gamma=schedule["gamma"])
    if name == "cosine":
        cosine = lr_scheduler.CosineAnnealingLR(optimizer, T_max=schedule["T_max"])
        if schedule["warmup_epochs"] == 0:
            return cosine
        warmup = lr_scheduler.LinearLR(optimizer, start_factor=WARMUP_START_FACTOR,
                                       total_iters=schedule["warmup_epochs"])
        return lr_scheduler.SequentialLR(optimizer, [warmup, cosine],
                                         milestones=[schedule["warmup_epochs"]])
    raise ConfigError(f"unknown schedule '{name}'; valid choices: {choices(SCHEDULES)}")


def python_code(schedule: Mapping[str, Any], total_steps: int | None) -> list[str]:
    """Lines of plain PyTorch that build the same scheduler as `build_scheduler`: `lr_factor`'s own
    source and the stored values written with `repr`, so that no stored string can become code."""
    if schedule["name"] == "none":
        return []
    if not is_fractional(schedule):
        return [*legacy_python_code(schedule), "# call scheduler.step() once at the end of every epoch"]
    return [  # with what `lr_factor`'s annotations name: a pasted script evaluates them
        "import math", "from collections.abc import Mapping", "from typing import Any", "",
        "import torch", "", inspect.getsource(lr_factor).rstrip(), "",
        f"schedule = {dict(schedule)!r}",
        f"total_steps = {total_steps!r}  # the search's length; set your run's own",
        "scheduler = torch.optim.lr_scheduler.LambdaLR(",
        "    optimizer, lambda step: lr_factor(schedule, step / max(1, total_steps - 1)))",
        "# call scheduler.step() after every optimizer.step()",
    ]


def legacy_python_code(schedule: Mapping[str, Any]) -> list[str]:
    """The plain PyTorch of `legacy_scheduler`, for configurations stored in epochs."""
    sched, name = "torch.optim.lr_scheduler", schedule["name"]
    if name == "step":
        return [f"scheduler = {sched}.StepLR(optimizer, step_size={schedule['step_size']!r}, "
                f"gamma={schedule['gamma']!r})"]
    if name == "exponential":
        return [f"scheduler = {sched}.ExponentialLR(optimizer, gamma={schedule['gamma']!r})"]
    cosine = f"{sched}.CosineAnnealingLR(optimizer, T_max={schedule['T_max']!r})"
    if schedule["warmup_epochs"] == 0:
        return [f"scheduler = {cosine}"]
    warmup = repr(schedule["warmup_epochs"])
    return [f"warmup = {sched}.LinearLR(optimizer, start_factor={WARMUP_START_FACTOR}, "
            f"total_iters={warmup})",
            f"scheduler = {sched}.SequentialLR(optimizer, [warmup, {cosine}], milestones=[{warmup}])"]
