"""Evaluation points from the user's training, read one of three ways: lines of its output
matched by a pattern, JSON lines the client (`hpsearch.client.report`) writes, or a JSON file the
program writes at its end. Standard library only."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPORT_FILE = "reports.jsonl"  # what HPSEARCH_REPORT names, in the trial's folder


class TrainingFailed(Exception):
    """The user's training ended without a result: its message is the trial's reason."""


@dataclass(frozen=True)
class Point:
    value: float
    step: int | None = None  # the program's own step, where it says
    metrics: dict[str, float] = field(default_factory=dict)  # the other metrics it reported

    @property
    def test(self) -> float | None:
        return self.metrics.get("test")


def number(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def whole(text: Any) -> int | None:
    value = number(text)
    return int(value) if value is not None and math.isfinite(value) else None


class LineReader:
    """Points from lines: each line the metric pattern matches is a point; a line the test
    pattern matches gives the held-out value of the point before it (or of the run)."""

    def __init__(self, metric_regex: str | None, test_regex: str | None = None) -> None:
        self.metric = re.compile(metric_regex) if metric_regex else None
        self.test_pattern = re.compile(test_regex) if test_regex else None
        self.test: float | None = None

    def read(self, text: str) -> Point | None:
        if self.test_pattern is not None:
            found = self.test_pattern.search(text)
            if found and number(found.group("value")) is not None:
                self.test = number(found.group("value"))
        if self.metric is None:
            return None
        found = self.metric.search(text)
        if not found:
            return None
        value = number(found.group("value"))
        if value is None:
            return None
        step = whole(found.group("step")) if "step" in self.metric.groupindex else None
        return Point(value, step)


def from_reported(entry: Any) -> Point | None:
    """A point from the client's JSON object (or the end file's): `value`, and maybe `step` and
    other metrics; anything else is no point."""
    if not isinstance(entry, dict):
        return None
    value = number(entry.get("value"))
    if value is None:
        return None
    metrics = {k: v for k, v in ((k, number(v)) for k, v in entry.items()
                                 if k not in ("value", "step", "time")) if v is not None}
    return Point(value, whole(entry.get("step")), metrics)


class ClientReader:
    """Points as the client appends them to its file: read from where the last read stopped,
    a half-written last line kept for the next read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""

    def read(self) -> list[Point]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        lines = (self.partial + chunk).split(b"\n")
        self.partial = lines.pop()
        points = []
        for line in lines:
            try:
                point = from_reported(json.loads(line))
            except ValueError:
                continue
            if point is not None:
                points.append(point)
        return points


def read_end_file(path: Path) -> list[Point]:
    """The points of the file a program writes at its end: one object, or a list of them."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        raise TrainingFailed(f"the program ended without writing {path.name} in its trial "
                             "folder") from None
    except ValueError as error:
        raise TrainingFailed(f"{path.name} is not JSON: {error}") from None
    entries = loaded if isinstance(loaded, list) else [loaded]
    points = [p for p in (from_reported(e) for e in entries) if p is not None]
    if not points:
        raise TrainingFailed(f"{path.name} holds no number under 'value'")
    return points
