"""The summary as text: a terminal table, Markdown for CI logs, JSON for notebooks."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hpsearch.report.comparison_text import comparisons_markdown, comparisons_terminal
from hpsearch.report.scale import scale_lines
from hpsearch.report.summary import OptimizerSummary, format_hyperparameters
from hpsearch.report.text_tables import cost_markdown, cost_terminal, md, number

if TYPE_CHECKING:

    from hpsearch.report.collect import Report

TEXT_FORMATS = ("md", "json")


def optimizer_table(rows: Sequence[OptimizerSummary], metric: str) -> str:
    """Per optimizer: its budget, pruned and diverged trials, best value and configuration."""
    lines = [f"{'optimizer':<10} {'trials':>6} {'pruned':>6} {'diverged':>8} "
             f"{'best ' + metric:>14} {'top-3 mean':>10}  best configuration"]
    for row in rows:
        best = row.best_text or number(row.best_value)
        lines.append(f"{row.optimizer:<10} {row.trials:>6} {row.pruned - row.diverged:>6} "
                     f"{row.diverged:>8} {best:>14} {number(row.top_k_mean):>10}  "
                     f"{format_hyperparameters(row.best_config)}")
    budgets = sorted({row.trials for row in rows})
    if len(budgets) > 1:
        lines.append(f"\nBudgets are unequal ({budgets[0]} to {budgets[-1]} trials per optimizer): "
                     "the sampler chose which optimizer to try.")
    return "\n".join(lines)


def terminal(report: Report) -> str:
    parts = comparisons_terminal(report)
    for study in report.studies:
        parts.append(f"== {study.study} (task {study.task}, {study.metric} {study.direction}, "
                     f"{study.provenance.finished} trials, {study.provenance.budget()})\n"
                     f"{optimizer_table(study.optimizers, study.metric)}"
                     f"\n{study.verdict}{cost_terminal(study.cost, study.trials)}")
    parts += ["\n".join(scale_lines(scale)) for scale in report.scales]
    return "\n\n".join(parts) if parts else "no studies in this storage"


def markdown(report: Report) -> str:
    lines = ["# hpsearch report", "", f"Storage `{report.storage}`, generated {report.generated}.", ""]
    lines += comparisons_markdown(report)
    if report.comparisons and not report.studies:
        return "\n".join(lines)
    if report.comparisons:
        lines += ["## Tune studies", ""]
    lines += ["| study | task | metric | winner | best | winner's trials (pruned, diverged) |",
              "|---|---|---|---|---|---|"]
    for s in report.studies:
        win = s.optimizers[0] if s.winner else None
        lines.append(f"| {md(s.study)} | {md(s.task)} | {s.metric} ({s.direction}) | "
                     f"{md(s.winner or 'none yet')} | {number(win.best_value if win else None)} | "
                     + (f"{win.trials} ({win.pruned}, {win.diverged}) |" if win else "- |"))
    lines += ["", "In these `hpsearch tune` studies the sampler chose which optimizer to try, so budgets "
              "were unequal: a winner here is where the search went, not a fair comparison."]
    for s in report.studies:
        lines += ["", f"## {md(s.study)}", "", s.verdict, "",
                  "| rank | optimizer | best | top-3 mean | median | trials | pruned | diverged |"
                  " configuration |", "|---|---|---|---|---|---|---|---|---|"]
        for r in s.optimizers:
            lines.append(f"| {r.rank or '-'} | {md(r.optimizer)} | {number(r.best_value)} | "
                         f"{number(r.top_k_mean)} | {number(r.median)} | {r.trials} | "
                         f"{r.pruned - r.diverged} | {r.diverged} | "
                         f"`{format_hyperparameters(r.best_config)}` |")
        lines += cost_markdown(s.cost, s.trials)
    return "\n".join(lines) + "\n"


def to_json(report: Report) -> str:
    data = _clean(dataclasses.asdict(report))
    for group in data["repeated"]:  # each study is under "comparisons" already: named here
        group["studies"] = [study["study"] for study in group["studies"]]
    return json.dumps(data, indent=1)


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
