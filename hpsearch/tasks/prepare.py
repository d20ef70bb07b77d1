"""A run's task, ready to train: the built-in or the user's data, split and preprocessed, and the
built-in or the user's model, checked once before any study is touched."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hpsearch.errors import ConfigError
from hpsearch.record import CLASSES, DATA_SOURCE
from hpsearch.tasks import get_task
from hpsearch.tasks.base import Task, TaskData

TEST_FRACTION = 0.2
PROBE_ROWS = 4  # a user's model runs once on this many training rows before any study


@dataclass(frozen=True)
class PreparedTask:
    task: Task
    data: TaskData
    notes: tuple[str, ...]  # what was done to the data and which model trains: said once per run
    identity: dict[str, Any]  # what a resumed study must share with this run
    record: dict[str, Any]  # stored with the study: data fingerprint, model, class labels


def prepare_task(name: str, *, data: str | None = None, target: str | None = None,
                 model: str | None = None, split_seed: int = 0,
                 val_fraction: float = 0.2) -> PreparedTask:
    from hpsearch.models import check_model_builder, load_model_builder

    task = get_task(name)
    notes: list[str] = []
    data_record: dict[str, Any] = {"source": task.source or task.name}
    if data is not None:
        from hpsearch.tasks.table import table_task

        if not target:
            raise ConfigError("--data needs --target COLUMN: the column to predict")
        task, table = table_task(Path(data), target, name)
        notes += table.notes
        data_record = table.fingerprint
    elif target is not None:
        raise ConfigError("--target applies to --data only; the built-in tasks know their target")
    loaded = task.load(split_seed=split_seed, val_fraction=val_fraction,
                       test_fraction=TEST_FRACTION)
    notes.append(f"split (seed {split_seed}): {len(loaded.train.y)} train, {len(loaded.val.y)} "
                 f"validation, {len(loaded.test.y)} test rows; {loaded.n_features} input features")
    model_name = "built-in"
    if model is not None:
        builder = load_model_builder(model)
        probe = check_model_builder(builder, model, loaded.n_features, loaded.n_outputs,
                                    rows=loaded.train.x[:PROBE_ROWS])
        task = replace(task, model=builder)
        model_name = model
        notes.append(f"model: {model} -> {type(probe).__name__} with "
                     f"{sum(p.numel() for p in probe.parameters()):,} parameters")
    return PreparedTask(
        task=task, data=loaded, notes=tuple(notes),
        identity={"data": data_record.get("sha256") or data_record["source"], "model": model_name,
                  "val_fraction": val_fraction},
        record={DATA_SOURCE: data_record, CLASSES: list(loaded.classes)},
    )
