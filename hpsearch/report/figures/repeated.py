"""plotly figures of a comparison over its repeated studies, from `RepeatedComparison` and
`AcrossTasks` (plain data): the rank in each study, the probability of improvement between every
pair, the time to target, and the profile of time to target over tasks. SVG traces only."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hpsearch.report.figures.plotting import colours, escape, layout

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from hpsearch.report.summaries.across_tasks import AcrossTasks
    from hpsearch.report.summaries.repeated import RepeatedComparison, StudiedOptimizer


def _rows(g: RepeatedComparison, order: Sequence[str]) -> list[StudiedOptimizer]:
    return [r for name in order for r in g.optimizers if r.optimizer == name]


def rank_stability(g: RepeatedComparison, order: Sequence[str]) -> go.Figure:
    """Each optimizer's rank in each study: flat lines are a ranking that held."""
    import plotly.graph_objects as go

    palette = colours(order)
    fig = go.Figure()
    studies = list(range(1, len(g.studies) + 1))
    for row in _rows(g, order):
        fig.add_trace(go.Scatter(
            x=studies, y=[math.nan if r is None else r for r in row.ranks], mode="lines+markers",
            name=escape(row.optimizer), legendgroup=row.optimizer,
            line={"color": palette[row.optimizer]}, marker={"size": 8},
            hovertemplate=f"{escape(row.optimizer)}: rank %{{y:g}} in study %{{x}}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", dtick=1)
    fig.update_xaxes(dtick=1)
    return layout(fig, "Rank in each study", "study", "rank by re-run test mean (1 = best)",
                  subtitle="each study: its own data split, search draws and seeds; equal means share a rank")


def improvement_heatmap(g: RepeatedComparison, order: Sequence[str]) -> go.Figure:
    """P(row > column): how often a re-run of one beats a re-run of the other, pooled over studies."""
    import plotly.graph_objects as go

    names = [r.optimizer for r in _rows(g, order) if r.optimizer in g.improvement]
    z = [[g.improvement[a].get(b, math.nan) if a != b else math.nan for b in names] for a in names]
    fig = go.Figure(go.Heatmap(
        z=z, x=[escape(n) for n in names], y=[escape(n) for n in names], zmin=0, zmax=1, zmid=0.5,
        colorscale="RdBu", texttemplate="%{z:.2f}", colorbar={"title": {"text": "P"}},
        hovertemplate="P(%{y} > %{x}) = %{z:.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return layout(fig, "Probability of improvement P(row > column)", "column optimizer",
                  "row optimizer", subtitle="over every pair (a re-run of each), pooled over studies; "
                  "a tie counts one half")


def time_to_target_figure(g: RepeatedComparison, order: Sequence[str]) -> go.Figure:
    """Steps each optimizer takes to reach the reference's result; never reached marked apart."""
    import plotly.graph_objects as go

    palette = colours(order)
    fig = go.Figure()
    rows = _rows(g, order)
    finite = [r.steps_to_target for r in rows if r.steps_to_target is not None
              and math.isfinite(r.steps_to_target)]
    for row in rows:
        steps = row.steps_to_target
        if steps is not None and math.isfinite(steps):
            seconds = (f", {row.seconds_to_target:.3g} s" if row.seconds_to_target is not None
                       and math.isfinite(row.seconds_to_target) else "")
            fig.add_trace(go.Bar(
                x=[row.optimizer], y=[steps], name=escape(row.optimizer),
                marker={"color": palette[row.optimizer], "opacity": 1.0 if row.reached else 0.35},
                text=[f"{steps:.0f}" + ("" if row.reached else " (>4x)")], textposition="outside",
                hovertemplate=f"{escape(row.optimizer)}: {steps:.0f} {g.time_unit}s{seconds}<extra></extra>"))
        else:
            fig.add_trace(go.Scatter(
                x=[row.optimizer], y=[0.0], mode="markers+text", name=f"{escape(row.optimizer)} never",
                text=["never"], textposition="top center",
                marker={"color": palette[row.optimizer], "symbol": "x", "size": 12},
                hovertemplate=f"{escape(row.optimizer)}: never reached the target<extra></extra>"))
    fig.update_layout(showlegend=False)
    fig.update_xaxes(categoryorder="array", categoryarray=[r.optimizer for r in rows])
    if finite:
        fig.add_hline(y=4 * min(finite), line={"color": "#999", "dash": "dot", "width": 1},
                      annotation_text="4x the fastest")
    reference = f"{g.reference}'s median final value {g.target:.4g}" if g.target is not None else "no target"
    return layout(fig, f"Time to target: {escape(g.metric)} {escape(reference)}", "optimizer",
                  f"{g.time_unit}s until half its re-runs reached it",
                  subtitle="validation curves of the re-runs, every study; faded: beyond 4x the fastest")


def time_profile_figure(across: AcrossTasks, order: Sequence[str]) -> go.Figure:
    """AlgoPerf's performance profile over time to target: the fraction of tasks reached within
    tau x the fastest optimizer's time (never, or beyond 4x, never counts)."""
    import plotly.graph_objects as go

    palette = colours(order)
    fig = go.Figure()
    for name in order:
        if across.time_profile is None or name not in across.time_profile:
            continue
        fig.add_trace(go.Scatter(
            x=list(across.time_taus), y=list(across.time_profile[name]), mode="lines",
            line_shape="hv", name=escape(name), legendgroup=name, line={"color": palette[name]},
            hovertemplate=f"{escape(name)}: within %{{x:.2f}}x the fastest on %{{y:.0%}} of tasks"
                          "<extra></extra>"))
    fig.update_yaxes(range=[-0.03, 1.03], tickformat=".0%")
    return layout(fig, f"Time-to-target profile over {across.timed_tasks} compared tasks",
                  "tau: time to target over the task's fastest", "fraction of tasks reached within tau",
                  subtitle="higher and further left is better; beyond 4x the fastest counts as not reached")


def repeated_figures(g: RepeatedComparison, order: Sequence[str]) -> list[go.Figure]:
    figures = [rank_stability(g, order)] if len(g.studies) > 1 else []
    if len(g.improvement) > 1:
        figures.append(improvement_heatmap(g, order))
    if g.target is not None:
        figures.append(time_to_target_figure(g, order))
    return figures
