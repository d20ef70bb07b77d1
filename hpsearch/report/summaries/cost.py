"""What the trials cost, as plain data: which optimizer gets good fastest, and which is best for a budget.

A trial's cost is its training seconds (user attribute `seconds`), with its epochs, closure
evaluations and parameter updates (`updates`; older studies lack it: unknown, never zero) beside them.
As everywhere else in the report, a value is a complete trial's final metric: a pruned trial spent
compute for a value it never finished, and a diverged or failed one for none at all. All of them count
in the compute spent; only complete trials can be on the Pareto front.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from hpsearch import record
from hpsearch.report.summaries.points import TrialPoint, optimizer_order

SPENT = ("complete", "pruned", "diverged", "failed")  # trials that spent compute: all but running ones
NO_RESULT = ("diverged", "failed")
WARM_LISTED = 8  # warm-started trials named in a note; the others are counted


@dataclass(frozen=True)
class CostRow:
    """Mean cost per trial of one optimizer, over its trials that spent compute."""

    optimizer: str
    trials: int
    seconds: float  # mean training seconds per trial
    relative: float | None  # mean seconds over the cheapest optimizer's; None where that is 0
    epochs: float  # mean epochs run
    closure_evaluations: float | None  # mean over the trials that recorded it; None: none did
    updates: float | None  # mean parameter updates over the trials that recorded them; None: none did
    updates_recorded: int  # trials that recorded `updates` (older studies do not)
    total_seconds: float
    no_result_seconds: float  # spent on diverged and failed trials: compute with no value


@dataclass(frozen=True)
class CumulativeBest:
    """One optimizer's best complete value so far against its cumulative training seconds."""

    optimizer: str
    trials: tuple[int, ...]  # its trials that spent compute, in trial order
    seconds: tuple[float, ...]  # cumulative training seconds after each of them
    best: tuple[float | None, ...]  # best complete value so far; None before its first


@dataclass(frozen=True)
class FrontPoint:
    trial: int
    optimizer: str
    seconds: float
    value: float


@dataclass(frozen=True)
class CostSummary:
    table: list[CostRow]  # optimizer order
    cumulative: list[CumulativeBest]  # optimizer order
    front: list[FrontPoint]  # cheapest first; each better than every cheaper complete trial
    front_text: str  # the front in one sentence, cheapest to best
    unknown_cost: int  # complete trials without a recorded cost: on no front


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _result(p: TrialPoint) -> float | None:
    """A trial's value where it counts as a result: complete trials only, as for every best value."""
    return p.value if p.state == "complete" else None


def cost_rows(points: Sequence[TrialPoint]) -> list[CostRow]:
    spent = [p for p in points if p.state in SPENT]
    order = optimizer_order(sorted({p.optimizer for p in spent}))
    means = {name: statistics.fmean(p.seconds for p in spent if p.optimizer == name) for name in order}
    cheapest = min((m for m in means.values() if m > 0), default=None)
    rows = []
    for name in order:
        mine = [p for p in spent if p.optimizer == name]
        updates = [float(p.updates) for p in mine if p.updates is not None]
        rows.append(CostRow(
            optimizer=name, trials=len(mine), seconds=means[name],
            relative=means[name] / cheapest if cheapest else None,
            epochs=statistics.fmean(p.epochs_run for p in mine),
            closure_evaluations=_mean([float(p.closure_evaluations) for p in mine
                                       if p.closure_evaluations is not None]),
            updates=_mean(updates), updates_recorded=len(updates),
            total_seconds=sum(p.seconds for p in mine),
            no_result_seconds=sum(p.seconds for p in mine if p.state in NO_RESULT),
        ))
    return rows


def cumulative_best(points: Sequence[TrialPoint], direction: str) -> list[CumulativeBest]:
    """Per optimizer, in trial order: every trial adds its seconds, a complete one may raise the best."""
    sign = record.sign(direction)
    spent = sorted((p for p in points if p.state in SPENT), key=lambda p: p.number)
    curves = []
    for name in optimizer_order(sorted({p.optimizer for p in spent})):
        total, best = 0.0, None
        trials, seconds, bests = [], [], []
        for p in (p for p in spent if p.optimizer == name):
            total += p.seconds
            value = _result(p)
            if value is not None and (best is None or sign * value > sign * best):
                best = value
            trials.append(p.number)
            seconds.append(total)
            bests.append(best)
        curves.append(CumulativeBest(optimizer=name, trials=tuple(trials), seconds=tuple(seconds),
                                     best=tuple(bests)))
    return curves


def pareto_front(points: Sequence[TrialPoint], direction: str) -> list[FrontPoint]:
    """Complete trials that no other beats at no more cost, cheapest first; of equal trials, the first."""
    sign = record.sign(direction)
    candidates = sorted((p.seconds, -sign * value, p.number, p.optimizer, value) for p in points
                        if (value := _result(p)) is not None and p.seconds > 0)
    front: list[FrontPoint] = []
    for seconds, _, number, optimizer, value in candidates:
        if not front or sign * value > sign * front[-1].value:
            front.append(FrontPoint(trial=number, optimizer=optimizer, seconds=seconds, value=value))
    return front


def seconds_text(seconds: float) -> str:
    return f"{seconds:.3g} s" if seconds < 1000 else f"{seconds:.0f} s"


def front_sentence(front: Sequence[FrontPoint]) -> str:
    """`Pareto front: sgd (0.4 s, 0.95) -> adam (0.7 s, 0.97; 0.9 s, 0.975) -> lbfgs (3.1 s, 0.98).`"""
    if not front:
        return "Pareto front: no complete trial with a recorded cost yet."
    runs: list[list[FrontPoint]] = []
    for point in front:  # consecutive points of one optimizer read as one step
        if runs and runs[-1][0].optimizer == point.optimizer:
            runs[-1].append(point)
        else:
            runs.append([point])
    steps = []
    for run in runs:
        shown = [f"{seconds_text(p.seconds)}, {p.value:.4g}" for p in run]
        if len(shown) > 3:
            shown = [shown[0], f"{len(shown) - 2} more", shown[-1]]
        steps.append(f"{run[0].optimizer} ({'; '.join(shown)})")
    return "Pareto front: " + " -> ".join(steps) + "."


def warm_note(points: Sequence[TrialPoint]) -> str:
    """`3 trials warm-started from earlier studies: #0 from classification#12, #1 from small#4, ...`"""
    warm = [p for p in points if p.warm_start]
    if not warm:
        return ""
    listed = ", ".join(f"#{p.number} from {p.warm_start}" for p in warm[:WARM_LISTED])
    more = f" and {len(warm) - WARM_LISTED} more" if len(warm) > WARM_LISTED else ""
    trials = f"{len(warm)} trial" + ("s" if len(warm) != 1 else "")
    return f"{trials} warm-started from earlier studies: {listed}{more}."


def summarise_cost(points: Sequence[TrialPoint], direction: str) -> CostSummary:
    front = pareto_front(points, direction)
    return CostSummary(
        table=cost_rows(points), cumulative=cumulative_best(points, direction), front=front,
        front_text=front_sentence(front),
        unknown_cost=sum(_result(p) is not None and p.seconds <= 0 for p in points),
    )
