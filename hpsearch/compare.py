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

import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hpsearch.errors import ConfigError, StudyMismatchError, choices
from hpsearch.objective import Objective, derive_seed
from hpsearch.optimizers import CLASSIC
from hpsearch.space import SearchSpace, default_params
from hpsearch.study import StudyConfig, load_config
from hpsearch.sweep import FailureLimit, WorkerPool, run_one
from hpsearch.tasks import TASKS
from hpsearch.tasks.prepare import PreparedTask, prepare_task

if TYPE_CHECKING:
    import optuna
    import torch

DEFAULT_BUDGET = 20
DEFAULT_SEEDS = 5
PHASES = ("default", "search", "rerun")
RERUN_SEED_STREAM = 1  # re-run seeds come from their own stream of --seed: never a search seed


@dataclass(frozen=True)
class Job:
    """One trial the protocol needs: its phase, its optimizer and, for a re-run, which seed."""

    phase: str
    optimizer: str
    seed_index: int | None = None


@dataclass(frozen=True)
class CompareConfig:
    tasks: tuple[str, ...]
    budget: int = DEFAULT_BUDGET
    seeds: int = DEFAULT_SEEDS
    optimizers: tuple[str, ...] = CLASSIC
    epochs: int | None = None  # None: each task's own, from studies/<task>.toml
    seed: int = 0
    storage: str | None = None
    device: str = "auto"
    prefix: str = "compare"
    studies: tuple[StudyConfig, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ConfigError(f"no task given; valid choices: {choices(TASKS)}")
        for name, value in (("budget", self.budget), ("seeds", self.seeds)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer; got {value!r}")
        if len(set(self.tasks)) != len(self.tasks):
            raise ConfigError(f"a task is given twice: {', '.join(self.tasks)}")
        per_optimizer = self.budget + 1 + self.seeds
        studies = tuple(load_config(task, None, {
            "study": f"{self.prefix}-{task}", "optimizers": self.optimizers,
            "sampler": "random", "pruner": "none", "epochs": self.epochs, "seed": self.seed,
            "storage": self.storage, "device": self.device,
            "n_trials": per_optimizer * len(self.optimizers)}) for task in self.tasks)
        object.__setattr__(self, "studies", studies)

    def protocol(self, study: StudyConfig) -> dict[str, Any]:
        """Stored with each task's study: what the report needs to read it as a comparison."""
        return {"kind": "compare", "budget": self.budget, "seeds": self.seeds,
                "sampler": "random", "epochs": study.epochs,
                "optimizers": list(study.space.optimizers), "seed": self.seed}


def plan(config: CompareConfig, space: SearchSpace) -> list[Job]:
    """Every trial the protocol needs, in the order they are best run: defaults, then the search
    round by round (a comparison stopped early still has equal budgets, give or take one), then
    the re-runs."""
    optimizers = space.optimizers
    jobs = [Job("default", key) for key in optimizers]
    jobs += [Job("search", key) for _ in range(config.budget) for key in optimizers]
    jobs += [Job("rerun", key, i) for i in range(config.seeds) for key in optimizers]
    return jobs


def job_of(trial: optuna.trial.FrozenTrial) -> Job | None:
    """The job a trial does. A trial just started has no parameters yet (they are set as its
    objective suggests them): its optimizer is the attribute it was enqueued with."""
    phase = trial.user_attrs.get("phase")
    optimizer = trial.params.get("optimizer", trial.user_attrs.get("optimizer"))
    if phase not in PHASES or optimizer is None:
        return None
    return Job(phase, str(optimizer), trial.user_attrs.get("seed_index"))


def best_search_trial(trials: list[optuna.trial.FrozenTrial], optimizer: str,
                      direction: str) -> optuna.trial.FrozenTrial | None:
    """The search trial whose configuration is re-run: the best validation value, the earliest
    on a tie; diverged and failed trials are never picked."""
    from optuna.trial import TrialState

    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None
                and job_of(t) == Job("search", optimizer)]
    if not complete:
        return None
    sign = -1.0 if direction == "maximize" else 1.0
    return min(complete, key=lambda t: (sign * float(t.value), t.number))  # type: ignore[arg-type]


def next_job(study: optuna.Study, config: CompareConfig, space: SearchSpace
             ) -> tuple[Job, dict[str, Any], dict[str, Any]] | None | str:
    """The next trial to enqueue, with its parameters and attributes; None when the protocol is
    done for this study; "blocked" when what is left waits on another process's search trials.

    Trials that are running, finished or already enqueued count as taken; failed ones do not,
    so a failure is run again (once as a retry, and otherwise as a fresh draw).
    """
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    taken: dict[Job, int] = {}
    for trial in trials:
        job = job_of(trial)
        if job is None or trial.state == TrialState.FAIL:
            continue
        if job.phase == "rerun":
            best = best_search_trial(trials, job.optimizer, study.direction.name.lower())
            if best is None or trial.user_attrs.get("rerun_of") != best.number:
                continue  # a re-run of an earlier best: the search has moved on since
        taken[job] = taken.get(job, 0) + 1
    blocked = False
    for job in plan(config, space):
        if taken.get(job, 0) > 0:
            taken[job] -= 1
            continue
        if job.phase == "default":
            return job, default_params(job.optimizer, space), {"phase": "default",
                                                                "optimizer": job.optimizer}
        if job.phase == "search":
            return job, {"optimizer": job.optimizer}, {"phase": "search",
                                                       "optimizer": job.optimizer}
        searching = [t for t in trials if job_of(t) == Job("search", job.optimizer)
                     and t.state in (TrialState.RUNNING, TrialState.WAITING)]
        if searching:  # its best configuration is not known yet
            blocked = True
            continue
        best = best_search_trial(trials, job.optimizer, study.direction.name.lower())
        if best is None:
            continue  # every search trial diverged or failed: nothing to re-run
        index = list(space.optimizers).index(job.optimizer)
        seed = derive_seed(config.seed, RERUN_SEED_STREAM, index, int(job.seed_index or 0))
        return job, dict(best.params), {"phase": "rerun", "optimizer": job.optimizer,
                                        "seed_index": job.seed_index, "rerun_of": best.number,
                                        "seed": seed}
    return "blocked" if blocked else None


def take_job(study: optuna.Study, config: CompareConfig, space: SearchSpace,
             lock: Any) -> optuna.trial.Trial | None | str:
    """Under the study's lock: enqueue the next job and start it (or one a killed run left
    enqueued); None when done, "blocked" when waiting on another process."""
    import optuna
    from optuna.trial import TrialState

    with lock.held():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        if not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            found = next_job(study, config, space)
            if found is None or isinstance(found, str):
                return found
            _, params, attrs = found
            with warnings.catch_warnings():  # torch's defaults may sit outside a narrowed range
                warnings.simplefilter("ignore")
                study.enqueue_trial(params, user_attrs=attrs, skip_if_exists=False)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Heartbeat of storage")
            warnings.filterwarnings("ignore", message="Fixed parameter")
            return study.ask()


@dataclass(frozen=True)
class TaskRun:
    """One task's part of a comparison in this process: its study and objective."""

    study: optuna.Study
    objective: Objective


def open_task(config: CompareConfig, study_config: StudyConfig, prepared: PreparedTask,
              seed: int, device: torch.device) -> TaskRun:
    """Open one task's study, with this process's sampler, and build its objective."""
    from hpsearch.study import make_sampler, open_study
    from hpsearch.train import DeviceData

    study = open_study(study_config, sampler_seed=seed, heartbeat=True)
    study.sampler = make_sampler("random", seed)
    data = DeviceData.from_task_data(prepared.data, device, with_test=True)
    objective = Objective(prepared.task, data, study_config.space, study_config.epochs,
                          study_config.batch_size, seed, device, score_test=True)
    return TaskRun(study, objective)


def check_task(study: optuna.Study, study_config: StudyConfig, prepared: PreparedTask) -> None:
    """Refuse a study made by `tune`, or for other settings; stores nothing."""
    from hpsearch.study import check_study

    stored = study.user_attrs.get("protocol")
    if "task" in study.user_attrs and not stored:
        raise StudyMismatchError(f"study '{study_config.study_name}' was made by `hpsearch "
                                 "tune`, not `compare`; use another --prefix")
    check_study(study, study_config, prepared)
    if stored and stored.get("epochs") != study_config.epochs:
        raise StudyMismatchError(f"study '{study_config.study_name}' was made with epochs="
                                 f"{stored.get('epochs')}, not {study_config.epochs}")


def record_task(config: CompareConfig, run: TaskRun, study_config: StudyConfig,
                prepared: PreparedTask, seed: int, device: torch.device, workers: int) -> None:
    """Reclaim trials of dead processes; record this run and the protocol with the study."""
    from hpsearch.device import describe
    from hpsearch.recovery import reclaim_dead_trials
    from hpsearch.sweep import _record_run

    reclaim_dead_trials(run.study)
    _record_run(run.study, study_config, prepared, seed, describe(device), workers)
    run.study.set_user_attr("protocol", config.protocol(study_config))


def prepare_all(config: CompareConfig) -> list[PreparedTask]:
    return [prepare_task(c.task, split_seed=c.split_seed, val_fraction=c.val_fraction)
            for c in config.studies]


def open_tasks(config: CompareConfig, prepared: list[PreparedTask], seed: int, index: int,
               device: torch.device, first: bool, workers: int = 1) -> list[TaskRun]:
    """Every task's study; the first process checks them all before it records anything."""
    pairs = list(zip(config.studies, prepared, strict=True))
    runs = [open_task(config, study_config, task, derive_seed(seed, number, index), device)
            for number, (study_config, task) in enumerate(pairs)]
    if first:
        for run, (study_config, task) in zip(runs, pairs, strict=True):
            check_task(run.study, study_config, task)
        for run, (study_config, task) in zip(runs, pairs, strict=True):
            record_task(config, run, study_config, task, seed, device, workers)
    return runs


Callback = Callable[[str, "optuna.Study", "optuna.trial.FrozenTrial"], None]


def run_tasks(config: CompareConfig, runs: list[TaskRun],
              on_trial: Callback | None = None) -> str | None:
    """Run this process's share of every task's protocol; returns why it stopped short, if it
    did. A process with nothing left to take on a task moves on: the process that finishes the
    last search trial of an optimizer runs its re-runs."""
    from hpsearch.budget import BudgetLock

    failures = FailureLimit()
    for study_config, run in zip(config.studies, runs, strict=True):
        lock = BudgetLock(study_config.storage, study_config.study_name)
        try:
            for trial in _trials(run.study, config, study_config.space, lock):
                finished = run_one(run.study, trial, run.objective)
                failures(run.study, finished)
                if on_trial:
                    on_trial(study_config.task, run.study, finished)
                if failures.message:
                    return f"{study_config.task}: {failures.message}"
        finally:
            lock.close()
    return None


def _trials(study: optuna.Study, config: CompareConfig, space: SearchSpace,
            lock: Any) -> Iterator[optuna.trial.Trial]:
    while True:
        trial = take_job(study, config, space, lock)
        if trial is None or isinstance(trial, str):
            return
        yield trial


@dataclass(frozen=True)
class CompareJob:
    """The comparison as the other worker processes run it."""

    config: CompareConfig

    def prepare(self) -> list[PreparedTask]:
        return prepare_all(self.config)

    def run(self, prepared: list[PreparedTask], seed: int, index: int) -> str | None:
        from hpsearch.device import resolve_device

        device = resolve_device(self.config.device)
        return run_tasks(self.config, open_tasks(self.config, prepared, seed, index, device,
                                                 first=False))


@dataclass(frozen=True)
class CompareResult:
    studies: tuple[str, ...]
    seconds: float
    stopped: str | None


def compare(config: CompareConfig, workers: int = 1, on_trial: Callback | None = None,
            on_start: Callable[[list[PreparedTask]], None] | None = None) -> CompareResult:
    """Run (or continue) the protocol on every task; `workers` processes share it."""
    import torch

    from hpsearch.device import resolve_device

    started = time.perf_counter()
    pool = WorkerPool(CompareJob(config), workers) if workers > 1 else None
    try:
        device = resolve_device(config.device)
        prepared = prepare_all(config)
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
        torch.set_flush_denormal(True)
        # This process (worker 0) creates and checks every study before the others open one.
        runs = open_tasks(config, prepared, config.seed, 0, device, first=True, workers=workers)
        if on_start:
            on_start(prepared)
        if pool is None:
            stopped = run_tasks(config, runs, on_trial)
        else:
            pool.go(config.seed)
            stopped = run_tasks(config, runs, on_trial)
            problems = [f"worker 0: {stopped}"] if stopped else []
            problems += pool.wait(lambda: None)
            stopped = "; ".join(problems) or None
    except BaseException:
        if pool:
            pool.stop()
        raise
    return CompareResult(tuple(c.study_name for c in config.studies),
                         time.perf_counter() - started, stopped)
