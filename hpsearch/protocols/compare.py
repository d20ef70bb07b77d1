"""`hpsearch compare`: the fair protocol behind an honest verdict on which optimizer is best.

Per task, every optimizer gets the same budget of `budget` search trials, drawn at random inside
its own subspace (the optimizer is fixed by us, not left to a sampler, and nothing is pruned, so
trials are independent draws and expected-best curves are valid), plus one trial at torch's
defaults counted apart. Each optimizer's best search configuration (by validation value) is then
re-trained with `seeds` fresh seeds for the full epochs and scored on the test split, which no
tuning decision saw. Every trial is stored in one study per task, `<prefix>-<task>`; a rerun of
the same command continues where a killed one stopped, and `--workers` shares the work.

A trial's role is in its user attributes, set when it is enqueued: `phase` (default, search or
rerun) and, for re-runs, `seed_index`, `rerun_of` and `seed`. Every trial also records
`test_value`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from hpsearch import record
from hpsearch.definition.config import StudyConfig
from hpsearch.definition.study_file import AUTO_BATCH, measured_batch_trials
from hpsearch.engine.batch import measured_batch
from hpsearch.engine.budget import Chooser, from_plan
from hpsearch.engine.objective import Objective
from hpsearch.engine.pool import run_shares, worker_pool
from hpsearch.engine.run_result import RunResult, counted, result_of, share_of
from hpsearch.engine.runner import FailureLimit, run_locked
from hpsearch.engine.studies import (
    check_study,
    load_existing,
    make_sampler,
    open_study,
    prepare_study,
    store_run,
)
from hpsearch.engine.study_objective import objective_for
from hpsearch.engine.user_objective import gpus_per_worker
from hpsearch.errors import StudyMismatchError
from hpsearch.protocols.compare_config import CompareConfig
from hpsearch.protocols.compare_plan import next_trial
from hpsearch.statistics.basic import derive_seed
from hpsearch.tasks.base import TaskData
from hpsearch.tasks.prepare import PreparedTask
from hpsearch.training.tables import steps_due

if TYPE_CHECKING:
    import optuna
    import torch


def next_from_plan(config: CompareConfig, study_config: StudyConfig) -> Chooser:
    """The comparison's plan for one task's study, taken under its lock (`budget.from_plan`)."""
    return from_plan(lambda study, trials: next_trial(
        trials, study_config.space, config.budget, config.seeds, int(study_config.seed or 0),
        record.direction_of(study)))


@dataclass(frozen=True)
class TaskStudy:
    """One task's part of a comparison in this process: its study and objective."""

    study: optuna.Study
    objective: Objective


def open_task(config: CompareConfig, study_config: StudyConfig, prepared: PreparedTask,
              seed: int, device: torch.device, workers: int = 1) -> TaskStudy:
    """Open one task's study, with this process's sampler, and build its objective: its trials are
    scored on the test split and never pruned, so that every optimizer gets the same budget."""
    study = open_study(study_config, sampler_seed=seed, heartbeat=True)
    study.sampler = make_sampler("random", seed)
    return TaskStudy(study, objective_for(study_config, prepared, seed, device, workers,
                                          batch_trials=measured_batch_trials(config.batch_trials),
                                          with_test=True, score_test=True, pruning=False))


def check_task(config: CompareConfig, study: optuna.Study, study_config: StudyConfig, index: int,
               prepared: PreparedTask) -> None:
    """Refuse a study made by `tune`, or for other settings, in compare's flags; stores nothing."""
    stored = record.protocol_of(study.user_attrs)
    if record.TASK in study.user_attrs and not stored:
        raise StudyMismatchError(f"study '{study_config.study_name}' was made by `hpsearch "
                                 "tune`, not `compare`; use another --prefix")
    if stored:
        config.check_stored(stored, study_config, index)
    check_study(study, study_config, prepared, flag="--prefix")


def store_task_run(config: CompareConfig, run: TaskStudy, study_config: StudyConfig, index: int,
                prepared: PreparedTask, device: torch.device, workers: int) -> None:
    """Reclaim trials of dead processes; record this run and the protocol with the study."""
    from hpsearch.engine.recovery import reclaim_dead_trials
    from hpsearch.training.device import describe

    reclaim_dead_trials(run.study)
    protocol = {**config.protocol(study_config, index),
                record.STEPS_PER_POINT: steps_per_point(study_config, prepared)}
    if isinstance(prepared.data, TaskData):  # a table's test split; a corpus is read by tokens
        protocol[record.TEST_ROWS] = len(prepared.data.test.y)
    store_run(run.study, study_config, prepared, int(study_config.seed or 0), describe(device),
               workers, protocol)
    run.study.set_user_attr(record.PROTOCOL, protocol)  # this run's budget and seeds


def steps_per_point(study: StudyConfig, prepared: PreparedTask) -> int:
    """Steps of the task's batch between two evaluations: the unit time to target counts in."""
    if study.user is not None:
        return int(study.eval_every or 1)
    train = prepared.data.train
    if study.eval_every or not hasattr(train, "y"):  # a corpus is always budgeted in steps
        return int(study.eval_every or 1)
    return steps_due(len(train.y), study.batch_size, 1, None, full_batch=False)[0]


def tasks_of(config: CompareConfig) -> list[PreparedTask]:
    """Every study's task, each on its own split (a `--model` file is run once per study)."""
    return [prepare_study(c) for c in config.study_configs]


def open_tasks(config: CompareConfig, prepared: list[PreparedTask], index: int,
               device: torch.device, first: bool, workers: int = 1) -> list[TaskStudy]:
    """Every study; the first process checks them all before it records anything. Worker
    `index` draws from its own stream of each study's seed."""
    pairs = list(zip(config.study_configs, prepared, strict=True))
    if first:  # read only: a refused comparison leaves the storage as it was, byte for byte
        for number, (study_config, task) in enumerate(pairs):
            existing = load_existing(study_config)
            if existing is not None:
                check_task(config, existing, study_config, config.study_index(number), task)
    runs = [open_task(config, study_config, task,
                      derive_seed(int(study_config.seed or 0), number % len(config.tasks), index),
                      device, workers) for number, (study_config, task) in enumerate(pairs)]
    if first:
        for number, (run, (study_config, task)) in enumerate(zip(runs, pairs, strict=True)):
            check_task(config, run.study, study_config, config.study_index(number), task)
        for number, (run, (study_config, task)) in enumerate(zip(runs, pairs, strict=True)):
            store_task_run(config, run, study_config, config.study_index(number), task, device,
                        workers)
    return runs


Callback = Callable[[str, "optuna.Study", "optuna.trial.FrozenTrial"], None]


def run_tasks(config: CompareConfig, runs: list[TaskStudy],
              on_trial: Callback | None = None) -> str | None:
    """Run this process's share of every task's protocol; returns why it stopped short, if it
    did. A process with nothing left to take on a task moves on: the process that finishes the
    last search trial of an optimizer runs its re-runs."""
    failures = FailureLimit()
    for number, (study_config, run) in enumerate(zip(config.study_configs, runs, strict=True)):
        label = study_config.task + (f", study {config.study_index(number)}/{config.studies}"
                                     if config.studies > 1 else "")
        tell = [] if on_trial is None else [
            lambda study, trial, label=label: on_trial(label, study, trial)]
        stopped = run_locked(run.study, run.objective, study_config.storage,
                             study_config.study_name, next_from_plan(config, study_config), tell,
                             failures=failures)
        if stopped:
            return f"{label}: {stopped}"
    return None


@dataclass(frozen=True)
class CompareWork:
    """The comparison as the other worker processes run it."""

    config: CompareConfig
    workers: int = 1

    def load(self) -> list[PreparedTask]:
        return tasks_of(self.config)

    def run(self, prepared: list[PreparedTask], seed: int, index: int) -> str | None:
        from hpsearch.training.device import resolve_device

        device = resolve_device(self.config.device)
        return run_tasks(self.config, open_tasks(self.config, prepared, index, device,
                                                 first=False, workers=self.workers))


def run(config: CompareConfig, workers: int = 1, on_trial: Callback | None = None,
            on_start: Callable[[list[PreparedTask], tuple[str, ...]], None] | None = None
            ) -> RunResult:
    """Run (or continue) the protocol on every task; `workers` processes share it. `on_start`
    hears the prepared tasks and what was decided on the way (`--batch-trials auto`)."""
    import torch

    from hpsearch.training.device import describe, resolve_device, use_training_threads

    started = time.perf_counter()
    notes: tuple[str, ...] = ()
    prepared: list[PreparedTask] | None = None
    if config.batch_trials == AUTO_BATCH:  # measured once, before the workers start
        prepared = tasks_of(config)
        chosen, line = measured_batch(config.study_configs[0], prepared[0])  # for every task
        config, notes = replace(config, batch_trials=chosen), (line,)
    gpus = gpus_per_worker(config.user, workers)
    with worker_pool(CompareWork(config, workers), workers, gpus) as pool:
        device = resolve_device(config.device)
        prepared = prepared or tasks_of(config)
        use_training_threads(workers)
        torch.set_flush_denormal(True)
        # This process (worker 0) creates and checks every study before the others open one.
        runs = open_tasks(config, prepared, 0, device, first=True, workers=workers)
        studies = [run.study for run in runs]
        ours, trials_before = share_of(studies, pool), counted(studies)
        if on_start:
            on_start(prepared, notes)
        stopped = run_shares(pool, config.seed, lambda: run_tasks(config, runs, on_trial))
    return result_of(studies, ours, started, config.storage, describe(device), stopped,
                     trials_before)
