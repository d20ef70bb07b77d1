"""The registry of built-in tasks: adding a task is adding one entry to `TASKS`."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from hpsearch.errors import ConfigError, choices
from hpsearch.tasks import scenarios
from hpsearch.tasks.base import (
    CLASSIFICATION,
    LANGUAGE,
    REGRESSION,
    Problem,
    Split,
    Task,
    TaskData,
)

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
        Task("sparse", "generated bag of words, 4 topics (3,000 documents x 3,000 terms, "
             "~1% non-zero), TF-IDF, logistic regression", CLASSIFICATION, scenarios.sparse_documents,
             batch_size=64, hidden=(), preprocessor=scenarios.tfidf,
             source="generated in hpsearch.tasks.scenarios (seed 0): 3,000 documents x 3,000 "
                    "Zipf-distributed terms, 4 classes with 150 topic words each"),
        Task("small", "breast cancer diagnosis, 30 features (569 samples), MLP of 16 units",
             CLASSIFICATION, scenarios.breast_cancer, batch_size=32, hidden=(16,),
             source="sklearn.datasets.load_breast_cancer: 569 samples x 30 features, 2 classes"),
        Task("image", "8x8 handwritten digits as images, 10 classes (1,797 samples), small CNN",
             CLASSIFICATION, _digits, batch_size=64, model=scenarios.image_cnn,
             source="sklearn.datasets.load_digits: 1,797 images of 8x8 pixels, 10 classes"),
        Task("sequence", "MNIST-1D sequences of length 40, 10 classes (5,000 samples), 1-D CNN",
             CLASSIFICATION, scenarios.mnist1d, batch_size=64, model=scenarios.sequence_cnn,
             source="mnist1d.data.make_dataset(get_dataset_args()), generated locally (seed 42): "
                    "5,000 sequences of length 40 (its 4,000 train + 1,000 test, pooled), 10 classes"),
        Task("lm", "byte-level language model: a GPT on Python's standard library source, "
             "budgeted in steps", LANGUAGE, None, batch_size=32,
             source="the *.py files of this Python's standard library (no tests), as bytes: split "
                    "by file, every 10th to validation, the next to test"),
    )
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown task '{name}'; valid choices: {choices(TASKS)}") from None
