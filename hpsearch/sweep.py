"""Running a sweep: one process, or `workers` processes of this machine sharing one study.

`--n-trials` is a total across every process and every run: a process starts a trial only while the
finished and running trials are fewer than the total, so parallel workers do not overshoot it.
"""

from __future__ import annotations

import datetime
import multiprocessing
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hpsearch import storage as storages
from hpsearch.errors import HpsearchError
from hpsearch.objective import Objective, TrialFailed, derive_seed
from hpsearch.study import (
    MAX_CONSECUTIVE_FAILURES,
    StudyConfig,
    check_study,
    counted_trials,
    identity,
    make_sampler,
    open_study,
    versions,
)
from hpsearch.tasks.prepare import PreparedTask, prepare_task

if TYPE_CHECKING:
    import optuna
    import torch

Callback = Callable[["optuna.Study", "optuna.trial.FrozenTrial"], None]


@dataclass(frozen=True)
class RunResult:
    study: optuna.Study
    storage: str  # for display: password masked
    trials_before: int
    trials_after: int
    device: str
    stopped: str | None = None  # why the run stopped short of n_trials, if it did

    @property
    def already_done(self) -> bool:
        return self.trials_before == self.trials_after and self.trials_before > 0


class FailureLimit:
    """Says stop after `limit` trials in a row fail: a broken model must not burn the budget."""

    def __init__(self, limit: int = MAX_CONSECUTIVE_FAILURES) -> None:
        self.limit = limit
        self.failures: list[str] = []

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        from optuna.trial import TrialState

        if trial.state != TrialState.FAIL:
            self.failures = []
            return
        self.failures.append(str(trial.user_attrs.get("reason", "unknown error")))

    @property
    def message(self) -> str | None:
        if len(self.failures) < self.limit:
            return None
        return (f"stopped after {len(self.failures)} trials in a row failed; "
                f"the last: {self.failures[-1]}")


def run_trials(study: optuna.Study, objective: Objective, config: StudyConfig,
               callbacks: Iterable[Callback] = ()) -> str | None:
    """Run trials until the study holds `n_trials`, the timeout passes or too many fail in a
    row; returns why it stopped short, if it did."""
    from hpsearch.budget import BudgetLock, take_trial

    failures = FailureLimit()
    deadline = None if config.timeout is None else time.monotonic() + config.timeout
    lock = BudgetLock(config.storage, config.study_name)
    try:
        while failures.message is None:
            if deadline is not None and time.monotonic() >= deadline:
                break
            trial = take_trial(study, config.n_trials, lock)
            if trial is None:
                break
            finished = run_one(study, trial, objective)
            every: list[Callback] = [failures, *callbacks]
            for callback in every:
                callback(study, finished)
    finally:
        lock.close()
    return failures.message


def run_one(study: optuna.Study, trial: optuna.trial.Trial,
            objective: Objective) -> optuna.trial.FrozenTrial:
    """Train one trial and record how it ended; Ctrl-C records it as failed, then stops."""
    import optuna
    from optuna.storages._heartbeat import get_heartbeat_thread  # Optuna's own heartbeat
    from optuna.trial import TrialState

    try:
        with get_heartbeat_thread(trial._trial_id, study._storage):
            value = objective(trial)
    except optuna.TrialPruned:
        return study.tell(trial, state=TrialState.PRUNED)
    except TrialFailed:
        return study.tell(trial, state=TrialState.FAIL)
    except BaseException:
        study.tell(trial, state=TrialState.FAIL)
        raise
    return study.tell(trial, value)


def start(config: StudyConfig, workers: int = 1
          ) -> tuple[optuna.Study, PreparedTask, int, int, torch.device]:
    """Check everything, then create or load the study and reclaim trials of dead processes.

    The device, the data and the model are checked before the storage is touched, so bad input
    changes nothing that is stored. Returns the study, the prepared task, the trials already
    finished, the seed this run's samplers derive from and the training device.
    """
    from hpsearch.device import describe, resolve_device
    from hpsearch.recovery import reclaim_dead_trials

    device = resolve_device(config.device)
    prepared = prepare_task(config.task, data=config.data, target=config.target,
                            model=config.model, split_seed=config.split_seed,
                            val_fraction=config.val_fraction)
    study = open_study(config, heartbeat=True)
    check_study(study, config, prepared)
    reclaimed = reclaim_dead_trials(study)
    if reclaimed:
        prepared = replace(prepared, notes=prepared.notes + (
            f"reclaimed trials {reclaimed}, left running by a process that ended; each is "
            "retried once",))
    before = counted_trials(study)
    # A resumed run continues with a seed derived from the seed and the trials already stored.
    seed = config.seed if config.seed is not None else derive_seed(os.getpid(), time.time_ns())
    seed = seed if before == 0 else derive_seed(seed, before)
    if before < config.n_trials:
        _record_run(study, config, prepared, seed, describe(device), workers)
    return study, prepared, before, seed, device


def objective_for(config: StudyConfig, prepared: PreparedTask, seed: int,
                  device: torch.device) -> Objective:
    from hpsearch.train import DeviceData

    return Objective(prepared.task, DeviceData.from_task_data(prepared.data, device),
                     config.space, config.epochs, config.batch_size, seed, device,
                     config.trial_timeout)


def run(config: StudyConfig, callbacks: Iterable[Callback] = (),
        on_start: Callable[[optuna.Study, int, tuple[str, ...]], None] | None = None,
        workers: int = 1, on_progress: Callable[[optuna.Study], None] | None = None,
        ) -> RunResult:
    """Create or resume the study and run trials until it holds `n_trials` finished trials."""
    import torch

    from hpsearch.device import describe

    if workers < 1:
        raise HpsearchError(f"workers must be at least 1; got {workers}")
    study, prepared, before, seed, device = start(config, workers)
    storage = storages.display(storages.storage_url(config.storage))
    if before >= config.n_trials:
        return RunResult(study, storage, before, before, describe(device))
    if on_start:
        on_start(study, before, prepared.notes)
    torch.set_flush_denormal(True)
    if workers == 1:
        study.sampler = make_sampler(config.sampler, seed)
        stopped = run_trials(study, objective_for(config, prepared, seed, device), config,
                             callbacks)
    else:
        stopped = run_workers(config, workers, seed, study, prepared, device, callbacks,
                              on_progress)
    return RunResult(study, storage, before, counted_trials(study), describe(device), stopped)


def run_workers(config: StudyConfig, workers: int, seed: int, study: optuna.Study,
                prepared: PreparedTask, device: torch.device, callbacks: Iterable[Callback],
                on_progress: Callable[[optuna.Study], None] | None) -> str | None:
    """N processes (not threads: the GIL and torch's thread pool fight), each with its share of
    the cores and, on a machine with several GPUs, its own GPU. This process is worker 0: its data
    and model are loaded already, so only N - 1 processes pay the start-up."""
    import torch

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    gpus = _visible_gpus()
    processes = []
    for index in range(1, workers):
        env = {"CUDA_VISIBLE_DEVICES": gpus[index % len(gpus)]} if len(gpus) > 1 else {}
        process = context.Process(target=_worker, args=(config, index, workers, seed, env,
                                                        results), name=f"hpsearch-worker-{index}")
        process.start()
        processes.append(process)
    problems = []
    try:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
        study.sampler = make_sampler(config.sampler, derive_seed(seed, 0))
        objective = objective_for(config, prepared, derive_seed(seed, 0), device)
        stopped = run_trials(study, objective, config, callbacks)
        if stopped:
            problems.append(f"worker 0: {stopped}")
        seen = -1
        while any(p.is_alive() for p in processes):  # the others finish their trials in flight
            for process in processes:
                process.join(timeout=1.0)
            if on_progress and counted_trials(study) != seen:
                seen = counted_trials(study)
                on_progress(study)
        if on_progress and counted_trials(study) != seen:  # the last line covers every worker
            on_progress(study)
    except KeyboardInterrupt:
        for process in processes:  # each worker records its trial in flight as it stops
            process.join()
        raise
    reported = [m for m in (results.get() for _ in processes if not results.empty()) if m]
    if any(p.exitcode != 0 for p in processes) and not reported:  # died without a word
        reported.append(f"a worker exited with code {[p.exitcode for p in processes]}")
    return "; ".join(problems + reported) or None


def _worker(config: StudyConfig, index: int, workers: int, seed: int, env: dict[str, str],
            results: Any) -> None:
    import optuna
    import torch

    from hpsearch.device import resolve_device

    os.environ.update(env)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        prepared = prepare_task(config.task, data=config.data, target=config.target,
                                model=config.model, split_seed=config.split_seed,
                                val_fraction=config.val_fraction)
        worker_seed = derive_seed(seed, index)  # distinct streams, reproducible from --seed
        study = open_study(config, sampler_seed=worker_seed, heartbeat=True)
        device = resolve_device(config.device)  # cuda:0 is this worker's own GPU, if any
        stopped = run_trials(study, objective_for(config, prepared, worker_seed, device), config)
        results.put(f"worker {index}: {stopped}" if stopped else None)
    except KeyboardInterrupt:
        results.put(None)
    except Exception as error:  # reported by the parent in one line
        results.put(f"worker {index}: {type(error).__name__}: {error}")
        raise SystemExit(1) from None


def _visible_gpus() -> list[str]:
    import torch

    if not torch.cuda.is_available():
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed:
        return [g.strip() for g in listed.split(",") if g.strip()]
    return [str(i) for i in range(torch.cuda.device_count())]


def _record_run(study: optuna.Study, config: StudyConfig, prepared: PreparedTask,
                sampler_seed: int, device: str, workers: int = 1) -> None:
    """Each run is its own attribute (`run:<start>:<host>:<pid>:<random>`), so runs started at
    once on many machines never overwrite each other's record."""
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    run_record = {
        "started": started, "host": socket.gethostname(), "sampler": config.sampler,
        "pruner": config.pruner, "seed": config.seed, "sampler_seed": sampler_seed,
        "device": device, "workers": workers, "n_trials": config.n_trials,
        "timeout": config.timeout, "versions": versions(),
    }
    if "task" not in study.user_attrs:
        problem = prepared.task.problem
        for key, value in {**identity(config, prepared), "metric": problem.metric,
                           "direction": problem.direction, "space": config.space.to_dict(),
                           **prepared.record, **run_record}.items():
            study.set_user_attr(key, value)
    # Microseconds and a random suffix: two runs of one process within a second stay apart.
    moment = datetime.datetime.now(datetime.timezone.utc).isoformat()
    study.set_user_attr(f"run:{moment}:{socket.gethostname()}:{os.getpid()}:"
                        f"{uuid.uuid4().hex[:8]}", run_record)
