"""The summary as text: a terminal table, Markdown for CI logs, JSON for notebooks."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from typing import Any

from hpsearch.report.summary import OptimizerSummary, Report, format_hyperparameters

TEXT_FORMATS = ("md", "json")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def optimizer_table(rows: Sequence[OptimizerSummary], metric: str) -> str:
    """Per optimizer: its budget, pruned and diverged trials, best value and configuration."""
    lines = [f"{'optimizer':<10} {'trials':>6} {'pruned':>6} {'diverged':>8} "
             f"{'best ' + metric:>14} {'top-3 mean':>10}  best configuration"]
    for row in rows:
        best = _number(row.best_value) if row.best_value is not None else "all pruned"
        lines.append(f"{row.optimizer:<10} {row.trials:>6} {row.pruned - row.diverged:>6} "
                     f"{row.diverged:>8} {best:>14} {_number(row.top_k_mean):>10}  "
                     f"{format_hyperparameters(row.best_config)}")
    budgets = sorted({row.trials for row in rows})
    if len(budgets) > 1:
        lines.append(f"\nBudgets are unequal ({budgets[0]} to {budgets[-1]} trials per optimizer): "
                     "the sampler chose which optimizer to try.")
    return "\n".join(lines)


def terminal(report: Report) -> str:
    parts = []
    for study in report.studies:
        parts.append(f"== {study.study} (task {study.task}, {study.metric} {study.direction}, "
                     f"{study.provenance.finished} trials)\n{optimizer_table(study.optimizers, study.metric)}"
                     f"\n{study.verdict}")
    return "\n\n".join(parts) if parts else "no studies in this storage"


def markdown(report: Report) -> str:
    lines = ["# hpsearch report", "", f"Storage `{report.storage}`, generated {report.generated}.", ""]
    lines += ["| study | task | metric | winner | best | winner's trials (pruned, diverged) |",
              "|---|---|---|---|---|---|"]
    for s in report.studies:
        win = s.optimizers[0] if s.winner else None
        lines.append(f"| {_md(s.study)} | {_md(s.task)} | {s.metric} ({s.direction}) | "
                     f"{_md(s.winner or 'none yet')} | {_number(win.best_value if win else None)} | "
                     + (f"{win.trials} ({win.pruned}, {win.diverged}) |" if win else "- |"))
    for s in report.studies:
        lines += ["", f"## {_md(s.study)}", "", s.verdict, "",
                  "| rank | optimizer | best | top-3 mean | median | trials | pruned | diverged |"
                  " configuration |", "|---|---|---|---|---|---|---|---|---|"]
        for r in s.optimizers:
            lines.append(f"| {r.rank or '-'} | {_md(r.optimizer)} | {_number(r.best_value)} | "
                         f"{_number(r.top_k_mean)} | {_number(r.median)} | {r.trials} | "
                         f"{r.pruned - r.diverged} | {r.diverged} | "
                         f"`{format_hyperparameters(r.best_config)}` |")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def to_json(report: Report) -> str:
    return json.dumps(_clean(dataclasses.asdict(report)), indent=1)


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
