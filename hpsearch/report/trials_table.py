"""A study's trials as a table: one row per trial, the columns a notebook or a spreadsheet wants,
read through the record (both attribute layouts alike)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hpsearch import record
from hpsearch.report.listings import CSV_LINE_END, csv_cell

if TYPE_CHECKING:
    import optuna
    import pandas

COLUMNS = ("number", "state", "optimizer", "value", "diverged", "reason", "seconds", "steps",
           "tokens", "seed", "best_epoch", "best_step", "warm_start")
BATCH = (record.BATCH_ID, record.TRIALS_IN_BATCH)  # trials trained as one stacked model


def trial_row(trial: optuna.trial.FrozenTrial, eval_every: int | None) -> dict[str, Any]:
    """One trial: its outcome and measurements, then its parameters (namespaced, `adam_lr`), then
    its exported configuration as JSON."""
    attrs = record.trial_attrs(trial)
    best = attrs.get(record.BEST_POINT)
    row: dict[str, Any] = {
        "number": trial.number, "state": record.outcome(trial), "optimizer": record.optimizer_of(trial),
        "value": trial.value, "diverged": bool(attrs.get(record.DIVERGED, False)),
        "reason": attrs.get(record.REASON), "seconds": attrs.get(record.SECONDS),
        "steps": attrs.get(record.STEPS), "tokens": attrs.get(record.TOKENS),
        "seed": attrs.get(record.SEED), "best_epoch": best,
        "best_step": best_step(attrs, eval_every),
        "warm_start": record.warm_source(attrs),
    }
    row.update({key: attrs[key] for key in BATCH if key in attrs})
    row.update({name: value for name, value in trial.params.items() if name != record.OPTIMIZER})
    config = attrs.get(record.CONFIG)
    row["config"] = json.dumps(config, sort_keys=True) if config is not None else None
    return row


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    eval_every = study.user_attrs.get(record.EVAL_EVERY)
    return [trial_row(t, eval_every if isinstance(eval_every, int) else None)
            for t in study.get_trials(deepcopy=False)]


def trials_frame(study: optuna.Study) -> pandas.DataFrame:
    """The trials as a pandas DataFrame, indexed by nothing: `number` is a column. Every row has
    every column (empty where a trial lacks it: another optimizer's parameters, say)."""
    import pandas

    rows = trial_rows(study)
    params = sorted({k for row in rows for k in row} - set(COLUMNS) - set(BATCH) - {"config"})
    batch = [k for k in BATCH if any(k in row for row in rows)]
    return pandas.DataFrame(rows, columns=[*COLUMNS, *batch, *params, "config"])


def trials_csv(frame: pandas.DataFrame) -> str:
    """The table as CSV, written as the listings write theirs: a spreadsheet runs none of its text
    cells as a formula (`csv_cell`, `CSV_LINE_END`)."""
    return str(frame.map(csv_cell).to_csv(index=False, lineterminator=CSV_LINE_END))


def best_step(attrs: dict[str, Any], eval_every: int | None) -> int | None:
    """The step of a trial's best point: the user's program's own, where it said, else the
    points' interval times the point."""
    best = attrs.get(record.BEST_POINT)
    if not isinstance(best, int):
        return None
    steps = attrs.get(record.POINT_STEPS) or []
    if len(steps) >= best and steps[best - 1] is not None:
        return int(steps[best - 1])
    return best * eval_every if eval_every else None
