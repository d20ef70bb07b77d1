"""A study's definition, read once at the edge: studies/<task>.toml, overlaid by flags, checked, and
frozen into a `StudyConfig` that every layer below receives."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hpsearch.errors import ConfigError, choices
from hpsearch.space import SearchSpace
from hpsearch.tasks import get_task

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SAMPLERS = ("tpe", "random", "qmc")
PRUNERS = ("median", "hyperband", "sha", "none")
STUDIES_DIR = Path("studies")


@dataclass(frozen=True)
class StudyConfig:
    task: str
    study_name: str
    space: SearchSpace = field(default_factory=SearchSpace)
    n_trials: int = 100
    epochs: int = 20
    batch_size: int = 64
    timeout: float | None = None
    trial_timeout: float | None = None  # one trial's limit, checked at each epoch's end
    sampler: str = "tpe"
    pruner: str = "median"
    seed: int | None = 0
    device: str = "auto"
    storage: str | None = None
    split_seed: int = 0
    val_fraction: float = 0.2
    data: str | None = None  # the user's table replaces the task's data
    target: str | None = None
    model: str | None = None  # FILE.py:FUNCTION or package.module:FUNCTION
    warm_start: tuple[str, ...] = ()  # studies whose best configurations run first
    lr_from_range_test: bool = False  # narrow each optimizer's lr range by a range test first
    source: str = "built-in defaults"

    def __post_init__(self) -> None:
        get_task(self.task)
        for name in ("n_trials", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer; got {value!r}")
        for name in ("timeout", "trial_timeout"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and value > 0):
                raise ConfigError(f"{name} must be a positive number of seconds; got {value!r}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"unknown sampler '{self.sampler}'; valid choices: {choices(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            raise ConfigError(f"unknown pruner '{self.pruner}'; valid choices: {choices(PRUNERS)}")
        if not self.study_name:
            raise ConfigError("the study name must not be empty")
        if not 0 < self.val_fraction <= 0.5:
            raise ConfigError(f"val_fraction must be in (0, 0.5]; got {self.val_fraction!r}")
        if self.data is not None and self.task not in ("classification", "regression"):
            raise ConfigError(f"task '{self.task}' has built-in data; --data applies to "
                              "--task classification or regression only")


FILE_KEYS = {f.name for f in fields(StudyConfig)} - {"space", "study_name", "source"} | {
    "study", "optimizers", "schedules", "clip", "ranges"}


def read_study_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file '{path}' does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file '{path}' is not valid TOML: {error}") from None
    unknown = sorted(set(data) - FILE_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key '{unknown[0]}' in '{path}'; valid choices: {choices(sorted(FILE_KEYS))}"
        )
    return data


def load_config(task: str | None, config_file: Path | None = None,
                overrides: Mapping[str, Any] | None = None) -> StudyConfig:
    """The study definition: `--config FILE`, else `studies/<task>.toml` if present, else the
    task's defaults; flags (`overrides`, None meaning "not given") win over the file."""
    if config_file is None and task and (STUDIES_DIR / f"{task}.toml").is_file():
        config_file = STUDIES_DIR / f"{task}.toml"
    values = read_study_file(config_file) if config_file else {}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    task = task or values.pop("task", None)  # the --task flag wins over the file's
    values.pop("task", None)
    if not task:
        raise ConfigError("no task given; use --task or set `task` in the config file")
    task_spec = get_task(task)
    ranges = values.pop("ranges", {})
    if not isinstance(ranges, dict) or not all(
        isinstance(v, list) and len(v) == 2 for v in ranges.values()
    ):
        raise ConfigError("`ranges` must map parameter names to [low, high] pairs")
    space_args: dict[str, Any] = {"ranges": {k: tuple(v) for k, v in ranges.items()}}
    for key in ("optimizers", "schedules"):
        if key in values:
            space_args[key] = tuple(values.pop(key))
    if "clip" in values:
        space_args["clip"] = bool(values.pop("clip"))
    values.setdefault("batch_size", task_spec.batch_size)
    default_name = Path(values["data"]).stem if values.get("data") else task
    return StudyConfig(
        task=task,
        study_name=values.pop("study", None) or default_name,
        space=SearchSpace(**space_args),
        source=str(config_file) if config_file else "built-in defaults",
        **values,
    )
