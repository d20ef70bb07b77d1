"""What a protocol's plan answers under the study's lock (`compare_plan`, `scale_plan`): the next
trial to enqueue, None when the plan is done, or BLOCKED while what is left waits on trials other
processes are running. Pure: the report reads the plans too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BLOCKED = "blocked"


@dataclass(frozen=True)
class NextTrial:
    """The trial to enqueue: its parameters and its user attributes (its role in the plan)."""

    params: dict[str, Any]
    attrs: dict[str, Any]
