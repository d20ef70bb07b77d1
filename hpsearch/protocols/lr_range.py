"""The analysis of a learning-rate range test (Smith 2015, "Cyclical learning rates"; the LR
finder of fastai and Lightning): pure functions of the curve, so that the protocol that runs the
test and the page that shows it read the same numbers. No torch, no storage."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SKIP_START = 10  # the first points of the curve, where the average has seen few losses
SLOPE_DECADES = 0.5  # the steepest descent is measured across this much lr (a central difference)
HIGH_MARGIN = 5.0  # the suggested high end: the lr at the minimum smoothed loss, divided by this
LOW_MARGIN = 3.0  # the suggested low end: the lr of steepest descent, divided by this
MIN_DECADES = 0.5  # a narrowed range is never narrower than this (in decades of lr)


@dataclass(frozen=True)
class RangeTest:
    """One optimizer's range test: the lr and loss of every step it ran, and what they suggest.

    `suggested` is `(lr_steepest / 3, lr_at_min / 5)`, the low end lowered further where needed so
    that the range spans at least one decade. The reasons:

    - high: the minimum of the smoothed loss is not a safe rate but the edge of stability, and a
      late estimate of it: past the edge an unstable direction must first grow from a small
      component before the loss rises, and the moving average lags the raw loss. For gradient
      descent on a quadratic, stable iff lr < 2/L, the minimum came at 3.2-3.4 x 2/L (300 steps over
      8 decades, tests/protocols/test_lr_find.py); a fifth of it is about 0.65 x 2/L, below the edge with a
      margin. (fastai's "minimum / 10" picks one rate for a whole run; a search range's upper end
      may come closer.) Measured on the digits and breast-cancer tasks, the best constant rate of
      a 10-15 epoch run lay between 1/2.6 and 1/48 of the minimum.
    - low: at the steepest point the loss falls fastest per decade of lr, the smallest rate that
      makes quick progress within the test's few hundred steps; a search of many epochs can afford
      a somewhat slower one. Further below, the loss hardly moved.

    The margins assume about 300 steps over 8 decades (6.4 % more lr per step): a faster ramp
    finds the edge later still.
    """

    optimizer: str
    lrs: tuple[float, ...]
    losses: tuple[float, ...]  # the raw mini-batch loss before each step
    smoothed: tuple[float, ...]  # exponential moving average, bias-corrected
    lr_at_min: float  # the lr at the minimum smoothed loss
    lr_steepest: float  # the lr where the smoothed loss falls fastest per unit of log-lr
    suggested: tuple[float, float]
    steps: int  # the steps planned; len(lrs) were run
    diverged: bool  # the smoothed loss passed diverge_factor x its minimum, or was not finite
    seconds: float

    @property
    def stopped(self) -> str:
        """Why the test ended."""
        if self.diverged:
            return f"loss diverged at lr {self.lrs[-1]:.2g}"
        return f"reached lr_max {self.lrs[-1]:.3g}"

    def describe(self) -> str:
        low, high = self.suggested
        return (f"{self.optimizer}: lr {low:.2g}..{high:.2g} suggested (steepest {self.lr_steepest:.2g}, "
                f"minimum {self.lr_at_min:.2g}); {len(self.lrs)} of {self.steps} steps, {self.stopped}, "
                f"{self.seconds:.1f} s")


def lr_schedule(lr_min: float, lr_max: float, steps: int) -> np.ndarray:
    """`steps` rates from `lr_min` to `lr_max`, a constant factor apart."""
    return np.asarray(lr_min * (lr_max / lr_min) ** (np.arange(steps) / max(steps - 1, 1)))


def smooth(losses: Sequence[float], smoothing: float) -> np.ndarray:
    """The exponential moving average of `losses`, divided by `1 - smoothing**n` so that it is not
    biased towards its starting value of 0: the first smoothed value is the first loss."""
    average, out = 0.0, []
    for n, loss in enumerate(losses, start=1):
        average = smoothing * average + (1.0 - smoothing) * loss
        out.append(average / (1.0 - smoothing**n))
    return np.asarray(out)


def suggest_range(lrs: Sequence[float] | np.ndarray, smoothed: Sequence[float] | np.ndarray
                  ) -> tuple[float, float, tuple[float, float]]:
    """(lr at the minimum, lr of steepest descent, suggested range) of a smoothed curve; see
    `RangeTest`. Non-finite values (a last, diverged step) are ignored, and so are the first
    `SKIP_START` points (at most a fifth of the curve): an average of a few batches can sit below
    everything after it by chance."""
    lr, loss = np.asarray(lrs, dtype=float), np.asarray(smoothed, dtype=float)
    finite = np.isfinite(loss)
    if not finite.any():
        raise ValueError("no finite loss in the range test: lower lr_min")
    lr, loss = lr[finite], loss[finite]
    skip = min(SKIP_START, len(loss) // 5)
    i_min = skip + int(np.argmin(loss[skip:]))
    i_steep = skip + int(np.argmin(_slopes(np.log10(lr[skip:i_min + 1]), loss[skip:i_min + 1])))
    high = lr[i_min] / HIGH_MARGIN
    low = min(lr[i_steep] / LOW_MARGIN, high / 10.0)
    return float(lr[i_min]), float(lr[i_steep]), (float(low), float(high))


def _slopes(log_lr: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """The loss's slope per decade at each point, across `SLOPE_DECADES` of lr centred on it
    (clipped at the ends): point-to-point differences of a noisy curve are mostly noise."""
    if len(loss) < 2:
        return np.zeros(len(loss))
    half = SLOPE_DECADES / 2
    before = np.searchsorted(log_lr, log_lr - half)
    after = np.searchsorted(log_lr, log_lr + half, side="right") - 1
    after = np.maximum(after, np.minimum(before + 1, len(loss) - 1))
    before = np.minimum(before, after - 1)
    return np.asarray((loss[after] - loss[before]) / (log_lr[after] - log_lr[before]))


def narrow(suggested: tuple[float, float], low: float, high: float) -> tuple[float, float]:
    """The suggestion intersected with `[low, high]`; where that is empty or narrower than
    `MIN_DECADES`, a range of that width around the suggestion's centre, moved inside."""
    if high / low <= 10**MIN_DECADES:
        return low, high
    a, b = suggested
    if not (math.isfinite(a) and math.isfinite(b) and 0 < a < b):
        return low, high
    a, b = max(a, low), min(b, high)
    if b / a >= 10**MIN_DECADES:
        return a, b
    half = 10 ** (MIN_DECADES / 2)
    centre = min(max(math.sqrt(suggested[0] * suggested[1]), low * half), high / half)
    return centre / half, centre * half
