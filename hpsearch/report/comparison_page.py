"""The comparison part of the report page: the measured optimizer table over every comparison, then
per comparison its verdict over its studies, and each study's verdict, protocol, table, figures
and best configurations."""

from __future__ import annotations

import math
from collections.abc import Sequence

from hpsearch.report import comparison_figures, repeated_figures
from hpsearch.report.collect import Report
from hpsearch.report.comparison import ComparedOptimizer, ComparisonSummary
from hpsearch.report.comparison_text import target_line
from hpsearch.report.html import (
    best_configs,
    cost_section,
    esc,
    evidence,
    figure,
    html_table,
    number,
    swatch,
    warm,
)
from hpsearch.report.plotting import colours
from hpsearch.report.repeated import RepeatedComparison, StudiedOptimizer


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4g}"


def _compared_row(r: ComparedOptimizer, c: ComparisonSummary, palette: dict[str, str]) -> list[str]:
    test, k = r.test, c.protocol.budget
    interval = (f"{test.low:.4g} .. {test.high:.4g}" if test and test.n > 1 else
                "one seed: no spread" if test else "-")
    seeds = f"{test.n if test else 0}" + (f" + {r.rerun_diverged} diverged" if r.rerun_diverged else "")
    default = (number(r.default_value) if r.default_state == "complete" else
               f"default {esc(r.default_state)}")
    gain = _signed(r.gain) if r.gain is not None else (
        "default diverged" if r.default_state == "diverged" else "-")
    best = f"{number(r.best_value)} (#{r.best_trial})" if r.best_trial is not None else "-"
    if r.search_tied > 1:
        best += f"; {r.search_tied} tied at the top, the lowest validation loss re-run"
    return [str(r.rank or "-"), swatch(r.optimizer, palette), number(test.mean if test else None),
            interval, seeds, number(r.p_best), best,
            f"{r.search_trials} of {k}" + (f", {r.search_diverged} diverged" if r.search_diverged else "")
            + (f"; {r.failed} failed, retried" if r.failed else ""), default, gain,
            number(r.lr_window), f"{r.seconds:.1f}"]


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
    return html_table(["rank", "optimizer", f"test {c.metric}", "95% CI", "seeds", "P(best)",
                       "best search value", "search trials", "default (test)", "gain over default",
                       "lr window (decades)", "train s"],
                      [_compared_row(r, c, palette) for r in c.optimizers],
                      numeric={0, 2, 5, 9, 10, 11})


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
            f"{best_configs(c.optimizers, c.trials)}</section>")


def measuredtable(report: Report) -> str:
    """One row per optimizer over every comparison: the measured "which optimizer" table."""
    if report.across_tasks is None:
        return ""
    palette = colours(report.optimizer_order)

    def studies(names: Sequence[str]) -> str:
        return f"{len(names)}" + (f' <span class="meta">({esc(", ".join(names))})</span>' if names else "")

    rows = [[swatch(m.optimizer, palette), str(m.tasks), studies(m.won), studies(m.tied),
             number(m.mean_rank), number(m.lr_window),
             (f"{_signed(m.mean_gain)} mean; " if m.mean_gain is not None else "")
             + f"helped on {m.helped} of {m.gain_tasks}", str(m.default_diverged),
             f"{m.reached} of {m.timed_tasks}", f"{m.seconds:.1f}"]
            for m in report.across_tasks.table]
    return html_table(["optimizer", "tasks", "won", "tied for best", "mean rank", "lr window (decades)",
                       "gain over defaults", "defaults diverged", "reached target", "train s"], rows,
                      numeric={1, 4, 5, 7, 9})


def _studied_row(r: StudiedOptimizer, g: RepeatedComparison, palette: dict[str, str]) -> list[str]:
    first = g.optimizers[0].optimizer
    beats = g.improvement.get(first, {}).get(r.optimizer) if r.optimizer != first else None
    ranks = " ".join("-" if x is None else f"{x:g}" for x in r.ranks)

    def time(value: float | None, digits: str) -> str:
        if value is None:
            return "-"
        return "never" if math.isinf(value) else f"{value:{digits}}" + ("" if r.reached else " (beyond 4x)")

    return [swatch(r.optimizer, palette), number(r.median),
            f"{r.interval[0]:.4g} .. {r.interval[1]:.4g}" if r.interval else "-", number(r.p_best),
            f"{r.best_in} of {len(g.studies)}", ranks, number(beats), str(r.runs),
            time(r.steps_to_target, ".0f"), time(r.seconds_to_target, ".3g")]


def repeated_table(g: RepeatedComparison, palette: dict[str, str]) -> str:
    """A comparison over its studies (the page's and a notebook's table)."""
    return html_table(["optimizer", f"median test {g.metric}", "90% interval", "P(best)",
                       "best in", "rank by study", f"P({g.optimizers[0].optimizer} > it)",
                       "re-runs", f"{g.time_unit}s to target", "seconds to target"],
                      [_studied_row(r, g, palette) for r in g.optimizers], numeric={1, 3, 6, 7, 8, 9})


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
    return (f'<section id="repeated-{esc(g.name)}">{head}<p class="meta">{esc(target_line(g))}</p>'
            f'<div class="grid">{plots}</div></section>{studies}')


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
            "them and P(best) at least 0.95); tied: the verdict could not tell it from the best. The lr "
            "window is how many decades of learning rate came near its best search value (wide: "
            "forgiving). Reached target: within 4x the fastest optimizer's time to the reference's "
            f"result.</p>{measuredtable(report)}{profiles}{sections}")
