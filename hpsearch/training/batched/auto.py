"""`--batch-trials auto`: measure a few training steps of the task's model on the device, one trial
at a time and as batches, and batch only where it is faster (on a CPU small models gain, larger ones
may lose; on a GPU the gain is where kernel launches set the pace)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from hpsearch.space.conditional import TrialConfig
from hpsearch.space.optimizers import OPTIMIZERS
from hpsearch.training.batched.fit import Member
from hpsearch.training.batched.vector_optimizers import VECTORISED
from hpsearch.training.lm import device_data
from hpsearch.training.trainer import trainer_for

if TYPE_CHECKING:
    import torch

    from hpsearch.tasks.prepare import PreparedTask

CANDIDATES = (8, 32)
MIN_GAIN = 1.2  # below this, one at a time: a batch also delays the pruner's and sampler's feedback
STEPS = 10


def probe_configs(optimizers: Sequence[str]) -> list[TrialConfig]:
    """The study's vectorised optimizers at their defaults: the updates its batches will hold
    (several optimizers share a batch, each on its own slice), the same work in both arms."""
    configs = []
    for key in optimizers:
        if key in VECTORISED:
            spec = OPTIMIZERS[key]
            configs.append(TrialConfig(key, {**spec.to_torch(spec.defaults), **spec.fixed},
                                       {"name": "none"}, None))
    return configs


def choose_for(prepared: PreparedTask, device: torch.device, context: int, batch_size: int,
               precision: torch.dtype | None = None,
               build: Callable[[], torch.nn.Module] | None = None,
               optimizers: Sequence[str] = ("adam",)) -> tuple[int, str]:
    """`choose_batch` on a prepared task's model (or `build`'s) and data on `device`, for batches
    of `optimizers` in turn."""
    data = device_data(prepared.data, device, context)
    trainer = trainer_for(data, prepared.task.problem, batch_size, STEPS, precision)
    make = build or (lambda: prepared.task.build_model(*data.model_shape()))
    configs = probe_configs(optimizers)
    if not configs:
        return 1, ("batch trials: one at a time (no optimizer of the study has a vectorised "
                   "update)")

    def alone(n: int) -> float:  # every optimizer at least once: their costs differ
        n = max(n, len(configs))
        started = time.perf_counter()
        for seed in range(n):
            model, config = make().to(device), configs[seed % len(configs)]
            for _ in trainer.fit(model, config, 1, seed):
                pass
        return (time.perf_counter() - started) / n

    def together(n: int) -> float:
        started = time.perf_counter()
        members = [Member(configs[seed % len(configs)], make().to(device), seed)
                   for seed in range(n)]
        for _ in trainer.fit_batch(members, 1):
            pass
        return (time.perf_counter() - started) / n

    return choose_batch(alone, together)


def choose_batch(alone: Callable[[int], float], together: Callable[[int], float],
                 candidates: Sequence[int] = CANDIDATES) -> tuple[int, str]:
    """(the trials to batch, a line saying what was measured and chosen): `alone(n)` and
    `together(n)` train n trials for a few steps and give the seconds per trial."""

    alone(2), together(2)  # warm-up: first calls and allocations
    per_trial = min(alone(4), alone(4))
    # Rounded as the line shows them, so that the choice follows from what it says.
    gains = {n: round(per_trial / min(together(n), together(n)), 2) for n in candidates}
    best = batch_for(gains)
    measured = ", ".join(f"{n}: {gain:.2f}x" for n, gain in gains.items())
    if best == 1:
        return 1, f"batch trials: one at a time (measured gains over one at a time {measured})"
    return best, f"batch trials: {best} at a time (measured gains over one at a time {measured})"


def batch_for(gains: Mapping[int, float]) -> int:
    """The batch size of the largest gain (seconds per trial one at a time over seconds per trial
    in batches of that size), or 1 where even that one is below MIN_GAIN."""
    best = max(gains, key=lambda n: gains[n])
    return best if gains[best] >= MIN_GAIN else 1
