"""Studies as plain data for reports: no plotly, no torch. Figures and pages are built from this."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hpsearch import record
from hpsearch.report.summaries.cost import CostSummary, summarise_cost
from hpsearch.report.summaries.points import Provenance, TrialPoint, provenance, trial_points

if TYPE_CHECKING:
    import optuna

MIN_IMPORTANCE_TRIALS = 5  # finished trials an optimizer needs before its importances mean much
TOP_K = 3


@dataclass(frozen=True)
class OptimizerSummary:
    optimizer: str
    trials: int  # complete + pruned: the budget this optimizer got
    complete: int
    pruned: int  # by the pruner or by divergence
    diverged: int
    failed: int
    best_value: float | None  # best complete trial; None when none completed
    best_trial: int | None
    best_config: Mapping[str, Any] | None
    seconds: float  # training time summed over its trials
    median: float | None = None  # of complete trials' values
    q1: float | None = None
    q3: float | None = None
    top_k_mean: float | None = None  # mean of its TOP_K best complete trials: less luck than one
    rank: int | None = None  # 1 = best optimizer of the study
    importance: Mapping[str, float] = field(default_factory=dict)
    importance_note: str = ""

    @property
    def best_text(self) -> str | None:
        """Why there is no best value, where there is none: every trial pruned, or failed."""
        if self.best_value is not None:
            return None
        return "all pruned" if self.trials else "all failed"


@dataclass(frozen=True)
class StudySummary:
    study: str
    task: str
    metric: str
    direction: str
    provenance: Provenance
    optimizers: list[OptimizerSummary]  # best first
    trials: list[TrialPoint]
    winner: str | None
    verdict: str
    cost: CostSummary | None = None  # metric against compute; None only where built without it


def summarise_optimizers(
    trials: Sequence[optuna.trial.FrozenTrial], direction: str
) -> list[OptimizerSummary]:
    """One row per optimizer that has a trial, best first (those without a complete trial last)."""
    groups: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for trial in trials:
        if record.OPTIMIZER in trial.params:
            groups.setdefault(str(trial.params[record.OPTIMIZER]), []).append(trial)
    maximize = record.sign(direction) > 0
    rows = []
    for key, group in groups.items():
        states = [record.outcome(t) for t in group]
        complete = [t for t, s in zip(group, states, strict=True)
                    if s == "complete" and record.finite(t.value) is not None]
        values = sorted((float(t.value) for t in complete), reverse=maximize)  # type: ignore[arg-type]
        best = next(t for t in complete if t.value == values[0]) if values else None
        quartiles = statistics.quantiles(values, n=4, method="inclusive") if len(values) >= 2 else values * 3
        rows.append(OptimizerSummary(
            optimizer=key,
            trials=sum(s in ("complete", "pruned", "diverged") for s in states),
            complete=len(complete),
            pruned=sum(s in ("pruned", "diverged") for s in states),
            diverged=states.count("diverged"),
            failed=states.count("failed"),
            best_value=values[0] if values else None,
            best_trial=best.number if best else None,
            best_config=record.trial_attrs(best).get(record.CONFIG) if best else None,
            seconds=sum(record.seconds_of(t) for t in group),
            median=statistics.median(values) if values else None,
            q1=quartiles[0] if values else None,
            q3=quartiles[2] if values else None,
            top_k_mean=statistics.fmean(values[:TOP_K]) if values else None,
        ))
    sign = -record.sign(direction)
    # Ties go to the optimizer that got there first, as Optuna's best trial (and `best`) does.
    rows.sort(key=lambda r: (r.best_value is None,
                             sign * r.best_value if r.best_value is not None else 0.0,
                             r.best_trial if r.best_trial is not None else 0, r.optimizer))
    return [replace(row, rank=i + 1) if row.best_value is not None else row
            for i, row in enumerate(rows)]


def importance_within(
    study_trials: Sequence[optuna.trial.FrozenTrial], optimizer: str, direction: str
) -> tuple[dict[str, float], str]:
    """fANOVA importances of one optimizer's own parameters.

    Pruning leaves few complete trials, so the target is the metric each trial reported at one
    common epoch: the latest epoch that at least two thirds of its finished trials reached. Pruned
    trials then count too, on equal terms. Parameters that exist in only some trials (a weight decay
    switched off) are represented by their on/off switch.
    """
    import optuna

    trials = [t for t in study_trials if t.params.get(record.OPTIMIZER) == optimizer
              and record.outcome(t) in ("complete", "pruned") and t.intermediate_values]
    if len(trials) < MIN_IMPORTANCE_TRIALS:
        return {}, f"{len(trials)} finished trials; {MIN_IMPORTANCE_TRIALS} needed"
    reached = sorted((max(t.intermediate_values) for t in trials), reverse=True)
    step = reached[math.ceil(2 * len(trials) / 3) - 1]
    at_step = [t for t in trials if record.finite(t.intermediate_values.get(step)) is not None]
    common = set.intersection(*(set(t.params) for t in at_step)) - {record.OPTIMIZER}
    params = sorted(p for p in common
                    if len({repr(t.params[p]) for t in at_step}) > 1)  # a constant explains nothing
    if not params:
        return {}, "no parameter varied"
    study = optuna.create_study(direction=direction)  # type: ignore[arg-type]  # in memory
    study.add_trials([
        optuna.trial.create_trial(params={p: t.params[p] for p in params},
                                  distributions={p: t.distributions[p] for p in params},
                                  value=t.intermediate_values[step])
        for t in at_step
    ])
    # 32 trees: within the seed-to-seed noise of the default 64, at half the cost.
    evaluator = optuna.importance.FanovaImportanceEvaluator(n_trees=32, seed=0)
    importances = optuna.importance.get_param_importances(study, evaluator=evaluator,
                                                          normalize=True)
    return ({k: float(v) for k, v in importances.items()},
            f"fANOVA on the {step + 1}-epoch metric of {len(at_step)} trials")


def study_verdict(rows: Sequence[OptimizerSummary], metric: str, task: str | None = None) -> str:
    """One honest sentence: who won, on what budget, whether the lead beats the spread, and which
    optimizers a comparison would need to separate."""
    ranked = [r for r in rows if r.best_value is not None]
    if not ranked:
        return "No trial has completed yet: no verdict."
    win = ranked[0]
    text = (f"{win.optimizer} has the best {metric}, {win.best_value:.4g} (trial {win.best_trial}), "
            f"from {win.trials} trials ({win.pruned} pruned, {win.diverged} diverged)")
    if len(ranked) == 1:
        return text + "; no other optimizer completed a trial."
    second = ranked[1]
    lead = abs(win.best_value - second.best_value)  # type: ignore[operator]
    text += (f"; runner-up {second.optimizer} {second.best_value:.4g} from {second.trials} trials. "
             f"Lead {lead:.3g}")
    spread = abs(win.best_value - win.top_k_mean) if win.top_k_mean is not None else 0.0  # type: ignore[operator]
    if win.complete < TOP_K:
        text += f"; {win.optimizer} completed only {win.complete} trials, too few to judge luck"
    elif lead <= spread:
        text += (f", within the spread of {win.optimizer}'s own top {TOP_K} trials "
                 f"({spread:.3g}): not a reliable ranking without re-runs over seeds")
    else:
        text += f", larger than the spread of {win.optimizer}'s own top {TOP_K} trials ({spread:.3g})"
    budgets = sorted({r.trials for r in rows})
    if len(budgets) > 1:
        text += (f". Budgets were unequal ({budgets[0]} to {budgets[-1]} trials per optimizer: the "
                 "sampler chose the optimizer)")
    close = [r.optimizer for r in ranked
             if abs(win.best_value - r.best_value) <= max(spread, lead)]  # type: ignore[operator]
    named = f" --task {task}" if task and task not in record.USER_TASKS + ("custom",) else ""
    text += (f". A comparison would need to separate {', '.join(close)} (equal budgets, re-runs "
             f"over seeds): hpsearch compare{named} --optimizers {','.join(close)}")
    return text + "."


def summarise_study(study: optuna.Study, importance: bool = True) -> StudySummary:
    trials = study.get_trials(deepcopy=False)
    attrs = study.user_attrs
    direction = study.direction.name.lower()
    metric = str(attrs.get(record.METRIC, "value"))
    rows = summarise_optimizers(trials, direction)
    if importance:
        estimated = [(r, importance_within(trials, r.optimizer, direction)) for r in rows]
        rows = [replace(r, importance=values, importance_note=note)
                for r, (values, note) in estimated]
    points = trial_points(trials)
    return StudySummary(
        study=study.study_name, task=str(attrs.get(record.TASK, "custom")), metric=metric,
        direction=direction, provenance=provenance(study, trials), optimizers=rows,
        trials=points,
        winner=rows[0].optimizer if rows and rows[0].best_value is not None else None,
        verdict=study_verdict(rows, metric, attrs.get(record.TASK)), cost=summarise_cost(points, direction),
    )


def format_hyperparameters(config: Mapping[str, Any] | None) -> str:
    """`lr=0.00312 betas=(0.91, 0.999) weight_decay=0 | cosine | clip 1.3`."""
    if not config:
        return ""
    parts = [f"{k}={_short(v)}" for k, v in config["hyperparameters"].items()]
    schedule = config.get("schedule") or {"name": "none"}
    text = " ".join(parts) + f" | {schedule['name']}"
    if config.get("clip_grad_norm") is not None:
        text += f" | clip {_short(config['clip_grad_norm'])}"
    return text


def _short(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return "0" if value == 0 else f"{value:.3g}" if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    return str(value)
