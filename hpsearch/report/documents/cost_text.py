"""The cost of a study's trials as text, for the terminal and for Markdown: the Pareto front in
words, then the cost per trial of each optimizer (`study_tables.cost_table`)."""

from __future__ import annotations

from collections.abc import Sequence

from hpsearch.report.documents.study_tables import cost_table
from hpsearch.report.documents.table import markdown_text
from hpsearch.report.summaries.cost import CostSummary, warm_note
from hpsearch.report.summaries.points import TrialPoint


def cost_terminal(cost: CostSummary | None, trials: Sequence[TrialPoint]) -> str:
    if cost is None:
        return ""
    warm = warm_note(trials)
    text = f"\n{cost.front_text}" + (f"\n{cost_table(cost).text()}" if cost.table else "")
    return text + (f"\n{warm}" if warm else "")


def cost_markdown(cost: CostSummary | None, trials: Sequence[TrialPoint]) -> list[str]:
    if cost is None:
        return []
    warm = warm_note(trials)
    front = markdown_text(cost.front_text).replace(" -&gt; ", " -> ")  # a lone ">" opens no tag
    return (["", front] + (["", *cost_table(cost).markdown()] if cost.table else [])
            + (["", markdown_text(warm)] if warm else []))
