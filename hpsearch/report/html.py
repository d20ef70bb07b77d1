"""The pieces every page of the report is built from: its style, tables, embedded figures,
colour swatches, the cost section and the best configurations. Every text that comes from a user
(study names, attribute values) is escaped here."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from hpsearch.export import to_python
from hpsearch.report import cost_figures
from hpsearch.report.cost import warm_note
from hpsearch.report.plotting import WARM_SYMBOL_TEXT, colours
from hpsearch.report.points import Provenance, TrialPoint

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from hpsearch.report.comparison import ComparedOptimizer
    from hpsearch.report.cost import CostRow, CostSummary
    from hpsearch.report.summary import OptimizerSummary

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


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def html_table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int]) -> str:
    """Cells are HTML already escaped by the caller."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                         for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure(fig: go.Figure) -> str:
    import plotly.io as pio

    return pio.to_html(fig, full_html=False, include_plotlyjs=False, config=PLOT_CONFIG)


def swatch(name: str, palette: dict[str, str]) -> str:
    return f'<span class="swatch" style="background:{palette.get(name, "#999")}"></span>{esc(name)}'


def best_configs(optimizers: Sequence[OptimizerSummary | ComparedOptimizer],
                  trials: Sequence[TrialPoint]) -> str:
    warm = {t.number: t.warm_start for t in trials if t.warm_start}
    rows = []
    for r in optimizers:
        if not r.best_config:
            continue
        code = to_python(r.best_config).split("\n", 2)[2].strip()  # without the import line
        source = warm.get(r.best_trial) if r.best_trial is not None else None
        trial = str(r.best_trial) + (f' <span class="meta">(warm-started from {esc(source)})</span>'
                                     if source else "")
        rows.append([esc(r.optimizer), trial, number(r.best_value),
                     f"<code>{esc(code)}</code>",
                     f"<code>{esc(json.dumps(dict(r.best_config), default=str))}</code>"])
    return html_table(["optimizer", "trial", "value", "PyTorch", "JSON (hpsearch.build_optimizer)"],
                  rows, numeric={1, 2})


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


def _mean_of(value: float | None, recorded: int, trials: int) -> str:
    if value is None:
        return "-"
    partial = f' <span class="meta">({recorded} of {trials})</span>' if recorded < trials else ""
    return number(value) + partial


def _cost_row(r: CostRow, palette: dict[str, str]) -> list[str]:
    return [swatch(r.optimizer, palette), str(r.trials), f"{r.seconds:.3g}",
            "-" if r.relative is None else f"{r.relative:.2g}x", f"{r.epochs:.3g}",
            number(r.closure_evaluations), _mean_of(r.updates, r.updates_recorded, r.trials),
            f"{r.no_result_seconds:.1f}", f"{r.total_seconds:.1f}"]


def cost_section(cost: CostSummary | None, trials: Sequence[TrialPoint], metric: str, direction: str,
                 order: Sequence[str]) -> str:
    """The Pareto sentence, the cost per trial of each optimizer and the two cost figures."""
    if cost is None:
        return ""
    palette = colours(order)
    table = html_table(["optimizer", "trials run", "mean train s", "vs cheapest", "mean epochs",
                    "mean closure evaluations", "mean updates", "no-result s", "total train s"],
                   [_cost_row(r, palette) for r in cost.table], numeric={1, 2, 3, 4, 5, 6, 7, 8})
    plots = "".join(f"<div>{figure(fig)}</div>"
                    for fig in cost_figures.cost_figures(cost, trials, metric, direction, order))
    unknown = (f" {cost.unknown_cost} complete trial(s) recorded no cost and are on no front."
               if cost.unknown_cost else "")
    return (f"<h3>Cost: {esc(metric)} per unit of compute</h3>"
            f'<p class="verdict">{esc(cost.front_text)}</p>{table}'
            f'<p class="meta">{esc(COST_CAPTION + unknown)}</p><div class="grid">{plots}</div>')
