"""One trial of a command: the user's program run under a supervisor with the trial's arguments
and environment, its points read as they come, and everything it started ended with it (see
`process`). Standard library only: the parent of a command trial never needs torch for it."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpsearch.training.user.definition import UserTraining
from hpsearch.training.user.points import (
    REPORT_FILE,
    ClientReader,
    LineReader,
    Point,
    TrainingFailed,
    read_end_file,
)
from hpsearch.training.user.process import Exited, Line, Program

CONFIG_FILE = "config.json"  # the trial's whole configuration, as `hpsearch best` writes it
CLIENT_POLL_S = 0.05  # how often the client's file is read while the program says nothing
WATCHDOG_S = 1.0  # the longest wait between two looks at the trial's clock


class TimedOut(TrainingFailed):
    """The program ran past --trial-timeout and was stopped."""


def trial_environment(base: Mapping[str, str], folder: Path, study: str, seed: int,
                      threads: int, gpus: list[str] | None,
                      previous: Path | None = None) -> dict[str, str]:
    """What a trial's program finds in its environment: hpsearch's own, with its output
    unbuffered, its share of the cores, its GPUs, and where its configuration and reports are."""
    env = {**base, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(threads),
           "HPSEARCH_CONFIG": str(folder / CONFIG_FILE), "HPSEARCH_REPORT": str(folder / REPORT_FILE),
           "HPSEARCH_TRIAL_DIR": str(folder), "HPSEARCH_SEED": str(seed), "HPSEARCH_STUDY": study}
    env.pop("HPSEARCH_PREVIOUS_TRIAL_DIR", None)
    if previous is not None:
        env["HPSEARCH_PREVIOUS_TRIAL_DIR"] = str(previous)
    if gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
    return env


def git_state(folder: Path) -> dict[str, Any] | None:
    """The commit a working directory is at and whether it has uncommitted changes; None outside
    a git checkout (or without git)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True,
                                text=True, timeout=10, check=False)
        if commit.returncode != 0:
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=folder, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit.stdout.strip(), "uncommitted_changes": bool(status.stdout.strip())}


@dataclass
class CommandRun:
    """The program of one trial. `points()` yields each evaluation point as it arrives and
    ends the program when the caller stops early; afterwards `exit_code` and `test` say how it
    ended and what it reported on the held-out split."""

    training: UserTraining
    argv: list[str]
    workdir: Path
    env: dict[str, str]
    folder: Path
    timeout: float | None = None  # seconds from `started`
    started: float = field(default_factory=time.monotonic)
    exit_code: int | None = None
    test: float | None = None
    seen: int = 0

    def points(self) -> Generator[Point, None, None]:
        reader = LineReader(self.training.metric_regex, self.training.test_regex)
        client = (ClientReader(self.folder / REPORT_FILE) if self.training.reporting == "client"
                  else None)
        with Program(self.argv, cwd=self.workdir, env=self.env, logs=self.folder,
                     grace=self.training.grace_seconds) as program:
            while True:
                event = program.next_event(CLIENT_POLL_S if client else self.wait())
                for point in client.read() if client else ():
                    yield from self.counted(point)
                if isinstance(event, Line):
                    matched = reader.read(event.text)
                    if matched is not None:
                        yield from self.counted(matched)
                elif isinstance(event, Exited):
                    ended = event
                    break
                self.check_clock()
        for point in client.read() if client else ():  # what it wrote before it exited
            yield from self.counted(point)
        self.exit_code = ended.returncode
        self.test = reader.test if reader.test is not None else self.test
        if ended.returncode != 0:
            raise TrainingFailed(f"exit code {ended.returncode}"
                                 + (f": {ended.last_error}" if ended.last_error else ""))
        if self.training.reporting == "file":
            for point in read_end_file(self.folder / str(self.training.metric_file)):
                yield from self.counted(point)
        if not self.seen:
            raise TrainingFailed(self.nothing_reported())

    def counted(self, point: Point) -> Iterator[Point]:
        self.seen += 1
        if point.test is not None:
            self.test = point.test
        yield point

    def wait(self) -> float:
        if self.timeout is None:
            return WATCHDOG_S
        return max(0.0, min(WATCHDOG_S, self.started + self.timeout - time.monotonic()))

    def check_clock(self) -> None:
        seconds = time.monotonic() - self.started
        if self.timeout is not None and seconds > self.timeout:
            raise TimedOut(f"trial timeout: {seconds:.1f} s > {self.timeout:g} s, the program "
                           f"was stopped after {self.seen} points")

    def nothing_reported(self) -> str:
        if self.training.reporting == "regex":
            return (f"the program ended (exit code 0) without a line matching --metric-regex "
                    f"{self.training.metric_regex!r}")
        return ("the program ended (exit code 0) without reporting a point (hpsearch.client."
                "report, which writes to HPSEARCH_REPORT)")


def gpu_share(visible: list[str], per_trial: int, device: str) -> tuple[list[str] | None, str]:
    """The GPUs a trial's program sees (None: leave CUDA_VISIBLE_DEVICES as it is) and its
    `{device}`: this worker's first `per_trial` GPUs, or the CPU."""
    if device == "cpu":
        return ([] if visible else None), "cpu"
    if not visible:
        return None, "cpu"
    return visible[:per_trial], "cuda"


def host() -> str:
    return os.uname().nodename
