"""What `hpsearch studies`, `tasks` and `optimizers` list, as rows of plain values: the text,
JSON and CSV forms are written from the same rows."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hpsearch import record
from hpsearch.report.summary import summarise_optimizers

if TYPE_CHECKING:
    import optuna

LISTING_FORMATS = ("text", "json", "csv")


def study_rows(studies: Sequence[optuna.Study]) -> list[dict[str, Any]]:
    rows = []
    for study in studies:
        trials = study.get_trials(deepcopy=False)
        count = record.tally(trials)
        best = next((r for r in summarise_optimizers(trials, record.direction_of(study))
                     if r.best_value is not None), None)
        rows.append({"study": study.study_name, "task": study.user_attrs.get(record.TASK, "custom"),
                     "trials": len(trials), **{k: count[k] for k in
                                               ("complete", "pruned", "diverged", "failed", "running")},
                     "best_value": best.best_value if best else None,
                     "best_optimizer": best.optimizer if best else None})
    return rows


def task_rows() -> list[dict[str, Any]]:
    from hpsearch.tasks import TASKS

    return [{"task": t.name, "kind": t.problem.kind, "metric": t.problem.metric,
             "direction": t.problem.direction, "batch_size": t.batch_size,
             "description": t.description} for t in TASKS.values()]


def optimizer_rows() -> list[dict[str, Any]]:
    from hpsearch.optimizers import OPTIMIZERS, unavailable_reason

    return [{"optimizer": spec.key, "torch_class": spec.torch_class, "group": spec.group,
             "fixed": dict(spec.fixed), "available": unavailable_reason(spec.key) is None,
             "description": spec.description,
             "hyperparameters": {spec.param_name(hp): hp.describe() for hp in spec.hyperparameters}}
            for spec in OPTIMIZERS.values()]


def render(rows: list[dict[str, Any]], fmt: str) -> str:
    """JSON (a list of objects) or CSV (nested values as JSON in their cell)."""
    if fmt == "json":
        return json.dumps(rows, indent=1)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
                     for row in rows)
    return out.getvalue().rstrip("\n")
