"""Trials as plain data for every report: one point per trial (its outcome, value, curve and
cost) and how a study's evidence was made (its provenance). No plotly, no torch."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpsearch import record
from hpsearch.space.optimizers import OPTIMIZERS

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class TrialPoint:
    number: int
    optimizer: str
    state: str  # complete | pruned | diverged | failed | running
    value: float | None  # final metric (complete), last reported value (pruned), else None
    lr: float | None
    epochs_run: int
    curve: tuple[float | None, ...]  # the value reported after each epoch; None where not finite
    finished_s: float | None  # seconds from the study's first trial start to this trial's end
    seconds: float  # training time
    reason: str = ""
    closure_evaluations: int | None = None  # None: not recorded
    updates: int | None = None  # parameter updates (steps, or L-BFGS's inner iterations); None: older study
    warm_start: str | None = None  # "study#trial" it was enqueued from; None: the sampler drew it
    steps_run: int | None = None  # optimizer steps trained (recorded since budgets in steps)


@dataclass(frozen=True)
class Provenance:
    n_trials: int | None  # the budget asked for
    finished: int  # complete + pruned trials stored
    epochs: int | None
    batch_size: int | None
    sampler: str
    pruner: str
    seed: Any
    device: str
    workers: int
    wall_seconds: float  # union of the trials' run intervals: idle gaps between runs not counted
    versions: Mapping[str, str]
    split_seed: Any
    runs: int
    warm_started: int = 0  # trials enqueued from an earlier study's trial
    warm_from: tuple[str, ...] = ()  # those earlier trials, "study#trial", in trial order
    steps: int | None = None  # a budget in steps: steps per trial, evaluated every `eval_every`
    eval_every: int | None = None

    def budget(self) -> str:
        """Each trial's budget as the study counted it."""
        if self.steps:
            return f"{self.steps} steps each, evaluated every {self.eval_every}"
        return f"{self.epochs if self.epochs is not None else '-'} epochs each"

    def points(self, count: int) -> list[int]:
        """Where the first `count` evaluation points lie: epochs, or steps done."""
        return [(self.eval_every or 1) * (i + 1) for i in range(count)]

    @property
    def unit(self) -> str:
        return "step" if self.steps else "epoch"


def optimizer_order(names: Sequence[str]) -> list[str]:
    """Registry order, then any other names sorted: the same in every figure."""
    known = [key for key in OPTIMIZERS if key in names]
    return known + sorted(set(names) - set(known))


def _count(value: Any) -> int | None:
    """A recorded count, or None where it is missing or not a number (older studies)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return int(value)


def trial_points(trials: Sequence[optuna.trial.FrozenTrial]) -> list[TrialPoint]:
    starts = [t.datetime_start for t in trials if t.datetime_start]
    origin = min(starts) if starts else None
    points = []
    for trial in trials:
        if record.OPTIMIZER not in trial.params:
            continue
        curve = tuple(record.finite(trial.intermediate_values.get(step))
                      for step in range(max(trial.intermediate_values, default=-1) + 1))
        state = record.outcome(trial)
        value = record.finite(trial.value) if state == "complete" else (
            next((v for v in reversed(curve) if v is not None), None) if state == "pruned" else None)
        attrs = record.trial_attrs(trial)
        finished = (trial.datetime_complete - origin).total_seconds() if (
            origin and trial.datetime_complete) else None
        points.append(TrialPoint(
            number=trial.number, optimizer=str(trial.params[record.OPTIMIZER]), state=state,
            value=value, lr=record.learning_rate(trial),
            epochs_run=int(attrs.get(record.POINTS_RUN, len(curve))),
            curve=curve, finished_s=finished, seconds=record.seconds_of(trial),
            reason=str(attrs.get(record.REASON, "")),
            closure_evaluations=_count(attrs.get(record.CLOSURE_EVALUATIONS)),
            updates=_count(attrs.get(record.UPDATES)), warm_start=record.warm_source(attrs),
            steps_run=_count(attrs.get(record.STEPS)),
        ))
    return points


def wall_seconds(trials: Sequence[optuna.trial.FrozenTrial]) -> float:
    """Length of the union of the trials' run intervals."""
    intervals = sorted((t.datetime_start, t.datetime_complete) for t in trials
                       if t.datetime_start and t.datetime_complete)
    total, end = 0.0, None
    for start, stop in intervals:
        if end is None or start > end:
            total += (stop - start).total_seconds()
            end = stop
        elif stop > end:
            total += (stop - end).total_seconds()
            end = stop
    return total


def provenance(study: optuna.Study, trials: Sequence[optuna.trial.FrozenTrial]) -> Provenance:
    attrs = study.user_attrs
    runs = record.runs_of(attrs)
    last = runs[-1] if runs else attrs
    workers = {json.dumps(t.user_attrs[record.WORKER], sort_keys=True) for t in trials
               if record.trial_attrs(t).get(record.WORKER)}
    warm = [source for t in trials if (source := record.warm_source(t.user_attrs)) is not None]
    return Provenance(
        n_trials=last.get("n_trials"),
        finished=sum(record.outcome(t) in ("complete", "pruned", "diverged") for t in trials),
        epochs=attrs.get(record.EPOCHS), batch_size=attrs.get(record.BATCH_SIZE),
        sampler=record.sampler_of(last), pruner=str(last.get("pruner", "unknown")),
        seed=last.get("seed"), device=str(last.get("device", "unknown")),
        # Processes that ran at once: the largest run; sequential resumes are not parallelism.
        workers=max(int(r.get("workers", 1)) for r in runs) if runs else max(1, len(workers)),
        wall_seconds=wall_seconds(trials),
        versions=last.get("versions", {}), split_seed=attrs.get("split_seed"), runs=len(runs),
        warm_started=len(warm), warm_from=tuple(warm),
        steps=_count(attrs.get(record.STEPS)), eval_every=_count(attrs.get(record.EVAL_EVERY)),
    )
