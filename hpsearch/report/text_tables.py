"""Plain-text and Markdown tables, and the cells every text summary shares."""

from __future__ import annotations

from collections.abc import Sequence

from hpsearch.report.cost import CostRow, CostSummary, warm_note
from hpsearch.report.points import TrialPoint


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def short(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def columns(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table, every column as wide as its widest cell."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
                     for line in [headers, *rows])


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers),
            *("| " + " | ".join(md(cell) for cell in row) + " |" for row in rows)]


def md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


COST = ("optimizer", "trials run", "mean train s", "vs cheapest", "mean epochs", "mean closure evals",
        "mean updates", "no-result s", "total train s")


def cost_rows(cost: CostSummary) -> list[list[str]]:
    """Per optimizer, its mean cost per trial; updates unknown to older studies read "-"."""
    def g(value: float | None, digits: int = 4) -> str:
        return "-" if value is None else f"{value:.{digits}g}"

    def partial(r: CostRow) -> str:  # only some trials recorded updates: resumed by a newer hpsearch
        return f" ({r.updates_recorded}/{r.trials})" if 0 < r.updates_recorded < r.trials else ""

    return [[r.optimizer, str(r.trials), g(r.seconds, 3), g(r.relative, 2) + ("x" if r.relative else ""),
             g(r.epochs, 3), g(r.closure_evaluations), g(r.updates) + partial(r),
             f"{r.no_result_seconds:.1f}", f"{r.total_seconds:.1f}"] for r in cost.table]


def cost_terminal(cost: CostSummary | None, trials: Sequence[TrialPoint]) -> str:
    if cost is None:
        return ""
    warm = warm_note(trials)
    text = f"\n{cost.front_text}" + (f"\n{columns(COST, cost_rows(cost))}" if cost.table else "")
    return text + (f"\n{warm}" if warm else "")


def cost_markdown(cost: CostSummary | None, trials: Sequence[TrialPoint]) -> list[str]:
    if cost is None:
        return []
    warm = warm_note(trials)
    front = md(cost.front_text).replace(" -&gt; ", " -> ")  # a lone ">" opens no tag
    return (["", front] + (["", *md_table(COST, cost_rows(cost))] if cost.table else [])
            + (["", md(warm)] if warm else []))
