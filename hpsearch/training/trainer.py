"""One interface to train trials on their data, whichever kind the data is: a table trains by epoch
(`tables.fit`), a language model by steps on random windows (`lm.fit_lm`). The objective, the
batch runner and `--batch-trials auto` train through it; `trainer_for` is the one place that looks
at which kind of data it is given. The user's own training has its trainer in `user.trainer`, with
the same results (a `PointResult` per evaluation point) and the same `waits_for_decay`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpsearch.space.conditional import TrialConfig
from hpsearch.training.batched.fit import BatchedFit, Member
from hpsearch.training.batched.lm import BatchedLMFit
from hpsearch.training.lm import LMDeviceData, evaluate_lm, fit_lm
from hpsearch.training.tables import DeviceData, PointResult, evaluate, fit

if TYPE_CHECKING:
    import torch

    from hpsearch.tasks import Problem


@dataclass(frozen=True)
class TableTrainer:
    """A table task's trials: an evaluation point per epoch, or per `eval_every` steps."""

    data: DeviceData
    problem: Problem
    batch_size: int
    eval_every: int | None = None

    waits_for_decay = False  # a table's trials are compared from their first point on

    def fit(self, model: torch.nn.Module, config: TrialConfig, points: int, seed: int
            ) -> Iterator[PointResult]:
        """One trial trained alone, a result at each of its `points` evaluation points."""
        return fit(self.data, model, config, self.problem, points, self.batch_size, seed,
                   self.eval_every)

    def fit_batch(self, members: Sequence[Member], points: int) -> BatchedFit:
        """Trials trained together as one stacked model; NotBatchable where they cannot be."""
        return BatchedFit(self.data, members, self.problem, points, self.batch_size,
                          self.eval_every)

    def evaluate(self, model: torch.nn.Module, split: str = "val") -> torch.Tensor:
        """The model's metrics on a held-out split, on the device."""
        return evaluate(model, self.data, self.problem, split)


@dataclass(frozen=True)
class LMTrainer:
    """A language model's trials: `eval_every` steps between evaluation points, under autocast at
    `precision`, through `torch.compile` with `compile_model` (alone only)."""

    data: LMDeviceData
    problem: Problem
    batch_size: int
    eval_every: int
    precision: Any = None
    compile_model: bool = False

    # Compared with other trials only once its decay has begun: rankings flip while the learning
    # rate is still high.
    waits_for_decay = True

    def fit(self, model: torch.nn.Module, config: TrialConfig, points: int, seed: int
            ) -> Iterator[PointResult]:
        return fit_lm(self.data, model, config, self.problem, points, self.batch_size, seed,
                      self.eval_every, self.precision, self.compile_model)

    def fit_batch(self, members: Sequence[Member], points: int) -> BatchedLMFit:
        return BatchedLMFit(self.data, members, self.problem, points, self.batch_size,
                            self.eval_every, self.precision)

    def evaluate(self, model: torch.nn.Module, split: str = "val") -> torch.Tensor:
        return evaluate_lm(model, self.data, self.precision, split)


Trainer = TableTrainer | LMTrainer


def trainer_for(data: DeviceData | LMDeviceData, problem: Problem, batch_size: int,
                eval_every: int | None = None, precision: Any = None,
                compile_model: bool = False) -> Trainer:
    """The trainer for data on the device (`train_lm.device_data`'s), with the run's settings."""
    if isinstance(data, LMDeviceData):
        return LMTrainer(data, problem, batch_size, eval_every or 1, precision, compile_model)
    return TableTrainer(data, problem, batch_size, eval_every)
