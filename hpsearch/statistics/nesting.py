"""Does wider help? Under µP the curves of final loss against learning rate nest: at every learning
rate a wider model is no worse than a narrower one (Yang et al. 2021, Tensor Programs V, figure 1),
and µP at a width is no worse than the standard parametrisation tuned at that width. Both are read
here from seed runs, with the noise of a few seeds as the allowance:

- `gap`: the difference of two sets of seed runs' means and the half-width of its 90 % interval
  (Welch's t: the seeds of two widths are different models, not pairs);
- `nesting`: for each pair of neighbouring widths, at each learning rate both ran with at least
  two seeds, how much the wider is above the narrower; it fails to nest where that exceeds the
  half-width.

Plain numbers in, frozen dataclasses out: no torch, no optuna.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.90


@dataclass(frozen=True)
class Gap:
    """How much higher (worse) `after` is than `before`, in the loss's units, and the half-width of
    the 90 % interval of that difference."""

    difference: float
    half_width: float

    @property
    def worse(self) -> bool:
        """Higher by more than the seeds' noise allows."""
        return self.difference > self.half_width


@dataclass(frozen=True)
class WidthGap:
    """At learning rate `lr`, the wider model's mean loss against the narrower one's."""

    narrower: int
    wider: int
    lr: float
    gap: Gap


def gap(before: Sequence[float], after: Sequence[float], level: float = LEVEL) -> Gap | None:
    """mean(after) - mean(before) with its `level` half-width (Welch); None with fewer than two
    finite runs on either side."""
    a = np.asarray([v for v in before if math.isfinite(v)], dtype=float)
    b = np.asarray([v for v in after if math.isfinite(v)], dtype=float)
    if a.size < 2 or b.size < 2:
        return None
    from scipy.special import stdtrit  # scipy.special: scipy.stats takes most of a second to import

    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    spread = math.sqrt(va + vb)
    if spread == 0.0:
        return Gap(float(b.mean() - a.mean()), 0.0)
    freedom = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    return Gap(float(b.mean() - a.mean()), float(stdtrit(freedom, (1 + level) / 2)) * spread)


def nesting(curves: Mapping[int, Mapping[float, Sequence[float]]]) -> tuple[WidthGap, ...]:
    """Per pair of neighbouring widths, at each learning rate both ran with two or more seeds: the
    wider's mean final loss against the narrower's. `curves[width][lr]` are the seeds' losses."""
    widths = sorted(curves)
    found = []
    for narrower, wider in zip(widths, widths[1:], strict=False):
        for lr in sorted(set(curves[narrower]) & set(curves[wider])):
            measured = gap(curves[narrower][lr], curves[wider][lr])
            if measured is not None:
                found.append(WidthGap(narrower, wider, lr, measured))
    return tuple(found)
