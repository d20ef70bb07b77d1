"""Statistics: which optimizer is best on a task and by how much, expected best of k trials,
performance profiles, learning-rate windows, and the seeds every stream derives from.

Everything here works on plain numbers (seed re-runs on the test split, search-trial values), so it
can be checked by hand and reused by any report. No torch, no optuna, no storage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hpsearch.record import sign as direction_sign

WIN_PROBABILITY = 0.95
TIE_PROBABILITY = 0.05
# Two means (or medians) within this relative tolerance count as tied: the same numbers summed in
# another order can differ in the last bits.
TIE_RTOL = 1e-12


def derive_seed(*parts: int) -> int:
    """A 32-bit seed from a tuple of integers: distinct inputs give independent streams."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float  # two-sided Student-t confidence interval of the mean
    high: float
    n: int


def mean_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """The mean of `values` with its two-sided Student-t confidence interval at `level`.

    With one value there is no spread to estimate, so the bounds are nan rather than a false zero.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must lie strictly between 0 and 1, got {level}")
    x = np.asarray(values, dtype=float)
    n = int(x.size)
    if n == 0:
        raise ValueError("mean_interval needs at least one value")
    mean = float(x.mean())
    if n == 1:
        return Interval(mean=mean, low=math.nan, high=math.nan, n=1)
    # scipy.special, not scipy.stats: the latter takes most of a second to import.
    from scipy.special import stdtrit

    half = float(stdtrit(n - 1, (1.0 + level) / 2.0)) * float(x.std(ddof=1)) / math.sqrt(n)
    return Interval(mean=mean, low=mean - half, high=mean + half, n=n)


def probability_best(runs: Mapping[str, Sequence[float]], direction: str, draws: int = 10_000,
                     seed: int = 0) -> dict[str, float]:
    """P(best) per optimizer, by bootstrapping its seed runs: how often its resampled mean wins.

    Each draw resamples every optimizer's runs with replacement and credits the best mean, splitting
    ties equally. An optimizer with no runs gets 0. A non-finite run counts as the worst possible
    value (a diverged seed is a real outcome, not a missing one). Deterministic for a given seed.
    """
    sign = direction_sign(direction)
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    names = list(runs)
    present = [name for name in names if len(runs[name]) > 0]
    if not present:
        raise ValueError("probability_best needs at least one optimizer with runs")
    rng = np.random.default_rng(seed)
    means = np.empty((draws, len(present)))
    for column, name in enumerate(present):
        scores = sign * np.asarray(runs[name], dtype=float)
        scores[~np.isfinite(scores)] = -np.inf
        picks = rng.integers(0, scores.size, size=(draws, scores.size))
        means[:, column] = scores[picks].mean(axis=1)
    best = means.max(axis=1, keepdims=True)
    winners = np.isclose(means, best, rtol=TIE_RTOL, atol=0.0)
    credit = (winners / winners.sum(axis=1, keepdims=True)).mean(axis=0)
    won = dict(zip(present, credit.tolist(), strict=True))
    return {name: float(won.get(name, 0.0)) for name in names}


@dataclass(frozen=True)
class Verdict:
    winner: str | None  # set only when the lead is outside the noise
    tied: tuple[str, ...]  # when no winner: every optimizer with P(best) >= TIE_PROBABILITY, by P desc
    probabilities: dict[str, float]
    text: str  # one sentence


def _seeds(counts: Sequence[int]) -> str:
    """'5 seeds', or '3-5 seeds' when optimizers were re-run a different number of times."""
    low, high = min(counts), max(counts)
    span = str(low) if low == high else f"{low}-{high}"
    return f"{span} seed{'' if high == 1 else 's'}"


def _names(names: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def verdict(runs: Mapping[str, Sequence[float]], direction: str, draws: int = 10_000,
            seed: int = 0) -> Verdict:
    """Name a winner only when its lead is outside the noise; otherwise report who is tied.

    The lead is outside the noise when the leader's P(best) reaches WIN_PROBABILITY and the
    runner-up's mean lies outside the leader's 95% t interval: with a handful of seeds the
    bootstrap alone is overconfident (two seeds that never overlap give P(best) 1.00 however wide
    their spread). Tied are those with P(best) >= TIE_PROBABILITY or a mean inside the leader's
    interval. Optimizers with no runs are left out (of the probabilities too). A lone optimizer
    wins by default, and the text says it had no competitor.
    """
    direction_sign(direction)  # a bad direction is refused before any work
    present = {name: values for name, values in runs.items() if len(values) > 0}
    if not present:
        raise ValueError("verdict needs at least one optimizer with runs")
    seeds = _seeds([len(values) for values in present.values()])
    if len(present) == 1:
        (name,) = present
        return Verdict(winner=name, tied=(), probabilities={name: 1.0},
                       text=f"{name} is best by default: no competitor ({seeds})")
    p = probability_best(present, direction, draws=draws, seed=seed)
    ranked = sorted(p, key=lambda name: -p[name])  # stable: equal P keep the order of `runs`
    leader = ranked[0]
    means = {name: float(np.mean(np.asarray(values, dtype=float))) for name, values in present.items()}
    interval = mean_interval([v for v in present[leader] if np.isfinite(v)] or [np.nan])

    def inside(name: str) -> bool:  # a mean the leader's own spread cannot tell apart
        return bool(interval.low <= means[name] <= interval.high)

    within = [name for name in ranked[1:] if inside(name)]
    if p[leader] >= WIN_PROBABILITY and not within:
        return Verdict(winner=leader, tied=(), probabilities=p,
                       text=f"{leader} is best (P(best) {p[leader]:.2f} over {seeds})")
    tied = tuple(name for name in ranked if p[name] >= TIE_PROBABILITY or name in within)
    if len(tied) >= 2:
        shown = ", ".join(f"{p[name]:.2f}" for name in tied)
        text = f"tie between {_names(tied)} (P(best) {shown} over {seeds})"
    elif tied:
        # The rest share the remaining chance in slivers below TIE_PROBABILITY each.
        text = (f"no clear winner: {leader} leads (P(best) {p[leader]:.2f} over {seeds}), "
                f"below the {WIN_PROBABILITY:.2f} needed to call it")
    else:
        text = f"no clear winner among {len(present)} optimizers (top P(best) {p[leader]:.2f} over {seeds})"
    return Verdict(winner=None, tied=tied, probabilities=p, text=text)


def expected_best(values: Sequence[float], k_max: int, direction: str) -> tuple[np.ndarray, np.ndarray]:
    """Expected best value of k random-search trials, k = 1..k_max, with its standard deviation.

    Dodge et al. 2019 ("Show Your Work"): draw k of `values` i.i.d. with replacement; with the
    values sorted, v_(i) is the best with probability (i/n)^k - ((i-1)/n)^k. Non-finite values are
    dropped, so the curve describes the trials that produced a number. Returns (means, stds).
    """
    sign = direction_sign(direction)
    if k_max < 1:
        raise ValueError(f"k_max must be at least 1, got {k_max}")
    x = np.asarray(values, dtype=float)
    x = np.sort(sign * x[np.isfinite(x)])  # mirrored for minimize: the minimum is minus the max
    n = x.size
    if n == 0:
        raise ValueError("expected_best needs at least one finite value")
    k = np.arange(1, k_max + 1, dtype=float)[:, None]
    cdf = np.arange(0, n + 1, dtype=float) / n
    weights = np.diff(cdf[None, :] ** k, axis=1)  # (k_max, n): P(v_(i) is the best of k)
    means = weights @ x
    # Central second moment rather than E[b^2] - E[b]^2: same weights, no cancellation.
    variances = (weights * (x[None, :] - means[:, None]) ** 2).sum(axis=1)
    return sign * means, np.sqrt(np.maximum(variances, 0.0))


def profile_gaps(scores: Mapping[str, Mapping[str, float]],
                 directions: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """gaps[task][optimizer]: distance to the task's best score, in units of the scores' spread.

    The spread is the standard deviation (ddof=0) of the optimizers' scores on the task, which
    makes tasks with different metrics comparable; spread 0 means every gap is 0. Only optimizers
    with a finite score on a task get a gap there.
    """
    gaps: dict[str, dict[str, float]] = {}
    for task, by_optimizer in scores.items():
        if task not in directions:
            raise ValueError(f"no direction given for task {task!r}")
        sign = direction_sign(directions[task])
        finite = {name: float(v) for name, v in by_optimizer.items() if math.isfinite(v)}
        if not finite:
            gaps[task] = {}
            continue
        x = np.array(list(finite.values()))
        best = float((sign * x).max() * sign)
        spread = float(x.std(ddof=0))
        gaps[task] = {name: abs(best - v) / spread if spread > 0 else 0.0 for name, v in finite.items()}
    return gaps


def performance_profile(scores: Mapping[str, Mapping[str, float]], directions: Mapping[str, str],
                        taus: Sequence[float]) -> dict[str, list[float]]:
    """For each optimizer and tau: the fraction of tasks on which its gap to the best is <= tau.

    A task where an optimizer has no score counts as not within tau, so skipping tasks never helps.
    Keys are every optimizer seen, in first-seen order.
    """
    gaps = profile_gaps(scores, directions)
    seen = list(dict.fromkeys(name for by_optimizer in scores.values() for name in by_optimizer))
    tasks = len(scores)
    return {name: [sum(1 for task_gaps in gaps.values() if name in task_gaps and task_gaps[name] <= tau)
                   / tasks for tau in taus]
            for name in seen}


def lr_window(lrs: Sequence[float], values: Sequence[float], direction: str, within: float = 0.1) -> float:
    """How forgiving an optimizer is about its learning rate: a span in decades.

    The span, log10(max lr) - log10(min lr), of the trials whose value lies within
    `within` x (best - worst) of the best; non-finite values are ignored. 0.0 with fewer than two
    finite trials or when only one trial qualifies. Wide means the learning rate matters little.
    """
    sign = direction_sign(direction)
    if len(lrs) != len(values):
        raise ValueError(f"lrs and values differ in length: {len(lrs)} and {len(values)}")
    if within < 0:
        raise ValueError(f"within must be non-negative, got {within}")
    rates = np.asarray(lrs, dtype=float)
    scores = sign * np.asarray(values, dtype=float)
    keep = np.isfinite(scores)
    rates, scores = rates[keep], scores[keep]
    if rates.size < 2:
        return 0.0
    if not (np.isfinite(rates) & (rates > 0)).all():
        raise ValueError("learning rates must be positive and finite")
    best, worst = float(scores.max()), float(scores.min())
    good = rates[best - scores <= within * (best - worst)]
    if good.size < 2:
        return 0.0
    return float(np.log10(good.max()) - np.log10(good.min()))
