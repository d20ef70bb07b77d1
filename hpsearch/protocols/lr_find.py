"""`hpsearch lr-find`: a learning-rate range test (Smith 2015, "Cyclical learning rates"; the LR
finder of fastai and Lightning), and the search space it narrows (`tune --lr-from-range-test`).

A fresh model trains for a few hundred mini-batches while the learning rate grows exponentially;
the loss first barely moves, then falls, then blows up. Where it falls fastest and where it is
lowest bound the learning rates worth searching. The test knows nothing of Optuna; the curve's
analysis (`suggest_range`) is pure, and the figure and page are built from `RangeTest` data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from hpsearch.errors import ConfigError
from hpsearch.protocols.lr_range import (
    HIGH_MARGIN,
    LOW_MARGIN,
    MIN_DECADES,
    SKIP_START,
    RangeTest,
    lr_schedule,
    narrow,
    smooth,
    suggest_range,
)
from hpsearch.space.optimizers import get_spec, implementation_for
from hpsearch.tasks import TaskData

if TYPE_CHECKING:
    import torch

    from hpsearch.space.conditional import SearchSpace
    from hpsearch.tasks import Task
    from hpsearch.tasks.corpus import Corpus
    from hpsearch.training.tables import DeviceData

__all__ = ["HIGH_MARGIN", "LOW_MARGIN", "MIN_DECADES", "SKIP_START", "RangeTest", "lr_schedule",
           "narrow", "narrow_space", "narrowed_ranges", "narrowing_notes", "range_test",
           "run_range_tests", "smooth", "suggest_range"]

class TaskAndData(Protocol):
    """What the test trains: `hpsearch.tasks.prepare.PreparedTask` is one."""

    @property
    def task(self) -> Task: ...

    @property
    def data(self) -> TaskData | Corpus: ...


def _config(optimizer: str, device_type: str) -> dict[str, Any]:
    """An exported-style configuration at torch's defaults. A closure optimizer (L-BFGS) runs one
    iteration per step (`max_iter=1`): its iterations within a trial's step share one lr."""
    spec = get_spec(optimizer)
    hyperparameters = {**spec.to_torch(spec.defaults), **spec.fixed}
    if spec.needs_closure:
        hyperparameters["max_iter"] = 1
    return {"optimizer": optimizer, "hyperparameters": hyperparameters,
            "implementation": implementation_for(optimizer, device_type)}


def _check(steps: int, lr_min: float, lr_max: float, smoothing: float, diverge_factor: float) -> None:
    if steps < 2:
        raise ConfigError(f"a range test needs at least 2 steps; got {steps}")
    if not 0 < lr_min < lr_max:
        raise ConfigError(f"need 0 < lr_min < lr_max; got lr_min={lr_min:g}, lr_max={lr_max:g}")
    if not 0 <= smoothing < 1:
        raise ConfigError(f"smoothing must be in [0, 1); got {smoothing}")
    if not diverge_factor > 1:
        raise ConfigError(f"diverge_factor must be above 1; got {diverge_factor}")


def range_test(task: TaskAndData, optimizer: str, device: torch.device | str, *, steps: int = 300,
               lr_min: float = 1e-7, lr_max: float = 10.0, seed: int = 0, smoothing: float = 0.98,
               diverge_factor: float = 4.0, batch_size: int | None = None) -> RangeTest:
    """Train a fresh model of `task` (seeded) with `optimizer` at torch's defaults, the lr of
    every parameter group growing exponentially from `lr_min` to `lr_max` over `steps`
    mini-batches of `batch_size` (the task's own by default; L-BFGS: the full batch, one
    iteration per step). Stops once the smoothed loss exceeds `diverge_factor` times its minimum
    or is not finite. Reads the loss back once per step."""
    import torch

    from hpsearch.space.optimizers import build_optimizer
    from hpsearch.training.tables import DeviceData, shuffled_batches

    _check(steps, lr_min, lr_max, smoothing, diverge_factor)
    started = time.perf_counter()
    device = torch.device(device)
    if not isinstance(task.data, TaskData):
        raise ConfigError("the learning-rate range test applies to the table tasks; --task lm "
                          "is not supported by it")
    data = DeviceData.from_task_data(task.data, device)
    torch.manual_seed(seed)
    model = task.task.build_model(int(data.x_train.shape[1]), data.n_outputs).to(device)
    opt = build_optimizer(_config(optimizer, device.type), model)
    if get_spec(optimizer).train_eval_modes:  # schedule-free: steps in train mode
        opt.train()  # type: ignore[attr-defined]
    n = len(data.x_train)
    size = n if get_spec(optimizer).needs_closure else (batch_size or task.task.batch_size)
    lrs = lr_schedule(lr_min, lr_max, steps)
    batches = shuffled_batches(n, size, torch.Generator(device=device).manual_seed(seed), device)
    steps_run = _train(model, opt, task.task.problem.loss, data, batches, lrs, smoothing,
                       diverge_factor)
    losses = list(steps_run)
    smoothed = smooth(losses, smoothing)
    last = smoothed[-1]  # the test stops at the first step past the threshold: only the last can be
    diverged = bool(not math.isfinite(last) or last > diverge_factor * smoothed.min())
    at_min, steepest, suggested = suggest_range(lrs[:len(losses)], smoothed)
    return RangeTest(optimizer, tuple(float(v) for v in lrs[:len(losses)]), tuple(losses),
                     tuple(float(v) for v in smoothed), at_min, steepest, suggested, steps, diverged,
                     time.perf_counter() - started)


def _train(model: torch.nn.Module, opt: torch.optim.Optimizer, loss_fn: Callable[..., torch.Tensor],
           data: DeviceData, batches: Iterator[torch.Tensor], lrs: np.ndarray, smoothing: float,
           diverge_factor: float) -> Iterator[float]:
    """The loss before each step, until the smoothed loss passes `diverge_factor` x its minimum
    or is not finite (that step's loss is the last)."""
    from hpsearch.training.tables import StepClosure

    model.train()
    closure = StepClosure(model, opt, loss_fn)
    average, best = 0.0, math.inf
    for step, (lr, index) in enumerate(zip(lrs, batches, strict=False), 1):
        for group in opt.param_groups:
            group["lr"] = float(lr)
        loss = float(closure.step(data.x_train[index], data.y_train[index]).detach())  # one sync
        yield loss
        average = smoothing * average + (1.0 - smoothing) * loss
        current = average / (1.0 - smoothing**step)
        best = min(best, current)
        if not math.isfinite(current) or current > diverge_factor * best:
            return


def _lr_name(space: SearchSpace, key: str) -> tuple[str, float, float] | None:
    """The `<key>_lr` parameter of the space and its current range, if the optimizer has one."""
    spec = next(s for s in space.specs() if s.key == key)
    hp = next((h for h in spec.hyperparameters if h.name == "lr" and not h.choices), None)
    return None if hp is None else (spec.param_name(hp), hp.low, hp.high)


def narrowed_ranges(space: SearchSpace, results: Mapping[str, RangeTest]) -> dict[str, tuple[float, float]]:
    """The `<optimizer>_lr` range of each tested optimizer, narrowed to its suggestion within the
    space's range (the registry's unless the study overrides it), for `SearchSpace(ranges=...)`.
    Other parameters, and optimizers without an `lr`, are left alone."""
    ranges = {}
    for key in space.optimizers:
        found = _lr_name(space, key)
        if key in results and found is not None:
            name, low, high = found
            ranges[name] = narrow(results[key].suggested, low, high)
    return ranges


def run_range_tests(space: SearchSpace, task: TaskAndData, device: torch.device | str, seed: int = 0,
                    steps: int = 300, on_result: Callable[[str, RangeTest], None] | None = None
                    ) -> dict[str, RangeTest]:
    """A range test for every optimizer of the space that has an `lr` parameter, from 1e-7 (or three
    decades below its range) up to 10 (or a decade above it), so the test sees the blow-up;
    `on_result` hears of each as it ends."""
    results = {}
    for key in space.optimizers:
        found = _lr_name(space, key)
        if found is not None:
            _, low, high = found
            results[key] = range_test(task, key, device, steps=steps, seed=seed,
                                      lr_min=min(1e-7, low / 1e3), lr_max=max(10.0, high * 10))
            if on_result:
                on_result(key, results[key])
    return results


def testable(space: SearchSpace) -> list[str]:
    """The optimizers of the space that have a learning rate to test."""
    return [key for key in space.optimizers if _lr_name(space, key) is not None]


def narrowing_notes(space: SearchSpace, results: Mapping[str, RangeTest]) -> list[str]:
    narrowed = narrowed_ranges(space, results)
    notes = []
    for key in space.optimizers:
        found = _lr_name(space, key)
        if found is None or key not in results:
            notes.append(f"{key}: no lr parameter; its space is kept")
            continue
        name, low, high = found
        r = results[key]
        new_low, new_high = narrowed[name]
        notes.append(f"{key}: lr {low:.2g}..{high:.2g} -> {new_low:.2g}..{new_high:.2g} (range test, "
                     f"{len(r.lrs)} of {r.steps} steps, {r.stopped}, {r.seconds:.1f} s)")
    return notes


def narrow_space(space: SearchSpace, task: TaskAndData, device: torch.device | str,
                 seed: int = 0, steps: int = 300) -> tuple[SearchSpace, list[str]]:
    """The space with each optimizer's lr range narrowed by a range test, and one note per
    optimizer saying what changed."""
    results = run_range_tests(space, task, device, seed, steps)
    ranges = {**space.ranges, **narrowed_ranges(space, results)}
    return replace(space, ranges=ranges), narrowing_notes(space, results)
