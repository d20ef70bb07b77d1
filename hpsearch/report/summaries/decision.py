"""A comparison's decision as plain data: the margin that says what "the same" means (the user's,
else the task's default, and why), each optimizer's class against the best, and the
recommendation among the best and those equivalent to it, with the criterion that decided.

Both are readings of the stored studies, not part of them: the same comparison can be read with
another margin or another order of criteria. The numbers come from `statistics.equivalence` and
`statistics.recommendation`; this module gathers their inputs from the per-study summaries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hpsearch import record
from hpsearch.report.summaries.comparison import ComparedOptimizer, ComparisonSummary
from hpsearch.report.summaries.points import TrialPoint
from hpsearch.statistics import basic, recommendation
from hpsearch.statistics.equivalence import (
    BEST,
    EQUIVALENT,
    UNDETERMINED,
    WORSE,
    Classes,
    Standing,
    classify,
)
from hpsearch.statistics.recommendation import CRITERIA, Criterion, Recommendation, recommend

ACCURACY_FLOOR = 0.005  # half a point of accuracy
RELATIVE = 0.01  # 1 % of the best median, for a metric without a default of its own
NATS = 0.01  # per token, for a language model's loss
DRAWS = 2_000  # bootstrap replicates of the criteria
EASE_TRIALS = 5  # ease: the expected best of this many random-search trials
MOST_RUNS = 100.0  # beyond this many times the runs, "would tell" is no plan a user can follow
SECONDS_INSTEAD = 2.0  # time counts in seconds where the candidates' seconds per step differ more
Curve = list[tuple[float, float]]


@dataclass(frozen=True)
class Decision:
    margin: float
    margin_why: str  # where the margin came from: "given" or the default's rule
    classes: Classes
    recommendation: Recommendation
    prefer: tuple[str, ...]  # the criteria in the order tried
    text: str  # the recommendation and the classes, in sentences

    @property
    def leaning(self) -> bool:
        """Only the leader is a candidate and some optimizers are not determined against it: the
        runs lean to it, they do not yet recommend it."""
        return (len(self.recommendation.candidates) == 1
                and bool(self.classes.named(UNDETERMINED)))


def default_margin(task: str, metric: str, best: float | None, test_rows: int | None
                   ) -> tuple[float, str]:
    """The margin a comparison is read with when none is given, and its rule in words."""
    if metric == "accuracy":
        if test_rows:
            return (max(1.0 / test_rows, ACCURACY_FLOOR),
                    f"the larger of one test sample's accuracy (1/{test_rows}) and 0.5 points")
        return ACCURACY_FLOOR, "0.5 points of accuracy (the test split's size is not recorded)"
    if task == "lm":
        return NATS, "the default for a language model"
    scale = abs(best) if best is not None and math.isfinite(best) else 0.0
    return RELATIVE * scale, f"1 % of the best median {metric}"


def test_rows_of(studies: Sequence[ComparisonSummary]) -> int | None:
    """The test split's rows, as stored with the comparison; for studies stored before it was, the
    finest step between the test accuracies they recorded (each is a whole number of rows)."""
    stored = [s.protocol.test_rows for s in studies if s.protocol.test_rows]
    if stored:
        return min(stored)
    values = sorted({v for s in studies for r in s.optimizers for v in r.reruns if math.isfinite(v)})
    steps = [b - a for a, b in zip(values, values[1:], strict=False) if b - a > 1e-9]
    if not steps:
        return None
    rows = round(1.0 / min(steps))
    fits = rows > 0 and all(abs(v * rows - round(v * rows)) < 1e-6 * rows for v in values)
    return rows if fits else None


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


def decide(studies: Sequence[ComparisonSummary], runs: Mapping[str, list[list[float]]],
           target: float | None, margin: float | None = None,
           prefer: Sequence[str] = CRITERIA) -> Decision | None:
    """The decision over a comparison's studies (study 1 first); None before any re-run."""
    if not any(v for per in runs.values() for v in per):
        return None
    first = studies[0]
    if margin is None:
        margin, why = default_margin(first.task, first.metric, _best_median(runs, first.direction),
                                     test_rows_of(studies))
    else:
        why = "given"
    classes = classify(runs, first.direction, margin)
    candidates = [n for n, s in classes.standings.items() if s.category in (BEST, EQUIVALENT)]
    criteria = (criteria_for(studies, candidates, first.direction, target, margin, prefer)
                if len(candidates) > 1 else [])  # one candidate: quality alone decided
    chosen = recommend(candidates, criteria)
    return Decision(margin, why, classes, chosen, tuple(prefer),
                    decision_text(classes, chosen, first.metric, why, studies))


def _best_median(runs: Mapping[str, list[list[float]]], direction: str) -> float | None:
    """The best optimizer's median over studies of its finite re-run mean."""
    medians = [float(np.median(means)) for per in runs.values()
               if (means := [float(np.mean(v)) for v in per if v and np.isfinite(v).all()])]
    if not medians:
        return None
    return max(medians) if direction == "maximize" else min(medians)


def margin_text(margin: float, metric: str, task: str = "") -> str:
    """The margin as a reader reads it: accuracy in points (0.0088: 0.88 points), a language
    model's loss in nats per token."""
    if task == "lm":
        return f"{margin:.3g} nats per token"
    if metric == "accuracy":
        points = 100 * margin
        return f"{points:.2g} points" if points < 10 else f"{points:.0f} points"
    return f"{margin:.3g}"


def decision_text(classes: Classes, chosen: Recommendation, metric: str, why: str,
                  studies: Sequence[ComparisonSummary]) -> str:
    """The recommendation and the classes in sentences, e.g. "Use adam: tied for best test
    accuracy with 6 others (within 0.88 points); reached the target fastest (2.3x adamw's steps,
    P 0.97); worse by more than the margin: sgd, adagrad." """
    margin = margin_text(classes.margin, metric, studies[0].task if studies else "")
    others = len(chosen.candidates) - 1
    worse, open_ = classes.named(WORSE), classes.named(UNDETERMINED)
    if len(chosen.recommended) > 1:
        head = (f"Use any of {_names(chosen.recommended)}: tied for best test {metric} (within "
                f"{margin}), and no criterion ({', '.join(chosen.tried) or 'none measured'}) "
                "separates them" + (f"; {chosen.unnamed} more tie with them" if chosen.unnamed
                                    else ""))
    elif others:
        head = (f"Use {chosen.recommended[0]}: tied for best test {metric} with {others} "
                f"other{'s' if others > 1 else ''} (within {margin})")
        if chosen.closest is not None:
            head += f"; {_decided(chosen)}"
    elif open_:  # Decision.leaning
        head = (f"Leaning to {chosen.recommended[0]}: the best median test {metric}, not yet told "
                f"apart from {_names(open_, 'and')} (within {margin} or not)")
    else:
        head = (f"Use {chosen.recommended[0]}: best test {metric}, every other worse by more than "
                f"{margin}")
    parts = [head]
    if worse and (others or open_):
        parts.append(f"worse by more than the margin: {', '.join(worse)}")
    if open_:
        parts.append("not determined: " + ", ".join(
            _needed(classes.standings[n], studies) for n in open_))
    return "; ".join(parts) + f". Margin: {margin} ({why})."


def _needed(standing: Standing, studies: Sequence[ComparisonSummary]) -> str:
    """What would tell an undetermined optimizer from the best, in seeds per study or studies."""
    factor = standing.runs_needed
    if factor is None or factor > MOST_RUNS:
        return f"{standing.optimizer} (on the margin: over {MOST_RUNS:.0f}x these runs would tell)"
    seeds, count = studies[0].protocol.seeds, len(studies)
    return (f"{standing.optimizer} (about {math.ceil(factor * seeds)} seeds per study, or "
            f"{math.ceil(factor * count)} studies, would tell)")


def _decided(chosen: Recommendation) -> str:
    """The criterion that decided, and by how much against the candidate it separated least."""
    closest = chosen.closest
    assert closest is not None
    other, by, p = closest.other, closest.by, f"P {closest.probability:.2f}"
    if chosen.criterion == "time":
        return f"reached the target fastest ({other} took {by:.2g}x its {chosen.unit}, {p})"
    if chosen.criterion == "cost":
        return f"cheapest per trial ({other} took {by:.2g}x its seconds, {p})"
    if chosen.unit == "decades":
        return f"easiest to tune (a learning-rate window {by:.2g}x {other}'s, {p})"
    return (f"easiest to tune (its expected best after {EASE_TRIALS} trials {by:.3g} better than "
            f"{other}'s, {p})")


def _names(names: Sequence[str], last: str = "or") -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}"
