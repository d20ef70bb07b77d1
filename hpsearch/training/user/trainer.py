"""The user's own training as a trainer: the trial's command run, or its function called, with the
trial's configuration, and each point it reports handed on as a `PointResult`, as hpsearch's own
loops yield theirs. A command's points arrive as its program prints them; a function calls
`report` itself, so points are handed to `on_result` (the engine's `take_point`) as they come,
and a reason it returns stops the trial there (`Stopped`). Knows no Optuna."""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch import record as rec
from hpsearch.space.conditional import TrialConfig
from hpsearch.training.tables import PointResult
from hpsearch.training.user import placeholders
from hpsearch.training.user.command import (
    CONFIG_FILE,
    CommandRun,
    TimedOut,
    git_state,
    host,
    trial_environment,
)
from hpsearch.training.user.definition import UserTraining
from hpsearch.training.user.function import load_function, run_function
from hpsearch.training.user.points import Point

if TYPE_CHECKING:
    from hpsearch.tasks import Problem

# What the engine does with a point: None to go on, or why the trial stops there.
OnResult = Callable[[PointResult], "str | None"]


class Stopped(Exception):  # noqa: N818 (a stop, not an error: the trial ends as the engine says)
    """The engine stopped the trial at a point it reported: pruned, diverged or out of time."""


@dataclass(frozen=True)
class TrialRun:
    """One trial of the user's training: its configuration and the run's own values (steps,
    evaluation points, seed, folder, device; a scale sweep's width), as its placeholders and its
    configuration file name them; `previous` is the folder of the trial it retries, if any."""

    number: int
    config: TrialConfig
    values: dict[str, Any]
    params: dict[str, Any]  # as the sampler drew them
    total_steps: int
    previous: Path | None = None

    @property
    def folder(self) -> Path:
        return Path(self.values["trial_dir"])

    @property
    def seed(self) -> int:
        return int(self.values["seed"])


@dataclass(frozen=True)
class UserTrainer:
    """How a study's trials of the user's training train: `threads` its share of the cores,
    `gpus` the GPUs its program sees (None: as hpsearch sees them), `trial_timeout` in seconds."""

    training: UserTraining
    problem: Problem
    study_name: str
    waits_for_decay: bool  # where the program receives the schedule: pruning waits for its decay
    threads: int = 1
    gpus: list[str] | None = None
    trial_timeout: float | None = None

    def fit(self, run: TrialRun, record: dict[str, Any], on_result: OnResult,
            started: float) -> float:
        """Train the trial (its configuration written to its folder first, in `hpsearch best
        --format json`'s schema plus the run's values); returns the last point's value. Writes
        what it learns of the program (its command, exit code, git state, held-out value) into
        `record`; `started` is the trial's `time.perf_counter()` at its beginning."""
        handed = {**run.config.to_dict(),
                  "metric": {"name": self.problem.metric, "value": None,
                             "direction": self.problem.direction},
                  **run.values, "batch_size": None, "study": self.study_name,
                  "trial": {"number": run.number, "seed": run.seed, "best_epoch": None,
                            "best_value": None, "params": run.params}}
        (run.folder / CONFIG_FILE).write_text(json.dumps(handed, indent=2) + "\n",
                                              encoding="utf-8")
        record.update({rec.TRIAL_DIR: str(run.folder), rec.HOST: host()})
        taken = Taken(self.problem.metric, run.total_steps, on_result)
        if self.training.function is not None:
            return self.call_function(handed, record, taken)
        return self.run_command(run, record, taken, started)

    def run_command(self, run: TrialRun, record: dict[str, Any], taken: Taken,
                    started: float) -> float:
        argv = placeholders.fill(self.training.command,
                                 {**placeholders.trial_values(run.config, run.values["steps"]),
                                  **run.values})
        workdir = Path(self.training.workdir or os.getcwd()).resolve()
        env = trial_environment(os.environ, run.folder, self.study_name, run.seed, self.threads,
                                self.gpus, run.previous)
        record.update({rec.COMMAND: argv, rec.WORKDIR: str(workdir)})
        git = git_state(workdir)
        if git is not None:
            record[rec.GIT] = git
        start = time.monotonic() - (time.perf_counter() - started)
        program = CommandRun(self.training, argv, workdir, env, run.folder, self.trial_timeout,
                             start)
        value = math.nan
        try:
            with contextlib.closing(program.points()) as points:
                for point in points:
                    value = point.value
                    stop = taken(point)
                    if stop:
                        raise Stopped(stop)
        except TimedOut as timeout:
            if not program.seen:
                raise
            record[rec.REASON] = str(timeout)
            raise Stopped(str(timeout)) from None
        finally:
            if program.exit_code is not None:
                record[rec.EXIT_CODE] = program.exit_code
            if program.test is not None:
                record[rec.TEST_VALUE] = program.test
        return value

    def call_function(self, handed: dict[str, Any], record: dict[str, Any], taken: Taken) -> float:
        record[rec.COMMAND] = self.training.function_name
        points, stopped, returned = run_function(load_function(self.training), handed, taken)
        if stopped:
            raise Stopped(stopped)
        if not points and returned is not None:  # its number is its one point
            points = [Point(returned)]
            stop = taken(points[0])
            if stop:
                raise Stopped(stop)
        tests = [p.test for p in points if p.test is not None]
        if tests:
            record[rec.TEST_VALUE] = tests[-1]
        return points[-1].value


class Taken:
    """Each point of the user's training handed on as a built-in loop's evaluation: its index is
    Optuna's step, and a non-finite value ends the trial as diverged."""

    def __init__(self, metric: str, total_steps: int, on_result: OnResult) -> None:
        self.metric, self.total_steps, self.on_result = metric, total_steps, on_result
        self.steps: list[int | None] = []  # the program's own step at each point, where it says

    def __call__(self, point: Point) -> str | None:
        index = len(self.steps)
        self.steps.append(point.step)
        where = f"step {point.step}" if point.step is not None else f"point {index + 1}"
        diverged = (None if math.isfinite(point.value)
                    else f"non-finite {self.metric} {point.value} at {where}")
        extra: dict[str, Any] = {rec.POINT_STEPS: list(self.steps)}
        others = {k: v for k, v in point.metrics.items() if k != "test"}
        if others:
            extra[rec.METRICS] = others
        return self.on_result(PointResult(index, math.nan, (point.value,), 0,
                                          int(point.step or 0), diverged,
                                          total_steps=self.total_steps, extra=extra))
