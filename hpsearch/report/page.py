"""One self-contained HTML page: plotly.js embedded once, then a leaderboard and a section per task.
Every text that comes from a user (study names, attribute values) is escaped."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from hpsearch.report import comparison_figures, cost_figures, figures
from hpsearch.report.cost import warm_note
from hpsearch.report.summary import (
    OptimizerSummary,
    Report,
    StudySummary,
    TrialPoint,
    format_hyperparameters,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from hpsearch.report.comparison import ComparedOptimizer, ComparisonSummary
    from hpsearch.report.cost import CostRow, CostSummary

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


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int]) -> str:
    """Cells are HTML already escaped by the caller."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                         for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(fig: go.Figure) -> str:
    import plotly.io as pio

    return pio.to_html(fig, full_html=False, include_plotlyjs=False, config=PLOT_CONFIG)


def _swatch(name: str, palette: dict[str, str]) -> str:
    return f'<span class="swatch" style="background:{palette.get(name, "#999")}"></span>{esc(name)}'


def leaderboard(report: Report) -> str:
    palette = figures.colours(report.optimizer_order)
    rows = []
    for study in report.studies:
        win = study.optimizers[0] if study.winner else None
        rows.append([
            esc(study.study), esc(study.task), f"{esc(study.metric)} ({esc(study.direction)})",
            _swatch(study.winner, palette) if study.winner else "none yet",
            _number(win.best_value if win else None),
            f"{win.trials} ({win.pruned} pruned, {win.diverged} div.)" if win else "-",
            f"<code>{esc(format_hyperparameters(win.best_config))}</code>" if win else "",
            str(study.provenance.finished),
        ])
    return _table(["study", "task", "metric", "winner", "best", "winner's trials", "configuration",
                   "trials"], rows, numeric={4, 7})


def _optimizer_rows(study: StudySummary, palette: dict[str, str]) -> list[list[str]]:
    def row(r: OptimizerSummary) -> list[str]:
        spread = (f"{_number(r.q1)} .. {_number(r.q3)}" if r.complete >= 2 else "-")
        return [str(r.rank or "-"), _swatch(r.optimizer, palette), _number(r.best_value),
                _number(r.top_k_mean), _number(r.median), spread, str(r.trials), str(r.complete),
                str(r.pruned - r.diverged), str(r.diverged), str(r.failed), f"{r.seconds:.1f}"]

    return [row(r) for r in study.optimizers]


def _best_configs(optimizers: Sequence[OptimizerSummary | ComparedOptimizer],
                  trials: Sequence[TrialPoint]) -> str:
    from hpsearch.export import to_python

    warm = {t.number: t.warm_start for t in trials if t.warm_start}
    rows = []
    for r in optimizers:
        if not r.best_config:
            continue
        code = to_python(r.best_config).split("\n", 2)[2].strip()  # without the import line
        source = warm.get(r.best_trial) if r.best_trial is not None else None
        trial = str(r.best_trial) + (f' <span class="meta">(warm-started from {esc(source)})</span>'
                                     if source else "")
        rows.append([esc(r.optimizer), trial, _number(r.best_value),
                     f"<code>{esc(code)}</code>",
                     f"<code>{esc(json.dumps(dict(r.best_config), default=str))}</code>"])
    return _table(["optimizer", "trial", "value", "PyTorch", "JSON (hpsearch.build_optimizer)"],
                  rows, numeric={1, 2})


def _provenance(study: StudySummary) -> str:
    p = study.provenance
    versions = ", ".join(f"{esc(k)} {esc(v)}" for k, v in p.versions.items())
    items = [
        ("budget", f"{p.finished} finished trials of {esc(p.n_trials)} asked, at most "
                   f"{esc(p.epochs)} epochs each, batch size {esc(p.batch_size)}"),
        ("search", f"sampler {esc(p.sampler)}, pruner {esc(p.pruner)}, seed {esc(p.seed)}, "
                   f"data split seed {esc(p.split_seed)}"),
        ("hardware", f"device {esc(p.device)}, {p.workers} worker(s), {p.runs} run(s), "
                     f"{p.wall_seconds:.1f} s of wall-clock time"),
        ("versions", versions or "not recorded"),
    ]
    return _items(items, p.warm_started)


def _items(items: list[tuple[str, str]], warm_started: int) -> str:
    if warm_started:
        items.append(("warm starts", f"{warm_started} trial(s) enqueued from earlier studies' trials"))
    return "<ul>" + "".join(f"<li><b>{k}</b>: {v}</li>" for k, v in items) + "</ul>"


def _warm(trials: Sequence[TrialPoint]) -> str:
    note = warm_note(trials)
    return f'<p class="meta">{figures.WARM_SYMBOL_TEXT} {esc(note)}</p>' if note else ""


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
    return _number(value) + partial


def _cost_row(r: CostRow, palette: dict[str, str]) -> list[str]:
    return [_swatch(r.optimizer, palette), str(r.trials), f"{r.seconds:.3g}",
            "-" if r.relative is None else f"{r.relative:.2g}x", f"{r.epochs:.3g}",
            _number(r.closure_evaluations), _mean_of(r.updates, r.updates_recorded, r.trials),
            f"{r.no_result_seconds:.1f}", f"{r.total_seconds:.1f}"]


def cost_section(cost: CostSummary | None, trials: Sequence[TrialPoint], metric: str, direction: str,
                 order: Sequence[str]) -> str:
    """The Pareto sentence, the cost per trial of each optimizer and the two cost figures."""
    if cost is None:
        return ""
    palette = figures.colours(order)
    table = _table(["optimizer", "trials run", "mean train s", "vs cheapest", "mean epochs",
                    "mean closure evaluations", "mean updates", "no-result s", "total train s"],
                   [_cost_row(r, palette) for r in cost.table], numeric={1, 2, 3, 4, 5, 6, 7, 8})
    plots = "".join(f"<div>{_figure(fig)}</div>"
                    for fig in cost_figures.cost_figures(cost, trials, metric, direction, order))
    unknown = (f" {cost.unknown_cost} complete trial(s) recorded no cost and are on no front."
               if cost.unknown_cost else "")
    return (f"<h3>Cost: {esc(metric)} per unit of compute</h3>"
            f'<p class="verdict">{esc(cost.front_text)}</p>{table}'
            f'<p class="meta">{esc(COST_CAPTION + unknown)}</p><div class="grid">{plots}</div>')


def study_section(study: StudySummary, order: Sequence[str]) -> str:
    palette = figures.colours(order)
    plots = "".join(f"<div>{_figure(fig)}</div>" for fig in figures.study_figures(study, order))
    table = _table(["rank", "optimizer", "best", "top-3 mean", "median", "IQR", "trials",
                    "complete", "pruned", "diverged", "failed", "train s"],
                   _optimizer_rows(study, palette), numeric={0, 2, 3, 4, 6, 7, 8, 9, 10, 11})
    return (f'<section id="study-{esc(study.study)}"><h2>{esc(study.study)} '
            f'<span class="meta">task {esc(study.task)}, {esc(study.metric)} '
            f"({esc(study.direction)})</span></h2>"
            f'<p class="verdict">{esc(study.verdict)}</p>{_provenance(study)}{table}{_warm(study.trials)}'
            f'<div class="grid">{plots}</div>'
            f"{cost_section(study.cost, study.trials, study.metric, study.direction, order)}"
            "<h3>Best configuration of each optimizer</h3>"
            f"{_best_configs(study.optimizers, study.trials)}</section>")


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4g}"


def _compared_row(r: ComparedOptimizer, c: ComparisonSummary, palette: dict[str, str]) -> list[str]:
    test, k = r.test, c.protocol.budget
    interval = (f"{test.low:.4g} .. {test.high:.4g}" if test and test.n > 1 else
                "one seed: no spread" if test else "-")
    seeds = f"{test.n if test else 0}" + (f" + {r.rerun_diverged} diverged" if r.rerun_diverged else "")
    default = (_number(r.default_value) if r.default_state == "complete" else
               f"default {esc(r.default_state)}")
    gain = _signed(r.gain) if r.gain is not None else (
        "default diverged" if r.default_state == "diverged" else "-")
    best = f"{_number(r.best_value)} (#{r.best_trial})" if r.best_trial is not None else "-"
    return [str(r.rank or "-"), _swatch(r.optimizer, palette), _number(test.mean if test else None),
            interval, seeds, _number(r.p_best), best,
            f"{r.search_trials} of {k}" + (f", {r.search_diverged} diverged" if r.search_diverged else "")
            + (f"; {r.failed} failed, retried" if r.failed else ""), default, gain,
            _number(r.lr_window), f"{r.seconds:.1f}"]


def _protocol(c: ComparisonSummary) -> str:
    p, prov = c.protocol, c.provenance
    versions = ", ".join(f"{esc(k)} {esc(v)}" for k, v in prov.versions.items())
    items = [
        ("budget", f"{p.budget} search trials per optimizer ({esc(p.sampler)} sampling inside its own "
                   f"space, no pruning) plus one at torch's defaults; the best search configuration "
                   f"re-trained with {p.seeds} seeds for {esc(p.epochs)} epochs, scored on the test split"),
        ("seeds", f"search seed {esc(p.seed)}, data split seed {esc(prov.split_seed)}"),
        ("hardware", f"device {esc(prov.device)}, {prov.workers} worker(s), {prov.runs} run(s), "
                     f"{prov.wall_seconds:.1f} s of wall-clock time"),
        ("versions", versions or "not recorded"),
    ]
    return _items(items, prov.warm_started)


def comparison_section(c: ComparisonSummary, order: Sequence[str]) -> str:
    palette = figures.colours(order)
    plots = "".join(f"<div>{_figure(fig)}</div>" for fig in comparison_figures.comparison_figures(c, order))
    table = _table(["rank", "optimizer", f"test {c.metric}", "95% CI", "seeds", "P(best)",
                    "best search value", "search trials", "default (test)", "gain over default",
                    "lr window (decades)", "train s"],
                   [_compared_row(r, c, palette) for r in c.optimizers],
                   numeric={0, 2, 5, 9, 10, 11})
    return (f'<section id="compare-{esc(c.study)}"><h2>{esc(c.study)} '
            f'<span class="meta">comparison on task {esc(c.task)}, {esc(c.metric)} '
            f"({esc(c.direction)})</span></h2>"
            f'<p class="verdict">{esc(c.verdict)}</p>{_protocol(c)}{table}{_warm(c.trials)}'
            f'<div class="grid">{plots}</div>'
            f"{cost_section(c.cost, c.trials, f'validation {c.metric}', c.direction, order)}"
            "<h3>Best search configuration of each optimizer</h3>"
            f"{_best_configs(c.optimizers, c.trials)}</section>")


def measured_table(report: Report) -> str:
    """One row per optimizer over every comparison: the measured "which optimizer" table."""
    if report.across_tasks is None:
        return ""
    palette = figures.colours(report.optimizer_order)

    def studies(names: Sequence[str]) -> str:
        return f"{len(names)}" + (f' <span class="meta">({esc(", ".join(names))})</span>' if names else "")

    rows = [[_swatch(m.optimizer, palette), str(m.tasks), studies(m.won), studies(m.tied),
             _number(m.mean_rank), _number(m.lr_window),
             (f"{_signed(m.mean_gain)} mean; " if m.mean_gain is not None else "")
             + f"helped on {m.helped} of {m.gain_tasks}", str(m.default_diverged), f"{m.seconds:.1f}"]
            for m in report.across_tasks.table]
    return _table(["optimizer", "tasks", "won", "tied for best", "mean rank", "lr window (decades)",
                   "gain over defaults", "defaults diverged", "train s"], rows, numeric={1, 4, 5, 7, 8})


def comparisons_part(report: Report) -> str:
    if report.across_tasks is None:
        return ""
    profile = _figure(comparison_figures.profile_figure(report.across_tasks, report.optimizer_order))
    sections = "".join(comparison_section(c, report.optimizer_order) for c in report.comparisons)
    return ("<h2>Measured optimizer table</h2><p class=\"meta\">Over every comparison: each optimizer got "
            "the same number of search trials per task, and is judged on its best configuration re-run "
            "over seeds on the test split. Won: its lead was outside the noise (P(best) at least 0.95); "
            "tied: the verdict could not tell it from the best. The lr window is how many decades of "
            "learning rate came near its best search value (wide: forgiving).</p>"
            f"{measured_table(report)}{profile}{sections}")


UNEQUAL_BUDGETS = (
    "In these <code>hpsearch tune</code> studies the sampler chose which optimizer to try, so the "
    "optimizers got unequal budgets: a rank here says where the search spent its trials as much as "
    "which optimizer is better. <code>hpsearch compare</code> gives each the same budget and re-runs it "
    "over seeds.")


def _tune_part(report: Report) -> str:
    sections = "".join(study_section(s, report.optimizer_order) for s in report.studies)
    heatmap = _figure(figures.leaderboard_heatmap(report)) if report.studies else ""
    title = "Tune studies: leaderboard" if report.comparisons else "Leaderboard"
    return (f'<h2>{title}</h2><p class="meta">{UNEQUAL_BUDGETS}</p>{leaderboard(report)}{heatmap}'
            f"{sections}")


def render_page(report: Report) -> str:
    from plotly.offline import get_plotlyjs

    if report.comparisons:
        intro = (f"hpsearch report of {len(report.comparisons)} comparisons and {len(report.studies)} "
                 f"tune studies in <code>{esc(report.storage)}</code>, generated {esc(report.generated)}. "
                 "A comparison gives every optimizer the same budget and judges it on re-runs over seeds; "
                 "a tune study's values are its best trials' validation metrics, beside their budgets.")
    else:
        intro = (f"hpsearch report of {len(report.studies)} studies in "
                 f"<code>{esc(report.storage)}</code>, generated {esc(report.generated)}. Each value is "
                 "the best complete trial's final validation metric; its budget stands beside it.")
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>hpsearch report</title>"
        f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head><body>"
        "<h1>Which optimizer, for which task?</h1>"
        f'<p class="meta">{intro}</p>{comparisons_part(report)}'
        f"{_tune_part(report) if report.studies or not report.comparisons else ''}</body></html>"
    )
