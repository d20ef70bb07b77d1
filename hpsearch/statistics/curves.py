"""Loss-curve speed-ups: how many times sooner one run's loss curve reaches a loss than a
baseline's. The baseline's final loss against training length is fitted as a saturating power law
L(D) = a * D**(-b) + c; the data-equivalent speed-up is the length the baseline needs to reach
another run's loss over that run's length, with a bootstrap interval over both sides' seeds."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hpsearch.errors import ConfigError, HpsearchError
from hpsearch.statistics.transfer import flat_numbers, same_length


@dataclass(frozen=True)
class LossCurve:
    """A baseline's final loss against training length: L(D) = a * D**(-b) + c."""

    a: float
    b: float
    c: float  # the loss an endless run would approach

    def length_for(self, loss: float) -> float:
        """The training length the baseline needs to reach `loss`; inf when `loss` is at or
        below c."""
        return math.inf if loss <= self.c else float((self.a / (loss - self.c)) ** (1.0 / self.b))


def _fit_curve(lengths: np.ndarray, losses: np.ndarray, polish: bool = True) -> LossCurve:
    # Fit in D / ref, so a stays near the losses' size.
    ref = float(np.exp(np.mean(np.log(lengths))))
    t = np.log(lengths / ref)
    # Equal losses fail the slope test below.
    low, span = float(losses.min()), float(np.ptp(losses)) or 1.0
    # Profile c = low - span * 10**u on a grid, a line through log(L - c) against log D giving a
    # and b, scored in loss units (where the noise lives); then polish all three from the best.
    us = np.linspace(-4.0, 3.0, 141)
    cs = (low - span * 10**us)[:, None]
    z, tc = np.log(losses - cs), t - t.mean()
    slope = (z @ tc) / (tc @ tc)
    icpt = z.mean(axis=1) - slope * t.mean()
    sse = np.sum((np.exp(icpt[:, None] + slope[:, None] * t) + cs - losses) ** 2, axis=1)
    sse[slope >= 0] = np.inf
    j = int(np.argmin(sse))
    if not np.isfinite(sse[j]):
        raise HpsearchError(
            "the baseline's loss does not fall with training length: no curve to fit")
    if not polish:  # a bootstrap draw: the profile's best is close enough, and 20x cheaper
        return LossCurve(a=math.exp(icpt[j]) * ref ** -float(slope[j]), b=-float(slope[j]),
                         c=float(cs[j, 0]))
    from scipy.optimize import least_squares

    def residuals(q: np.ndarray) -> np.ndarray:
        return np.exp(q[0] - np.exp(q[1]) * t) + low - span * 10 ** q[2] - losses

    start = np.array([icpt[j], math.log(-slope[j]), us[j]])
    # A polish from a good start: capped, as a near-flat curve can take it hundreds of steps.
    sol = least_squares(residuals, start, bounds=([-np.inf, -np.inf, -8.0], [np.inf, np.inf, 4.0]),
                        max_nfev=40)
    q = sol.x if np.all(np.isfinite(sol.x)) and 2.0 * sol.cost <= sse[j] else start
    b = math.exp(q[1])
    return LossCurve(a=math.exp(q[0]) * ref**b, b=b, c=low - span * 10 ** float(q[2]))


def saturating_power_law(lengths: Sequence[float], losses: Sequence[float]) -> LossCurve:
    """The baseline's loss curve L(D) = a * D**(-b) + c from its final loss at 4 or more training
    lengths (a length may repeat, once per seed)."""
    d = flat_numbers("lengths", lengths, positive=True)
    loss = flat_numbers("losses", losses)
    same_length(lengths=d.size, losses=loss.size)
    if np.unique(d).size < 4:
        raise ConfigError(f"not estimated: needs 4 lengths, got {np.unique(d).size}")
    return _fit_curve(d, loss)


def data_equivalent_speedup(curve: LossCurve, loss: float, length: float) -> float:
    """How many times longer than `length` the baseline must train to reach the `loss` another
    optimizer reached at `length`: above 1 when the other is better, below 1 when worse, inf
    below the asymptote."""
    if not (math.isfinite(loss) and length > 0 and math.isfinite(length)):
        raise ConfigError(
            f"loss must be finite and length positive, got loss={loss}, length={length}")
    return curve.length_for(loss) / length


def speedup_interval(baseline: Mapping[float, Sequence[float]], other: Sequence[float],
                     length: float, draws: int = 1000, seed: int = 0
                     ) -> tuple[float, float, float]:
    """(median, low, high) of the data-equivalent speed-up, 90% by bootstrap over the baseline's
    seeds at each training length and the other optimizer's seeds at `length`; deterministic for
    a given `seed`. With three seeds a side it is too narrow (it covers about two times in three);
    eight do much better."""
    lengths = flat_numbers("baseline lengths", list(baseline), positive=True)
    if lengths.size < 4:
        raise ConfigError(f"not estimated: needs 4 lengths, got {lengths.size}")
    runs = [flat_numbers(f"baseline losses at length {k:g}", v) for k, v in baseline.items()]
    mine = flat_numbers("other losses", other)
    if draws < 1 or not (length > 0 and math.isfinite(length)):
        raise ConfigError(f"draws must be at least 1 and length positive, got draws={draws}, "
                          f"length={length}")
    rng = np.random.default_rng(seed)
    out = np.full(draws, math.nan)
    for i in range(draws):
        means = np.array([v[rng.integers(0, v.size, v.size)].mean() for v in runs])
        target = float(mine[rng.integers(0, mine.size, mine.size)].mean())
        try:
            out[i] = _fit_curve(lengths, means, polish=False).length_for(target) / length
        except HpsearchError:  # this draw's losses do not fall with length: it has no curve
            continue
    out = out[~np.isnan(out)]
    if out.size == 0:
        raise HpsearchError("no bootstrap draw gave a loss curve that falls with training length")
    median, low, high = np.percentile(out, [50.0, 5.0, 95.0], method="inverted_cdf")
    return float(median), float(low), float(high)
