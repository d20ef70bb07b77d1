"""One self-contained HTML page: plotly.js embedded once, then the comparisons, a leaderboard of the
`tune` studies and a section per study."""

from __future__ import annotations

from collections.abc import Sequence

from hpsearch.report.documents.comparison_page import comparisons_part
from hpsearch.report.documents.html import (
    STYLE,
    best_configs,
    cost_section,
    esc,
    evidence,
    figure,
    warm,
)
from hpsearch.report.documents.study_tables import leaderboard_table, optimizers_table
from hpsearch.report.figures import study as figures
from hpsearch.report.figures.plotting import colours
from hpsearch.report.summaries.collect import Report
from hpsearch.report.summaries.scale import ScaleSummary, scale_lines
from hpsearch.report.summaries.study import StudySummary


def leaderboard(report: Report) -> str:
    return leaderboard_table(report.studies).html(colours(report.optimizer_order))


def _provenance(study: StudySummary) -> str:
    p = study.provenance
    return evidence([
        ("budget", f"{p.finished} finished trials of {esc(p.n_trials)} asked, at most "
                   f"{esc(p.budget())}, batch size {esc(p.batch_size)}"),
        ("search", f"sampler {esc(p.sampler)}, pruner {esc(p.pruner)}, seed {esc(p.seed)}, "
                   f"data split seed {esc(p.split_seed)}"),
    ], p)


def study_table(study: StudySummary, palette: dict[str, str]) -> str:
    """A sweep's optimizers, best first (the page's and a notebook's table)."""
    return optimizers_table(study.optimizers, study.metric).html(palette)


def study_section(study: StudySummary, order: Sequence[str]) -> str:
    palette = colours(order)
    plots = "".join(f"<div>{figure(fig)}</div>" for fig in figures.study_figures(study, order))
    table = study_table(study, palette)
    return (f'<section id="study-{esc(study.study)}"><h2>{esc(study.study)} '
            f'<span class="meta">task {esc(study.task)}, {esc(study.metric)} '
            f"({esc(study.direction)})</span></h2>"
            f'<p class="verdict">{esc(study.verdict)}</p>{_provenance(study)}{table}{warm(study.trials)}'
            f'<div class="grid">{plots}</div>'
            f"{cost_section(study.cost, study.trials, study.metric, study.direction, order)}"
            "<h3>Best configuration of each optimizer</h3>"
            f"{best_configs(study.optimizers, study.trials, palette)}</section>")


UNEQUAL_BUDGETS = (
    "In these <code>hpsearch tune</code> studies the sampler chose which optimizer to try, so the "
    "optimizers got unequal budgets: a rank here says where the search spent its trials as much as "
    "which optimizer is better. <code>hpsearch compare</code> gives each the same budget and re-runs it "
    "over seeds.")


def _tune_part(report: Report) -> str:
    sections = "".join(study_section(s, report.optimizer_order) for s in report.studies)
    heatmap = figure(figures.leaderboard_heatmap(report)) if report.studies else ""
    title = "Tune studies: leaderboard" if report.comparisons else "Leaderboard"
    return (f'<h2>{title}</h2><p class="meta">{UNEQUAL_BUDGETS}</p>{leaderboard(report)}{heatmap}'
            f"{sections}")


def scale_part(scales: list[ScaleSummary], order: Sequence[str]) -> str:
    """Each scale sweep: its figures, then its numbers as the terminal prints them."""
    from hpsearch.report.figures.scale import scale_figures

    return "".join(
        f'<section id="scale-{esc(s.study)}"><h2>Scale sweep {esc(s.study)}</h2>'
        + "".join(f"<div>{figure(fig)}</div>" for fig in scale_figures(s, order))
        + f"<pre>{esc(chr(10).join(scale_lines(s)))}</pre></section>" for s in scales)


def render_page(report: Report) -> str:
    from plotly.offline import get_plotlyjs

    if report.scales and not report.studies and not report.comparisons:
        intro = (f"hpsearch report of {len(report.scales)} scale sweeps in "
                 f"<code>{esc(report.storage)}</code>, generated {esc(report.generated)}.")
    elif report.comparisons:
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
        f"{_tune_part(report) if report.studies or not (report.comparisons or report.scales) else ''}"
        f"{scale_part(report.scales, report.optimizer_order)}</body></html>"
    )
