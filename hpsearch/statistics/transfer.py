"""Learning rates that transfer across width and training length: the best learning rate of a
sweep, a power law across widths (and lengths), its error on the held-out largest width and a
prediction for a larger run. Learning rates are in decades (log10). The checks of plain-number
input live here too; `curve_stats` (loss-curve speed-ups) uses them."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from hpsearch.errors import ConfigError, HpsearchError

Scale = float | Sequence[float]  # a width, or a tuple such as (width, length)
_Z90 = 1.6448536269514722  # two-sided 90% normal quantile


def flat_numbers(name: str, values: Sequence[float], positive: bool = False,
                 finite: bool = True) -> np.ndarray:
    """`values` as a float array, or a one-line ConfigError naming `name` when it is not a
    non-empty flat list of positive (`positive`) or finite (`finite`) numbers."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ConfigError(f"{name} must be a non-empty flat list of numbers, got shape {arr.shape}")
    ok = ((arr > 0) & np.isfinite(arr) if positive
          else np.isfinite(arr) if finite else np.ones(arr.size, bool))
    if not ok.all():
        raise ConfigError(
            f"{name} must be {'positive' if positive else 'finite'}, got {arr[~ok][0]:g}")
    return arr


def same_length(**sizes: int) -> None:
    """A one-line ConfigError naming each list's length when they are not all equal."""
    if len(set(sizes.values())) > 1:
        raise ConfigError("lengths differ: " + ", ".join(f"{k} has {v}" for k, v in sizes.items()))


def _points(xs: Sequence[Scale]) -> np.ndarray:
    rows = [tuple(x) if isinstance(x, Sequence | np.ndarray) else (x,) for x in xs]
    if not rows or len({len(r) for r in rows}) != 1 or not rows[0]:
        raise ConfigError(f"every point needs the same number (one or more) of scale variables, "
                          f"got {', '.join(str(n) for n in sorted({len(r) for r in rows}))}")
    values = [v for r in rows for v in r]
    return flat_numbers("scale variables", values, positive=True).reshape(len(rows), -1)


@dataclass(frozen=True)
class BestLR:
    log_lr: float  # best learning rate, in decades
    lr: float
    sigma: float  # its standard uncertainty in decades, never below the grid's resolution
    low: float  # 90% interval of the best log10 lr
    high: float
    at_edge: bool  # the minimum sits at the first or last finite learning rate: widen the grid
    lrs: tuple[float, ...]  # the grid, ascending
    losses: tuple[float, ...]  # seed-mean loss per grid point; nan where a seed diverged


def _vertex(x: np.ndarray, y: np.ndarray) -> tuple[float, bool]:
    """(best log10 lr, at the edge) of one loss curve; nan when nothing is finite."""
    finite = np.flatnonzero(np.isfinite(y))
    if finite.size == 0:
        return math.nan, True
    k = int(np.argmin(y[finite]))
    edge, window = k in (0, finite.size - 1), finite[max(0, k - 2):k + 3]
    c2, c1, _ = (0.0, 0.0, 0.0) if edge else np.polyfit(x[window], y[window], 2)
    if c2 <= 0:  # at the edge or opening downward: the grid minimum is all the curve supports
        return float(x[finite[k]]), edge
    return float(np.clip(-c1 / (2.0 * c2), x[window[0]], x[window[-1]])), False


def best_lr(lrs: Sequence[float], losses: Sequence[float], seeds: Sequence[Hashable],
            draws: int = 1000, seed: int = 0) -> BestLR:
    """The best learning rate of a sweep (one entry per run), with its bootstrap uncertainty over
    seeds and 90% interval in decades. A learning rate where any seed diverged (nan or inf loss)
    is left out."""
    lr = flat_numbers("lrs", lrs, positive=True)
    loss = flat_numbers("losses", losses, finite=False)
    same_length(lrs=lr.size, losses=loss.size, seeds=len(seeds))
    if draws < 1:
        raise ConfigError(f"draws must be at least 1, got {draws}")
    grid, row = np.unique(lr, return_inverse=True)
    if grid.size < 3:
        raise ConfigError(f"best_lr needs at least 3 learning rates, got {grid.size}")
    ids = {s: i for i, s in enumerate(dict.fromkeys(seeds))}
    table = np.full((grid.size, len(ids)), math.nan)
    seen = np.zeros(table.shape, dtype=bool)
    for r, s, value in zip(row, seeds, loss, strict=True):
        if seen[r, ids[s]]:
            raise ConfigError(
                f"two runs at lr={grid[r]:g} with seed {s!r}: give each seed once per lr")
        table[r, ids[s]], seen[r, ids[s]] = value, True
    diverged = np.any(seen & ~np.isfinite(table), axis=1)
    if diverged.all():
        raise HpsearchError(
            f"every learning rate from {grid[0]:g} to {grid[-1]:g} diverged: sweep lower")
    present = seen & ~diverged[:, None]
    values, x = np.where(present, table, 0.0), np.log10(grid)
    # How often each seed is drawn when the seeds are resampled with replacement; row 0 is the data.
    draw = np.random.default_rng(seed).multinomial(len(ids), np.full(len(ids), 1 / len(ids)), draws)
    weights = np.vstack([np.ones(len(ids)), draw])
    with np.errstate(invalid="ignore", divide="ignore"):
        curves = (weights @ values.T) / (weights @ present.T)  # nan where no drawn seed ran
    mean, (best, at_edge) = curves[0], _vertex(x, curves[0])
    boot = np.array([v for v in (_vertex(x, curve)[0] for curve in curves[1:]) if math.isfinite(v)])
    # Grid resolution: the vertex is known to about a quarter step, even when the seeds
    # agree exactly.
    i = int(np.nanargmin(mean))
    floor = float(np.median(np.diff(x[max(0, i - 2):i + 3]))) / 4.0 / math.sqrt(3.0)
    low, high = np.percentile(boot, [5.0, 95.0]) if boot.size else (best, best)
    sigma = max(float(np.std(boot, ddof=1)) if boot.size > 1 else 0.0, floor)
    return BestLR(log_lr=best, lr=float(10**best), sigma=sigma,
                  low=min(float(low), best - _Z90 * floor),
                  high=max(float(high), best + _Z90 * floor),
                  at_edge=at_edge, lrs=tuple(float(v) for v in grid),
                  losses=tuple(float(v) for v in mean))


@dataclass(frozen=True)
class Prediction:
    log_lr: float  # predicted best log10 lr
    # Two-sided interval of the true best log10 lr there (the fitted line's, not a new run's).
    low: float
    high: float
    se: float  # standard error of log_lr, in decades
    level: float
    lr: float  # the same three as learning rates
    lr_low: float
    lr_high: float


@dataclass(frozen=True)
class PowerLaw:
    """log10(lr) = intercept + sum_j exponents[j] * log10(x_j), by weighted least squares."""

    intercept: float
    exponents: tuple[float, ...]
    intercept_se: float
    exponent_ses: tuple[float, ...]
    residual_sd: float  # rms residual in decades, per degree of freedom
    chi2_ratio: float  # reduced chi-square against the given sigmas; nan when none were given
    n_points: int
    covariance: tuple[tuple[float, ...], ...]  # of (intercept, *exponents), after any inflation
    student_t: bool  # the scale was estimated from the residuals, so intervals use Student-t

    def predict(self, x: Scale, level: float = 0.9) -> Prediction:
        """The predicted best learning rate at `x` (e.g. 1024 or (1024, 8)) with a `level`
        interval for the true best learning rate there, including the uncertainty of the fitted
        coefficients."""
        if not 0.0 < level < 1.0:
            raise ConfigError(f"level must lie strictly between 0 and 1, got {level}")
        point = np.log10(_points([x])[0])
        if point.size != len(self.exponents):
            raise ConfigError(
                f"the fit has {len(self.exponents)} scale variable(s), got {point.size}")
        row = np.concatenate(([1.0], point))
        centre = float(row @ np.array((self.intercept, *self.exponents)))
        se = math.sqrt(max(float(row @ np.array(self.covariance) @ row), 0.0))
        from scipy.special import ndtri, stdtrit

        p = (1.0 + level) / 2.0
        half = se * float(stdtrit(self.n_points - row.size, p) if self.student_t else ndtri(p))
        return Prediction(log_lr=centre, low=centre - half, high=centre + half, se=se,
                          level=level, lr=10**centre, lr_low=10 ** (centre - half),
                          lr_high=10 ** (centre + half))


def fit_power_law(xs: Sequence[Scale], log_lrs: Sequence[float],
                  sigmas: Sequence[float] | None = None) -> PowerLaw:
    """The power law of the best learning rate over `xs` (widths, or (width, length) tuples).
    `sigmas` (decades) weight the points, inflated when the fit is worse; without them the
    residuals set the scale."""
    logs = np.log10(_points(xs))
    y = flat_numbers("log_lrs", log_lrs)
    s = np.ones(y.size) if sigmas is None else flat_numbers("sigmas", sigmas, positive=True)
    same_length(xs=logs.shape[0], log_lrs=y.size, **({} if sigmas is None else {"sigmas": s.size}))
    n, p = logs.shape[0], logs.shape[1] + 1
    if n < p + 1:
        raise ConfigError(
            f"a power law in {p - 1} scale variable(s) needs at least {p + 1} points, got {n}")
    design = np.column_stack([np.ones(n), logs])
    weighted = design / s[:, None]
    if np.linalg.matrix_rank(weighted) < p:
        raise ConfigError(
            "a scale variable is constant or moves with another: its exponent cannot be fitted")
    coef = np.linalg.lstsq(weighted, y / s, rcond=None)[0]
    resid, dof = y - design @ coef, n - p
    ratio = float(np.sum((resid / s) ** 2)) / dof
    cov = np.linalg.inv(weighted.T @ weighted) * (ratio if sigmas is None else max(ratio, 1.0))
    ses = np.sqrt(np.diag(cov))
    return PowerLaw(intercept=float(coef[0]), exponents=tuple(float(v) for v in coef[1:]),
                    intercept_se=float(ses[0]), exponent_ses=tuple(float(v) for v in ses[1:]),
                    residual_sd=math.sqrt(float(np.sum(resid**2)) / dof),
                    chi2_ratio=math.nan if sigmas is None else ratio, n_points=n,
                    covariance=tuple(tuple(float(v) for v in r) for r in cov),
                    student_t=sigmas is None)


@dataclass(frozen=True)
class HeldOut:
    width: float  # the largest value of the first scale variable, held out
    points: tuple[tuple[float, ...], ...]  # the held-out points
    errors: tuple[float, ...]  # predicted minus measured log10 lr per held-out point, in decades
    mean_abs_error: float
    fit: PowerLaw  # the fit without them


def held_out_error(xs: Sequence[Scale], log_lrs: Sequence[float],
                   sigmas: Sequence[float] | None = None, axis: str = "width") -> HeldOut:
    """How far, in decades, a fit on the smaller widths misses the best learning rate at the
    largest width (all its lengths): predicted minus measured per held-out point, and their mean
    absolute error."""
    raw = _points(xs)
    y = flat_numbers("log_lrs", log_lrs)
    same_length(xs=raw.shape[0], log_lrs=y.size,
                **({} if sigmas is None else {"sigmas": len(sigmas)}))
    width = float(raw[:, 0].max())
    held, rest = np.flatnonzero(raw[:, 0] == width), np.flatnonzero(raw[:, 0] != width)
    if np.unique(raw[rest, 0]).size < 3:
        raise ConfigError(f"held_out_error needs 3 {axis}s besides the largest ({width:g}), "
                          f"got {np.unique(raw[rest, 0]).size}")
    fit = fit_power_law([tuple(raw[i]) for i in rest], y[rest].tolist(),
                        None if sigmas is None else [sigmas[int(i)] for i in rest])
    points = tuple(tuple(float(v) for v in raw[i]) for i in held)
    errors = tuple(fit.predict(pt).log_lr - float(y[i]) for pt, i in zip(points, held, strict=True))
    return HeldOut(width=width, points=points, errors=errors,
                   mean_abs_error=float(np.mean(np.abs(errors))), fit=fit)
