"""The Python API's keywords as a program hands them over: each checked against the type the
protocol's definition annotates, and lists taken as the command line takes them, before anything
runs. Pure: nothing here reads a file or a storage."""

from __future__ import annotations

import numbers
import os
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hpsearch.errors import ConfigError

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
