"""Every comparison together: the performance profile over tasks, the profile of time to target,
and the measured "which optimizer" table, one row per optimizer. A comparison counts once, however
many studies it repeated."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from hpsearch import record
from hpsearch.report.summaries.repeated import CAP_RATIO, RepeatedComparison
from hpsearch.statistics import basic, verdicts
from hpsearch.statistics.equivalence import EQUIVALENT, WORSE


@dataclass(frozen=True)
class MeasuredRow:
    """One optimizer across every comparison: the measured "which optimizer" table."""

    optimizer: str
    tasks: int  # comparisons where it has a re-run result
    won: tuple[str, ...]  # comparisons it won outright
    tied: tuple[str, ...]  # comparisons where it was among those tied for best
    mean_rank: float | None  # by re-run test mean (median over studies); ties share their ranks
    lr_window: float | None  # mean over tasks, in decades
    mean_gain: float | None  # mean gain over defaults; None where the comparisons' metrics differ
    helped: int  # tasks where tuning beat torch's defaults
    gain_tasks: int  # tasks with a gain: a re-run result and a finite default
    default_diverged: int  # tasks where torch's defaults diverged (in any study)
    seconds: float
    reached: int = 0  # tasks where it reached the reference's target within 4x the fastest
    timed_tasks: int = 0  # tasks with a target
    # The decision of each comparison: where it was recommended (a leader the runs only lean to is
    # not), equivalent to the best (not recommended), or worse than the best by more than the margin.
    recommended: tuple[str, ...] = ()
    equivalent: tuple[str, ...] = ()
    worse: tuple[str, ...] = ()


@dataclass(frozen=True)
class AcrossTasks:
    studies: tuple[str, ...]  # the comparisons (each named by its study 1)
    gaps: dict[str, dict[str, float]]  # comparison -> optimizer -> |best - score| / spread
    taus: tuple[float, ...]  # 0 and every gap: where the step-shaped profile changes
    profile: dict[str, tuple[float, ...]]  # optimizer -> fraction of tasks within tau, per tau
    table: list[MeasuredRow]
    time_taus: tuple[float, ...] = ()  # 1 .. CAP_RATIO: the time-to-target profile's x axis
    time_profile: dict[str, tuple[float, ...]] | None = None  # fraction of tasks reached within tau
    timed_tasks: int = 0  # comparisons with a target: what the time profile's fractions are of


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _average_ranks(comparison: RepeatedComparison) -> dict[str, float]:
    """1 = best score; optimizers with equal scores share the average of their ranks."""
    sign = record.sign(comparison.direction)
    scores = {r.optimizer: sign * r.median for r in comparison.optimizers if r.median is not None}
    return {name: 1 + sum(m > mine for m in scores.values())
            + (sum(m == mine for m in scores.values()) - 1) / 2 for name, mine in scores.items()}


def measured_row(name: str, comparisons: Sequence[RepeatedComparison]) -> MeasuredRow:
    rows = [(c, r) for c in comparisons for r in c.optimizers if r.optimizer == name]
    ranks = [_average_ranks(c)[name] for c, r in rows if r.median is not None]
    gains = [r.gain for _, r in rows if r.gain is not None]
    one_metric = len({(c.metric, c.direction) for c in comparisons}) == 1  # else a mean mixes units
    timed = [r for c, r in rows if c.target is not None]
    return MeasuredRow(
        optimizer=name, tasks=len(ranks),
        won=tuple(c.name for c, _ in rows if c.winner == name),
        tied=tuple(c.name for c, _ in rows if c.winner is None and name in c.tied),
        mean_rank=_mean(ranks),
        lr_window=_mean([r.lr_window for _, r in rows if r.lr_window is not None]),
        mean_gain=_mean(gains) if one_metric else None, helped=sum(g > 0 for g in gains),
        gain_tasks=len(gains),
        default_diverged=sum(r.default_diverged > 0 for _, r in rows),
        seconds=sum(r.seconds for _, r in rows),
        reached=sum(bool(r.reached) for r in timed), timed_tasks=len(timed),
        recommended=tuple(c.name for c, _ in rows if c.decision and not c.decision.leaning
                          and name in c.decision.recommendation.recommended),
        equivalent=_classed(name, [c for c, _ in rows], EQUIVALENT),
        worse=_classed(name, [c for c, _ in rows], WORSE),
    )


def _classed(name: str, comparisons: Sequence[RepeatedComparison], category: str
             ) -> tuple[str, ...]:
    """The comparisons whose decision put the optimizer in `category` (and did not recommend it)."""
    return tuple(c.name for c in comparisons if c.decision is not None
                 and name not in c.decision.recommendation.recommended
                 and (s := c.decision.classes.standings.get(name)) is not None
                 and s.category == category)


def _time_profile(comparisons: Sequence[RepeatedComparison], names: Sequence[str]
                  ) -> tuple[tuple[float, ...], dict[str, tuple[float, ...]] | None]:
    times = {c.name: {r.optimizer: (math.inf if r.steps_to_target is None else r.steps_to_target)
                      for r in c.optimizers if r.optimizer in names}
             for c in comparisons if c.target is not None}
    if not times:
        return (), None
    taus = tuple(1.0 + (CAP_RATIO - 1.0) * i / 60 for i in range(61))
    profile = verdicts.time_profile(times, taus, CAP_RATIO)
    return taus, {n: tuple(profile[n]) for n in names if n in profile}


def across_tasks(comparisons: Sequence[RepeatedComparison], order: Sequence[str]) -> AcrossTasks | None:
    """Performance profiles and measured table over every comparison (None when there is none)."""
    if not comparisons:
        return None
    scores = {c.name: {r.optimizer: r.median for r in c.optimizers if r.median is not None}
              for c in comparisons}
    directions = {c.name: c.direction for c in comparisons}
    gaps = basic.profile_gaps(scores, directions)
    taus = tuple(sorted({0.0} | {g for task in gaps.values() for g in task.values()}))
    profile = basic.performance_profile(scores, directions, taus)
    names = [n for n in order if any(r.optimizer == n for c in comparisons for r in c.optimizers)]
    time_taus, time_profile = _time_profile(comparisons, names)
    return AcrossTasks(
        studies=tuple(c.name for c in comparisons), gaps=gaps, taus=taus,
        profile={n: tuple(profile[n]) for n in names if n in profile},
        table=[measured_row(n, comparisons) for n in names],
        time_taus=time_taus, time_profile=time_profile,
        timed_tasks=sum(c.target is not None for c in comparisons),
    )
