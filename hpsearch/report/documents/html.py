"""The pieces every page of the report is built from: its style, embedded figures, the evidence
list, the cost section and the best configurations (tables are `report.table`'s). Every text that
comes from a user (study names, attribute values) is escaped here or by the table."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hpsearch.report.documents.study_tables import best_configs_table, cost_table
from hpsearch.report.figures import cost as cost_figures
from hpsearch.report.figures.plotting import WARM_SYMBOL_TEXT, colours
from hpsearch.report.summaries.cost import warm_note
from hpsearch.report.summaries.points import Provenance, TrialPoint

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from hpsearch.report.summaries.comparison import ComparedOptimizer
    from hpsearch.report.summaries.cost import CostSummary
    from hpsearch.report.summaries.study import OptimizerSummary

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1280px; padding: 0 24px;
       color: #222; }
h1 { margin: 24px 0 4px; } h2 { margin-top: 48px; border-bottom: 2px solid #ddd; }
.meta { color: #666; } .verdict { background: #f5f7fa; border-left: 4px solid #4c78a8;
        padding: 8px 12px; }
table { border-collapse: collapse; margin: 12px 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 12px; white-space: pre-wrap; } .swatch { display: inline-block; width: 10px;
       height: 10px; border-radius: 2px; margin-right: 6px; }
/* Two fixed columns, not auto-fit: each plot is drawn as its script is parsed, and with auto-fit
   the first plot of a grid, still alone in it, was drawn at the full width and then clipped. */
.grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px; }
@media (max-width: 1100px) { .grid { grid-template-columns: minmax(0, 1fr); } }
"""
PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def esc(value: Any) -> str:
    return html.escape(str(value))


def figure(fig: go.Figure) -> str:
    import plotly.io as pio

    return pio.to_html(fig, full_html=False, include_plotlyjs=False, config=PLOT_CONFIG)


def best_configs(optimizers: Sequence[OptimizerSummary | ComparedOptimizer],
                 trials: Sequence[TrialPoint], palette: dict[str, str]) -> str:
    return best_configs_table(optimizers, trials).html(palette)


def evidence(items: list[tuple[str, str]], p: Provenance) -> str:
    """How the evidence was made: the protocol's own items, then the hardware, the versions and
    the warm starts every study records alike."""
    versions = ", ".join(f"{esc(k)} {esc(v)}" for k, v in p.versions.items())
    items = [*items, ("hardware", f"device {esc(p.device)}, {p.workers} worker(s), {p.runs} run(s), "
                                  f"{p.wall_seconds:.1f} s of wall-clock time"),
             ("versions", versions or "not recorded")]
    if p.warm_started:
        items.append(("warm starts", f"{p.warm_started} trial(s) enqueued from earlier studies' trials"))
    return "<ul>" + "".join(f"<li><b>{k}</b>: {v}</li>" for k, v in items) + "</ul>"


def warm(trials: Sequence[TrialPoint]) -> str:
    note = warm_note(trials)
    return f'<p class="meta">{WARM_SYMBOL_TEXT} {esc(note)}</p>' if note else ""


COST_CAPTION = (
    "Cost is a trial's training seconds. Trials run: every trial that spent compute, pruned, diverged and "
    "failed ones too; no-result s: what the diverged and failed ones spent. Left: each optimizer's best "
    "complete trial so far against the seconds its trials had cost, in trial order. Right: one point per "
    "trial at its own cost; filled: complete, at its final value; open: pruned, at its last reported value; "
    "x: diverged, compute spent with no result, drawn at the worst value. Only complete trials can be on "
    "the Pareto front: the dotted line joins the trials that no cheaper trial beats, each labelled with its "
    "optimizer.")


def cost_section(cost: CostSummary | None, trials: Sequence[TrialPoint], metric: str, direction: str,
                 order: Sequence[str]) -> str:
    """The Pareto sentence, the cost per trial of each optimizer and the two cost figures."""
    if cost is None:
        return ""
    palette = colours(order)
    table = cost_table(cost).html(palette)
    plots = "".join(f"<div>{figure(fig)}</div>"
                    for fig in cost_figures.cost_figures(cost, trials, metric, direction, order))
    unknown = (f" {cost.unknown_cost} complete trial(s) recorded no cost and are on no front."
               if cost.unknown_cost else "")
    return (f"<h3>Cost: {esc(metric)} per unit of compute</h3>"
            f'<p class="verdict">{esc(cost.front_text)}</p>{table}'
            f'<p class="meta">{esc(COST_CAPTION + unknown)}</p><div class="grid">{plots}</div>')
