"""One trial, where Optuna meets torch: suggest -> build -> train -> report / prune -> record.

What a trial measured is written once, at its end, as one attribute (`record.RECORD`): one storage
transaction instead of one per measurement."""

from __future__ import annotations

import functools
import gc
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hpsearch import record as rec
from hpsearch.engine import signals
from hpsearch.engine.ledger import TrialLedger
from hpsearch.engine.optuna_adapter import served
from hpsearch.space import conditional as search_space
from hpsearch.space.optimizers import implementation_for
from hpsearch.space.schedules import decay_start
from hpsearch.statistics.basic import derive_seed
from hpsearch.training.device import describe
from hpsearch.training.lm import LMDeviceData
from hpsearch.training.tables import DeviceData, PointResult
from hpsearch.training.trainer import Trainer, trainer_for
from hpsearch.training.user.points import TrainingFailed

if TYPE_CHECKING:
    import optuna
    import torch

    from hpsearch.tasks import Task


class TrialFailed(Exception):
    """A trial that could not train (an error in the model, out of memory): recorded as FAIL with
    its reason, and the study goes on."""


def ending(train: Callable[[], float]) -> tuple[str, float | None]:
    """How a trial's training ended: (COMPLETE, its value), (PRUNED, None) or (FAIL, None); a
    stopping signal or any other exception goes through."""
    import optuna

    try:
        value = train()
    except optuna.TrialPruned:
        return "PRUNED", None
    except TrialFailed:
        return "FAIL", None
    return "COMPLETE", value


def failure_reason(error: BaseException) -> str:
    import torch

    if isinstance(error, TrainingFailed):  # the user's training said why
        return str(error)
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


def report_point(ledger: TrialLedger, result: PointResult) -> None:
    """Report an evaluation point's value: NaN where the run diverged, which the pruners and TPE
    treat as the worst value there."""
    ledger.report(float("nan") if result.diverged else result.val_metric, result.index)


@dataclass
class Objective:
    """Trains one trial's configuration and returns its last epoch's validation metric.

    A diverged run (non-finite loss, parameters or metric) reports NaN at that epoch, which the
    pruners and TPE treat as the worst value there, and ends as PRUNED with `diverged=True`. A run
    past `trial_timeout` seconds stops at the next epoch's end, PRUNED with its reason. Any error
    while building or training the model ends the trial as FAIL with the error as its reason.
    """

    task: Task
    data: DeviceData | LMDeviceData
    space: search_space.SearchSpace
    epochs: int
    batch_size: int
    seed: int
    device: torch.device
    trial_timeout: float | None = None
    score_test: bool = False  # a comparison's trials: the test metric once training ends
    pruning: bool = True  # False: no pruner to ask (each question reads the trial back)
    eval_every: int | None = None  # a budget in steps: steps between evaluations (its "epochs")
    precision: Any = None  # the autocast dtype (bf16 on a GPU that has it), None for fp32
    compile_model: bool = False  # a language model's training steps through torch.compile
    batch_trials: int = 1  # trials taken together, and trained as one stacked model where they can

    def __call__(self, trial: optuna.trial.Trial, ledger: TrialLedger | None = None) -> float:
        ledger = ledger or TrialLedger(trial)
        config, record = self.begin(ledger)
        return self.train_one(ledger, config, record)

    def begin(self, ledger: TrialLedger) -> tuple[search_space.TrialConfig, dict[str, Any]]:
        """Draw the trial's configuration and store it (from here on the trial is training); the
        record of its measurements starts with its device and seed."""
        import torch

        trial = ledger.trial
        torch.set_flush_denormal(True)
        # Stopping signals wait while the storage is written (`signals.held`); training is not.
        # The trial names its worker from its creation (`take_trial`); its parameters and its
        # configuration are written in one transaction, drawn from the study as last read.
        with signals.held(), warnings.catch_warnings(), ledger.together():
            warnings.filterwarnings("ignore", message="Fixed parameter")  # a warm start's value
            with served(trial.study):  # no trial of this process ends meanwhile
                drawn = search_space.suggest(trial, self.space, self.epochs)  # may sit outside a range
            config = self.complete(drawn)
            ledger.set_attr(rec.CONFIG, config.to_dict())
        # A comparison's re-runs carry their own seed, set when they were enqueued.
        seed = trial.user_attrs.get(rec.SEED, derive_seed(self.seed, trial.number))
        return config, {rec.DEVICE: self.device_text(), rec.SEED: int(seed)}

    def device_text(self) -> str:
        """The device the trial trains on, as its record names it."""
        return describe(self.device)

    def train_one(self, ledger: TrialLedger, config: search_space.TrialConfig,
                  record: dict[str, Any]) -> float:
        """Train the trial alone; its record is written however it ends."""
        import optuna

        started = time.perf_counter()
        state: str | None = None  # None: stopped before its training ended
        value = None
        try:
            value = self._train(ledger, config, record, started)
            state = "COMPLETE"
            return value
        except optuna.TrialPruned:
            state = "PRUNED"
            raise
        except Exception as error:
            state = "FAIL"
            record[rec.REASON] = failure_reason(error)
            raise TrialFailed(record[rec.REASON]) from error
        finally:
            self.finish(ledger, record, time.perf_counter() - started, state, value)

    def complete(self, drawn: search_space.TrialConfig) -> search_space.TrialConfig:
        """The configuration as it trains here: with torch's fused or foreach kernels chosen."""
        return replace(drawn, implementation=implementation_for(drawn.optimizer, self.device.type))

    def finish(self, ledger: TrialLedger, record: dict[str, Any], seconds: float,
               state: str | None, value: float | None = None) -> None:
        """Write what the trial measured, in one attribute, and free what it held. Once written, a
        trial whose training ended (`state`) is told as it ended, whatever signal comes meanwhile
        (`TrialLedger.store_end`)."""
        record[rec.SECONDS] = round(seconds, 4)
        with signals.held(deliver=False) as stopping:
            ledger.store_end(record, state, value)
        self.release(state == "FAIL")
        signals.deliver(stopping)

    def release(self, failed: bool) -> None:
        release_memory(self.device, failed)

    def point(self, epoch: int, record: dict[str, Any]) -> str:
        """An evaluation point as a user counts it: an epoch, or the steps done by then."""
        return f"step {epoch * self.eval_every}" if self.eval_every else f"epoch {epoch}"

    def progress(self, epoch: int, points: int, record: dict[str, Any]) -> float:
        """How far through its run a trial is at evaluation point `epoch` of `points`."""
        return epoch / points

    @functools.cached_property
    def trainer(self) -> Trainer:
        """How this objective's trials train on its data (alone, batched, evaluated)."""
        return trainer_for(self.data, self.task.problem, self.batch_size, self.eval_every,
                           self.precision, self.compile_model)

    @property
    def waits_for_decay(self) -> bool:
        """Whether pruning waits until the learning rate decays (a language model's runs)."""
        return self.trainer.waits_for_decay

    def shape(self, trial: optuna.trial.Trial) -> tuple[torch.nn.Module, int]:
        """The model this trial trains (built under the seed already set) and its evaluation
        points; a protocol whose trials differ in model or length says so here."""
        return self.task.build_model(*self.data.model_shape()), self.epochs

    def model_for(self, trial: optuna.trial.Trial, record: dict[str, Any]
                  ) -> tuple[torch.nn.Module, int]:
        """The trial's model, built under its seed on the device and recorded, and its points."""
        import torch

        torch.manual_seed(record[rec.SEED])
        model, points = self.shape(trial)
        model.to(self.device)
        record.update({rec.MODEL: type(model).__name__,
                       rec.PARAMETERS: sum(p.numel() for p in model.parameters())})
        return model, points

    def _train(self, ledger: TrialLedger, config: search_space.TrialConfig, record: dict[str, Any],
               started: float) -> float:
        import optuna

        model, points = self.model_for(ledger.trial, record)
        for result in self.trainer.fit(model, config, points, record["seed"]):
            stop = self.take_point(ledger, config, record, result, points,
                                   lambda: time.perf_counter() - started)
            if stop:
                raise optuna.TrialPruned(stop)
        if self.score_test:
            record[rec.TEST_VALUE] = float(self.trainer.evaluate(model, "test")[0])
        return result.val_metric

    def take_point(self, ledger: TrialLedger, config: search_space.TrialConfig,
                   record: dict[str, Any], result: PointResult, points: int,
                   elapsed: Callable[[], float]) -> str | None:
        """Record and report one evaluation point; why the trial stops there (it diverged, the
        pruner stopped it, it ran out of time), or None. `elapsed`: the trial's training seconds."""
        point = result.index + 1
        record.update(result.extra)
        # Training seconds by each evaluation point: time to a target, measured.
        record.setdefault(rec.POINT_SECONDS, []).append(round(elapsed(), 4))
        record.update({rec.POINTS_RUN: point, rec.TOTAL_STEPS: result.total_steps,
                       rec.CLOSURE_EVALUATIONS: result.closure_evaluations,
                       rec.UPDATES: result.updates})
        with signals.held():
            report_point(ledger, result)  # stored before the pruner is asked (none if a batch's)
        if result.diverged:
            record.update({rec.DIVERGED: True, rec.DIVERGED_POINT: point,
                           rec.REASON: result.diverged})
            return f"diverged: {result.diverged}"
        # A language model is compared with others only once its decay has begun: rankings flip
        # while the learning rate is still high.
        decay_from = decay_start(config.schedule) if self.waits_for_decay else 0.0
        with signals.held():
            prune = (self.pruning and self.progress(point, points, record) > decay_from
                     and ledger.should_prune())
        sign = rec.sign(self.task.problem.direction)
        if rec.BEST_VALUE not in record or sign * result.val_metric > sign * record[rec.BEST_VALUE]:
            record.update({rec.BEST_VALUE: result.val_metric, rec.BEST_POINT: point})
        record.update(zip(self.task.problem.extra_metrics, result.metrics[1:], strict=True))
        if prune:
            record[rec.REASON] = f"pruned by the pruner after {self.point(point, record)}"
            return str(record[rec.REASON])
        seconds = elapsed()
        if self.trial_timeout is not None and seconds > self.trial_timeout and point < points:
            record[rec.REASON] = (f"trial timeout: {seconds:.1f} s > {self.trial_timeout:g} s, "
                                  f"stopped after {self.point(point, record)}")
            return str(record[rec.REASON])
        return None
