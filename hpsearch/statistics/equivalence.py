"""What "the same" means: each optimizer classed against the one with the best median, within a
margin of practical equivalence, from the two-level bootstrap of `verdicts` (studies, then seeds).

The difference to the leader is taken within each bootstrap replicate, so its spread carries both
optimizers' noise and the studies they share. Classes, at `PROBABILITY` (0.9):

- **best**: the leader itself;
- **equivalent** to the best: the difference lies within the margin;
- **worse**: worse than the leader by more than the margin;
- **not determined**: neither; `runs_needed` says about how many times the studies would decide
  it, from the spread measured (the spread of a mean shrinks as one over the square root of its
  runs), planned at 0.95 so that the runs it names decide at 0.9 more often than not.
  `seeds_needed` says how many seeds per study would, at these studies: a study's difference
  varies between studies (each its own search draws: search luck) and between seeds, and more
  seeds shrink only the second, so where search luck alone is wider than the plan allows no
  number of seeds would (`search_share` is its share of a study's variance).

Plain numbers in, frozen dataclasses out: no torch, no optuna, no storage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hpsearch.statistics.verdicts import two_level_draws

PROBABILITY = 0.9  # how sure a class (and a criterion of the recommendation) must be
PLANNING_Z = 1.6449  # the one-sided 0.95 normal quantile: runs planned to decide with room to spare
BEST, EQUIVALENT, WORSE, UNDETERMINED = "best", "equivalent", "worse", "not determined"
CLASSES = (BEST, EQUIVALENT, WORSE, UNDETERMINED)


@dataclass(frozen=True)
class Standing:
    """One optimizer against the leader, in the metric's units: `difference` is how much worse it
    is (positive: worse; its central 90 % interval beside it), `p_within` the probability that the
    difference lies within the margin, `p_worse` that it is worse by more than the margin."""

    optimizer: str
    category: str
    difference: float
    interval: tuple[float, float]
    p_within: float
    p_worse: float
    runs_needed: float | None = None  # not determined: about how many times the studies would decide
    seeds_needed: int | None = None  # not determined: seeds per study that would, at these studies
    search_share: float | None = None  # of a study's variance, between studies (None: not measured)


@dataclass(frozen=True)
class Classes:
    leader: str
    margin: float
    standings: dict[str, Standing]  # every optimizer with a re-run: the leader, then the closest

    def named(self, category: str) -> tuple[str, ...]:
        return tuple(name for name, s in self.standings.items() if s.category == category)


def classify(runs: Mapping[str, Sequence[Sequence[float]]], direction: str, margin: float,
             draws: int = 10_000, seed: int = 0) -> Classes:
    """Class each optimizer against the one with the best median over studies of its re-run mean.

    `runs[name][r]` are its re-runs' values in study r (empty where it has none there); a
    non-finite value counts as the worst. Deterministic for a given seed."""
    if not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a finite number of at least 0, got {margin}")
    names, drawn, point = two_level_draws(runs, direction, draws, seed)
    leader = int(np.argmax(point))
    standings: dict[str, Standing] = {}
    for i in [leader, *(i for i in range(len(names)) if i != leader)]:
        gap = _gaps(drawn[:, leader], drawn[:, i])  # how much worse, in each replicate
        estimate = _gaps(np.array([point[leader]]), np.array([point[i]]))[0]
        p_within = float((np.abs(gap) <= margin).mean())
        p_worse = float((gap > margin).mean())
        low = np.quantile(gap, (1 - PROBABILITY) / 2, method="lower")  # no interpolation: an
        high = np.quantile(gap, (1 + PROBABILITY) / 2, method="higher")  # inf stays a value
        if i == leader:
            category, needed = BEST, None
        elif p_within >= PROBABILITY:
            category, needed = EQUIVALENT, None
        elif p_worse >= PROBABILITY:
            category, needed = WORSE, None
        else:
            category, needed = UNDETERMINED, runs_needed(estimate, _spread(gap), margin)
        parts = study_variance(runs[names[leader]], runs[names[i]])
        seeds = None if needed is None else seeds_needed(needed, parts, _seeds(runs, names, i, leader))
        share = None if parts is None or category != UNDETERMINED else parts.search_share
        standings[names[i]] = Standing(names[i], category, float(estimate),
                                       (float(low), float(high)), p_within, p_worse, needed, seeds,
                                       share)
    ordered = sorted(standings.values(), key=lambda s: (s.category != BEST, s.difference))
    return Classes(names[leader], float(margin), {s.optimizer: s for s in ordered})


def _gaps(leader: np.ndarray, other: np.ndarray) -> np.ndarray:
    """How much worse `other` is than `leader` ('higher wins' scores in, metric units out); two
    that both diverged are the same, one that alone diverged is infinitely worse."""
    with np.errstate(invalid="ignore"):
        gap = leader - other
    return np.where(np.isneginf(leader) & np.isneginf(other), 0.0, gap)


def _spread(gap: np.ndarray) -> float:
    finite = gap[np.isfinite(gap)]
    return float(finite.std()) if finite.size == gap.size else math.inf


@dataclass(frozen=True)
class StudyVariance:
    """How the difference between two optimizers' study means varies: `between` studies (their
    search draws) and `within` a study, for one seed of each (so a study of R seeds varies by
    `between + within / R`)."""

    between: float
    within: float
    seeds: float  # the seeds per study these were measured with

    @property
    def search_share(self) -> float:
        total = self.between + self.within / self.seeds
        return self.between / total if total > 0 else 0.0


def study_variance(leader: Sequence[Sequence[float]], other: Sequence[Sequence[float]]
                   ) -> StudyVariance | None:
    """The two parts of a study's difference (one-way analysis of variance over the studies where
    both have at least two finite runs); None where fewer than two such studies."""
    pairs = [(np.asarray(a, float), np.asarray(b, float)) for a, b in zip(leader, other, strict=True)]
    pairs = [(a, b) for a, b in pairs
             if a.size >= 2 and b.size >= 2 and np.isfinite(a).all() and np.isfinite(b).all()]
    if len(pairs) < 2:
        return None
    differences = np.array([a.mean() - b.mean() for a, b in pairs])
    of_means = np.array([a.var(ddof=1) / a.size + b.var(ddof=1) / b.size for a, b in pairs])
    seeds = float(np.mean([(a.size + b.size) / 2 for a, b in pairs]))
    within = float(of_means.mean()) * seeds  # back to one seed of each
    between = max(0.0, float(differences.var(ddof=1)) - float(of_means.mean()))
    return StudyVariance(between, within, seeds)


def seeds_needed(factor: float, parts: StudyVariance | None, seeds: float) -> int | None:
    """Seeds per study that would shrink a study's variance by `factor` (what `runs_needed` asks of
    the studies) at the same studies; None where search luck alone is wider than that. Without
    the parts measured, the seeds are scaled as the studies are."""
    if parts is None:
        return math.ceil(factor * seeds)
    total = parts.between + parts.within / parts.seeds
    room = total / factor - parts.between  # what the seeds' part may be
    if room <= 0:
        return None
    if parts.within == 0:
        return math.ceil(parts.seeds)
    return max(math.ceil(parts.seeds), math.ceil(parts.within / room))


def _seeds(runs: Mapping[str, Sequence[Sequence[float]]], names: list[str], i: int, leader: int
           ) -> float:
    """The seeds per study of two optimizers, on average over the studies either has."""
    sizes = [len(v) for name in (names[i], names[leader]) for v in runs[name] if len(v)]
    return float(np.mean(sizes)) if sizes else 1.0


def runs_needed(estimate: float, spread: float, margin: float) -> float | None:
    """About how many times the runs measured would class a difference of `estimate` (whose
    bootstrap spread is `spread`) as equivalent (below the margin) or worse (above it): the factor
    that shrinks the spread to the distance from the margin over `PLANNING_Z`. None where no
    number of runs would (the estimate on the margin, or a spread not finite)."""
    distance = abs(abs(estimate) - margin) if estimate <= margin else estimate - margin
    if not (math.isfinite(spread) and math.isfinite(distance)) or distance <= 0:
        return None
    return float(max(1.0, (PLANNING_Z * spread / distance) ** 2))
