"""What every figure module of the report shares: one colour per optimizer, one layout, one way
to escape text that plotly renders as HTML. SVG traces only (go.Scatter, never Scattergl), so pages
render on machines without a GPU."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import plotly.graph_objects as go

HEIGHT = 420
FADED = 0.25
WARM_SYMBOL = "diamond-open"  # drawn around a warm-started trial's own marker
WARM_SYMBOL_TEXT = "\u25c7"  # the same shape in a caption


def colours(order: Sequence[str]) -> dict[str, str]:
    from plotly.colors import qualitative

    palette = qualitative.Plotly + qualitative.D3 + qualitative.Dark24
    return {name: palette[i % len(palette)] for i, name in enumerate(order)}


def template() -> go.layout.Template:
    """plotly_white's layout without its per-trace-type defaults, which every figure would
    otherwise carry into the page (and with them a default for every WebGL trace type)."""
    import plotly.graph_objects as go
    import plotly.io as pio

    return go.layout.Template(layout=pio.templates["plotly_white"].layout)


def layout(fig: go.Figure, title: str, x: str, y: str, log_x: bool = False,
            subtitle: str = "") -> go.Figure:
    fig.update_layout(title={"text": title, "subtitle": {"text": subtitle}},
                      template=template(), height=HEIGHT,
                      margin={"l": 60, "r": 20, "t": 70, "b": 50}, legend={"groupclick": "toggleitem"},
                      xaxis_title=x, yaxis_title=y)
    if log_x:
        fig.update_xaxes(type="log")
    return fig


def escape(text: str) -> str:
    return html.escape(text, quote=False)
