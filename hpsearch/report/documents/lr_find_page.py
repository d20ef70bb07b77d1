"""The page of `hpsearch lr-find`: the range test's curves as a figure and a table, in the
report's style."""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hpsearch.protocols.lr_range import HIGH_MARGIN, LOW_MARGIN, RangeTest
from hpsearch.report.documents.html import PLOT_CONFIG, STYLE, esc
from hpsearch.report.figures.plotting import HEIGHT, colours

if TYPE_CHECKING:
    import plotly.graph_objects as go


def figure(results: Mapping[str, RangeTest]) -> go.Figure:
    """Smoothed loss against lr (log), one colour per optimizer; the raw loss faint, the
    suggested range shaded."""
    import plotly.graph_objects as go
    import plotly.io as pio

    palette = colours(list(results))
    fig = go.Figure()
    # The y axis shows each descent, from the start to the minimum; the blow-up leaves the plot.
    descents = [v for r in results.values() for v in r.smoothed[:r.lrs.index(r.lr_at_min) + 1]]
    bottom, top = (min(descents), max(descents)) if descents else (0.0, 1.0)
    pad = 0.05 * (top - bottom or 1.0)
    for key, r in results.items():
        colour, low, high = palette[key], *r.suggested
        fig.add_trace(go.Scatter(x=[low, high, high, low, low], y=[bottom, bottom, top, top, bottom],
                                 fill="toself", mode="none", fillcolor=colour, opacity=0.12,
                                 legendgroup=key, showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=r.lrs, y=r.losses, mode="lines", line={"color": colour, "width": 1},
                                 opacity=0.25, legendgroup=key, showlegend=False, hoverinfo="skip"))
        hover = f"{html.escape(key)}: lr %{{x:.3g}}, loss %{{y:.4g}}<extra></extra>"
        fig.add_trace(go.Scatter(x=r.lrs, y=r.smoothed, mode="lines", name=html.escape(key),
                                 legendgroup=key, line={"color": colour, "width": 2}, hovertemplate=hover))
    fig.update_layout(title={"text": "Learning-rate range test", "subtitle": {
                          "text": "smoothed training loss as the lr grows each step; raw loss faint; "
                                  "shaded: the suggested search range"}},
                      template=go.layout.Template(layout=pio.templates["plotly_white"].layout),
                      height=HEIGHT, xaxis_title="learning rate (log)",
                      yaxis_title="training loss", margin={"l": 60, "r": 20, "t": 70, "b": 50})
    fig.update_xaxes(type="log")
    fig.update_yaxes(range=[bottom - pad, top + pad])
    return fig


SUGGESTION = (
    "Each optimizer trained a fresh model at torch's defaults while its learning rate grew by a "
    "constant factor every mini-batch; the curve is the bias-corrected moving average of the loss. "
    f"Suggested range: from the lr of steepest descent / {LOW_MARGIN:g} to the lr of the minimum / "
    f"{HIGH_MARGIN:g}, at least a decade wide. The minimum is the edge of stability, found late; a "
    "margin below it keeps the range clear of where the loss blows up.")


def render_page(results: Mapping[str, RangeTest], title: str = "Learning-rate range test") -> str:
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    def row(key: str, r: RangeTest) -> str:
        cells = [f"{v:.3g}" for v in (*r.suggested, r.lr_steepest, r.lr_at_min)]
        cells += [f"{len(r.lrs)} of {r.steps}", f"{r.seconds:.1f}"]
        return (f"<tr><td>{esc(key)}</td>" + "".join(f'<td class="num">{c}</td>' for c in cells)
                + f"<td>{esc(r.stopped)}</td></tr>")

    head = "".join(f"<th>{h}</th>" for h in ("optimizer", "suggested low", "suggested high", "steepest",
                                             "minimum", "steps", "seconds", "stopped"))
    plot = pio.to_html(figure(results), full_html=False, include_plotlyjs=False, config=PLOT_CONFIG)
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{STYLE}</style><script>{get_plotlyjs()}</script>"
            f"</head><body><h1>{esc(title)}</h1><p class=\"meta\">{esc(SUGGESTION)}</p><table><thead>"
            f"<tr>{head}</tr></thead><tbody>{''.join(row(k, r) for k, r in results.items())}</tbody>"
            f"</table>{plot}</body></html>")


def write_page(results: Mapping[str, RangeTest], path: Path | str) -> Path:
    """A self-contained HTML page (plotly.js embedded once) of the figure and a table."""
    path = Path(path)
    path.write_text(render_page(results), encoding="utf-8")
    return path
