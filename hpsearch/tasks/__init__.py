"""The registry of built-in tasks: adding a task is adding one entry to `TASKS`."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from hpsearch.errors import ConfigError, choices
from hpsearch.tasks.base import CLASSIFICATION, REGRESSION, Problem, Split, Task, TaskData

__all__ = ["TASKS", "Problem", "Split", "Task", "TaskData", "get_task"]


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x, y


def _diabetes() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True, scaled=False)
    return x, y.astype(np.float64)


TASKS: Mapping[str, Task] = {
    task.name: task
    for task in (
        Task("classification", "8x8 handwritten digits, 10 classes (1,797 samples), MLP",
             CLASSIFICATION, _digits, batch_size=64, source="sklearn.datasets.load_digits"),
        Task("regression", "diabetes disease progression, 10 features (442 samples), MLP",
             REGRESSION, _diabetes, batch_size=32, hidden=(64, 64),
             source="sklearn.datasets.load_diabetes"),
    )
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown task '{name}'; valid choices: {choices(TASKS)}") from None
