"""What a task is: data split once into train/validation/test, a model builder, a loss and a metric."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hpsearch.errors import ConfigError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Problem:
    """The kind of problem: its loss, its validation metric and the metric's direction."""

    kind: str  # "classification" | "regression"
    metric: str
    direction: str  # "maximize" | "minimize"
    extra_metrics: tuple[str, ...]

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        if self.kind == "classification":
            return F.cross_entropy(output, target)
        return F.mse_loss(output.squeeze(-1), target)

    def evaluate(self, output: torch.Tensor, target: torch.Tensor, target_scale: float) -> Any:
        """Metric tensors on the device, read back by the caller in one transfer.

        Regression targets are standardised for training; `target_scale` turns the error back
        into the target's own units.
        """
        import torch

        if self.kind == "classification":  # and the loss: it tells apart runs of equal accuracy
            import torch.nn.functional as F

            return torch.stack([(output.argmax(dim=-1) == target).float().mean(),
                                F.cross_entropy(output, target)])
        error = output.squeeze(-1) - target
        rmse = error.square().mean().sqrt() * target_scale
        r2 = 1.0 - error.square().sum() / (target - target.mean()).square().sum()
        return torch.stack([rmse, r2])


CLASSIFICATION = Problem("classification", "accuracy", "maximize", ("loss",))
REGRESSION = Problem("regression", "rmse", "minimize", ("r2",))
# Validation loss in nats per token; bits per byte beside it where a token is a byte.
LANGUAGE = Problem("lm", "loss", "minimize", ("bits_per_byte",))
LANGUAGE_TOKENS = Problem("lm", "loss", "minimize", ())


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # float32, standardised with the training split's statistics
    y: np.ndarray  # int64 class indices, or float32 standardised targets


@dataclass(frozen=True)
class TaskData:
    train: Split
    val: Split
    test: Split
    n_features: int
    n_outputs: int
    target_mean: float = 0.0  # regression: the training targets' mean and standard deviation
    target_scale: float = 1.0
    classes: tuple[str, ...] = ()  # classification: the label of each output, in order


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    problem: Problem
    load_arrays: Callable[[], tuple[np.ndarray, np.ndarray]] | None  # raw features and targets
    # (None for the language model, whose tokens come from `tasks.corpus`)
    batch_size: int
    hidden: tuple[int, ...] = (256, 256)  # the MLP's widths, when no `model` is given
    source: str = ""  # where the data come from, and their size
    model: Callable[[int, int], torch.nn.Module] | None = None  # (n_features, n_outputs) -> module
    # A scikit-learn transformer factory for the features, fitted on training rows only;
    # None standardises every column.
    preprocessor: Callable[[], Any] | None = None

    def load(self, split_seed: int = 0, val_fraction: float = 0.2,
             test_fraction: float = 0.2) -> TaskData:
        if self.load_arrays is None:
            raise ConfigError(f"task '{self.name}' reads a corpus, not a table")
        x, y = self.load_arrays()
        return split_and_scale(x, y, self.problem, split_seed, val_fraction, test_fraction,
                               self.preprocessor)

    def build_model(self, n_features: int, n_outputs: int) -> torch.nn.Module:
        if self.model is not None:
            return self.model(n_features, n_outputs)
        return mlp(n_features, n_outputs, self.hidden)



def mlp(n_features: int, n_outputs: int, hidden: tuple[int, ...]) -> torch.nn.Module:
    from torch import nn

    layers: list[nn.Module] = []
    width = n_features
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


def split_and_scale(x: Any, y: np.ndarray, problem: Problem, seed: int, val_fraction: float,
                    test_fraction: float, preprocessor: Callable[[], Any] | None = None) -> TaskData:
    """Split once by seed (stratified for classes), then fit the preprocessing on the training rows
    only and apply it to every split. `x` is an array or a pandas DataFrame."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelEncoder, StandardScaler

    classify = problem.kind == "classification"
    index = np.arange(len(x))
    try:
        rest, test = train_test_split(index, test_size=test_fraction, random_state=seed,
                                      stratify=y if classify else None)
        train, val = train_test_split(rest, test_size=val_fraction / (1.0 - test_fraction),
                                      random_state=seed, stratify=y[rest] if classify else None)
    except ValueError as error:  # too few rows (per class) for the fractions asked
        raise ConfigError(f"cannot split {len(x)} rows into train, validation "
                          f"({val_fraction:g}) and test ({test_fraction:g}): {error}") from None

    def rows(selected: np.ndarray) -> Any:
        return x.iloc[selected] if hasattr(x, "iloc") else x[selected]

    transform = (preprocessor or StandardScaler)().fit(rows(train))

    def features(selected: np.ndarray) -> np.ndarray:
        return np.asarray(transform.transform(rows(selected)), dtype=np.float32)

    classes: tuple[str, ...] = ()
    if classify:
        encoder = LabelEncoder().fit(y)
        targets, n_outputs, mean, scale = encoder.transform(y).astype(np.int64), \
            len(encoder.classes_), 0.0, 1.0
        classes = tuple(str(c) for c in encoder.classes_)
    else:
        mean, scale = float(y[train].mean()), float(y[train].std()) or 1.0
        targets, n_outputs = ((y - mean) / scale).astype(np.float32), 1
    train_x = features(train)
    return TaskData(
        train=Split(train_x, targets[train]),
        val=Split(features(val), targets[val]),
        test=Split(features(test), targets[test]),
        n_features=train_x.shape[1], n_outputs=n_outputs, target_mean=mean, target_scale=scale,
        classes=classes,
    )
