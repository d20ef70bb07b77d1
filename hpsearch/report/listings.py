"""What `hpsearch studies`, `tasks` and `optimizers` list, as rows of plain values: the text,
JSON and CSV forms are written from the same rows."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hpsearch import record
from hpsearch.report.documents import table as cells
from hpsearch.report.documents.table import Table
from hpsearch.report.summaries.study import summarise_optimizers

if TYPE_CHECKING:
    import optuna

LISTING_FORMATS = ("text", "json", "csv")
STUDY_COLUMNS = ("study", "task", "trials", "complete", "pruned", "diverged", "failed", "running",
                 "best_value", "best_optimizer", "note")


def study_rows(studies: Sequence[optuna.Study]) -> list[dict[str, Any]]:
    """One row per study; one that hpsearch cannot read has its name, its trials and a `note`."""
    rows = []
    for study in studies:
        trials = study.get_trials(deepcopy=False)
        row = {**dict.fromkeys(STUDY_COLUMNS), "study": study.study_name, "trials": len(trials),
               "note": record.why_foreign(study)}
        if row["note"] is None:
            count = record.tally(trials)
            best = next((r for r in summarise_optimizers(trials, record.direction_of(study))
                         if r.best_value is not None), None)
            row.update({"task": study.user_attrs.get(record.TASK, "custom"),
                        **{k: count[k] for k in ("complete", "pruned", "diverged", "failed", "running")},
                        "best_value": best.best_value if best else None,
                        "best_optimizer": best.optimizer if best else None})
        rows.append(row)
    return rows


def study_text(rows: Sequence[dict[str, Any]]) -> list[str]:
    """`hpsearch studies`'s lines from `study_rows`: each study's task, trials by outcome and best
    value; those hpsearch cannot read last, with why."""
    ours = [row for row in rows if row["note"] is None]
    foreign = [f"{row['study']:<24} {row['note']}" for row in rows if row["note"] is not None]
    if not ours:
        return [("no hpsearch studies" if foreign else "no studies yet"), *foreign]
    table = Table(("study", "task", "trials", "complete", "pruned", "diverged", "failed", "running",
                   "best"), tuple(
        (cells.text(row["study"]), cells.text(row["task"]),
         *(cells.count(row[k]) for k in ("trials", "complete", "pruned", "diverged", "failed",
                                          "running")),
         cells.text(cells.MISSING if row["best_value"] is None
                    else f"{row['best_value']:.4f} ({row['best_optimizer']})"))
        for row in ours))
    return [*table.text().splitlines(), *foreign]


def task_rows() -> list[dict[str, Any]]:
    from hpsearch.tasks import TASKS

    return [{"task": t.name, "kind": t.problem.kind, "metric": t.problem.metric,
             "direction": t.problem.direction, "batch_size": t.batch_size,
             "description": t.description} for t in TASKS.values()]


def optimizer_rows() -> list[dict[str, Any]]:
    from hpsearch.space.optimizers import OPTIMIZERS, unavailable_reason

    return [{"optimizer": spec.key, "torch_class": spec.torch_class, "group": spec.group,
             "fixed": dict(spec.fixed), "available": unavailable_reason(spec.key) is None,
             "description": spec.description,
             "hyperparameters": {spec.param_name(hp): hp.describe() for hp in spec.hyperparameters}}
            for spec in OPTIMIZERS.values()]


# A spreadsheet runs a cell that begins with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# RFC 4180's line end: a cell holding a carriage return is then quoted, never read as a row's end
# (after which the rest of the cell would begin a row, and could run).
CSV_LINE_END = "\r\n"


def csv_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows and never runs: text beginning like a formula (a study
    name, a stored value, a user's error message) gets a leading `'`; numbers stay numbers."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def render(rows: list[dict[str, Any]], fmt: str) -> str:
    """JSON (a list of objects) or CSV (nested values as JSON in their cell; see `csv_cell` and
    `CSV_LINE_END`), without a line end after the last line."""
    if fmt == "json":
        return json.dumps(rows, indent=1)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else [], lineterminator=CSV_LINE_END)
    writer.writeheader()
    writer.writerows({k: csv_cell(json.dumps(v) if isinstance(v, dict | list) else v)
                      for k, v in row.items()} for row in rows)
    return out.getvalue().removesuffix(CSV_LINE_END)
