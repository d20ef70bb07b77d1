"""The one module that meets both Optuna and torch: suggest -> build -> train -> report / prune."""

from __future__ import annotations

import gc
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hpsearch import space as search_space
from hpsearch.device import describe
from hpsearch.optimizers import implementation_for
from hpsearch.recovery import this_worker
from hpsearch.train import DeviceData, evaluate, fit

if TYPE_CHECKING:
    import optuna
    import torch

    from hpsearch.tasks import Task


def derive_seed(*parts: int) -> int:
    """A 32-bit seed from a tuple of integers: distinct inputs give independent streams."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


class TrialFailed(Exception):
    """A trial that could not train (an error in the model, out of memory): recorded as FAIL with
    its reason, and the study goes on."""


def failure_reason(error: BaseException) -> str:
    import torch

    first_line = (str(error).strip().splitlines() or [""])[0][:300]
    if isinstance(error, torch.OutOfMemoryError) or "out of memory" in first_line.lower():
        return f"out of memory: {first_line}"
    return f"{type(error).__name__}: {first_line}"


def release_memory(device: torch.device, failed: bool = False) -> None:
    """Free what a finished trial held, so that the next one starts from the same memory.

    Tensors are freed as their last reference goes; collection is for cycles. A full collection
    costs about 250 ms with torch, scikit-learn and pandas loaded, so it runs after a failure (an
    out-of-memory error keeps its frames and tensors alive) and young generations otherwise."""
    import torch

    gc.collect(2 if failed else 1)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


@dataclass
class Objective:
    """Trains one trial's configuration and returns its last epoch's validation metric.

    A diverged run (non-finite loss, parameters or metric) reports NaN at that epoch, which the
    pruners and TPE treat as the worst value there, and ends as PRUNED with `diverged=True`. A run
    past `trial_timeout` seconds stops at the next epoch's end, PRUNED with its reason. Any error
    while building or training the model ends the trial as FAIL with the error as its reason.
    """

    task: Task
    data: DeviceData
    space: search_space.SearchSpace
    epochs: int
    batch_size: int
    seed: int
    device: torch.device
    trial_timeout: float | None = None
    score_test: bool = False  # a comparison's trials: the test metric once training ends

    def __call__(self, trial: optuna.trial.Trial) -> float:
        import optuna
        import torch

        trial.set_user_attr("worker", this_worker())  # first: a killed run is found by it
        torch.set_flush_denormal(True)
        with warnings.catch_warnings():  # a warm start's value may sit outside a narrowed range
            warnings.filterwarnings("ignore", message="Fixed parameter")
            config = search_space.suggest(trial, self.space, self.epochs).to_dict()
        config["implementation"] = implementation_for(config["optimizer"], self.device.type)
        trial.set_user_attr("config", config)
        # A comparison's re-runs carry their own seed, set when they were enqueued.
        seed = trial.user_attrs.get("seed", derive_seed(self.seed, trial.number))
        record: dict[str, Any] = {"device": describe(self.device), "seed": int(seed)}
        started = time.perf_counter()
        failed = False
        try:
            return self._train(trial, config, record, started)
        except optuna.TrialPruned:
            raise
        except Exception as error:
            failed = True
            record["reason"] = failure_reason(error)
            raise TrialFailed(record["reason"]) from error
        finally:
            record["seconds"] = round(time.perf_counter() - started, 4)
            for key, value in record.items():
                trial.set_user_attr(key, value)
            release_memory(self.device, failed)

    def _train(self, trial: optuna.trial.Trial, config: dict[str, Any], record: dict[str, Any],
               started: float) -> float:
        import optuna
        import torch

        torch.manual_seed(record["seed"])
        model = self.task.build_model(int(self.data.x_train.shape[1]), self.data.n_outputs)
        model.to(self.device)
        record.update(model=type(model).__name__,
                      parameters=sum(p.numel() for p in model.parameters()))
        sign = 1.0 if self.task.problem.direction == "maximize" else -1.0
        for result in fit(self.data, model, config, self.task.problem, self.epochs,
                          self.batch_size, record["seed"]):
            epoch = result.epoch + 1
            record.update(epochs_run=epoch, closure_evaluations=result.closure_evaluations,
                          updates=result.updates)
            if result.diverged:
                trial.report(float("nan"), result.epoch)
                record.update(diverged=True, diverged_epoch=epoch, reason=result.diverged)
                raise optuna.TrialPruned(f"diverged: {result.diverged}")
            trial.report(result.val_metric, result.epoch)
            if "best_value" not in record or sign * result.val_metric > sign * record["best_value"]:
                record.update(best_value=result.val_metric, best_epoch=epoch)
            record.update(zip(self.task.problem.extra_metrics, result.metrics[1:], strict=True))
            if trial.should_prune():
                record["reason"] = f"pruned by the pruner after epoch {epoch}"
                raise optuna.TrialPruned(record["reason"])
            elapsed = time.perf_counter() - started
            if self.trial_timeout is not None and elapsed > self.trial_timeout and epoch < self.epochs:
                record["reason"] = (f"trial timeout: {elapsed:.1f} s > {self.trial_timeout:g} s, "
                                    f"stopped after epoch {epoch}")
                raise optuna.TrialPruned(record["reason"])
        if self.score_test:
            record["test_value"] = float(evaluate(model, self.data, self.task.problem, "test")[0])
        return result.val_metric
