"""`hpsearch compare` studies as plain data: every optimizer got the same budget, so here (and only
here) a report may say which optimizer is better, with the spread and the budget beside it.

A comparison study carries the user attribute `protocol` = {"kind": "compare", "budget": K,
"seeds": S, ...}; its trials carry `phase` ("default", "search" or "rerun") and `test_value`. The
statistics come from `hpsearch.statistics.basic`; this module only reads the stored trials into its inputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hpsearch import record
from hpsearch.protocols.compare_plan import rerun_source
from hpsearch.report.summaries.cost import CostSummary, summarise_cost
from hpsearch.report.summaries.points import Provenance, TrialPoint, optimizer_order, provenance, trial_points
from hpsearch.statistics import basic

if TYPE_CHECKING:
    import optuna

# Search trials that count as draws. A failed trial (an exception, not a divergence) is retried by
# `hpsearch compare` and replaced by a fresh draw, so it is counted but is no draw itself.
DRAWN = ("complete", "pruned", "diverged")


@dataclass(frozen=True)
class Protocol:
    budget: int  # search trials per optimizer (K), the trial at torch's defaults not counted
    seeds: int  # re-runs of each optimizer's best search configuration (S)
    sampler: str
    epochs: int | None
    optimizers: tuple[str, ...]
    seed: Any
    steps: int | None = None  # a budget in steps (the language model's, or a table's by flag)
    steps_per_point: int | None = None  # steps between evaluations; None: a study stored before
    study_index: int = 1  # which repeated study of its comparison (1 for those stored before)
    group: str | None = None  # the comparison it belongs to: the name of its study 1
    test_rows: int | None = None  # the test split's size; None: a study stored before, or a corpus

    @property
    def length(self) -> str:
        """How long each re-run trains, and when it is scored."""
        if self.steps:
            return (f"for {self.steps} steps, scored on the test split at the end of training, "
                    "after the schedule's decay")
        return f"for {self.epochs} epochs" if self.epochs else ""


@dataclass(frozen=True)
class ComparedOptimizer:
    optimizer: str
    search_trials: int  # finished search trials: complete, diverged or pruned (failed ones are retried)
    search_complete: int
    search_diverged: int  # diverged (or pruned) search trials: drawn at the task's worst search value
    failed: int  # failed trials of any phase: retried by the protocol, in no statistic
    best_value: float | None  # best validation value of its search trials
    best_trial: int | None
    best_config: Mapping[str, Any] | None
    rerun_of: int | None  # the search trial its re-runs re-train: its best (older re-runs ignored)
    reruns: tuple[float, ...]  # test value of each re-run by seed index; nan where it diverged
    rerun_diverged: int
    test: basic.Interval | None  # mean and 95% CI of the finite re-run test values
    p_best: float | None  # P(best) over the re-runs, by bootstrap
    rank: int | None  # by re-run test mean, 1 = best
    default_state: str  # complete | diverged | failed | running | missing
    default_value: float | None  # the default trial's test value
    gain: float | None  # test mean minus default, signed so that positive means tuning helped
    search_values: tuple[float, ...]  # the draws behind expected_best (worst value where none)
    expected_best: tuple[float, ...]  # expected best validation value of k trials, k = 1..budget
    expected_best_std: tuple[float, ...]
    lr_window: float | None  # decades of lr whose value is near its best; None: under 2 trials
    seconds: float  # training time of all its trials: default, search and re-runs
    search_tied: int = 0  # search trials sharing the best validation value (the loss chose among them)
    # Per re-run (as `reruns`): its validation curve, (evaluation point from 0, value, training
    # seconds by then or None where a study stored before did not record them).
    rerun_curves: tuple[tuple[tuple[int, float, float | None], ...], ...] = ()


@dataclass(frozen=True)
class ComparisonSummary:
    study: str
    task: str
    metric: str
    direction: str
    protocol: Protocol
    provenance: Provenance
    optimizers: list[ComparedOptimizer]  # best re-run mean first
    winner: str | None  # only when its lead is outside the noise
    tied: tuple[str, ...]
    worst_search_value: float | None  # the value diverged and failed search draws count as
    verdict: str  # the verdict, the budget and the spread in one text
    trials: list[TrialPoint] = field(default_factory=list)  # its search trials
    cost: CostSummary | None = None  # of its search trials: validation metric against compute


def read_protocol(attrs: Mapping[str, Any]) -> Protocol:
    p = attrs[record.PROTOCOL]
    return Protocol(budget=int(p.get("budget", 0)), seeds=int(p.get("seeds", 0)),
                    sampler=str(p.get("sampler", "random")), epochs=p.get("epochs", attrs.get(record.EPOCHS)),
                    optimizers=tuple(p.get("optimizers", ())), seed=p.get("seed"),
                    steps=p.get("steps"), steps_per_point=p.get(record.STEPS_PER_POINT),
                    study_index=int(p.get(record.STUDY_INDEX, 1)), group=p.get(record.STUDY_GROUP),
                    test_rows=p.get(record.TEST_ROWS))


def _phase(trial: optuna.trial.FrozenTrial) -> str:
    return str(record.trial_attrs(trial).get(record.PHASE, "search"))


def _test_value(trial: optuna.trial.FrozenTrial) -> float | None:
    """nan for a diverged trial, None where a finished one recorded no test value."""
    if record.outcome(trial) == "diverged":
        return math.nan
    value = record.trial_attrs(trial).get(record.TEST_VALUE)
    return float(value) if isinstance(value, int | float) else None


def worst_search_value(trials: Sequence[optuna.trial.FrozenTrial], direction: str) -> float | None:
    return record.worst((v for t in trials if _phase(t) == "search" and record.outcome(t) == "complete"
                         and (v := record.finite(t.value)) is not None), direction)


def _search(key: str, trials: Sequence[optuna.trial.FrozenTrial], budget: int, direction: str,
            worst: float | None) -> dict[str, Any]:
    """Its search trials as draws: a trial without a final value is a real, bad draw (the worst)."""
    finished = [t for t in trials if _phase(t) == "search" and record.outcome(t) in DRAWN]
    values = {t.number: v for t in finished
              if record.outcome(t) == "complete" and (v := record.finite(t.value)) is not None}
    complete = [t for t in finished if t.number in values]
    best = rerun_source(trials, key, direction)  # the trial the protocol re-ran
    draws = tuple(d for t in finished if (d := values.get(t.number, worst)) is not None)
    means, stds = basic.expected_best(draws, budget or len(draws), direction) if draws else ((), ())
    rated = [(lr, values[t.number]) for t in complete if (lr := record.learning_rate(t)) is not None]
    window = (basic.lr_window([lr for lr, _ in rated], [v for _, v in rated], direction)
              if len(rated) >= 2 else None)
    return dict(
        search_trials=len(finished), search_complete=len(complete),
        search_tied=record.tied_at_top(complete, direction),
        search_diverged=len(finished) - len(complete),
        best_value=values[best.number] if best else None, best_trial=best.number if best else None,
        best_config=record.trial_attrs(best).get(record.CONFIG) if best else None,
        search_values=draws, expected_best=tuple(float(m) for m in means),
        expected_best_std=tuple(float(s) for s in stds), lr_window=window,
    )


def _reruns(trials: Sequence[optuna.trial.FrozenTrial], best: int | None) -> dict[str, Any]:
    """The test values of the re-runs of its best search trial, by seed index; a diverged seed is
    a real outcome, kept as nan. Re-runs of an earlier best (the search went on) are left out."""
    runs = sorted((t for t in trials if _phase(t) == "rerun" and record.outcome(t) in ("complete", "diverged")
                   and record.trial_attrs(t).get(record.RERUN_OF) == best),
                  key=lambda t: (int(record.trial_attrs(t).get(record.SEED_INDEX, 0)), t.number))
    scored = [t for t in runs if _test_value(t) is not None]
    values = tuple(float(_test_value(t)) for t in scored)  # type: ignore[arg-type]
    finite = [v for v in values if math.isfinite(v)]
    return dict(
        rerun_of=best if runs else None, reruns=values, rerun_diverged=len(values) - len(finite),
        test=basic.mean_interval(finite) if finite else None,
        rerun_curves=tuple(_curve(t) for t in scored),
    )


def _curve(trial: optuna.trial.FrozenTrial) -> tuple[tuple[int, float, float | None], ...]:
    seconds = record.trial_attrs(trial).get(record.POINT_SECONDS) or []
    return tuple((point, float(value), float(seconds[point]) if point < len(seconds) else None)
                 for point, value in sorted(trial.intermediate_values.items()))


def _default(trials: Sequence[optuna.trial.FrozenTrial]) -> tuple[str, float | None]:
    defaults = [t for t in trials if _phase(t) == "default"]
    for t in defaults:  # the first that finished training
        if record.outcome(t) == "complete":
            return "complete", record.finite(_test_value(t))
    for state in ("diverged", "failed", "running"):
        if any(record.outcome(t) == state for t in defaults):
            return state, None
    return "missing", None


def compare_optimizer(key: str, trials: Sequence[optuna.trial.FrozenTrial], protocol: Protocol,
                      direction: str, worst: float | None) -> ComparedOptimizer:
    """One optimizer of a comparison, from its own trials; P(best) and rank are set by the study."""
    search = _search(key, trials, protocol.budget, direction, worst)
    reruns = _reruns(trials, search["best_trial"])
    state, default = _default(trials)
    test = reruns["test"]
    gain = record.sign(direction) * (test.mean - default) if test and default is not None else None
    return ComparedOptimizer(
        optimizer=key, failed=sum(record.outcome(t) == "failed" for t in trials), p_best=None, rank=None,
        default_state=state, default_value=default, gain=gain,
        seconds=sum(record.seconds_of(t) for t in trials), **search, **reruns,
    )


def _spread(row: ComparedOptimizer) -> str:
    if row.test is None:
        return f"{row.optimizer} no finished re-run"
    text = f"{row.optimizer} {row.test.mean:.4g}"
    text += f" ± {row.test.high - row.test.mean:.2g}" if row.test.n > 1 else " (one seed: no spread)"
    return text + (f" ({row.rerun_diverged} diverged)" if row.rerun_diverged else "")


def describe(rows: Sequence[ComparedOptimizer], protocol: Protocol, metric: str, said: str) -> str:
    """The verdict with its budget and its spread: never a best-optimizer claim without them."""
    budget = (f"Budget: {protocol.budget} {protocol.sampler}-search trials per optimizer (no pruning) "
              f"plus one at torch's defaults; each best configuration re-trained with "
              f"{protocol.seeds} seeds" + (f" {protocol.length}" if protocol.length else ""))
    spread = ", ".join(_spread(r) for r in rows)
    return f"{said}. {budget}. Test {metric}, mean ± 95% CI half-width: {spread}."


def summarise_comparison(study: optuna.Study) -> ComparisonSummary:
    trials = study.get_trials(deepcopy=False)
    attrs, direction = study.user_attrs, record.direction_of(study)
    protocol, metric = read_protocol(attrs), str(attrs.get(record.METRIC, "value"))
    groups: dict[str, list[optuna.trial.FrozenTrial]] = {key: [] for key in protocol.optimizers}
    for t in trials:
        if record.OPTIMIZER in t.params:
            groups.setdefault(str(t.params[record.OPTIMIZER]), []).append(t)
    worst = worst_search_value(trials, direction)
    rows = [compare_optimizer(key, groups[key], protocol, direction, worst)
            for key in optimizer_order(list(groups))]
    runs = {r.optimizer: r.reruns for r in rows if r.reruns}
    judged = basic.verdict(runs, direction) if runs else None
    sign = record.sign(direction)
    means = {r.optimizer: r.test.mean for r in rows if r.test}
    rows = [replace(r, p_best=judged.probabilities.get(r.optimizer) if judged else None,
                    rank=1 + sum(sign * m > sign * means[r.optimizer] for m in means.values())
                    if r.optimizer in means else None) for r in rows]
    rows.sort(key=lambda r: (r.rank is None, r.rank or 0))
    said = judged.text if judged else "No re-run has finished yet: no verdict"
    search = trial_points([t for t in trials if _phase(t) == "search"])
    return ComparisonSummary(
        study=study.study_name, task=str(attrs.get(record.TASK, "custom")), metric=metric,
        direction=direction, protocol=protocol, provenance=provenance(study, trials),
        optimizers=rows, winner=judged.winner if judged else None,
        tied=judged.tied if judged else (), worst_search_value=worst,
        verdict=describe(rows, protocol, metric, said), trials=search,
        cost=summarise_cost(search, direction),
    )
