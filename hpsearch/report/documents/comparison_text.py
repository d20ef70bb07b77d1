"""Comparisons as text: per comparison its verdict over studies and its table, each study's own
table, and the measured optimizer table over every comparison."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch.report.documents.comparison_tables import (
    compared_brief,
    compared_table,
    decision_table,
    measured_table,
    studied_brief,
    studied_table,
)
from hpsearch.report.documents.cost_text import cost_markdown, cost_terminal
from hpsearch.report.documents.table import markdown_text

if TYPE_CHECKING:
    from hpsearch.report.summaries.collect import Report
    from hpsearch.report.summaries.repeated import RepeatedComparison


def target_line(g: RepeatedComparison) -> str:
    """What time to target measured, or why it could not."""
    if g.target is None:
        return "Time to target: no target (the reference has no re-run with a finite result)."
    return (f"Time to target: {g.time_unit}s (and training seconds) until the validation {g.metric} first "
            f"reaches {g.target:.4g}, the median final value of {g.reference}'s re-runs: the point by "
            "which half of an optimizer's re-runs (every study) got there; slower than 4x the fastest "
            "counts as not reached.")


def decision_terminal(g: RepeatedComparison) -> str:
    """The recommendation, then each optimizer's class against the best."""
    table = decision_table(g)
    if g.decision is None or table is None:
        return ""
    return f"\n{g.decision.text}\n{table.text()}"


def _repeated_terminal(g: RepeatedComparison) -> str:
    p = g.studies[0].protocol
    return (f"== {g.name}: {len(g.studies)} studies (comparison on task {g.task}, {g.metric} "
            f"{g.direction}: {p.budget} trials per optimizer, {p.seeds} seeds, per study)\n"
            f"{studied_table(g).only(studied_brief(g)).text()}\n{g.verdict}\n{target_line(g)}"
            f"{decision_terminal(g)}")


def comparisons_terminal(report: Report) -> list[str]:
    """Per comparison: over its studies when it has several, else its one study's table."""
    parts = []
    for g in report.repeated:
        if len(g.studies) > 1:
            parts.append(_repeated_terminal(g))
            continue
        c = g.studies[0]
        parts.append(f"== {c.study} (comparison on task {c.task}, {c.metric} {c.direction}: "
                     f"{c.protocol.budget} trials per optimizer, {c.protocol.seeds} seeds)\n"
                     f"{compared_table(c).only(compared_brief(c.metric)).text()}\n{c.verdict}\n"
                     f"{target_line(g)}"
                     f"{cost_terminal(c.cost, c.trials)}{decision_terminal(g)}")
    if report.across_tasks is not None:
        parts.append(f"== measured optimizer table ({len(report.repeated)} comparisons)\n"
                     + measured_table(report.across_tasks).text())
    return parts


def comparisons_markdown(report: Report) -> list[str]:
    if report.across_tasks is None:
        return []
    lines = ["## Measured optimizer table", "",
             f"Over {len(report.repeated)} comparisons, each optimizer with the same search budget per "
             "task and judged on re-runs over seeds on the test split (with several studies, on the median "
             "over them). Recommended, equivalent (to the best, within the margin) and worse (by "
             "more than the margin): each comparison's decision; won: named best; tied: not told "
             "apart from the best.", "",
             *measured_table(report.across_tasks).markdown()]
    for g in report.repeated:
        table = decision_table(g)
        if g.decision is not None and table is not None:
            lines += ["", f"## {markdown_text(g.name)}: recommendation", "",
                      markdown_text(g.decision.text), "", *table.markdown()]
        if len(g.studies) > 1:
            lines += ["", f"## {markdown_text(g.name)} ({len(g.studies)} studies: task "
                      f"{markdown_text(g.task)}, {g.metric} {g.direction})", "",
                      markdown_text(g.verdict), "",
                      *studied_table(g).only(studied_brief(g)).markdown(), "",
                      markdown_text(target_line(g))]
        for c in g.studies:
            lines += ["", f"### {markdown_text(c.study)} (comparison: task {markdown_text(c.task)}, "
                      f"{c.metric} {c.direction})", "", markdown_text(c.verdict), "",
                      *compared_table(c).only(compared_brief(c.metric)).markdown(),
                      *cost_markdown(c.cost, c.trials)]
    return lines + [""]
