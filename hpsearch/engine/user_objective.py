"""A trial of the user's own training (a command or a function): the same trial as a built-in one
(drawn from the conditional space, each evaluation point reported, asked of the pruner and checked
for divergence, pruning waiting for the decay, one record at its end), with the user's program or
function where hpsearch's loop would be."""

from __future__ import annotations

import functools
import gc
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch import record as rec
from hpsearch.definition.config import StudyConfig
from hpsearch.engine.ledger import TrialLedger
from hpsearch.engine.objective import Objective
from hpsearch.engine.storage import local_folder
from hpsearch.space.conditional import TrialConfig
from hpsearch.tasks.prepare import PreparedTask
from hpsearch.training.device import check_gpu_split, training_threads, visible_gpus
from hpsearch.training.user.command import gpu_share
from hpsearch.training.user.definition import UserTraining
from hpsearch.training.user.function import check_importable
from hpsearch.training.user.points import TrainingFailed
from hpsearch.training.user.trainer import Stopped, TrialRun, UserTrainer

if TYPE_CHECKING:
    import optuna
    import torch


@dataclass(kw_only=True)
class UserObjective(Objective):
    """`device_name` is what the trial is told (`{device}`: cuda or cpu) and `gpus` the GPUs its
    program sees (None: as hpsearch sees them); `threads` its share of the cores."""

    training: UserTraining
    study_name: str
    trials_root: Path
    steps: int | None = None
    device_name: str = "cpu"
    gpus: list[str] | None = None
    threads: int = 1
    extra: dict[str, Any] = field(default_factory=dict)  # what every run hands over: a base width

    def complete(self, drawn: TrialConfig) -> TrialConfig:
        return drawn  # the user's code builds its own optimizer, with its own kernels

    def device_text(self) -> str:
        """A command's program: the device it is told and the GPUs it sees (this process never
        starts CUDA for it); a function trains here."""
        if self.training.function is not None:
            return super().device_text()
        return self.device_name + (f" (CUDA_VISIBLE_DEVICES={','.join(self.gpus)})"
                                   if self.gpus else "")

    def release(self, failed: bool) -> None:
        if self.training.function is not None:  # it trained in this process
            super().release(failed)
        elif failed:
            gc.collect()

    def progress(self, epoch: int, points: int, record: dict[str, Any]) -> float:
        """By the program's own step where it says one (a program that also reports at step 0
        has one point more than the run's), else by the points."""
        steps, total = record.get(rec.POINT_STEPS) or [None], record.get(rec.TOTAL_STEPS)
        if steps[-1] is not None and total:
            return float(steps[-1]) / total
        return super().progress(epoch, points, record)

    def point(self, epoch: int, record: dict[str, Any]) -> str:
        steps = record.get(rec.POINT_STEPS) or []
        step = steps[epoch - 1] if len(steps) >= epoch else None
        return f"step {step}" if step is not None else f"point {epoch}"

    def folder_of(self, number: int) -> Path:
        return self.trials_root / self.study_name / f"trial-{number}"

    def run_values(self, trial: optuna.trial.Trial, seed: int, folder: Path) -> dict[str, Any]:
        """The run's own values, as placeholders and the configuration file name them: a scale
        sweep's run also has its width and parametrisation (and depth), and its length multiplies the steps
        and the evaluation points."""
        attrs, length = trial.user_attrs, int(trial.user_attrs.get(rec.LENGTH, 1))
        scale = ({"width": int(attrs[rec.WIDTH]),
                  "parametrization": str(attrs[rec.PARAMETRIZATION])} if rec.WIDTH in attrs else {})
        if rec.DEPTH in attrs:  # a depth sweep's run
            scale["depth"] = int(attrs[rec.DEPTH])
        return {"steps": self.steps * length if self.steps else None,
                "eval_every": self.eval_every, "epochs": self.epochs * length, "seed": seed,
                "trial_dir": str(folder), "device": self.device_name,
                "gpus": len(self.gpus) if self.gpus else 0, **self.extra, **scale}

    @functools.cached_property
    def trainer(self) -> UserTrainer:  # type: ignore[override]  # the user's, not hpsearch's loop
        return UserTrainer(self.training, self.task.problem, self.study_name,
                           waits_for_decay=(self.training.reads_config
                                            or self.space.schedules != ("none",)),
                           threads=self.threads, gpus=self.gpus, trial_timeout=self.trial_timeout)

    def _train(self, ledger: TrialLedger, config: TrialConfig, record: dict[str, Any],
               started: float) -> float:
        import optuna

        trial = ledger.trial
        folder = self.folder_of(trial.number).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        length = int(trial.user_attrs.get(rec.LENGTH, 1))
        retry_of = trial.user_attrs.get(rec.RETRY_OF)
        run = TrialRun(trial.number, config, self.run_values(trial, record[rec.SEED], folder),
                       dict(trial.params), (self.steps or 0) * length,
                       None if retry_of is None else self.folder_of(retry_of).resolve())
        try:
            value = self.trainer.fit(run, record, lambda result: self.take_point(
                ledger, config, record, result, self.epochs * length,
                lambda: time.perf_counter() - started), started)
        except Stopped as stop:
            raise optuna.TrialPruned(str(stop)) from None
        if (self.score_test and trial.user_attrs.get(rec.PHASE) == "rerun"
                and rec.TEST_VALUE not in record):
            raise TrainingFailed("a comparison's re-run reported no test value: "
                                 + ("no line matched --test-regex "
                                    f"{self.training.test_regex!r}" if self.training.test_regex
                                    else "report(step, value, test=...) was never called"))
        return value


def user_objective(config: StudyConfig, prepared: PreparedTask, seed: int,
                   device: torch.device, workers: int = 1, **extra: Any) -> UserObjective:
    """The objective of a study of the user's training, in this worker: its share of the cores and
    of the GPUs (the first `gpus_per_trial` of those this process sees: each worker process sees
    its own), and the trials' folders (--trials-dir, else `trials/` beside the storage file)."""
    training = config.user
    assert training is not None
    gpus, device_name = gpu_share(visible_gpus(), training.gpus_per_trial, config.device)
    root = Path(training.trials_dir) if training.trials_dir else (
        local_folder(config.storage) / "trials")
    return UserObjective(
        task=prepared.task, data=None, space=config.space,  # type: ignore[arg-type]
        epochs=config.epochs, batch_size=config.batch_size, seed=seed, device=device,
        trial_timeout=config.trial_timeout, pruning=config.pruner != "none",
        eval_every=config.eval_every, training=training, study_name=config.study_name,
        trials_root=root.resolve(), steps=config.steps, device_name=device_name, gpus=gpus,
        threads=training_threads(workers), extra=extra)


def gpus_per_worker(training: UserTraining | None, workers: int) -> int:
    """The GPUs each worker of a run hands its trials, checked before any worker starts: as
    many as are visible for `workers` of them, and a function they can import."""
    if training is None:
        return 1
    check_gpu_split(workers, training.gpus_per_trial)
    check_importable(training, workers)
    return training.gpus_per_trial
