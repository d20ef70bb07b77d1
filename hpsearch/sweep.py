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
from typing import TYPE_CHECKING, Any, Protocol

from hpsearch import storage as storages
from hpsearch.device import visible_gpus, worker_environment
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
    starts, notes = _warm_starts(config)
    study = open_study(config, heartbeat=True)
    check_study(study, config, prepared)
    reclaimed = reclaim_dead_trials(study)
    if reclaimed:
        notes.append(f"reclaimed trials {reclaimed}, left running by a process that ended; each "
                     "is retried once")
    if starts and study.get_trials(deepcopy=False):
        notes = [f"warm start skipped: study '{config.study_name}' has trials already"]
    elif starts:
        from hpsearch.warmstart import enqueue

        enqueue(study, starts)
    prepared = replace(prepared, notes=prepared.notes + tuple(notes))
    before = counted_trials(study)
    # A resumed run continues with a seed derived from the seed and the trials already stored.
    seed = config.seed if config.seed is not None else derive_seed(os.getpid(), time.time_ns())
    seed = seed if before == 0 else derive_seed(seed, before)
    if before < config.n_trials:
        _record_run(study, config, prepared, seed, describe(device), workers)
    return study, prepared, before, seed, device


def narrow_by_range_test(config: StudyConfig) -> tuple[StudyConfig, list[str]]:
    """The config with each optimizer's lr range narrowed by a learning-rate range test; a study
    that was narrowed before keeps its stored ranges, so a resumed sweep searches the same space."""
    import optuna

    from hpsearch.device import resolve_device
    from hpsearch.lr_find import narrowed_ranges, narrowing_notes, run_range_tests

    try:
        stored = optuna.load_study(study_name=config.study_name,
                                   storage=storages.resolve(config.storage, create=False))
        previous = stored.user_attrs.get("range_test")
    except (KeyError, HpsearchError):  # no such study or storage yet
        previous = None
    if previous:
        ranges = {k: (float(v[0]), float(v[1])) for k, v in previous["ranges"].items()}
        return (replace(config, space=replace(config.space, ranges=ranges)),
                ["lr ranges: as narrowed by the range test when this study began"])
    prepared = prepare_task(config.task, data=config.data, target=config.target,
                            model=config.model, split_seed=config.split_seed,
                            val_fraction=config.val_fraction)
    results = run_range_tests(config.space, prepared, resolve_device(config.device),
                              seed=config.seed or 0)
    ranges = {**config.space.ranges, **narrowed_ranges(config.space, results)}
    notes = [f"range test {line}" for line in narrowing_notes(config.space, results)]
    return replace(config, space=replace(config.space, ranges=ranges)), notes


def _warm_starts(config: StudyConfig) -> tuple[list[Any], list[str]]:
    """The configurations `--warm-start` names, read (and checked) before anything is stored."""
    if not config.warm_start:
        return [], []
    from hpsearch.warmstart import collect

    return collect(storages.resolve(config.storage), config.warm_start, config.space,
                   config.study_name)


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
    if workers < 1:
        raise HpsearchError(f"workers must be at least 1; got {workers}")
    range_notes: list[str] = []
    if config.lr_from_range_test:  # the workers must start with the narrowed space
        config, range_notes = narrow_by_range_test(config)
    # The other workers start now: their imports and data loading overlap with our checks. They
    # wait for `go` before they touch the storage, and are stopped if the checks fail.
    pool = WorkerPool(TuneJob(config), workers) if workers > 1 else None
    try:
        import torch

        from hpsearch.device import describe

        study, prepared, before, seed, device = start(config, workers)
        storage = storages.display(storages.storage_url(config.storage))
        if before >= config.n_trials:
            if pool:
                pool.stop()
            return RunResult(study, storage, before, before, describe(device))
        if range_notes and "range_test" not in study.user_attrs:
            study.set_user_attr("range_test", {"ranges": {k: list(v) for k, v in
                                                          config.space.ranges.items()},
                                               "notes": range_notes})
        if on_start:
            on_start(study, before, prepared.notes + tuple(range_notes))
        torch.set_flush_denormal(True)
        if pool is None:
            study.sampler = make_sampler(config.sampler, seed)
            stopped = run_trials(study, objective_for(config, prepared, seed, device), config,
                                 callbacks)
        else:
            stopped = run_workers(config, pool, seed, study, prepared, device, callbacks,
                                  on_progress)
    except BaseException:
        if pool:
            pool.stop()
        raise
    return RunResult(study, storage, before, counted_trials(study), describe(device), stopped)


class WorkerJob(Protocol):
    """What worker processes run: picklable, since they are spawned."""

    def prepare(self) -> Any:
        """Imports and data, before worker 0 says go: nothing here may touch the storage."""

    def run(self, prepared: Any, seed: int, index: int) -> str | None:
        """Run trials as worker `index`; returns why it stopped short, if it did."""


@dataclass(frozen=True)
class TuneJob:
    config: StudyConfig

    def prepare(self) -> PreparedTask:
        config = self.config
        return prepare_task(config.task, data=config.data, target=config.target,
                            model=config.model, split_seed=config.split_seed,
                            val_fraction=config.val_fraction)

    def run(self, prepared: PreparedTask, seed: int, index: int) -> str | None:
        from hpsearch.device import resolve_device

        worker_seed = derive_seed(seed, index)  # distinct streams, reproducible from --seed
        study = open_study(self.config, sampler_seed=worker_seed, heartbeat=True)
        device = resolve_device(self.config.device)  # cuda:0 is this worker's own GPU, if any
        return run_trials(study, objective_for(self.config, prepared, worker_seed, device),
                          self.config)


class WorkerPool:
    """Workers 1 .. N-1 of a parallel run: spawned processes (not threads: the GIL and torch's
    thread pool fight), each with its share of the cores and, on a machine with several GPUs, its
    own GPU. Each sends one message when it stops: its problem, or None."""

    def __init__(self, job: WorkerJob, workers: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.workers = workers
        self.inbox = context.Queue()  # the seed to derive from; None: stop at once
        self.results = context.Queue()  # (worker index, problem or None)
        gpus = visible_gpus()
        self.told_to_go = False
        self.processes = {}
        for index in range(1, workers):
            process = context.Process(target=_worker, args=(
                job, index, workers, worker_environment(index, gpus), self.inbox, self.results),
                name=f"hpsearch-worker-{index}")
            process.start()
            self.processes[index] = process

    def go(self, seed: int) -> None:
        self.told_to_go = True
        for _ in self.processes:
            self.inbox.put(seed)

    def stop(self) -> None:
        """Workers not yet told to go have stored nothing: they are stopped at once. The others
        record their trial in flight as they stop (Ctrl-C reaches them too) or finish the total."""
        for process in self.processes.values():
            if not self.told_to_go:
                process.terminate()
            process.join()

    def wait(self, on_progress: Callable[[], None]) -> list[str]:
        """Wait until every worker has stopped (calling `on_progress` about once a second);
        returns their problems, one line each."""
        import queue

        problems: list[str] = []
        pending = set(self.processes)
        while pending:
            ended = {i for i in pending if self.processes[i].exitcode is not None}
            try:  # a worker's message is in the queue before its process ends
                while pending:
                    index, problem = self.results.get(timeout=0.0 if ended else 1.0)
                    pending.discard(index)
                    ended.discard(index)
                    if problem:
                        problems.append(problem)
            except queue.Empty:
                pass
            for index in ended:  # ended without a word: killed, or crashed in C
                pending.discard(index)
                problems.append(f"worker {index} exited with code {self.processes[index].exitcode}")
            on_progress()
        return problems


def run_workers(config: StudyConfig, pool: WorkerPool, seed: int, study: optuna.Study,
                prepared: PreparedTask, device: torch.device, callbacks: Iterable[Callback],
                on_progress: Callable[[optuna.Study], None] | None) -> str | None:
    """Worker 0 is this process: its data and model are loaded already."""
    import torch

    pool.go(seed)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // pool.workers))
    study.sampler = make_sampler(config.sampler, derive_seed(seed, 0))
    objective = objective_for(config, prepared, derive_seed(seed, 0), device)
    stopped = run_trials(study, objective, config, callbacks)
    problems = [f"worker 0: {stopped}"] if stopped else []
    seen = -1

    def show() -> None:  # the others finish their trials in flight; the last line covers all
        nonlocal seen
        if on_progress and counted_trials(study) != seen:
            seen = counted_trials(study)
            on_progress(study)

    problems += pool.wait(show)
    return "; ".join(problems) or None


def _worker(job: WorkerJob, index: int, workers: int, env: dict[str, str], inbox: Any,
            results: Any) -> None:
    problem = None
    try:
        os.environ.update(env)
        import optuna
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        prepared = job.prepare()
        import torch._dynamo  # noqa: F401  (the first torch.optim step imports it: 1 s)

        seed = inbox.get()  # worker 0 has checked the input and created the study
        if seed is None:
            return
        stopped = job.run(prepared, seed, index)
        problem = f"worker {index}: {stopped}" if stopped else None
    except KeyboardInterrupt:
        pass
    except Exception as error:  # reported by worker 0 in one line
        problem = f"worker {index}: {type(error).__name__}: {error}"
    results.put((index, problem))
    results.close()
    results.join_thread()  # the message is sent; what is left is the interpreter's teardown,
    os._exit(1 if problem else 0)  # 0.6 s with torch loaded, which worker 0 would wait for


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
