"""What one run of any protocol did, in one type: `tune`, `compare` and `scale` each return a
`RunResult`, counted the same way. A run is this process and its workers; other commands may
grow the same studies meanwhile, and their trials are counted apart."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hpsearch import record
from hpsearch.engine.storage import display, storage_url

if TYPE_CHECKING:
    import optuna

    from hpsearch.engine.pool import WorkerPool


@dataclass(frozen=True)
class Share:
    """This run's part of studies that other commands may grow at the same time: the trials its
    own processes (this one and its workers) finished since it began."""

    host: str
    pids: frozenset[int]
    before: Mapping[str, frozenset[int]]  # per study name, the trials finished before it began

    def ran(self, study_name: str, trial: optuna.trial.FrozenTrial) -> bool:
        worker = trial.user_attrs.get(record.WORKER)
        return (trial.state.is_finished()
                and trial.number not in self.before.get(study_name, frozenset())
                and isinstance(worker, dict) and worker.get("host") == self.host
                and worker.get("pid") in self.pids)


def share_of(studies: Iterable[optuna.Study], pool: WorkerPool | None) -> Share:
    """This run's share, taken once its studies are open and before its trials start."""
    pids = [os.getpid(), *(p.pid for p in (pool.processes.values() if pool else ()))]
    before = {study.study_name: frozenset(t.number for t in study.get_trials(deepcopy=False)
                                          if t.state.is_finished()) for study in studies}
    return Share(socket.gethostname(), frozenset(p for p in pids if p is not None), before)


@dataclass(frozen=True)
class RunResult:
    """One run of a protocol: its studies, where they are stored, the device, how long it took and
    why it stopped short (if it did); the trials that count towards the studies' totals before and
    after it; the trials its own processes finished, their steps per second all together, and the
    trials other commands finished meanwhile."""

    studies: tuple[optuna.Study, ...]
    storage: str  # for display: password masked
    device: str
    seconds: float
    stopped: str | None
    trials_before: int
    trials_after: int
    trials_run: int = 0
    steps_per_second: float | None = None
    others: int = 0

    @property
    def study(self) -> optuna.Study:
        """The first study (a sweep's only one)."""
        return self.studies[0]

    @property
    def study_names(self) -> tuple[str, ...]:
        return tuple(study.study_name for study in self.studies)

    @property
    def already_done(self) -> bool:
        """Every study held its total before the run: it ran nothing."""
        return self.trials_before == self.trials_after and self.trials_before > 0


def counted(studies: Iterable[optuna.Study]) -> int:
    """Trials that count towards the studies' totals (`record.counted`), all studies together."""
    return sum(record.counted(study.get_trials(deepcopy=False)) for study in studies)


def result_of(studies: Iterable[optuna.Study], share: Share, started: float, storage: str | None,
              device: str, stopped: str | None, trials_before: int) -> RunResult:
    """The run's result, read from its studies once it has ended; `started` is the run's
    `time.perf_counter()` at its beginning, `storage` the URL (or None: the default) it ran on."""
    studies = tuple(studies)
    seconds = time.perf_counter() - started
    mine = others = steps = 0
    for study in studies:
        for trial in study.get_trials(deepcopy=False):
            if not trial.state.is_finished() or trial.number in share.before.get(
                    study.study_name, frozenset()):
                continue
            if share.ran(study.study_name, trial):
                mine += 1
                steps += int(record.trial_attrs(trial).get(record.STEPS) or 0)
            else:
                others += 1
    return RunResult(studies, display(storage_url(storage)), device, seconds, stopped,
                     trials_before, counted(studies), mine,
                     steps / seconds if mine and seconds > 0 else None, others)
