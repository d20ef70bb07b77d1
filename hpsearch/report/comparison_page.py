"""The comparison part of the report page: per comparison its verdict, protocol, table, figures
and best configurations, and the measured optimizer table over every comparison."""

from __future__ import annotations

from collections.abc import Sequence

from hpsearch.report import comparison_figures
from hpsearch.report.collect import Report
from hpsearch.report.comparison import ComparedOptimizer, ComparisonSummary
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


def comparison_section(c: ComparisonSummary, order: Sequence[str]) -> str:
    palette = colours(order)
    plots = "".join(f"<div>{figure(fig)}</div>" for fig in comparison_figures.comparison_figures(c, order))
    table = html_table(["rank", "optimizer", f"test {c.metric}", "95% CI", "seeds", "P(best)",
                    "best search value", "search trials", "default (test)", "gain over default",
                    "lr window (decades)", "train s"],
                   [_compared_row(r, c, palette) for r in c.optimizers],
                   numeric={0, 2, 5, 9, 10, 11})
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
             + f"helped on {m.helped} of {m.gain_tasks}", str(m.default_diverged), f"{m.seconds:.1f}"]
            for m in report.across_tasks.table]
    return html_table(["optimizer", "tasks", "won", "tied for best", "mean rank", "lr window (decades)",
                   "gain over defaults", "defaults diverged", "train s"], rows, numeric={1, 4, 5, 7, 8})


def comparisons_part(report: Report) -> str:
    if report.across_tasks is None:
        return ""
    profile = figure(comparison_figures.profile_figure(report.across_tasks, report.optimizer_order))
    sections = "".join(comparison_section(c, report.optimizer_order) for c in report.comparisons)
    return ("<h2>Measured optimizer table</h2><p class=\"meta\">Over every comparison: each optimizer got "
            "the same number of search trials per task, and is judged on its best configuration re-run "
            "over seeds on the test split. Won: its lead was outside the noise (P(best) at least 0.95); "
            "tied: the verdict could not tell it from the best. The lr window is how many decades of "
            "learning rate came near its best search value (wide: forgiving).</p>"
            f"{measuredtable(report)}{profile}{sections}")
