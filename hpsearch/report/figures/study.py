"""plotly figures built from a `Report` (plain data). SVG traces only (go.Scatter, never Scattergl),
so pages render on machines without a GPU; every optimizer keeps one colour and one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hpsearch import record
from hpsearch.report.figures.plotting import (
    FADED,
    HEIGHT,
    WARM_SYMBOL,
    WARM_SYMBOL_TEXT,
    colours,
    escape,
    layout,
)
from hpsearch.report.summaries.collect import Report
from hpsearch.report.summaries.points import TrialPoint
from hpsearch.report.summaries.study import StudySummary

if TYPE_CHECKING:
    import plotly.graph_objects as go

def _worst(trials: Sequence[TrialPoint], direction: str) -> float | None:
    return record.worst((t.value for t in trials if t.value is not None), direction)


def warm_caption(trials: Sequence[TrialPoint]) -> str:
    """What the diamond outline means, for a figure's caption; "" where no trial was warm-started."""
    return f"; {WARM_SYMBOL_TEXT}: warm-started" if any(
        t.warm_start for t in trials) else ""


def leaderboard_heatmap(report: Report) -> go.Figure:
    """Rank of every optimizer in every task (1 = best), with its best value and its budget."""
    import plotly.graph_objects as go

    order = report.optimizer_order
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    for name in order:
        z_row: list[float | None] = []
        text_row: list[str] = []
        for study in report.studies:
            row = next((r for r in study.optimizers if r.optimizer == name), None)
            if row is None:
                z_row.append(None)
                text_row.append("not tried")
                continue
            z_row.append(row.rank)
            best = row.best_text or f"{row.best_value:.4g}"
            text_row.append(f"{best} (#{row.rank or '-'})<br>{row.trials} trials, "
                            f"{row.pruned - row.diverged} pruned, {row.diverged} div.")
        z.append(z_row)
        text.append(text_row)
    columns = [f"{escape(s.study)} ({escape(s.metric)})" for s in report.studies]
    fig = go.Figure(go.Heatmap(
        z=z, x=columns, y=[escape(n) for n in order], text=text, texttemplate="%{text}",
        colorscale="RdYlGn", reversescale=True, zmin=1, zmax=max(len(order), 2),
        colorbar={"title": "rank"}, hovertemplate="%{y} on %{x}<br>%{text}<extra></extra>",
        xgap=2, ygap=2,
    ))
    fig.update_yaxes(autorange="reversed")
    return layout(fig, "Rank of each optimizer per task", "task (study)", "optimizer",
                   subtitle="1 = best; the trials each optimizer got stand beside every value",
                   ).update_layout(height=max(HEIGHT, 48 * len(order)))


def best_so_far(study: StudySummary, order: Sequence[str], by: str = "trial") -> go.Figure:
    """Best complete value so far, one line per optimizer, against trial number or seconds."""
    import plotly.graph_objects as go

    better = max if record.sign(study.direction) > 0 else min
    ends = [t.number if by == "trial" else t.finished_s for t in study.trials]
    end = max((e for e in ends if e is not None), default=None)
    fig = go.Figure()
    palette = colours(order)
    for name in order:
        points = sorted(
            (t for t in study.trials if t.optimizer == name and t.state == "complete"
             and t.value is not None and (by == "trial" or t.finished_s is not None)),
            key=lambda t: t.number if by == "trial" else t.finished_s)  # type: ignore[arg-type, return-value]
        if not points:
            continue
        xs, ys, best = [], [], None
        for t in points:
            best = t.value if best is None else better(best, t.value)  # type: ignore[type-var]
            xs.append(t.number if by == "trial" else t.finished_s)
            ys.append(best)
        if end is not None and xs[-1] is not None and end > xs[-1]:  # the best holds to the end
            xs.append(end)
            ys.append(best)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", line_shape="hv",
                                 name=escape(name), legendgroup=name,
                                 line={"color": palette[name]}, marker={"size": 5}))
    x_title = "trial number" if by == "trial" else "seconds since the sweep started"
    against = "trials" if by == "trial" else "wall clock"
    return layout(fig, f"Best {escape(study.metric)} so far ({against})", x_title, study.metric,
                   subtitle="best complete trial of each optimizer up to that point")


def _x(t: TrialPoint, x_of: str) -> float | str | None:
    if x_of == "lr":
        return t.lr
    if x_of == "seconds":
        return t.seconds if t.seconds > 0 else None  # no cost recorded: not on a cost axis
    return t.optimizer


def marker_traces(trials: Sequence[TrialPoint], direction: str, order: Sequence[str],
                  x_of: str) -> list[go.Scatter]:
    """Complete trials as filled markers, pruned as faded open markers at their last reported
    value, diverged as crosses drawn at the worst value seen; a warm-started trial is outlined by a
    diamond. x_of: "optimizer", "lr" or "seconds"."""
    import plotly.graph_objects as go

    palette = colours(order)
    worst = _worst(trials, direction)
    traces = []
    for name in order:
        drawn = []
        for state, symbol, opacity in (("complete", "circle", 0.9), ("pruned", "circle-open", FADED),
                                       ("diverged", "x", 0.9)):
            points = [t for t in trials if t.optimizer == name and t.state == state
                      and _x(t, x_of) is not None]
            if not points:
                continue
            drawn += points
            ys = [t.value if state != "diverged" else worst for t in points]
            traces.append(go.Scatter(
                x=[_x(t, x_of) for t in points], y=ys, mode="markers", name=f"{escape(name)} {state}",
                legendgroup=name, showlegend=state == "complete" or x_of != "optimizer", opacity=opacity,
                marker={"color": palette[name], "symbol": symbol, "size": 8},
                text=[_hover(t) for t in points], hovertemplate="%{text}<extra></extra>",
            ))
        warm = [t for t in drawn if t.warm_start]
        if warm:
            traces.append(go.Scatter(
                x=[_x(t, x_of) for t in warm], y=[t.value if t.state != "diverged" else worst for t in warm],
                mode="markers", name=f"{escape(name)} warm-started", legendgroup=name,
                showlegend=x_of != "optimizer",
                marker={"color": palette[name], "symbol": WARM_SYMBOL, "size": 16, "line": {"width": 1.5}},
                text=[_hover(t) for t in warm], hovertemplate="%{text}<extra></extra>",
            ))
    return traces


def _hover(t: TrialPoint) -> str:
    value = f"{t.value:.4g}" if t.value is not None else "-"
    lr = f", lr {t.lr:.3g}" if t.lr is not None else ""
    reason = f"<br>{escape(t.reason)}" if t.reason else ""
    warm = f"<br>warm-started from {escape(t.warm_start)}" if t.warm_start else ""
    run = f"{t.steps_run} steps" if t.steps_run is not None else f"{t.epochs_run} epochs"
    return (f"trial {t.number} {escape(t.optimizer)}: {value} ({t.state}, {run}{lr})"
            f"{reason}{warm}")


def distribution(study: StudySummary, order: Sequence[str]) -> go.Figure:
    import plotly.graph_objects as go

    palette = colours(order)
    fig = go.Figure()
    for name in order:
        values = [t.value for t in study.trials if t.optimizer == name and t.state == "complete"]
        if values:
            fig.add_trace(go.Box(y=values, x=[name] * len(values), name=f"{escape(name)} complete",
                                 legendgroup=name, showlegend=False, boxpoints=False,
                                 marker={"color": palette[name]}, line={"width": 1}))
    for trace in marker_traces(study.trials, study.direction, order, x_of="optimizer"):
        fig.add_trace(trace)
    fig.update_layout(showlegend=False)
    fig.update_xaxes(categoryorder="array", categoryarray=list(order))
    return layout(fig, f"Final {escape(study.metric)} per optimizer", "optimizer", study.metric,
                   subtitle="box and dots: complete trials; open: pruned, at their last value; "
                            "x: diverged, drawn at the worst value" + warm_caption(study.trials))


def learning_curves(study: StudySummary, order: Sequence[str]) -> go.Figure:
    """Every trial's reported value per evaluation point (epochs, or steps done); pruned trials
    faded. One trace per optimizer and state (trials joined with gaps) keeps the page light with
    thousands of trials."""
    import plotly.graph_objects as go

    palette = colours(order)
    fig = go.Figure()
    for name in order:
        for finished, opacity in ((True, 0.8), (False, FADED)):
            xs: list[int | None] = []
            ys: list[float | None] = []
            for t in study.trials:
                if t.optimizer != name or (t.state == "complete") != finished or not t.curve:
                    continue
                xs += [*study.provenance.points(len(t.curve)), None]
                ys += [*t.curve, None]
            if xs:
                fig.add_trace(go.Scatter(
                    x=xs, y=ys, mode="lines", name=f"{escape(name)}" + ("" if finished else " (pruned)"),
                    legendgroup=name, opacity=opacity, line={"color": palette[name], "width": 1},
                    connectgaps=False, hoverinfo="skip" if not finished else None,
                ))
    unit = study.provenance.unit
    return layout(fig, "Learning curves", unit, f"validation {study.metric}",
                   subtitle=f"every trial's reported value per evaluation ({unit}s); pruned "
                            "trials faded")


def lr_sensitivity(study: StudySummary, order: Sequence[str]) -> go.Figure:
    import plotly.graph_objects as go

    fig = go.Figure(marker_traces(study.trials, study.direction, order, x_of="lr"))
    return layout(fig, "Learning-rate sensitivity", "learning rate (log)", study.metric,
                   log_x=True, subtitle="a wide band of good values means a robust optimizer; "
                                        "open: pruned; x: diverged" + warm_caption(study.trials))


def importance(study: StudySummary, order: Sequence[str]) -> go.Figure:
    """fANOVA importance of each optimizer's own parameters (rows: parameter, columns: optimizer)."""
    import plotly.graph_objects as go

    rows = [r for name in order for r in study.optimizers if r.optimizer == name and r.importance]
    params: list[str] = []
    for row in rows:
        for key in row.importance:
            short = key.removeprefix(f"{row.optimizer}_")
            if short not in params:
                params.append(short)
    z = [[next((v for k, v in r.importance.items() if k.removeprefix(f"{r.optimizer}_") == p), None)
          for r in rows] for p in params]
    fig = go.Figure(go.Heatmap(
        z=z, x=[escape(r.optimizer) for r in rows], y=[escape(p) for p in params], colorscale="Blues",
        zmin=0, zmax=1, texttemplate="%{z:.2f}", colorbar={"title": "share"},
        hovertemplate="%{x}: %{y} explains %{z:.2f}<extra></extra>", xgap=2, ygap=2,
    ))
    fig.update_yaxes(autorange="reversed")
    notes = "; ".join(f"{r.optimizer}: {r.importance_note}" for r in study.optimizers
                      if not r.importance)
    title = "Hyperparameter importance within each optimizer"
    if notes:
        fig.add_annotation(text=escape("not estimated: " + notes), showarrow=False, xref="paper",
                           yref="paper", x=0.5 if not rows else 0, y=0.5 if not rows else -0.18,
                           xanchor="center" if not rows else "left", font={"size": 11})
    if not rows:
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    return layout(fig, title, "optimizer", "parameter",
                   subtitle="fANOVA share of the variance of the metric, per optimizer")


def study_figures(study: StudySummary, order: Sequence[str]) -> list[go.Figure]:
    return [
        best_so_far(study, order, by="trial"),
        best_so_far(study, order, by="time"),
        distribution(study, order),
        learning_curves(study, order),
        lr_sensitivity(study, order),
        importance(study, order),
    ]
