"""Each candidate of a comparison's decision measured on each criterion, from its studies' trials:
`time` (steps, or seconds, to the target on the re-runs' curves), `ease` (the expected best of a
few random-search trials, then the width of the learning-rate window) and `cost` (seconds per
search trial), each over the same two-level bootstrap replicates (`statistics.recommendation`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hpsearch import record
from hpsearch.report.summaries.comparison import ComparedOptimizer, ComparisonSummary
from hpsearch.report.summaries.points import TrialPoint
from hpsearch.statistics import basic, recommendation
from hpsearch.statistics.recommendation import Criterion

DRAWS = 2_000  # bootstrap replicates of the criteria
EASE_TRIALS = 5  # ease: the expected best of this many random-search trials
SECONDS_INSTEAD = 2.0  # time counts in seconds where the candidates' seconds per step differ more
Curve = list[tuple[float, float]]


def rerun_curves(study: ComparisonSummary, name: str, seconds: bool) -> list[Curve] | None:
    """An optimizer's re-runs' validation curves in one study, in steps (or in training seconds:
    None unless every point has them)."""
    row = next((r for r in study.optimizers if r.optimizer == name), None)
    per_point = study.protocol.steps_per_point or 1
    curves: list[Curve] = []
    for curve in (row.rerun_curves if row else ()):
        if seconds and any(s is None for _, _, s in curve):
            return None
        curves.append([(float(s) if seconds else float((point + 1) * per_point), value)  # type: ignore[arg-type]
                       for point, value, s in curve])
    return curves


def _reaching(curves: Sequence[Curve], target: float, sign: float) -> list[float]:
    """Per run: the first step (or second) at which it was as good as the target; inf: never."""
    return [next((x for x, v in c if math.isfinite(v) and sign * v >= sign * target), math.inf)
            for c in curves]


def _half_reached(x: np.ndarray) -> float:
    """The step by which half the runs got there (the lower middle, as `time_to_target`)."""
    return float(np.sort(x)[math.ceil(len(x) / 2) - 1])


def _per_second(studies: Sequence[ComparisonSummary], names: Sequence[str]) -> bool:
    """Whether the candidates' seconds per step differ by more than SECONDS_INSTEAD."""
    rates = []
    for name in names:
        per = [c[-1][0] / s[-1][0] for study in studies
               for c, s in zip(rerun_curves(study, name, True) or [],
                               rerun_curves(study, name, False) or [], strict=False)
               if c and s and s[-1][0] > 0]
        if not per:
            return False
        rates.append(float(np.median(per)))
    return max(rates) > SECONDS_INSTEAD * min(rates) > 0


def _time(studies: Sequence[ComparisonSummary], names: Sequence[str], direction: str,
          target: float | None, picks: np.ndarray, rng: np.random.Generator) -> Criterion | None:
    if target is None:
        return None
    seconds = _per_second(studies, names)
    sign = record.sign(direction)
    items = {n: [np.array(_reaching(rerun_curves(s, n, seconds) or [], target, sign))
                 for s in studies] for n in names}
    values, draws = recommendation.two_level(items, _half_reached, picks, rng)
    unit = "s" if seconds else "steps"
    return Criterion("time", f"{'seconds' if seconds else 'steps'} to the target", unit,
                     values, draws)


def _row(study: ComparisonSummary, name: str) -> ComparedOptimizer | None:
    return next((r for r in study.optimizers if r.optimizer == name), None)


def _search_points(study: ComparisonSummary, name: str) -> list[TrialPoint]:
    """Its search trials that finished (complete, pruned or diverged)."""
    return [t for t in study.trials if t.optimizer == name and t.state not in ("failed", "running")]


def _ease(studies: Sequence[ComparisonSummary], names: Sequence[str], direction: str,
          margin: float, picks: np.ndarray, rng: np.random.Generator) -> list[Criterion]:
    """Ease of tuning: the expected best of EASE_TRIALS random-search trials (in the metric's units,
    separated by more than the margin), then the width of the learning-rate window (decades)."""

    def expected(x: np.ndarray) -> float:
        finite = x[np.isfinite(x)]
        if not finite.size:
            return math.nan
        return float(basic.expected_best(finite, EASE_TRIALS, direction)[0][-1])

    def window(rows: np.ndarray) -> float:
        return basic.lr_window(rows[:, 0].tolist(), rows[:, 1].tolist(), direction) if len(rows) >= 2 else 0.0

    drawn = {n: [np.array(row.search_values if (row := _row(s, n)) else (), dtype=float)
                 for s in studies] for n in names}
    values, draws = recommendation.two_level(drawn, expected, picks, rng)
    first = Criterion("ease", f"expected best after {EASE_TRIALS} trials", "", values, draws,
                      lower_is_better=direction == "minimize", margin=margin)
    rated = {n: [np.array([(t.lr, t.value) for t in _search_points(s, n)
                           if t.state == "complete" and t.lr and t.value is not None
                           and math.isfinite(t.value)], dtype=float).reshape(-1, 2)
                 for s in studies] for n in names}
    values, draws = recommendation.two_level(rated, window, picks, rng)
    second = Criterion("ease", "width of the learning-rate window", "decades", values, draws,
                       lower_is_better=False)
    return [first, second]


def _cost(studies: Sequence[ComparisonSummary], names: Sequence[str], picks: np.ndarray,
          rng: np.random.Generator) -> Criterion:
    seconds = {n: [np.array([t.seconds for t in _search_points(s, n)], dtype=float)
                   for s in studies] for n in names}
    values, draws = recommendation.two_level(seconds, lambda x: float(x.mean()), picks, rng)
    return Criterion("cost", "seconds per trial", "s", values, draws)


def criteria_for(studies: Sequence[ComparisonSummary], names: Sequence[str], direction: str,
                 target: float | None, margin: float, prefer: Sequence[str], seed: int = 0
                 ) -> list[Criterion]:
    """The criteria in the order preferred, each measured on the same bootstrap replicates."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(studies), size=(DRAWS, len(studies)))
    criteria: list[Criterion] = []
    for name in prefer:
        if name == "time":
            time = _time(studies, names, direction, target, picks, rng)
            criteria += [time] if time else []
        elif name == "ease":
            criteria += _ease(studies, names, direction, margin, picks, rng)
        else:
            criteria.append(_cost(studies, names, picks, rng))
    return criteria
