"""The summary as text: a terminal table, Markdown for CI logs, JSON for notebooks."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hpsearch.report.documents.comparison_text import comparisons_markdown, comparisons_terminal
from hpsearch.report.documents.cost_text import cost_markdown, cost_terminal
from hpsearch.report.documents.study_tables import leaderboard_table, optimizers_brief, optimizers_table
from hpsearch.report.documents.table import markdown_text
from hpsearch.report.summaries.scale import scale_lines
from hpsearch.report.summaries.study import OptimizerSummary

if TYPE_CHECKING:

    from hpsearch.report.summaries.collect import Report

TEXT_FORMATS = ("md", "json")


def optimizer_table(rows: Sequence[OptimizerSummary], metric: str) -> str:
    """Per optimizer: its budget, pruned and diverged trials, best value and configuration."""
    text = optimizers_table(rows, metric).only(optimizers_brief(metric)).text()
    budgets = sorted({row.trials for row in rows})
    if len(budgets) > 1:
        text += (f"\n\nBudgets are unequal ({budgets[0]} to {budgets[-1]} trials per optimizer): "
                 "the sampler chose which optimizer to try.")
    return text


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
    lines += leaderboard_table(report.studies).markdown()
    lines += ["", "In these `hpsearch tune` studies the sampler chose which optimizer to try, so budgets "
              "were unequal: a winner here is where the search went, not a fair comparison."]
    for s in report.studies:
        lines += ["", f"## {markdown_text(s.study)}", "", s.verdict, "",
                  *optimizers_table(s.optimizers, s.metric).only(optimizers_brief(s.metric)).markdown()]
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
