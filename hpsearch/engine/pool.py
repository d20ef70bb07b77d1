"""Workers 1 .. N-1 of a parallel run on this machine; this process is worker 0.

The other workers are spawned first, so that their imports and data loading overlap with this
process's checks; they touch the storage only once told to go (the study exists by then), and are
stopped at once if the checks fail.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from hpsearch.engine import signals
from hpsearch.training.device import use_training_threads, visible_gpus, worker_environment

STOP_GRACE_S = 10  # a stopped worker's time to record its trial in flight


class Work(Protocol):
    """What worker processes run: picklable, since they are spawned."""

    def load(self) -> Any:
        """Imports and data, before worker 0 says go: nothing here may touch the storage."""

    def run(self, prepared: Any, seed: int, index: int) -> str | None:
        """Run trials as worker `index`; returns why it stopped short, if it did."""


class WorkerPool:
    """Workers 1 .. N-1 of a parallel run: spawned processes (not threads: the GIL and torch's
    thread pool fight), each with its share of the cores and, on a machine with several GPUs, its
    own GPU. Each sends one message when it stops: its problem, or None."""

    def __init__(self, work: Work, workers: int, gpus_per_worker: int = 1) -> None:
        context = multiprocessing.get_context("spawn")
        self.workers = workers
        self.inbox = context.Queue()  # the seed to derive from; None: stop at once
        self.results = context.Queue()  # (worker index, problem or None)
        gpus = visible_gpus()
        self.told_to_go = False
        self.processes = {}
        for index in range(1, workers):
            process = context.Process(target=_worker, args=(
                work, index, workers, worker_environment(index, gpus, gpus_per_worker), self.inbox,
                self.results),
                name=f"hpsearch-worker-{index}")
            process.start()
            self.processes[index] = process

    def go(self, seed: int) -> None:
        self.told_to_go = True
        for _ in self.processes:
            self.inbox.put(seed)

    def stop(self) -> None:
        """Workers not yet told to go have stored nothing: they are stopped at once. The others
        are interrupted as by Ctrl-C: each records its trial in flight as failed and exits; one
        that has not within STOP_GRACE_S is terminated, then killed."""
        for process in self.processes.values():
            if process.is_alive() and process.pid is not None:
                if self.told_to_go:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(process.pid, signal.SIGINT)
                else:
                    process.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for process in self.processes.values():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.terminate()
                process.join(5)
            if process.is_alive():
                process.kill()
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
            signals.check()  # a stop whose exception was swallowed where it landed
        for process in self.processes.values():  # its message comes just before its exit:
            process.join(STOP_GRACE_S)  # wait for that, so that no worker holds the storage
        return problems


def _worker(work: Work, index: int, workers: int, env: dict[str, str], inbox: Any,
            results: Any) -> None:
    problem = None
    try:
        signals.stop_with_parent()  # never train on after the parent died
        signals.stop_on_signals()
        os.environ.update(env)
        import optuna
        import torch

        use_training_threads(workers)
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        prepared = work.load()
        import torch._dynamo  # noqa: F401  (the first torch.optim step imports it: 1 s)

        seed = inbox.get()  # worker 0 has checked the input and created the study
        if seed is None:
            return
        stopped = work.run(prepared, seed, index)
        problem = f"worker {index}: {stopped}" if stopped else None
    except KeyboardInterrupt:
        pass
    except Exception as error:  # reported by worker 0 in one line
        problem = f"worker {index}: {type(error).__name__}: {error}"
    results.put((index, problem))
    results.close()
    results.join_thread()  # the message is sent; what is left is the interpreter's teardown,
    os._exit(1 if problem else 0)  # 0.6 s with torch loaded, which worker 0 would wait for


def run_together(pool: WorkerPool, seed: int, here: Callable[[], str | None],
                 on_wait: Callable[[], None] = lambda: None) -> str | None:
    """Tell the others to go, run worker 0's share here, then wait for them (calling `on_wait`
    about once a second); returns every worker's problem, one line each, or None."""
    pool.go(seed)
    stopped = here()
    problems = [f"worker 0: {stopped}"] if stopped else []
    problems += pool.wait(on_wait)
    return "; ".join(problems) or None


@contextlib.contextmanager
def worker_pool(work: Work, workers: int, gpus_per_worker: int = 1) -> Iterator[WorkerPool | None]:
    """The other workers of a run (None when this process is alone), spawned now so that their
    imports and data loading overlap this process's checks, and stopped at once if anything this
    process does before or while they run fails."""
    pool = WorkerPool(work, workers, gpus_per_worker) if workers > 1 else None
    try:
        yield pool
    except BaseException:
        if pool:
            pool.stop()
        raise


def run_shares(pool: WorkerPool | None, seed: int, here: Callable[[], str | None],
               on_wait: Callable[[], None] = lambda: None) -> str | None:
    """This process's share of the trials, with the other workers' where there are others."""
    return here() if pool is None else run_together(pool, seed, here, on_wait)
