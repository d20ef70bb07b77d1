"""A study file (`studies/<task>.toml`, `--config FILE`): its keys, the type each value must have,
and the file read and checked, each key's value typed, before any flag overlays it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

from hpsearch.errors import ConfigError, choices
from hpsearch.tasks.spreadsheet import READING_KEYS
from hpsearch.training.user.definition import split_command

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BUDGET_KEYS = ("steps", "eval_every", "tokens")  # a budget in steps, for every task
LANGUAGE_KEYS = ("width", "depth", "context", "vocab_size")

# Each key of a study file, and the type its value must have. Lists of names may also be written
# as one string, read as the command line reads it: `"adam,sgd"` or `"adam"`.
FILE_TYPES: dict[str, str] = {
    "task": "string", "study": "string", "n_trials": "integer", "epochs": "integer",
    "batch_size": "integer", "timeout": "number", "trial_timeout": "number", "sampler": "string",
    "pruner": "string", "seed": "integer", "device": "string", "storage": "string",
    "split_seed": "integer", "val_fraction": "number", "data": "string", "target": "string",
    "model": "string", "warm_start": "list of names", "lr_from_range_test": "boolean",
    "optimizers": "list of names", "schedules": "list of names", "clip": "boolean",
    "ranges": "table of [low, high] pairs", "weight_decay_on": "string", "precision": "string",
    "compile": "boolean", "batch_trials": "integer or auto", **dict.fromkeys(READING_KEYS, "string"),
    **dict.fromkeys((*BUDGET_KEYS, *LANGUAGE_KEYS), "integer"),
    "command": "list of arguments", "train": "string", "metric_regex": "string",
    "test_regex": "string", "metric_file": "string", "metric_name": "string", "direction": "string",
    "workdir": "string", "trials_dir": "string", "grace_seconds": "number",
    "reads_config": "boolean", "gpus_per_trial": "integer",
}
# The user's own training: the keys (and flags) that say what it is, as `UserTraining` names them.
USER_KEYS = {"command": "command", "train": "function", "metric_regex": "metric_regex",
             "test_regex": "test_regex", "metric_file": "metric_file", "metric_name": "metric",
             "direction": "direction", "workdir": "workdir", "trials_dir": "trials_dir",
             "grace_seconds": "grace_seconds", "reads_config": "reads_config",
             "gpus_per_trial": "gpus_per_trial"}
FILE_KEYS = set(FILE_TYPES)

AUTO_BATCH: Literal["auto"] = "auto"  # `--batch-trials auto`: the batch size is measured on the device
BatchTrials = int | Literal["auto"]  # trials per batch as a definition holds it until measured


def parse_batch_trials(value: object, where: str = "") -> BatchTrials:
    """`batch_trials` as a user gives it (`--batch-trials N|auto`, a study file's `batch_trials`,
    the keyword): a positive whole number, or "auto"; `where` names the file it came from."""
    if value == AUTO_BATCH:
        return AUTO_BATCH
    # ASCII digits only: `str.isdigit` also takes "²", which `int` refuses.
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isascii() \
            or not str(value).isdigit() or int(value) < 1:
        raise ConfigError(f"batch_trials '{value}'{where} is neither a positive whole number nor auto")
    return int(value)


def measured_batch_trials(value: BatchTrials) -> int:
    """The trials a run takes together: "auto" is measured before the first is taken."""
    if value == AUTO_BATCH:
        raise ValueError("batch_trials 'auto' must be measured before trials are taken")
    return value


def check_batch_trials(value: object) -> None:
    """What a definition holds: a positive number, or `AUTO_BATCH` still to be measured."""
    if value != AUTO_BATCH and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ConfigError(f"batch_trials must be a positive whole number or auto; got {value!r}")


def typed(key: str, value: Any, path: Path) -> Any:
    """The value of a study file's key, checked against its type (a bool is not a number)."""
    kind = FILE_TYPES[key]
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "list of names" and isinstance(value, str):
        value = [name.strip() for name in value.split(",") if name.strip()]
    if kind == "list of arguments" and isinstance(value, str):
        value = list(split_command(value))
    ok = {"string": isinstance(value, str),
          "integer": isinstance(value, int) and not isinstance(value, bool),
          "integer or auto": True,  # `parse_batch_trials` says what is wrong
          "number": number,
          "boolean": isinstance(value, bool),
          "list of names": isinstance(value, list) and all(isinstance(v, str) for v in value),
          "list of arguments": isinstance(value, list) and bool(value) and all(
              isinstance(v, str) for v in value),
          "table of [low, high] pairs": isinstance(value, dict) and all(
              isinstance(v, list) and len(v) == 2 and all(
                  isinstance(b, int | float) and not isinstance(b, bool) for b in v)
              for v in value.values())}[kind]
    if not ok:
        article = "an" if kind[0] in "aeiou" else "a"
        raise ConfigError(f"'{key}' in '{path}' must be {article} {kind}; got {value!r} "
                          f"({type(value).__name__})")
    if kind == "integer or auto":
        return parse_batch_trials(value, f" in '{path}'")
    return tuple(value) if kind.startswith("list of") else value


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
    return {key: typed(key, value, path) for key, value in data.items()}
