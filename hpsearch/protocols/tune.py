"""`hpsearch tune`: the sampler chooses each trial's optimizer and hyperparameters, the pruner stops
hopeless trials, and `--n-trials` is a total across every process and every run: a process takes a
trial only while the finished and running trials are fewer than the total, so parallel workers do
not overshoot it. Warm starts and the range-test narrowing happen before the first trial.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from hpsearch import record
from hpsearch.definition.config import StudyConfig
from hpsearch.definition.study_file import AUTO_BATCH, measured_batch_trials
from hpsearch.engine import storage as storages
from hpsearch.engine import study_objective
from hpsearch.engine.batch import measured_batch
from hpsearch.engine.budget import below_total
from hpsearch.engine.objective import Objective
from hpsearch.engine.pool import WorkerPool, run_together, worker_pool
from hpsearch.engine.run_result import RunResult, result_of, share_of
from hpsearch.engine.runner import Callback, run_locked
from hpsearch.engine.studies import (
    check_study,
    load_existing,
    make_sampler,
    open_checked,
    open_study,
    prepare_study,
    store_run,
)
from hpsearch.engine.user_objective import gpus_per_worker
from hpsearch.errors import HpsearchError, StudyMismatchError
from hpsearch.statistics.basic import derive_seed
from hpsearch.tasks.prepare import PreparedTask

if TYPE_CHECKING:
    import optuna
    import torch


def run_until_total(study: optuna.Study, objective: Objective, config: StudyConfig,
                    callbacks: Iterable[Callback] = ()) -> str | None:
    """Run trials until the study holds `n_trials`, the timeout passes or too many fail in a
    row; returns why it stopped short, if it did."""
    deadline = None if config.timeout is None else time.monotonic() + config.timeout
    return run_locked(study, objective, config.storage, config.study_name,
                      below_total(config.n_trials), callbacks, deadline)


def start(config: StudyConfig, prepared: PreparedTask, workers: int = 1
          ) -> tuple[optuna.Study, PreparedTask, int, int, torch.device]:
    """Check everything, then create or load the study and reclaim trials of dead processes.

    The device, the data and the model are checked before the storage is touched, so bad input
    changes nothing that is stored. Returns the study, the prepared task (with this run's notes),
    the trials already finished, the seed this run's samplers derive from and the training device.
    """
    from hpsearch.engine.recovery import reclaim_dead_trials
    from hpsearch.protocols import warmstart
    from hpsearch.training.device import autocast_dtype, describe, resolve_device

    device = resolve_device(config.device)
    autocast_dtype(device, config.precision)  # bf16 asked of a device without it: refused here
    starts, notes = warmstart.read(config)
    study = open_checked(config, lambda study: check_tune_study(study, config, prepared))
    reclaimed = reclaim_dead_trials(study)
    if reclaimed:
        notes.append(f"reclaimed trials {reclaimed}, left running by a process that ended; each "
                     "is retried once")
    if starts and study.get_trials(deepcopy=False):
        notes = [f"warm start skipped: study '{config.study_name}' has trials already"]
    elif starts:
        warmstart.enqueue(study, starts)
    prepared = replace(prepared, notes=prepared.notes + tuple(notes))
    before = record.counted(study.get_trials(deepcopy=False))
    # A resumed run continues with a seed derived from the seed and the trials already stored.
    seed = config.seed if config.seed is not None else derive_seed(os.getpid(), time.time_ns())
    seed = seed if before == 0 else derive_seed(seed, before)
    if before < config.n_trials:
        store_run(study, config, prepared, seed, describe(device), workers)
    return study, prepared, before, seed, device


def check_tune_study(study: optuna.Study, config: StudyConfig, prepared: PreparedTask) -> None:
    """Refuse a comparison's study, or one made for another task, space or budget."""
    protocol = record.protocol_of(study.user_attrs)
    if protocol is not None:
        raise StudyMismatchError(f"study '{config.study_name}' was made by `hpsearch "
                                 f"{protocol.get('kind')}`, not `tune`; use another --study name")
    check_study(study, config, prepared)


def kept_sampler(config: StudyConfig) -> tuple[StudyConfig, list[str]]:
    """A study resumed with `tpe` whose runs drew with Optuna's TPE under that name keeps it (now
    `optuna-tpe`): decided before the workers start, for them too."""
    existing = load_existing(config)
    if existing is None:
        return config, []
    kept = record.resumed_sampler(existing.user_attrs, config.sampler)
    if kept == config.sampler:
        return config, []
    return replace(config, sampler=kept), [
        f"sampler: {kept}, Optuna's TPE, which this study's earlier runs drew with as `tpe`"]


def narrow_by_range_test(config: StudyConfig, prepared: PreparedTask
                         ) -> tuple[StudyConfig, list[str]]:
    """The config with each optimizer's lr range narrowed by a learning-rate range test; a study
    that was narrowed before keeps its stored ranges, so a resumed sweep searches the same space."""
    import optuna

    from hpsearch.protocols.lr_find import narrow_space
    from hpsearch.training.device import resolve_device

    try:
        stored = optuna.load_study(study_name=config.study_name,
                                   storage=storages.resolve(config.storage, create=False,
                                                            read_only=True))
        previous = stored.user_attrs.get(record.RANGE_TEST)
    except (KeyError, HpsearchError):  # no such study or storage yet
        previous = None
    if previous:
        ranges = {k: (float(v[0]), float(v[1])) for k, v in previous["ranges"].items()}
        return (replace(config, space=replace(config.space, ranges=ranges)),
                ["lr ranges: as narrowed by the range test when this study began"])
    space, notes = narrow_space(config.space, prepared, resolve_device(config.device),
                                seed=config.seed or 0)
    return replace(config, space=space), [f"range test {line}" for line in notes]


def objective_for(config: StudyConfig, prepared: PreparedTask, seed: int,
                  device: torch.device, workers: int = 1) -> Objective:
    """The sweep's objective: its trials stop at `--trial-timeout` and are pruned unless the pruner
    is none."""
    return study_objective.objective_for(config, prepared, seed, device, workers,
                                         batch_trials=measured_batch_trials(config.batch_trials),
                                         trial_timeout=config.trial_timeout,
                                         pruning=config.pruner != "none")


def run(config: StudyConfig, callbacks: Iterable[Callback] = (),
        on_start: Callable[[optuna.Study, int, tuple[str, ...]], None] | None = None,
        workers: int = 1, on_progress: Callable[[optuna.Study], None] | None = None,
        ) -> RunResult:
    """Create or resume the study and run trials until it holds `n_trials` finished trials."""
    if workers < 1:
        raise HpsearchError(f"workers must be at least 1; got {workers}")
    started = time.perf_counter()
    gpus = gpus_per_worker(config.user, workers)
    config, sampler_notes = kept_sampler(config)
    prepared: PreparedTask | None = None
    range_notes: list[str] = list(sampler_notes)
    if config.lr_from_range_test:  # the workers must start with the narrowed space
        prepared = prepare_study(config)
        config, narrowed = narrow_by_range_test(config, prepared)
        range_notes += narrowed
    if config.batch_trials == AUTO_BATCH:  # measured before the workers start, for them too
        prepared = prepared or prepare_study(config)
        chosen, line = measured_batch(config, prepared)
        config = replace(config, batch_trials=chosen)
        range_notes.append(line)
    # The other workers start now: their imports and data loading overlap with our checks. They
    # wait for `go` before they touch the storage, and are stopped if the checks fail.
    with worker_pool(TuneWork(config, workers), workers, gpus) as pool:
        import torch

        from hpsearch.training.device import describe

        study, prepared, before, seed, device = start(config, prepared or prepare_study(config), workers)
        ours = share_of([study], pool)
        if before >= config.n_trials:
            if pool:
                pool.stop()
            return result_of([study], ours, started, config.storage, describe(device), None, before)
        if range_notes and record.RANGE_TEST not in study.user_attrs:
            study.set_user_attr(record.RANGE_TEST, {
                "ranges": {k: list(v) for k, v in config.space.ranges.items()},
                "notes": range_notes})
        if on_start:
            on_start(study, before, prepared.notes + tuple(range_notes))
        torch.set_flush_denormal(True)
        if pool is None:
            # Alone on a local file; a server's study may have workers on other machines.
            study.sampler = make_sampler(config.sampler, seed,  # a batch's trials run together
                                         concurrent=storages.is_server(config.storage)
                                         or measured_batch_trials(config.batch_trials) > 1)
            stopped = run_until_total(study, objective_for(config, prepared, seed, device), config,
                                      callbacks)
        else:
            stopped = run_workers(config, pool, seed, study, prepared, device, callbacks,
                                  on_progress)
    return result_of([study], ours, started, config.storage, describe(device), stopped, before)


@dataclass(frozen=True)
class TuneWork:
    """The sweep as the other worker processes run it."""

    config: StudyConfig
    workers: int = 1

    def load(self) -> PreparedTask:
        return prepare_study(self.config)

    def run(self, prepared: PreparedTask, seed: int, index: int) -> str | None:
        from hpsearch.training.device import resolve_device

        worker_seed = derive_seed(seed, index)  # distinct streams, reproducible from --seed
        study = open_study(self.config, sampler_seed=worker_seed, heartbeat=True)
        device = resolve_device(self.config.device)  # cuda:0 is this worker's own GPU, if any
        return run_until_total(study, objective_for(self.config, prepared, worker_seed, device,
                                                    self.workers), self.config)


def run_workers(config: StudyConfig, pool: WorkerPool, seed: int, study: optuna.Study,
                prepared: PreparedTask, device: torch.device, callbacks: Iterable[Callback],
                on_progress: Callable[[optuna.Study], None] | None) -> str | None:
    """Worker 0 is this process: its data and model are loaded already."""

    def here() -> str | None:
        from hpsearch.training.device import use_training_threads

        use_training_threads(pool.workers)
        study.sampler = make_sampler(config.sampler, derive_seed(seed, 0))
        objective = objective_for(config, prepared, derive_seed(seed, 0), device, pool.workers)
        return run_until_total(study, objective, config, callbacks)

    seen = -1

    def show() -> None:  # the others finish their trials in flight; the last line covers all
        nonlocal seen
        if on_progress is None:
            return
        counted = record.counted(study.get_trials(deepcopy=False))
        if counted != seen:
            seen = counted
            on_progress(study)

    return run_together(pool, seed, here, show)

