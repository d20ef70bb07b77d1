"""Learning-rate decay: the schedules a search may pick, stepped once per epoch.

Each schedule samples scale-free quantities (the fraction of training between decays, the total
decay, the warm-up fraction) and turns them into torch's own scheduler arguments for the epoch budget,
so an exported configuration is plain torch. torch is imported only when a scheduler is built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpsearch.errors import ConfigError, choices

if TYPE_CHECKING:
    import optuna
    import torch


@dataclass(frozen=True)
class ScheduleSpec:
    key: str
    description: str
    suggest: Callable[[optuna.trial.BaseTrial, int], dict[str, Any]]  # (trial, epochs) -> args


def _none(trial: optuna.trial.BaseTrial, epochs: int) -> dict[str, Any]:
    return {}


def _step(trial: optuna.trial.BaseTrial, epochs: int) -> dict[str, Any]:
    fraction = trial.suggest_float("schedule_step_fraction", 0.1, 0.5)
    gamma = trial.suggest_float("schedule_step_gamma", 0.1, 0.9)
    return {"step_size": max(1, round(fraction * epochs)), "gamma": gamma}


def _exponential(trial: optuna.trial.BaseTrial, epochs: int) -> dict[str, Any]:
    final = trial.suggest_float("schedule_exponential_final_fraction", 1e-3, 0.5, log=True)
    return {"gamma": final ** (1.0 / max(1, epochs))}


def _cosine(trial: optuna.trial.BaseTrial, epochs: int) -> dict[str, Any]:
    warmup = trial.suggest_float("schedule_cosine_warmup_fraction", 0.0, 0.2)
    warmup_epochs = min(epochs - 1, round(warmup * epochs))
    return {"warmup_epochs": warmup_epochs, "T_max": max(1, epochs - warmup_epochs)}


SCHEDULES: Mapping[str, ScheduleSpec] = {
    spec.key: spec
    for spec in (
        ScheduleSpec("none", "constant learning rate", _none),
        ScheduleSpec("step", "multiply by gamma every step_size epochs", _step),
        ScheduleSpec("exponential", "multiply by gamma every epoch", _exponential),
        ScheduleSpec("cosine", "linear warm-up, then cosine decay to 0", _cosine),
    )
}
WARMUP_START_FACTOR = 0.01


def check_schedules(names: tuple[str, ...]) -> tuple[str, ...]:
    for name in names:
        if name not in SCHEDULES:
            raise ConfigError(f"unknown schedule '{name}'; valid choices: {choices(SCHEDULES)}")
    if not names:
        raise ConfigError(f"no schedule given; valid choices: {choices(SCHEDULES)}")
    return tuple(key for key in SCHEDULES if key in names)


def build_scheduler(
    config: Mapping[str, Any], optimizer: torch.optim.Optimizer
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The epoch-wise torch scheduler of an exported configuration; None for a constant rate.

    Call `scheduler.step()` once at the end of every epoch.
    """
    return scheduler_for(config.get("schedule") or {"name": "none"}, optimizer)


def scheduler_for(schedule: Mapping[str, Any], optimizer: torch.optim.Optimizer
                  ) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The torch scheduler of one schedule (`{"name": ..., **its arguments}`); None: constant."""
    from torch.optim import lr_scheduler

    name, args = schedule["name"], {k: v for k, v in schedule.items() if k != "name"}
    if name == "none":
        return None
    if name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=args["step_size"], gamma=args["gamma"])
    if name == "exponential":
        return lr_scheduler.ExponentialLR(optimizer, gamma=args["gamma"])
    if name == "cosine":
        cosine = lr_scheduler.CosineAnnealingLR(optimizer, T_max=args["T_max"])
        if args["warmup_epochs"] == 0:
            return cosine
        warmup = lr_scheduler.LinearLR(
            optimizer, start_factor=WARMUP_START_FACTOR, total_iters=args["warmup_epochs"]
        )
        return lr_scheduler.SequentialLR(
            optimizer, [warmup, cosine], milestones=[args["warmup_epochs"]]
        )
    raise ConfigError(f"unknown schedule '{name}'; valid choices: {choices(SCHEDULES)}")


def python_code(schedule: Mapping[str, Any]) -> list[str]:
    """Lines of plain PyTorch that build the same scheduler as `build_scheduler`. Every stored value
    is written with `repr`, so that no stored string can become code."""
    name = schedule["name"]
    sched = "torch.optim.lr_scheduler"
    if name == "step":
        return [f"scheduler = {sched}.StepLR(optimizer, step_size={schedule['step_size']!r}, "
                f"gamma={schedule['gamma']!r})"]
    if name == "exponential":
        return [f"scheduler = {sched}.ExponentialLR(optimizer, gamma={schedule['gamma']!r})"]
    if name == "cosine":
        cosine = f"{sched}.CosineAnnealingLR(optimizer, T_max={schedule['T_max']!r})"
        if schedule["warmup_epochs"] == 0:
            return [f"scheduler = {cosine}"]
        w = repr(schedule["warmup_epochs"])
        return [
            f"warmup = {sched}.LinearLR(optimizer, start_factor={WARMUP_START_FACTOR}, "
            f"total_iters={w})",
            f"scheduler = {sched}.SequentialLR(optimizer, [warmup, {cosine}], milestones=[{w}])",
        ]
    return []

