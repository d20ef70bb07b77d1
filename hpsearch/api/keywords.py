"""The Python API's keywords as a program hands them over: each checked against the type the
protocol's definition annotates, and lists taken as the command line takes them, before anything
runs. Pure: nothing here reads a file or a storage."""

from __future__ import annotations

import dataclasses
import numbers
import os
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hpsearch.errors import ConfigError, choices

WORDS = {int: "an integer", float: "a number", str: "a string", bool: "True or False",
         type(None): "None", Path: "a path"}


def fits(value: object, kind: Any) -> bool:
    """Whether `value` is of `kind` (no union): a bool is no number; numpy's integers are integers."""
    if isinstance(value, bool) or kind is bool:
        return kind is bool and isinstance(value, bool)
    if kind in (int, float):
        return isinstance(value, numbers.Integral if kind is int else numbers.Real)
    return isinstance(value, typing.get_origin(kind) or kind)


def typed(keyword: str, value: Any, hint: Any) -> Any:
    """`value` as the type `hint` annotates (`int`, `str | None`, ...); else a one-line error naming
    the keyword, the value and what is valid."""
    kinds = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for kind in kinds:
        if fits(value, kind):
            return kind(value) if kind in (int, float) else value
    what = " or ".join(WORDS.get(kind, getattr(kind, "__name__", str(kind))) for kind in kinds)
    raise ConfigError(f"{keyword} must be {what}; got {value!r} ({type(value).__name__})")


def typed_fields(values: Mapping[str, Any], definition: type) -> dict[str, Any]:
    """`values` of some of the fields of the dataclass `definition`, each as its annotation says; a
    path object stands for its text (`data=Path("table.csv")`)."""
    hints = typing.get_type_hints(definition)
    return {key: typed(key, os.fspath(value) if isinstance(value, os.PathLike) else value, hints[key])
            for key, value in values.items()}


def listed(keyword: str, value: Any, kind: type, default: Any = None) -> Any:
    """A keyword that takes several values (`kind` each): a sequence, or comma-separated text as
    the command line takes it ("corpus,small", "16,32"), never a string's letters; None: `default`."""
    if value is None:
        return default
    if isinstance(value, str):  # ASCII digits only: `int` also reads other scripts' digits
        value = [int(part) if kind is int and part.isascii() and part.isdigit() else part
                 for part in (text.strip() for text in value.split(",")) if part]
    whole = not isinstance(value, Iterable) or isinstance(value, bytes | Mapping)
    items = (value,) if whole else tuple(value)
    for item in items:
        if whole or not fits(item, kind):
            raise ConfigError(f"{keyword} takes {'integers' if kind is int else 'names'}, as a list or "
                              f"as comma-separated text; got {item!r} ({type(item).__name__})")
    return tuple(kind(item) for item in items)


def functions(keyword: str, value: Any, signature: str) -> tuple[Any, ...]:
    """A keyword that takes functions (`signature` says how they are called): a list, or one alone."""
    hooks = tuple(value) if isinstance(value, Iterable) and not isinstance(value, str) else (value,)
    for hook in hooks:
        if not callable(hook):
            raise ConfigError(f"{keyword} takes functions {signature}; got {hook!r} "
                              f"({type(hook).__name__})")
    return hooks


NAMED: dict[str, Any] = {"task": str | None, "study": str | None, "storage": str | None,
                         "n_trials": int | None, "config_file": str | Path | None}


def check_named(**values: Any) -> None:
    """The keywords the calls name (`task`, `study`, `storage`, ...), each of its type."""
    for keyword, value in values.items():
        typed(keyword, value, NAMED[keyword])


def flags(options: dict[str, Any], definition: type, taken: set[str],
          none_unsets: bool = False) -> dict[str, Any]:
    """A call's keyword flags, checked against the fields of the protocol's definition (less those
    the call takes by name) and their types, with `batch_trials` read as the CLI reads it ("auto"
    or a number). `none_unsets`: None leaves a flag unset, as `load_config` reads it."""
    from hpsearch.definition.study_file import parse_batch_trials

    known = {f.name for f in dataclasses.fields(definition)} - taken
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"unknown option '{unknown[0]}'; valid choices: {choices(sorted(known))}")
    given = {key: value for key, value in options.items() if value is not None or not none_unsets}
    if "batch_trials" in given:
        given["batch_trials"] = parse_batch_trials(given["batch_trials"])
    return {**options, **typed_fields(given, definition)}


def user_options(options: dict[str, Any], train: Any, command: Any) -> dict[str, Any]:
    """The options that say what the user's own training is, taken out of `options`: a command
    as one string or a list of arguments, a function or its name."""
    from hpsearch.definition.study_file import USER_KEYS

    own = {key: options.pop(key) for key in list(options) if key in USER_KEYS}
    if train is not None and not (callable(train) or isinstance(train, str)):
        raise ConfigError(f"train must be a function fn(config, report) or 'module:function'; "
                          f"got {type(train).__name__}")
    if command is not None and not isinstance(command, str):
        command = listed("command", command, str, None)
    return {**own, "train": train, "command": command}


def names(optimizers: Any, default: Any = None) -> Any:
    """Optimizers as the CLI takes them ("adam,sgd", a group) or as a sequence."""
    from hpsearch.space.optimizers import parse_optimizers

    if isinstance(optimizers, str):
        return parse_optimizers(optimizers)
    return listed("optimizers", optimizers, str, default)
