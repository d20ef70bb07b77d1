"""A comparison over its repeated studies, as plain data: the verdict from the median over studies
(two-level bootstrap), each optimizer's rank in each study, the probability that one optimizer's
re-run beats another's, and the time each takes to reach a reference optimizer's result.

The studies of one comparison are the comparison studies whose protocol names the same `group`
(the name of study 1); a study stored before repeated studies existed is study 1 of its own group.
With one study the verdict is that study's own, unchanged. The numbers come from
`hpsearch.statistics.verdicts`; this module only gathers their inputs from the per-study summaries.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from hpsearch import record
from hpsearch.report.summaries.comparison import ComparedOptimizer, ComparisonSummary
from hpsearch.report.summaries.criteria import rerun_curves
from hpsearch.report.summaries.decision import Decision, decide
from hpsearch.statistics import verdicts
from hpsearch.statistics.recommendation import CRITERIA

CAP_RATIO = 4.0  # AlgoPerf: slower than 4x the fastest counts as not reaching the target
Curve = list[tuple[float, float]]
Times = dict[str, tuple["float | None", "float | None", "bool | None"]]  # steps, seconds, reached


@dataclass(frozen=True)
class StudiedOptimizer:
    """One optimizer over a comparison's studies."""

    optimizer: str
    median: float | None  # median over studies of its re-run mean (one study: the mean)
    interval: tuple[float, float] | None  # two-level bootstrap (one study: the mean's 95% CI)
    p_best: float | None
    ranks: tuple[float | None, ...]  # per study, 1 = best mean; equal means share their ranks
    best_in: int  # studies where its mean was the best
    runs: int  # re-runs with a test value, over every study
    gain: float | None  # median over studies of its gain over torch's defaults
    lr_window: float | None  # mean over studies, in decades
    default_diverged: int  # studies where torch's defaults diverged
    seconds: float  # training time of all its trials, every study
    steps_to_target: float | None  # by when half its re-runs got there; inf: never; None: no target
    seconds_to_target: float | None  # likewise, in training seconds (None where not recorded)
    reached: bool | None  # finite and within CAP_RATIO x the fastest


@dataclass(frozen=True)
class RepeatedComparison:
    name: str  # the comparison: the name of its study 1
    task: str
    metric: str
    direction: str
    studies: tuple[ComparisonSummary, ...]  # study 1 first
    optimizers: list[StudiedOptimizer]  # best median first
    winner: str | None
    tied: tuple[str, ...]
    verdict: str  # the verdict, the budget and the spread in one text
    improvement: dict[str, dict[str, float]]  # P(row's re-run beats column's), pooled over studies
    reference: str | None  # whose re-runs set the target
    target: float | None  # the median of the reference's final validation values
    time_unit: str  # what steps_to_target counts: "step" or, for older studies, "epoch"
    decision: Decision | None = None  # the margin, the classes and the recommendation


def group_of(summary: ComparisonSummary) -> str:
    return summary.protocol.group or summary.study


def _by_name(rows: Sequence[ComparedOptimizer]) -> dict[str, ComparedOptimizer]:
    return {r.optimizer: r for r in rows}


def _curves(studies: Sequence[ComparisonSummary], name: str, seconds: bool) -> list[Curve] | None:
    """Every re-run's validation curve, in steps (or seconds: None unless every point has them)."""
    curves: list[Curve] = []
    for study in studies:
        own = rerun_curves(study, name, seconds)
        if own is None:
            return None
        curves += own
    return curves


def _reference(studies: Sequence[ComparisonSummary], asked: str | None) -> str | None:
    """The asked optimizer, else the best re-run mean of study 1."""
    if asked is not None:
        return asked
    return next((r.optimizer for r in studies[0].optimizers if r.test is not None), None)


def _times(studies: Sequence[ComparisonSummary], names: Sequence[str], direction: str,
           reference: str | None) -> tuple[float | None, Times]:
    """The target, and per optimizer (steps to it, seconds to it, reached)."""
    none: Times = {n: (None, None, None) for n in names}
    finals = [c[-1][1] for c in _curves(studies, reference, False) or [] if c] if reference else []
    if not finals:
        return None, none
    try:
        target = verdicts.reference_target(finals, direction)
    except ValueError:  # half or more of the reference's runs diverged
        return None, none
    steps = {n: c for n in names if (c := _curves(studies, n, False))}
    if not steps:
        return target, none
    by_steps = verdicts.time_to_target(steps, target, direction, CAP_RATIO)
    timed = {n: c for n in steps if (c := _curves(studies, n, True))}
    by_seconds = verdicts.time_to_target(timed, target, direction, CAP_RATIO) if timed else None
    return target, {n: (by_steps.times.get(n), by_seconds.times.get(n) if by_seconds else None,
                        by_steps.reached.get(n)) for n in names}


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def summarise_repeated(studies: Sequence[ComparisonSummary], reference: str | None = None,
                       margin: float | None = None, prefer: Sequence[str] = CRITERIA
                       ) -> RepeatedComparison:
    """One comparison from its studies (study 1 first), read with `margin` (None: the task's
    default) and the criteria in the order `prefer`."""
    first = studies[0]
    direction = first.direction
    names = [r.optimizer for r in first.optimizers]
    names += [r.optimizer for s in studies[1:] for r in s.optimizers if r.optimizer not in names]
    rows = [_by_name(s.optimizers) for s in studies]
    runs = {n: [list(row[n].reruns) if n in row else [] for row in rows] for n in names}
    judged = (verdicts.two_level_verdict(runs, direction)
              if any(v for per in runs.values() for v in per) else None)
    improvement: dict[str, dict[str, float]] = {}
    if judged is not None:
        for (a, b), p in verdicts.improvement_matrix(runs, direction).items():
            improvement.setdefault(a, {})[b] = p
    reference = _reference(studies, reference)
    target, times = _times(studies, names, direction, reference)
    one = len(studies) == 1
    summaries = [_studied(n, [row[n] for row in rows if n in row], judged, one, len(studies), times[n])
                 for n in names]
    sign = record.sign(direction)
    summaries.sort(key=lambda s: (s.median is None, -sign * s.median if s.median is not None else 0.0))
    if one or judged is None:
        winner, tied, verdict = first.winner, first.tied, first.verdict
    else:
        winner, tied = judged.winner, judged.tied
        verdict = f"{judged.text[0].upper()}{judged.text[1:]}. {_budget(studies)}"
    return RepeatedComparison(
        name=group_of(first), task=first.task, metric=first.metric, direction=direction,
        studies=tuple(studies), optimizers=summaries, winner=winner, tied=tied, verdict=verdict,
        improvement=improvement, reference=reference if target is not None else None, target=target,
        time_unit="step" if all(s.protocol.steps_per_point for s in studies) else first.provenance.unit,
        decision=decide(studies, runs, target, margin, prefer))


def _studied(name: str, own: Sequence[ComparedOptimizer], judged: verdicts.StudyVerdict | None,
             one: bool, studies: int, times: tuple[float | None, float | None, bool | None]
             ) -> StudiedOptimizer:
    """One optimizer from its rows in each study; with one study, that study's own figures."""
    test = own[0].test if own else None
    if one:
        median, interval = (test.mean, (test.low, test.high)) if test else (None, None)
        p_best = own[0].p_best if own else None
    else:
        median = judged.medians.get(name) if judged else None
        interval = judged.intervals.get(name) if judged else None
        p_best = judged.probabilities.get(name) if judged else None
    ranks = judged.ranks.get(name, (math.nan,) * studies) if judged else (math.nan,) * studies
    windows = [r.lr_window for r in own if r.lr_window is not None]
    return StudiedOptimizer(
        optimizer=name, median=median, interval=interval, p_best=p_best,
        ranks=tuple(None if math.isnan(r) else r for r in ranks),
        best_in=judged.wins.get(name, 0) if judged else 0, runs=sum(len(r.reruns) for r in own),
        gain=_median([r.gain for r in own if r.gain is not None]),
        lr_window=statistics.fmean(windows) if windows else None,
        default_diverged=sum(r.default_state == "diverged" for r in own),
        seconds=sum(r.seconds for r in own),
        steps_to_target=times[0], seconds_to_target=times[1], reached=times[2])


def _budget(studies: Sequence[ComparisonSummary]) -> str:
    p = studies[0].protocol
    return (f"Over {len(studies)} independent studies (each its own data split, search draws and "
            f"seeds), each giving every optimizer {p.budget} {p.sampler}-search trials and "
            f"re-training its best with {p.seeds} seeds{f' {p.length}' if p.length else ''}; "
            f"judged by the median over studies of the test {studies[0].metric} re-run mean, with "
            "a bootstrap over studies, then seeds.")


def group_comparisons(comparisons: Sequence[ComparisonSummary], reference: str | None = None,
                      margin: float | None = None, prefer: Sequence[str] = CRITERIA
                      ) -> list[RepeatedComparison]:
    """Each comparison with its studies, in the order their study 1 (or first study) came."""
    groups: dict[str, list[ComparisonSummary]] = {}
    for c in comparisons:
        groups.setdefault(group_of(c), []).append(c)
    return [summarise_repeated(sorted(g, key=lambda c: c.protocol.study_index), reference, margin,
                               prefer) for g in groups.values()]
