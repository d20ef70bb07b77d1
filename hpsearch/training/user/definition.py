"""What the user's own training is: a command (an argument list with placeholders) or a function,
how it reports its evaluation points, and what a study of it must share with the runs that resume
it. Pure: nothing here starts a process or imports the user's code."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpsearch.errors import ConfigError, choices
from hpsearch.tasks.base import Problem

DIRECTIONS = ("minimize", "maximize")
REPORTING = ("regex", "client", "file")  # how a command hands over its points
DEFAULT_GRACE_S = 10.0


def split_command(text: str) -> tuple[str, ...]:
    """A command line split as a shell splits it (quotes, escapes), never run through one."""
    try:
        argv = tuple(shlex.split(text))
    except ValueError as error:
        raise ConfigError(f"--command {text!r} cannot be split into arguments: {error}") from None
    if not argv:
        raise ConfigError("--command is empty; give the program and its arguments")
    return argv


def compiled(pattern: str, option: str) -> re.Pattern[str]:
    """A metric pattern: a regular expression with a named group `value` (and optionally `step`)."""
    try:
        regex = re.compile(pattern)
    except re.error as error:
        raise ConfigError(f"{option} {pattern!r} is not a regular expression: {error}") from None
    if "value" not in regex.groupindex:
        raise ConfigError(f"{option} {pattern!r} has no group named 'value'; write the number "
                          "as (?P<value>...) and, optionally, the step as (?P<step>...)")
    return regex


@dataclass(frozen=True)
class UserTraining:
    """The user's training: `command` (an argument list whose `{name}` placeholders are filled per
    trial) or `function` (`module:function`, `file.py:function`, or, in one process, the function
    itself), called as `fn(config, report)`."""

    command: tuple[str, ...] = ()
    function: str | Callable[..., Any] | None = None
    metric_regex: str | None = None  # lines of either stream: (?P<value>) and maybe (?P<step>)
    test_regex: str | None = None  # a comparison's re-runs: the held-out value
    metric_file: str | None = None  # a JSON file the program writes in its trial folder at its end
    metric: str = "value"  # the metric's name in reports
    direction: str = "minimize"
    workdir: str | None = None  # where the command runs [default: where hpsearch started]
    trials_dir: str | None = None  # the trials' folders [default: beside the storage file]
    grace_seconds: float = DEFAULT_GRACE_S  # from SIGTERM to SIGKILL when a trial is stopped
    reads_config: bool = False  # the program reads HPSEARCH_CONFIG: every part of the space is drawn
    gpus_per_trial: int = 1
    sweeps_width: bool = False  # a scale sweep's runs: {width}, {base_width}, {parametrization}, {depth}

    def __post_init__(self) -> None:
        if bool(self.command) == (self.function is not None):
            raise ConfigError("give one of --command and --train")
        if self.direction not in DIRECTIONS:
            raise ConfigError(f"unknown direction '{self.direction}'; valid choices: "
                              f"{choices(DIRECTIONS)}")
        for pattern, option in ((self.metric_regex, "--metric-regex"),
                                (self.test_regex, "--test-regex")):
            if pattern is not None:
                compiled(pattern, option)
        if self.metric_regex is not None and self.metric_file is not None:
            raise ConfigError("give one of --metric-regex and --metric-file: a study reads its "
                              "points one way")
        if self.function is not None:
            given = [option for option, value in (("--metric-regex", self.metric_regex),
                                                  ("--metric-file", self.metric_file),
                                                  ("--test-regex", self.test_regex),
                                                  ("--workdir", self.workdir))
                     if value is not None]
            if given:
                raise ConfigError(f"{given[0]} applies to --command; a function reports through "
                                  "its `report` argument")
        if self.metric_file is not None and (Path(self.metric_file).is_absolute()
                                             or ".." in Path(self.metric_file).parts):
            raise ConfigError(f"--metric-file '{self.metric_file}' must be a name inside the "
                              "trial's folder")
        if not (isinstance(self.grace_seconds, int | float) and self.grace_seconds >= 0):
            raise ConfigError(f"--grace-seconds must be a number of seconds >= 0; got "
                              f"{self.grace_seconds!r}")
        if not isinstance(self.gpus_per_trial, int) or self.gpus_per_trial < 1:
            raise ConfigError(f"--gpus-per-trial must be a positive integer; got "
                              f"{self.gpus_per_trial!r}")
        if not self.metric or not isinstance(self.metric, str):
            raise ConfigError(f"--metric-name must be a non-empty name; got {self.metric!r}")
        if self.workdir is not None and not Path(self.workdir).is_dir():
            raise ConfigError(f"--workdir '{self.workdir}' is not a folder")

    @property
    def kind(self) -> str:
        return "command" if self.command else "function"

    @property
    def reporting(self) -> str:
        """How points arrive: matched lines, the client's JSON lines, or a file at the end."""
        if self.metric_regex is not None:
            return "regex"
        return "file" if self.metric_file is not None else "client"

    @property
    def function_name(self) -> str:
        """The function as a name: what a study records and a worker imports."""
        if isinstance(self.function, str):
            return self.function
        function = self.function
        return f"{getattr(function, '__module__', '?')}:{getattr(function, '__qualname__', '?')}"

    def problem(self) -> Problem:
        """The metric and direction its trials report."""
        return Problem("user", self.metric, self.direction, ())

    def identity(self) -> dict[str, Any]:
        """What a resumed study must share with this run: the command (never taken from the
        storage: the run that resumes gives it again), how points are read, and the direction."""
        if self.function is not None:
            return {"train": self.function_name, "direction": self.direction}
        return {"command": list(self.command), "reporting": self.reporting,
                "metric_regex": self.metric_regex, "test_regex": self.test_regex,
                "metric_file": self.metric_file, "direction": self.direction,
                "reads_config": self.reads_config}

    def describe(self) -> str:
        if self.function is not None:
            return f"function {self.function_name}"
        return "command " + shlex.join(self.command)
