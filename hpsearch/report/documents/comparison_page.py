"""The comparison part of the report page: the measured optimizer table over every comparison, then
per comparison its verdict over its studies, and each study's verdict, protocol, table, figures
and best configurations."""

from __future__ import annotations

from collections.abc import Sequence

from hpsearch.report.documents.comparison_tables import (
    compared_table,
    decision_table,
    measured_table,
    studied_table,
)
from hpsearch.report.documents.comparison_text import target_line
from hpsearch.report.documents.html import (
    best_configs,
    cost_section,
    esc,
    evidence,
    figure,
    warm,
)
from hpsearch.report.figures import comparison as comparison_figures
from hpsearch.report.figures import repeated as repeated_figures
from hpsearch.report.figures.plotting import colours
from hpsearch.report.summaries.collect import Report
from hpsearch.report.summaries.comparison import ComparisonSummary
from hpsearch.report.summaries.repeated import RepeatedComparison


def _protocol(c: ComparisonSummary) -> str:
    p, prov = c.protocol, c.provenance
    return evidence([
        ("budget", f"{p.budget} search trials per optimizer ({esc(p.sampler)} sampling inside its own "
                   f"space, no pruning) plus one at torch's defaults; the best search configuration "
                   f"re-trained with {p.seeds} seeds {esc(p.length)}"
                   + ("" if p.steps else ", scored on the test split")),
        ("seeds", f"search seed {esc(p.seed)}, data split seed {esc(prov.split_seed)}"),
    ], prov)


def comparison_table(c: ComparisonSummary, palette: dict[str, str]) -> str:
    """One study of a comparison, best first (the page's and a notebook's table)."""
    return compared_table(c).html(palette)


def comparison_section(c: ComparisonSummary, order: Sequence[str]) -> str:
    palette = colours(order)
    plots = "".join(f"<div>{figure(fig)}</div>" for fig in comparison_figures.comparison_figures(c, order))
    table = comparison_table(c, palette)
    return (f'<section id="compare-{esc(c.study)}"><h2>{esc(c.study)} '
            f'<span class="meta">comparison on task {esc(c.task)}, {esc(c.metric)} '
            f"({esc(c.direction)})</span></h2>"
            f'<p class="verdict">{esc(c.verdict)}</p>{_protocol(c)}{table}{warm(c.trials)}'
            f'<div class="grid">{plots}</div>'
            f"{cost_section(c.cost, c.trials, f'validation {c.metric}', c.direction, order)}"
            "<h3>Best search configuration of each optimizer</h3>"
            f"{best_configs(c.optimizers, c.trials, palette)}</section>")


def measuredtable(report: Report) -> str:
    """One row per optimizer over every comparison: the measured "which optimizer" table."""
    if report.across_tasks is None:
        return ""
    return measured_table(report.across_tasks).html(colours(report.optimizer_order))


def repeated_table(g: RepeatedComparison, palette: dict[str, str]) -> str:
    """A comparison over its studies (the page's and a notebook's table)."""
    return studied_table(g).html(palette)


def repeated_section(g: RepeatedComparison, order: Sequence[str]) -> str:
    """A comparison over its studies: the verdict on the median, ranks per study, P(A > B) and time
    to target; then each study's own section."""
    palette = colours(order)
    plots = "".join(f"<div>{figure(fig)}</div>" for fig in repeated_figures.repeated_figures(g, order))
    head = ""
    if len(g.studies) > 1:
        table = repeated_table(g, palette)
        head = (f'<h2>{esc(g.name)} <span class="meta">{len(g.studies)} studies on task {esc(g.task)}, '
                f'{esc(g.metric)} ({esc(g.direction)})</span></h2><p class="verdict">{esc(g.verdict)}</p>'
                f"{table}")
    else:
        head = f'<h3>{esc(g.name)}: probability of improvement and time to target</h3>'
    studies = "".join(comparison_section(c, order) for c in g.studies)
    return (f'<section id="repeated-{esc(g.name)}">{decision_block(g, palette)}{head}'
            f'<p class="meta">{esc(target_line(g))}</p>'
            f'<div class="grid">{plots}</div></section>{studies}')


def decision_block(g: RepeatedComparison, palette: dict[str, str]) -> str:
    """The comparison's first block: the recommendation, then each optimizer's class."""
    table = decision_table(g)
    if g.decision is None or table is None:
        return ""
    return (f'<h2>{esc(g.name)}: recommendation <span class="meta">task {esc(g.task)}, '
            f'{esc(g.metric)} ({esc(g.direction)})</span></h2>'
            f'<p class="verdict recommendation">{esc(g.decision.text)}</p>{table.html(palette)}')


def comparisons_part(report: Report) -> str:
    if report.across_tasks is None:
        return ""
    profiles = figure(comparison_figures.profile_figure(report.across_tasks, report.optimizer_order))
    if report.across_tasks.time_profile:
        profiles += figure(repeated_figures.time_profile_figure(report.across_tasks, report.optimizer_order))
    sections = "".join(repeated_section(g, report.optimizer_order) for g in report.repeated)
    return ("<h2>Measured optimizer table</h2><p class=\"meta\">Over every comparison: each optimizer got "
            "the same number of search trials per task, and is judged on its best configuration re-run "
            "over seeds on the test split; a comparison repeated over several studies is judged on the "
            "median over them, and counts once. Won: named best (over studies: best in more than half of "
            "them and P(best) at least 0.95); tied: the verdict could not tell it from the best. "
            "Recommended, equivalent and worse: each comparison's decision, read with its margin of "
            "practical equivalence (equivalent: within the margin of the best; worse: by more). The lr "
            "window is how many decades of learning rate came near its best search value (wide: "
            "forgiving). Reached target: within 4x the fastest optimizer's time to the reference's "
            f"result.</p>{measuredtable(report)}{profiles}{sections}")
