"""One trial of a function: `fn(config, report)` called in this process. `report(step, value,
**metrics)` hands each evaluation point to the engine, which may stop the trial there by raising
from inside `report`; a function that catches that and returns is still stopped."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hpsearch.errors import ConfigError
from hpsearch.tasks.models import load_model_builder
from hpsearch.training.user.definition import UserTraining
from hpsearch.training.user.points import Point, TrainingFailed, number

# What the engine does with a point: None to go on, or why the trial stops there.
OnPoint = Callable[[Point], "str | None"]


class Stop(Exception):  # noqa: N818 (a stop, not an error: the trial ends as the engine says)
    """Raised inside `report` when the engine stops the trial at that point."""


# What a name was loaded as, in this process: a FILE.py is executed on import, once, not again for
# every trial (again once the file changes: a notebook's next sweep sees the edit).
LOADED: dict[tuple[str, str, float], Callable[..., Any]] = {}


def load_function(training: UserTraining) -> Callable[..., Any]:
    function = training.function
    if callable(function):
        return function
    where = Path(str(function).rpartition(":")[0])
    file = where.suffix == ".py" and where.is_file()
    key = (str(function), str(where.resolve()) if file else "", where.stat().st_mtime if file
           else 0.0)
    if key not in LOADED:
        LOADED[key] = load_model_builder(str(function), "--train")
    return LOADED[key]


def check_importable(training: UserTraining, workers: int) -> None:
    """Worker processes import the function by its name: one defined in `__main__` or a notebook
    has none they can import."""
    if workers > 1 and callable(training.function) and (
            getattr(training.function, "__module__", "__main__") == "__main__"
            or "<locals>" in getattr(training.function, "__qualname__", "")):
        raise ConfigError(f"--workers {workers}: each worker imports the function by name, and "
                          f"{training.function_name} has none it can import; define it in a module "
                          "and pass 'module:function' (or 'file.py:function')")


def run_function(function: Callable[..., Any], config: Mapping[str, Any], on_point: OnPoint
                 ) -> tuple[list[Point], str | None, float | None]:
    """Call the function; returns the points it reported, why the engine stopped it (None: it
    ran to its end) and the number it returned."""
    points: list[Point] = []
    stopped: list[str] = []

    def report(step: int, value: float, **metrics: float) -> None:
        if stopped:  # stopped already, and it went on: stop again
            raise Stop(stopped[0])
        if number(value) is None:
            raise TypeError(f"report(step, value): value must be a number; got {value!r}")
        point = Point(float(value), int(step), {k: float(v) for k, v in metrics.items()
                                                if number(v) is not None})
        points.append(point)
        why = on_point(point)
        if why is not None:
            stopped.append(why)
            raise Stop(why)

    try:
        returned = function(dict(config), report)
    except Stop:
        returned = None
    if stopped:
        return points, stopped[0], None
    value = number(returned) if returned is not None else None
    if not points and value is None:
        raise TrainingFailed("the function returned without calling report(step, value) and "
                             f"without returning a number (it returned {returned!r})")
    return points, None, value
