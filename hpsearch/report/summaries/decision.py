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

from hpsearch.report.summaries.comparison import ComparisonSummary
from hpsearch.report.summaries.criteria import EASE_TRIALS, criteria_for
from hpsearch.statistics.equivalence import (
    BEST,
    EQUIVALENT,
    UNDETERMINED,
    WORSE,
    Classes,
    Standing,
    classify,
)
from hpsearch.statistics.recommendation import CRITERIA, Recommendation, recommend

ACCURACY_FLOOR = 0.005  # half a point of accuracy
RELATIVE = 0.01  # 1 % of the best median, for a metric without a default of its own
NATS = 0.01  # per token, for a language model's loss
MOST_RUNS = 100.0  # beyond this many times the runs, "would tell" is no plan a user can follow


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
    """What would tell an undetermined optimizer from the best, in studies or seeds per study."""
    return f"{standing.optimizer} ({needed_text(standing, len(studies))})"


def studies_needed(standing: Standing, studies: int) -> int | None:
    """The studies that would tell an undetermined optimizer from the best; None where it sits on
    the margin (more than `MOST_RUNS` times these runs)."""
    factor = standing.runs_needed
    return None if factor is None or factor > MOST_RUNS else math.ceil(factor * studies)


def needed_text(standing: Standing, studies: int) -> str:
    """The studies, or seeds per study, that would tell an undetermined optimizer from the best;
    where seeds alone would not, the share of the spread that is search luck says why."""
    more = studies_needed(standing, studies)
    if more is None:
        return f"on the margin: over {MOST_RUNS:.0f}x these runs would tell"
    if standing.seeds_needed is not None:
        return f"about {more} studies, or {standing.seeds_needed} seeds per study, would tell"
    return (f"about {more} studies would tell; more seeds would not ({standing.search_share or 0:.0%} "
            f"of a study's spread is between studies, their search draws)")


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
