"""Per-optimizer summaries of a study as plain data (no plotly, no torch)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class OptimizerSummary:
    optimizer: str
    trials: int  # complete + pruned: the budget this optimizer got
    complete: int
    pruned: int  # by the pruner or by divergence
    diverged: int
    failed: int
    best_value: float | None  # best complete trial; None when none completed
    best_trial: int | None
    best_config: Mapping[str, Any] | None
    seconds: float  # training time summed over its trials


def summarise_optimizers(
    trials: Sequence[optuna.trial.FrozenTrial], direction: str
) -> list[OptimizerSummary]:
    """One row per optimizer that has a trial, best first (optimizers without a complete trial last)."""
    from optuna.trial import TrialState

    groups: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for trial in trials:
        if "optimizer" in trial.params:
            groups.setdefault(trial.params["optimizer"], []).append(trial)
    sign = -1.0 if direction == "maximize" else 1.0
    rows = []
    for key, group in groups.items():
        complete = [t for t in group if t.state == TrialState.COMPLETE and t.value is not None]
        pruned = [t for t in group if t.state == TrialState.PRUNED]
        best = min(complete, key=lambda t: sign * t.value) if complete else None  # type: ignore[operator]
        rows.append(OptimizerSummary(
            optimizer=key,
            trials=len(complete) + len(pruned),
            complete=len(complete),
            pruned=len(pruned),
            diverged=sum(1 for t in pruned if t.user_attrs.get("diverged")),
            failed=sum(1 for t in group if t.state == TrialState.FAIL),
            best_value=best.value if best else None,
            best_trial=best.number if best else None,
            best_config=best.user_attrs.get("config") if best else None,
            seconds=sum(float(t.user_attrs.get("seconds", 0.0)) for t in group),
        ))
    return sorted(rows, key=lambda r: (r.best_value is None,
                                       sign * r.best_value if r.best_value is not None else 0.0,
                                       r.optimizer))


def format_hyperparameters(config: Mapping[str, Any] | None) -> str:
    """`lr=0.00312 betas=(0.91, 0.999) weight_decay=0 | cosine warmup 2 | clip 1.3`."""
    if not config:
        return ""
    parts = [f"{k}={_short(v)}" for k, v in config["hyperparameters"].items()]
    schedule = config.get("schedule") or {"name": "none"}
    text = " ".join(parts) + f" | {schedule['name']}"
    if config.get("clip_grad_norm") is not None:
        text += f" | clip {_short(config['clip_grad_norm'])}"
    return text


def _short(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return "0" if value == 0 else f"{value:.3g}" if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    return str(value)
