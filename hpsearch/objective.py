"""The one module that meets both Optuna and torch: suggest -> build -> train -> report / prune."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hpsearch import space as search_space
from hpsearch.device import describe
from hpsearch.optimizers import implementation_for
from hpsearch.train import DeviceData, fit

if TYPE_CHECKING:
    import optuna
    import torch

    from hpsearch.tasks import Task


def derive_seed(*parts: int) -> int:
    """A 32-bit seed from a tuple of integers: distinct inputs give independent streams."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


@dataclass
class Objective:
    """Trains one trial's configuration and returns its last epoch's validation metric.

    A diverged run (non-finite loss, parameters or metric) reports NaN at that epoch, which the
    pruners and TPE treat as the worst value there, and ends as PRUNED with `diverged=True`.
    """

    task: Task
    data: DeviceData
    space: search_space.SearchSpace
    epochs: int
    batch_size: int
    seed: int
    device: torch.device

    def __call__(self, trial: optuna.trial.Trial) -> float:
        import optuna
        import torch

        torch.set_flush_denormal(True)
        config = search_space.suggest(trial, self.space, self.epochs).to_dict()
        config["implementation"] = implementation_for(config["optimizer"], self.device.type)
        trial_seed = derive_seed(self.seed, trial.number)
        trial.set_user_attr("config", config)

        torch.manual_seed(trial_seed)
        model = self.task.build_model(int(self.data.x_train.shape[1]), self.data.n_outputs)
        model.to(self.device)
        record_model = {"model": type(model).__name__,
                        "parameters": sum(p.numel() for p in model.parameters())}
        record: dict[str, Any] = {"device": describe(self.device), "seed": trial_seed,
                                  "worker": f"{socket.gethostname()}:{os.getpid()}",
                                  **record_model}
        direction = 1.0 if self.task.problem.direction == "maximize" else -1.0
        best: tuple[float, int] | None = None
        started = time.perf_counter()
        try:
            for result in fit(self.data, model, config, self.task.problem, self.epochs,
                              self.batch_size, trial_seed):
                record["epochs_run"] = result.epoch + 1
                record["closure_evaluations"] = result.closure_evaluations
                if result.diverged:
                    trial.report(float("nan"), result.epoch)
                    record.update(diverged=True, diverged_epoch=result.epoch + 1,
                                  reason=result.diverged)
                    raise optuna.TrialPruned(f"diverged: {result.diverged}")
                trial.report(result.val_metric, result.epoch)
                if best is None or direction * result.val_metric > direction * best[0]:
                    best = (result.val_metric, result.epoch + 1)
                record.update(zip(self.task.problem.extra_metrics, result.metrics[1:], strict=True))
                if trial.should_prune():
                    record["reason"] = f"pruned by the pruner after epoch {result.epoch + 1}"
                    raise optuna.TrialPruned(record["reason"])
            return result.val_metric
        finally:
            record["seconds"] = round(time.perf_counter() - started, 4)
            if best is not None:
                record.update(best_value=best[0], best_epoch=best[1])
            for key, value in record.items():
                trial.set_user_attr(key, value)

