"""plotly figures of what the trials cost, from a `CostSummary` and its trials (plain data): the best
value against cumulative compute, and the Pareto front of value against cost. SVG traces only; each
optimizer keeps the colour it has in every other figure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hpsearch.report.figures.plotting import WARM_SYMBOL, colours, escape, layout
from hpsearch.report.figures.study import marker_traces, warm_caption

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from hpsearch.report.summaries.cost import CostSummary
    from hpsearch.report.summaries.points import TrialPoint

FRONT_COLOUR = "#444"
SYMBOLS = {"complete": "circle", "pruned": "circle-open", "diverged": "x", "failed": "x-open"}


def _empty(fig: go.Figure, text: str) -> None:
    fig.add_annotation(text=escape(text), showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)


def cumulative_best(cost: CostSummary, trials: Sequence[TrialPoint], metric: str,
                    order: Sequence[str]) -> go.Figure:
    """Best complete value so far of each optimizer against the training seconds it has spent."""
    import plotly.graph_objects as go

    palette = colours(order)
    by_number = {t.number: t for t in trials}
    fig = go.Figure()
    curves = {c.optimizer: c for c in cost.cumulative}
    for name in (n for n in order if n in curves):
        curve = curves[name]
        shown = [(number, x, y) for number, x, y in zip(curve.trials, curve.seconds, curve.best, strict=True)
                 if y is not None]
        if not shown or curve.seconds[-1] <= 0:  # no trial recorded its seconds: a user's own objective
            continue
        points = [by_number[number] for number, _, _ in shown]
        hover = [f"after trial {t.number} ({t.state}, {t.seconds:.3g} s): {x:.4g} s spent, best {y:.4g}"
                 + (f"<br>warm-started from {escape(t.warm_start)}" if t.warm_start else "")
                 for t, (_, x, y) in zip(points, shown, strict=True)]
        fig.add_trace(go.Scatter(
            x=[x for _, x, _ in shown], y=[y for _, _, y in shown], mode="lines+markers", line_shape="hv",
            name=escape(name), legendgroup=name, line={"color": palette[name]},
            marker={"size": 6, "symbol": [SYMBOLS.get(t.state, "circle") for t in points]},
            text=[f"{escape(name)} {h}" for h in hover], hovertemplate="%{text}<extra></extra>"))
        warm = [(t, x, y) for t, (_, x, y) in zip(points, shown, strict=True) if t.warm_start]
        if warm:
            fig.add_trace(go.Scatter(
                x=[x for _, x, _ in warm], y=[y for _, _, y in warm], mode="markers",
                name=f"{escape(name)} warm-started", legendgroup=name, showlegend=False, hoverinfo="skip",
                marker={"color": palette[name], "symbol": WARM_SYMBOL, "size": 14, "line": {"width": 1.5}}))
    if not fig.data:
        _empty(fig, "no complete trial with a recorded cost")
    return layout(fig, f"Best {escape(metric)} against compute spent", "training seconds spent by the "
                   "optimizer (cumulative)", metric, subtitle=(
                       "each trial it ran adds its seconds; the line: its best complete trial so far"
                       + warm_caption(trials)))


def pareto(cost: CostSummary, trials: Sequence[TrialPoint], metric: str, direction: str,
           order: Sequence[str]) -> go.Figure:
    """Every trial at its cost; the complete trials no cheaper trial beats joined, each named."""
    import plotly.graph_objects as go

    fig = go.Figure(marker_traces(trials, direction, order, x_of="seconds"))
    if cost.front:
        fig.add_trace(go.Scatter(
            x=[p.seconds for p in cost.front], y=[p.value for p in cost.front], mode="lines+text",
            line_shape="hv", name="Pareto front", line={"color": FRONT_COLOUR, "width": 1.5, "dash": "dot"},
            text=[escape(p.optimizer) for p in cost.front], textposition="top left",
            textfont={"size": 11, "color": FRONT_COLOUR}, hoverinfo="skip"))
    else:
        _empty(fig, "no complete trial with a recorded cost")
    return layout(fig, f"Pareto front: {escape(metric)} against cost per trial", "training seconds "
                   "of the trial (log)", metric, log_x=True, subtitle=(
                       "filled: complete; open: pruned (last value); x: diverged, no result; "
                       "line: best per budget" + warm_caption(trials)))


def cost_figures(cost: CostSummary, trials: Sequence[TrialPoint], metric: str, direction: str,
                 order: Sequence[str]) -> list[go.Figure]:
    return [cumulative_best(cost, trials, metric, order), pareto(cost, trials, metric, direction, order)]
