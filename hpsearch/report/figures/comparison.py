"""plotly figures of `hpsearch compare` studies, from `ComparisonSummary` and `AcrossTasks` (plain
data). SVG traces only; each optimizer keeps the colour it has in every other figure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hpsearch.report.figures.plotting import FADED, colours, escape, layout

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from hpsearch.report.summaries.across_tasks import AcrossTasks
    from hpsearch.report.summaries.comparison import ComparedOptimizer, ComparisonSummary

BAND = 0.15  # opacity of a +-1 std band


def _rows(comparison: ComparisonSummary, order: Sequence[str]) -> list[ComparedOptimizer]:
    """The optimizers in the one order every figure uses."""
    return [r for name in order for r in comparison.optimizers if r.optimizer == name]


def _rgba(colour: str, alpha: float) -> str:
    red, green, blue = (int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({red}, {green}, {blue}, {alpha})"


def _budget(comparison: ComparisonSummary) -> str:
    p = comparison.protocol
    return f"best of {p.budget} search trials per optimizer, re-run with {p.seeds} seeds"


def rerun_intervals(comparison: ComparisonSummary, order: Sequence[str]) -> go.Figure:
    """Each optimizer's re-run test values (faint), their mean and its 95% CI, and its P(best)."""
    import plotly.graph_objects as go

    palette = colours(order)
    fig = go.Figure()
    for row in _rows(comparison, order):
        seeds = [v for v in row.reruns if math.isfinite(v)]
        if seeds:
            fig.add_trace(go.Scatter(
                x=[row.optimizer] * len(seeds), y=seeds, mode="markers", legendgroup=row.optimizer,
                name=f"{escape(row.optimizer)} seeds", showlegend=False, opacity=FADED + 0.15,
                marker={"color": palette[row.optimizer], "size": 7},
                hovertemplate="seed: %{y:.4g}<extra></extra>"))
        if row.test is None:
            continue
        spread = row.test.n > 1 and math.isfinite(row.test.low)
        p_best = f"P(best) {row.p_best:.2f}" if row.p_best is not None else ""
        fig.add_trace(go.Scatter(
            x=[row.optimizer], y=[row.test.mean], mode="markers", name=escape(row.optimizer),
            legendgroup=row.optimizer,
            marker={"color": palette[row.optimizer], "size": 12, "symbol": "diamond"},
            error_y={"type": "data", "symmetric": False, "visible": spread, "color": palette[row.optimizer],
                     "array": [row.test.high - row.test.mean if spread else 0],
                     "arrayminus": [row.test.mean - row.test.low if spread else 0]},
            hovertemplate=(f"{escape(row.optimizer)}: mean %{{y:.4g}}"
                           + (f" [{row.test.low:.4g}, {row.test.high:.4g}]" if spread else " (one seed)")
                           + f" over {row.test.n} seeds, {p_best}<extra></extra>")))
    rows = _rows(comparison, order)
    fig.update_layout(showlegend=False)
    fig.update_xaxes(categoryorder="array", categoryarray=[r.optimizer for r in rows],
                     tickvals=[r.optimizer for r in rows], range=[-0.5, len(rows) - 0.5],
                     ticktext=[escape(r.optimizer) + (
                         "" if r.p_best is None else f"<br>P(best) {r.p_best:.2f}") for r in rows])
    return layout(fig, f"Test {escape(comparison.metric)} of the re-runs: mean and 95% CI",
                   "optimizer", f"test {comparison.metric}",
                   subtitle=f"{_budget(comparison)}; dots: seeds")


def expected_best_curves(comparison: ComparisonSummary, order: Sequence[str]) -> go.Figure:
    """Expected best validation value after k search trials, +-1 std: how easy is it to tune?"""
    import plotly.graph_objects as go

    palette = colours(order)
    fig = go.Figure()
    for row in _rows(comparison, order):
        if not row.expected_best:
            continue
        ks = list(range(1, len(row.expected_best) + 1))
        low = [m - s for m, s in zip(row.expected_best, row.expected_best_std, strict=True)]
        high = [m + s for m, s in zip(row.expected_best, row.expected_best_std, strict=True)]
        fig.add_trace(go.Scatter(
            x=ks + ks[::-1], y=high + low[::-1], fill="toself", fillcolor=_rgba(palette[row.optimizer], BAND),
            line={"color": palette[row.optimizer], "width": 0}, mode="lines", hoverinfo="skip",
            name=f"{escape(row.optimizer)} +-1 std", legendgroup=row.optimizer, showlegend=False))
        fig.add_trace(go.Scatter(
            x=ks, y=list(row.expected_best), mode="lines+markers", name=escape(row.optimizer),
            legendgroup=row.optimizer, line={"color": palette[row.optimizer]}, marker={"size": 5},
            customdata=list(row.expected_best_std),
            hovertemplate=(f"{escape(row.optimizer)}, %{{x}} trials: %{{y:.4g}} +- %{{customdata:.2g}}"
                           "<extra></extra>")))
    worst = comparison.worst_search_value
    caption = ("a diverged trial is a real, bad draw: it counts as the task's worst search value"
               + (f", {worst:.4g}" if worst is not None else "") + "; failed ones were retried")
    return layout(fig, f"Expected best validation {escape(comparison.metric)} after k trials",
                   "search trials per optimizer (k)", f"validation {comparison.metric}",
                   subtitle=escape(caption))


def tuning_gain(comparison: ComparisonSummary, order: Sequence[str]) -> go.Figure:
    """Re-run test mean against the one trial at torch's defaults; positive means tuning helped."""
    import plotly.graph_objects as go

    palette = colours(order)
    fig = go.Figure()
    for row in _rows(comparison, order):
        name = row.optimizer
        if row.gain is not None and row.test is not None:
            fig.add_trace(go.Bar(
                x=[name], y=[row.gain], name=escape(name), legendgroup=name, text=[f"{row.gain:+.3g}"],
                textposition="outside", marker={"color": palette[name]},
                hovertemplate=(f"{escape(name)}: tuned {row.test.mean:.4g} vs default "
                               f"{row.default_value:.4g}<extra></extra>")))
            continue
        label = ("default diverged" if row.default_state == "diverged" else
                 "no re-run finished" if row.test is None else f"default {row.default_state}")
        fig.add_trace(go.Scatter(
            x=[name], y=[0.0], mode="markers+text", name=f"{escape(name)} {label}", legendgroup=name,
            text=[label], textposition="top center",
            marker={"color": palette[name], "symbol": "x", "size": 12},
            hovertemplate=f"{escape(name)}: {label}<extra></extra>"))
    fig.update_layout(showlegend=False)
    fig.update_xaxes(categoryorder="array", categoryarray=[r.optimizer for r in _rows(comparison, order)])
    fig.add_hline(y=0, line={"color": "#999", "width": 1})
    sense = "higher" if comparison.direction == "maximize" else "lower"
    return layout(fig, "Gain of tuning over torch's defaults", "optimizer",
                   f"test {comparison.metric} gain", subtitle=(
                       f"re-run mean vs the default trial; positive: tuning helped ({sense} is better)"))


def profile_figure(across: AcrossTasks, order: Sequence[str]) -> go.Figure:
    """Performance profile: the fraction of tasks on which an optimizer is within tau of the best."""
    import plotly.graph_objects as go

    palette = colours(order)
    fig = go.Figure()
    for name in order:
        if name not in across.profile:
            continue
        fig.add_trace(go.Scatter(
            x=list(across.taus), y=list(across.profile[name]), mode="lines+markers", line_shape="hv",
            name=escape(name), legendgroup=name, line={"color": palette[name]}, marker={"size": 5},
            hovertemplate=f"{escape(name)}: within %{{x:.3g}} spreads on %{{y:.0%}} of tasks<extra></extra>"))
    fig.update_yaxes(range=[-0.03, 1.03], tickformat=".0%")
    return layout(fig, f"Performance profile over {len(across.studies)} compared tasks",
                   "tau: distance to the task's best re-run mean, in spreads of the optimizers' means",
                   "fraction of tasks within tau", subtitle="at tau 0: the tasks it was best on; "
                   "higher and further left is better; a task it was not run on never counts")


def comparison_figures(comparison: ComparisonSummary, order: Sequence[str]) -> list[go.Figure]:
    return [rerun_intervals(comparison, order), expected_best_curves(comparison, order),
            tuning_gain(comparison, order)]
