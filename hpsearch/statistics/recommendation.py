"""When quality ties, the next criterion decides: among the best optimizer and those equivalent to
it, criteria are tried in a stated order (`time`, `ease`, `cost` unless the user prefers
another), and one decides only when it separates its leader from every other candidate with
probability at least `PROBABILITY` over a bootstrap: by `RATIO` (1.25x) for a count (steps,
seconds, decades of learning rate), or by more than the margin for a value in the metric's units.
A criterion that sets some candidates clearly behind narrows the field for the next one. What no
criterion separates is recommended together, at most three named.

The bootstrap is two-level, as the verdict's: each replicate draws the studies (the same draws for
every candidate and criterion), then each drawn study's items of each candidate. Plain numbers in,
frozen dataclasses out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hpsearch.statistics.equivalence import PROBABILITY

RATIO = 1.25  # how much faster, easier or cheaper a criterion's leader must be
CRITERIA = ("time", "ease", "cost")
MOST_NAMED = 3  # a recommendation names at most this many optimizers no criterion separates
Statistic = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class Criterion:
    """One criterion's measure of each candidate: its point value and its bootstrap replicates
    (the same replicates for every candidate). `lower_is_better` for times and costs; `margin`
    set: a value in the metric's units, separated by more than the margin, not by a ratio."""

    name: str  # time | ease | cost
    what: str  # what it measures, as a reader reads it: "steps to the target"
    unit: str  # "steps", "s", "decades", or the metric's name
    values: dict[str, float]
    draws: dict[str, np.ndarray]
    lower_is_better: bool = True
    margin: float | None = None


@dataclass(frozen=True)
class Separation:
    """How the criterion's leader stands against one other candidate."""

    other: str
    by: float  # the point ratio (leader over other, as "x times better"), or difference
    probability: float  # that it is at least RATIO better (or better by more than the margin)


@dataclass(frozen=True)
class Recommendation:
    recommended: tuple[str, ...]  # one, or at most three that no criterion separates
    criterion: str | None  # the one that decided; None: quality alone, or nothing did
    what: str | None  # what that criterion measured, and in which unit
    unit: str | None
    closest: Separation | None  # the decided leader against the candidate it separates least
    candidates: tuple[str, ...]  # the best and those equivalent to it, best median first
    unnamed: int = 0  # candidates no criterion separated beyond the three named
    tried: tuple[str, ...] = ()  # the criteria tried, in order (the deciding one last)


def separation(criterion: Criterion, leader: str, other: str) -> Separation:
    """How sure it is that `leader` beats `other` on this criterion by the ratio (or margin)."""
    a, b = criterion.draws[leader], criterion.draws[other]
    pa, pb = criterion.values[leader], criterion.values[other]
    if criterion.margin is not None:
        sign = -1.0 if criterion.lower_is_better else 1.0
        return Separation(other, sign * (pa - pb), float((sign * (a - b) > criterion.margin).mean()))
    ratios = _ratio(b, a) if criterion.lower_is_better else _ratio(a, b)
    point = float((_ratio(np.array([pb]), np.array([pa])) if criterion.lower_is_better
                   else _ratio(np.array([pa]), np.array([pb])))[0])
    return Separation(other, point, float((ratios >= RATIO).mean()))


def _ratio(worse: np.ndarray, better: np.ndarray) -> np.ndarray:
    """worse / better, elementwise: equal values (zeros, infinities) are 1, anything over 0 inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = worse / better
    return np.where(worse == better, 1.0, np.where(better == 0, np.inf, ratio))


def _leader(criterion: Criterion, names: Sequence[str]) -> str:
    sign = 1.0 if criterion.lower_is_better else -1.0
    return min(names, key=lambda n: (sign * criterion.values[n], names.index(n)))


def recommend(candidates: Sequence[str], criteria: Sequence[Criterion]) -> Recommendation:
    """The recommendation among `candidates` (best median first), trying `criteria` in order."""
    if not candidates:
        raise ValueError("candidates is empty: give at least the best optimizer")
    remaining, tried = list(candidates), []
    for criterion in criteria:
        if len(remaining) == 1:
            break
        measured = [n for n in remaining if not math.isnan(criterion.values.get(n, math.nan))]
        if len(measured) < 2 or not math.isfinite(criterion.values[_leader(criterion, measured)]):
            continue  # too few measured, or none reached it: it cannot decide
        if criterion.name not in tried:
            tried.append(criterion.name)
        leader = _leader(criterion, measured)
        apart = {o: separation(criterion, leader, o) for o in measured if o != leader}
        kept = [n for n in remaining
                if n == leader or n not in apart or apart[n].probability < PROBABILITY]
        if len(kept) == 1:
            closest = min(apart.values(), key=lambda s: (s.probability, s.by))
            return Recommendation((leader,), criterion.name, criterion.what, criterion.unit,
                                  closest, tuple(candidates), tried=tuple(tried))
        remaining = kept
    named = tuple(remaining[:MOST_NAMED])
    return Recommendation(named, None, None, None, None, tuple(candidates),
                          len(remaining) - len(named), tuple(tried))


def parse_prefer(text: str) -> tuple[str, ...]:
    """`--prefer time,ease,cost`: an order of the criteria, each at most once (those left out
    are not tried)."""
    order = tuple(part.strip() for part in text.split(",") if part.strip())
    bad = [c for c in order if c not in CRITERIA]
    if bad or not order or len(set(order)) != len(order):
        raise ValueError(f"--prefer {text!r}: give criteria from {', '.join(CRITERIA)}, each once, "
                         "comma-separated")
    return order


def two_level(per_study: Mapping[str, Sequence[np.ndarray]], statistic: Statistic,
              picks: np.ndarray, rng: np.random.Generator) -> tuple[dict[str, float],
                                                                    dict[str, np.ndarray]]:
    """Each candidate's statistic over its items pooled across studies (a point value), and in
    each replicate: the studies of `picks` (replicates x studies, shared), then each drawn study's
    items resampled with replacement. A candidate without items has no value."""
    values: dict[str, float] = {}
    draws: dict[str, np.ndarray] = {}
    for name, studies in per_study.items():
        items = [np.asarray(s, dtype=float) for s in studies]
        pooled = [s for s in items if len(s)]
        if not pooled:
            continue
        values[name] = float(statistic(np.concatenate(pooled)))
        out = np.empty(picks.shape[0])
        for d, row in enumerate(picks):
            drawn = [items[r][rng.integers(0, len(items[r]), len(items[r]))]
                     for r in row if len(items[r])]
            out[d] = statistic(np.concatenate(drawn)) if drawn else math.nan
        draws[name] = out
    return values, draws
