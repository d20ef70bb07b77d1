"""A scale sweep's figures: loss against learning rate per width or depth (µTransfer's figure), the
best learning rate against width with the power law and the prediction (and against depth), the
loss at each width's best learning rate, AdamW's weight-decay timescale, and the data-equivalent
speed-ups over AdamW."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hpsearch.report.figures.plotting import colours, escape, layout
from hpsearch.report.summaries.scale import CellResult, ScaleSummary, Transfer

if TYPE_CHECKING:
    import plotly.graph_objects as go

DASH = {"sp": "dot", "mup": "solid", "completep": "dash"}


def width_colours(widths: Sequence[int]) -> dict[int, str]:
    from plotly.colors import sample_colorscale

    ordered = sorted(set(widths))
    stops = [0.15 + 0.8 * i / max(1, len(ordered) - 1) for i in range(len(ordered))]
    return dict(zip(ordered, sample_colorscale("Viridis", stops), strict=True))


def curve_axis(cells: Sequence[CellResult]) -> str:
    """What a sweep's curves are drawn by: its depths where it swept several at one width, else its
    widths."""
    depths = {c.cell.depth for c in cells if c.cell.depth is not None}
    return "depth" if len(depths) >= 2 and len({c.cell.width for c in cells}) == 1 else "width"


def first_line(cells: Sequence[CellResult], axis: str) -> list[CellResult]:
    """The cells along `axis` at the other axes' first values (shortest, narrowest, shallowest)."""
    others = [n for n in ("width", "depth", "length") if n != axis]
    firsts = {n: min((getattr(c.cell, n) for c in cells if getattr(c.cell, n) is not None),
                     default=None) for n in others}
    return [c for c in cells if all(getattr(c.cell, n) == v for n, v in firsts.items())]


def loss_against_lr(optimizer: str, transfers: Sequence[Transfer]) -> go.Figure:
    """Per parametrisation side by side: the seed-mean final loss against the learning rate, one
    curve per width (per depth, in a sweep of depths), the best learning rate marked with its
    interval."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    mine = [t for t in transfers if t.optimizer == optimizer]
    axis = curve_axis([c for t in mine for c in t.cells])
    fig = make_subplots(rows=1, cols=len(mine), shared_yaxes=True,
                        subplot_titles=[t.parametrization for t in mine])
    palette = width_colours([getattr(c.cell, axis) for t in mine for c in t.cells])
    shown: set[int] = set()
    for col, t in enumerate(mine, start=1):
        for c in first_line(t.cells, axis):
            if c.best is None:
                continue
            size, colour = getattr(c.cell, axis), palette[getattr(c.cell, axis)]
            finite = [(lr, loss) for lr, loss in zip(c.best.lrs, c.best.losses, strict=True)
                      if math.isfinite(loss)]
            fig.add_trace(go.Scatter(
                x=[lr for lr, _ in finite], y=[loss for _, loss in finite], mode="lines+markers",
                name=f"{axis} {size}", legendgroup=str(size), showlegend=size not in shown,
                line={"color": colour}), row=1, col=col)
            shown.add(size)
            low = min(loss for _, loss in finite)
            fig.add_trace(go.Scatter(
                x=[c.best.lr], y=[low], mode="markers", showlegend=False, legendgroup=str(size),
                marker={"color": colour, "symbol": "x", "size": 10},
                error_x={"type": "data", "symmetric": False,
                         "array": [10 ** c.best.high - c.best.lr],
                         "arrayminus": [c.best.lr - 10 ** c.best.low]},
                hovertext=f"{axis} {size}: best lr {c.best.lr:.3g}"), row=1, col=col)
    fig.update_xaxes(type="log", title_text="learning rate (log)")
    layout(fig, f"{escape(optimizer)}: final loss against learning rate, per {axis}", "",
           "validation loss (nats/token)",
           subtitle="seed-mean final loss; x: the best lr and its 90 % interval. Under µP (across "
                    "depth, CompleteP) the minima should line up")
    return fig.update_layout(margin={"t": 100})  # the panels' titles below the subtitle


def best_lr_against_depth(summary: ScaleSummary, order: Sequence[str]) -> go.Figure:
    """A sweep of depths: the best learning rate at each depth with its interval."""
    import plotly.graph_objects as go

    palette = colours(order)
    fig = go.Figure()
    for t in summary.transfers:
        found = [c for c in first_line(t.cells, "depth") if c.best is not None and c.cell.depth]
        if not found:
            continue
        fig.add_trace(go.Scatter(
            x=[c.cell.depth for c in found], y=[c.best.lr for c in found if c.best],
            mode="lines+markers", name=escape(f"{t.optimizer} {t.parametrization}"),
            line={"color": palette.get(t.optimizer, "#999"),
                  "dash": DASH.get(t.parametrization, "dash")},
            error_y={"type": "data", "symmetric": False,
                     "array": [10 ** c.best.high - c.best.lr for c in found if c.best],
                     "arrayminus": [c.best.lr - 10 ** c.best.low for c in found if c.best]}))
    fig.update_yaxes(type="log")
    return layout(fig, "Best learning rate against depth", "depth (log)", "best learning rate (log)",
                  log_x=True, subtitle="90 % intervals, at the narrowest width swept; flat under "
                                       "CompleteP")


def best_lr_against_width(summary: ScaleSummary, order: Sequence[str]) -> go.Figure:
    """The best learning rate at each width with its interval, the power law through them and
    the target run's prediction."""
    import plotly.graph_objects as go

    palette = colours(order)
    fig = go.Figure()
    for t in summary.transfers:
        found = [c for c in first_line(t.cells, "width") if c.best is not None]
        if not found:
            continue
        name, colour = f"{t.optimizer} {t.parametrization}", palette.get(t.optimizer, "#999")
        fig.add_trace(go.Scatter(
            x=[c.cell.width for c in found], y=[c.best.lr for c in found if c.best],
            mode="markers", name=escape(name), legendgroup=name,
            marker={"color": colour, "symbol": "circle" if t.parametrization == "mup" else "square"},
            error_y={"type": "data", "symmetric": False,
                     "array": [10 ** c.best.high - c.best.lr for c in found if c.best],
                     "arrayminus": [c.best.lr - 10 ** c.best.low for c in found if c.best]}))
        if t.fit is not None and "width" in t.axes:
            widths = [c.cell.width for c in found]
            # Drawn to the target, below the widths swept as well as above: the star on its line.
            low = min(widths + [summary.target_width or min(widths)])
            top = max(widths + [summary.target_width or 0])
            xs = [low * (top / low) ** (i / 20) for i in range(21)]
            at = {"length": math.log10(found[0].cell.length),  # the curve drawn: the shortest,
                  "depth": math.log10(found[0].cell.depth or 1)}  # the shallowest
            rest = sum(b * at[name] for name, b in zip(t.axes, t.fit.exponents, strict=True)
                       if name != "width")
            slope = t.fit.exponents[t.axes.index("width")]
            fig.add_trace(go.Scatter(
                x=xs, y=[10 ** (t.fit.intercept + rest + slope * math.log10(x)) for x in xs],
                mode="lines", showlegend=False, legendgroup=name,
                line={"color": colour, "dash": DASH.get(t.parametrization, "dash"), "width": 1}))
        if t.prediction is not None and summary.target_width:
            p = t.prediction
            fig.add_trace(go.Scatter(
                x=[summary.target_width], y=[p.lr], mode="markers", showlegend=False,
                legendgroup=name, marker={"color": colour, "symbol": "star", "size": 12},
                error_y={"type": "data", "symmetric": False, "array": [p.lr_high - p.lr],
                         "arrayminus": [p.lr - p.lr_low]},
                hovertext=f"{escape(name)} at width {summary.target_width}: lr {p.lr:.3g} "
                          f"[{p.lr_low:.3g}, {p.lr_high:.3g}]"))
    fig.update_yaxes(type="log")
    return layout(fig, "Best learning rate against width", "width (log)", "best learning rate (log)",
                  log_x=True, subtitle="90 % intervals; lines: the power law (dotted: sp, solid: "
                                       "µP); star: the target run's prediction")


def best_loss_against_width(summary: ScaleSummary, order: Sequence[str]) -> go.Figure:
    """Does wider help? Each width's final loss at its best learning rate, per optimizer and
    parametrisation, with the seeds' 90 % interval."""
    import plotly.graph_objects as go

    from hpsearch.statistics.basic import mean_interval

    palette = colours(order)
    fig = go.Figure()
    for r in summary.widths:
        if not r.best:
            continue
        spans = [mean_interval(b.losses, 0.90) for b in r.best]
        fig.add_trace(go.Scatter(
            x=[b.width for b in r.best], y=[b.mean for b in r.best], mode="lines+markers",
            name=escape(f"{r.optimizer} {r.parametrization}"),
            line={"color": palette.get(r.optimizer, "#999"), "dash": DASH.get(r.parametrization, "dash")},
            marker={"symbol": "circle" if r.parametrization == "mup" else "square"},
            error_y={"type": "data", "symmetric": False, "array": [i.high - i.mean for i in spans],
                     "arrayminus": [i.mean - i.low for i in spans]}))
    return layout(fig, "Loss at the best learning rate against width", "width (log)",
                  "validation loss (nats/token)", log_x=True,
                  subtitle="each width at its own best lr; 90 % intervals over seeds. Under µP "
                           "wider should be lower, and no worse than sp")


def timescale_against_width(summary: ScaleSummary, order: Sequence[str]) -> go.Figure:
    """AdamW's timescale 1 / (lr x weight decay) at the best lr, as a fraction of the run."""
    import plotly.graph_objects as go

    palette = colours(order)
    fig = go.Figure()
    for t in summary.transfers:
        found = [c for c in t.cells if c.timescale is not None]
        if found:
            fig.add_trace(go.Scatter(
                x=[c.cell.width for c in found], y=[c.timescale for c in found],
                mode="lines+markers", name=escape(f"{t.optimizer} {t.parametrization}"),
                line={"color": palette.get(t.optimizer, "#999"),
                      "dash": DASH.get(t.parametrization, "dash")}))
    fig.update_yaxes(type="log")
    return layout(fig, "Weight-decay timescale at the best learning rate", "width (log)",
                  "1 / (lr x weight decay), in runs (log)", log_x=True,
                  subtitle="flat: the weight decay found at one width holds at the others")


def speedups_figure(summary: ScaleSummary, order: Sequence[str]) -> go.Figure:
    import plotly.graph_objects as go

    palette = colours(order)
    fig = go.Figure()
    for name in order:
        rows = [s for s in summary.speedups if s.optimizer == name]
        if rows:
            fig.add_trace(go.Scatter(
                x=[s.length * summary.steps for s in rows], y=[s.median for s in rows],
                mode="lines+markers", name=escape(name), line={"color": palette[name]},
                error_y={"type": "data", "symmetric": False,
                         "array": [s.high - s.median for s in rows],
                         "arrayminus": [s.median - s.low for s in rows]}))
    return layout(fig, "Data-equivalent speed-up over AdamW", "steps (log)",
                  "how much longer AdamW trains to match", log_x=True,
                  subtitle="AdamW's loss against length fitted as a·D^-b + c; 90 % intervals by "
                           "bootstrap over seeds (too narrow with few seeds)")


def scale_figures(summary: ScaleSummary, order: Sequence[str]) -> list[go.Figure]:
    figures = [loss_against_lr(name, summary.transfers)
               for name in dict.fromkeys(t.optimizer for t in summary.transfers)]
    figures.append(best_lr_against_width(summary, order))
    if any(t.depth_drift is not None for t in summary.transfers):
        figures.append(best_lr_against_depth(summary, order))
    if any(r.best for r in summary.widths):
        figures.append(best_loss_against_width(summary, order))
    if any(c.timescale is not None for t in summary.transfers for c in t.cells):
        figures.append(timescale_against_width(summary, order))
    if summary.speedups:
        figures.append(speedups_figure(summary, order))
    return figures
