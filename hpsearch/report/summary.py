"""Studies as plain data for reports: no plotly, no torch. Figures and pages are built from this."""

from __future__ import annotations

import datetime
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hpsearch.optimizers import OPTIMIZERS

if TYPE_CHECKING:
    import optuna

    from hpsearch.report.comparison import AcrossTasks, ComparisonSummary
    from hpsearch.report.cost import CostSummary

MIN_IMPORTANCE_TRIALS = 5  # finished trials an optimizer needs before its importances mean much
TOP_K = 3


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


@dataclass(frozen=True)
class Report:
    storage: str
    generated: str
    studies: list[StudySummary]  # `hpsearch tune` studies: the sampler chose each optimizer's budget
    optimizer_order: list[str]  # one order (and so one colour each) for every figure and task
    comparisons: list[ComparisonSummary] = field(default_factory=list)  # `hpsearch compare` studies
    across_tasks: AcrossTasks | None = None  # over every comparison; None without one


def optimizer_order(names: Sequence[str]) -> list[str]:
    """Registry order, then any other names sorted: the same in every figure."""
    known = [key for key in OPTIMIZERS if key in names]
    return known + sorted(set(names) - set(known))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _count(value: Any) -> int | None:
    """A recorded count, or None where it is missing or not a number (older studies)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return int(value)


def warm_source(attrs: Mapping[str, Any]) -> str | None:
    """`classification#12` for a trial enqueued from trial 12 of study `classification`."""
    warm = attrs.get("warm_start")
    if not warm:
        return None
    if isinstance(warm, Mapping):
        return f"{warm.get('study', '?')}#{warm.get('trial', '?')}"
    return str(warm)


def _state(trial: optuna.trial.FrozenTrial) -> str:
    name = trial.state.name.lower()
    if name == "pruned" and trial.user_attrs.get("diverged"):
        return "diverged"
    return "failed" if name == "fail" else name


def trial_points(trials: Sequence[optuna.trial.FrozenTrial]) -> list[TrialPoint]:
    starts = [t.datetime_start for t in trials if t.datetime_start]
    origin = min(starts) if starts else None
    points = []
    for trial in trials:
        if "optimizer" not in trial.params:
            continue
        curve = tuple(_finite(trial.intermediate_values.get(step))
                      for step in range(max(trial.intermediate_values, default=-1) + 1))
        state = _state(trial)
        value = _finite(trial.value) if state == "complete" else (
            next((v for v in reversed(curve) if v is not None), None) if state == "pruned" else None)
        config = trial.user_attrs.get("config") or {}
        lr = (config.get("hyperparameters") or {}).get("lr")
        if lr is None:
            lr = trial.params.get(f"{trial.params['optimizer']}_lr")
        finished = (trial.datetime_complete - origin).total_seconds() if (
            origin and trial.datetime_complete) else None
        points.append(TrialPoint(
            number=trial.number, optimizer=str(trial.params["optimizer"]), state=state,
            value=value, lr=lr, epochs_run=int(trial.user_attrs.get("epochs_run", len(curve))),
            curve=curve, finished_s=finished, seconds=float(trial.user_attrs.get("seconds", 0.0)),
            reason=str(trial.user_attrs.get("reason", "")),
            closure_evaluations=_count(trial.user_attrs.get("closure_evaluations")),
            updates=_count(trial.user_attrs.get("updates")), warm_start=warm_source(trial.user_attrs),
        ))
    return points


def summarise_optimizers(
    trials: Sequence[optuna.trial.FrozenTrial], direction: str
) -> list[OptimizerSummary]:
    """One row per optimizer that has a trial, best first (those without a complete trial last)."""
    groups: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for trial in trials:
        if "optimizer" in trial.params:
            groups.setdefault(str(trial.params["optimizer"]), []).append(trial)
    maximize = direction == "maximize"
    rows = []
    for key, group in groups.items():
        states = [_state(t) for t in group]
        complete = [t for t, s in zip(group, states, strict=True)
                    if s == "complete" and _finite(t.value) is not None]
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
            best_config=best.user_attrs.get("config") if best else None,
            seconds=sum(float(t.user_attrs.get("seconds", 0.0)) for t in group),
            median=statistics.median(values) if values else None,
            q1=quartiles[0] if values else None,
            q3=quartiles[2] if values else None,
            top_k_mean=statistics.fmean(values[:TOP_K]) if values else None,
        ))
    sign = -1.0 if maximize else 1.0
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

    trials = [t for t in study_trials if t.params.get("optimizer") == optimizer
              and _state(t) in ("complete", "pruned") and t.intermediate_values]
    if len(trials) < MIN_IMPORTANCE_TRIALS:
        return {}, f"{len(trials)} finished trials; {MIN_IMPORTANCE_TRIALS} needed"
    reached = sorted((max(t.intermediate_values) for t in trials), reverse=True)
    step = reached[math.ceil(2 * len(trials) / 3) - 1]
    at_step = [t for t in trials if _finite(t.intermediate_values.get(step)) is not None]
    common = set.intersection(*(set(t.params) for t in at_step)) - {"optimizer"}
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
    from hpsearch.study import run_records

    attrs = study.user_attrs
    runs = run_records(attrs)
    last = runs[-1] if runs else attrs
    workers = {json.dumps(t.user_attrs["worker"], sort_keys=True) for t in trials
               if t.user_attrs.get("worker")}
    warm = [source for t in trials if (source := warm_source(t.user_attrs)) is not None]
    return Provenance(
        n_trials=last.get("n_trials"),
        finished=sum(_state(t) in ("complete", "pruned", "diverged") for t in trials),
        epochs=attrs.get("epochs"), batch_size=attrs.get("batch_size"),
        sampler=str(last.get("sampler", "unknown")), pruner=str(last.get("pruner", "unknown")),
        seed=last.get("seed"), device=str(last.get("device", "unknown")),
        # Processes that ran at once: the largest run; sequential resumes are not parallelism.
        workers=max(int(r.get("workers", 1)) for r in runs) if runs else max(1, len(workers)),
        wall_seconds=wall_seconds(trials),
        versions=last.get("versions", {}), split_seed=attrs.get("split_seed"), runs=len(runs),
        warm_started=len(warm), warm_from=tuple(warm),
    )


def verdict(rows: Sequence[OptimizerSummary], metric: str) -> str:
    """One honest sentence: who won, on what budget, and whether the lead beats the spread."""
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
    return text + "."


def summarise_study(study: optuna.Study, importance: bool = True) -> StudySummary:
    from hpsearch.report.cost import summarise_cost

    trials = study.get_trials(deepcopy=False)
    attrs = study.user_attrs
    direction = study.direction.name.lower()
    metric = str(attrs.get("metric", "value"))
    rows = summarise_optimizers(trials, direction)
    if importance:
        estimated = [(r, importance_within(trials, r.optimizer, direction)) for r in rows]
        rows = [replace(r, importance=values, importance_note=note)
                for r, (values, note) in estimated]
    points = trial_points(trials)
    return StudySummary(
        study=study.study_name, task=str(attrs.get("task", "custom")), metric=metric,
        direction=direction, provenance=provenance(study, trials), optimizers=rows,
        trials=points,
        winner=rows[0].optimizer if rows and rows[0].best_value is not None else None,
        verdict=verdict(rows, metric), cost=summarise_cost(points, direction),
    )


def summarise(storage: str | None = None, study_names: Sequence[str] | None = None,
              importance: bool = True) -> Report:
    """Every study in the storage (or the named ones), as plain data."""
    import optuna

    from hpsearch.errors import ConfigError, choices
    from hpsearch.report.comparison import across_tasks, is_comparison, summarise_comparison
    from hpsearch.storage import display, resolve, storage_url

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    backend = resolve(storage, create=False)
    names = optuna.get_all_study_names(backend)
    for name in study_names or ():
        if name not in names:
            raise ConfigError(f"unknown study '{name}'; valid choices: "
                              f"{choices(names) or '(no studies yet)'}")
    loaded = [optuna.load_study(study_name=name, storage=backend) for name in (study_names or names)]
    studies = [summarise_study(s, importance) for s in loaded if not is_comparison(s.user_attrs)]
    comparisons = [summarise_comparison(s) for s in loaded if is_comparison(s.user_attrs)]
    seen = {row.optimizer for s in studies for row in s.optimizers} | {
        row.optimizer for c in comparisons for row in c.optimizers}
    order = optimizer_order(sorted(seen))
    return Report(
        storage=display(storage_url(storage)),
        generated=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        studies=studies, optimizer_order=order, comparisons=comparisons,
        across_tasks=across_tasks(comparisons, order),
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
