"""Comparisons as text: per comparison its verdict over studies and its table, each study's own
table, and the measured optimizer table over every comparison."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch.report.text_tables import (
    columns,
    cost_markdown,
    cost_terminal,
    md,
    md_table,
    number,
    short,
    signed,
)

if TYPE_CHECKING:
    from hpsearch.report.across_tasks import AcrossTasks
    from hpsearch.report.collect import Report
    from hpsearch.report.comparison import ComparisonSummary
    from hpsearch.report.repeated import RepeatedComparison


def _compared(c: ComparisonSummary) -> list[list[str]]:
    """Per optimizer of a comparison: the cells the terminal and Markdown tables share."""
    rows = []
    for r in c.optimizers:
        test = r.test
        interval = (f"{test.low:.4f} .. {test.high:.4f}" if test and test.n > 1 else
                    "one seed" if test else "-")
        seeds = f"{test.n if test else 0}" + (f"+{r.rerun_diverged} div." if r.rerun_diverged else "")
        gain = signed(r.gain) if r.gain is not None else (
            "default diverged" if r.default_state == "diverged" else "-")
        rows.append([str(r.rank or "-"), r.optimizer, number(test.mean if test else None), interval, seeds,
                     number(r.p_best), f"{r.search_trials}/{c.protocol.budget}"
                     + (f" ({r.search_diverged} div.)" if r.search_diverged else "")
                     + (f", {r.search_tied} tied at top" if r.search_tied > 1 else ""), gain,
                     short(r.lr_window)])
    return rows


COMPARED = ("rank", "optimizer", "test mean", "95% CI", "seeds", "P(best)", "search", "gain vs default",
            "lr window")
MEASURED = ("optimizer", "tasks", "won", "tied for best", "mean rank", "lr window (decades)",
            "gain over defaults", "defaults diverged", "reached target", "train s")


def _measured(across: AcrossTasks) -> list[list[str]]:
    return [[m.optimizer, str(m.tasks), str(len(m.won)), str(len(m.tied)), short(m.mean_rank),
             short(m.lr_window),
             (f"{signed(m.mean_gain)}; " if m.mean_gain is not None else "")
             + f"helped {m.helped}/{m.gain_tasks}", str(m.default_diverged),
             f"{m.reached}/{m.timed_tasks}", f"{m.seconds:.1f}"]
            for m in across.table]


STUDIED = ("rank", "optimizer", "median", "90% interval", "P(best)", "best in", "rank by study",
           "P(1st > it)", "to target", "s to target")


def _rank_text(ranks: tuple[float | None, ...]) -> str:
    return " ".join("-" if r is None else f"{r:g}" for r in ranks)


def _time(value: float | None, reached: bool | None, digits: str = ".0f") -> str:
    if value is None:
        return "-"
    if value == float("inf"):
        return "never"
    return f"{value:{digits}}" + ("" if reached else " (>4x)")


def _studied(g: RepeatedComparison) -> list[list[str]]:
    """Per optimizer of a comparison over its studies."""
    first = g.optimizers[0].optimizer if g.optimizers else None
    rows = []
    for rank, r in enumerate(g.optimizers, start=1):
        beats = g.improvement.get(first or "", {}).get(r.optimizer) if first != r.optimizer else None
        rows.append([str(rank) if r.median is not None else "-", r.optimizer, number(r.median),
                     f"{r.interval[0]:.4f} .. {r.interval[1]:.4f}" if r.interval else "-",
                     number(r.p_best), f"{r.best_in}/{len(g.studies)}", _rank_text(r.ranks),
                     number(beats), _time(r.steps_to_target, r.reached),
                     _time(r.seconds_to_target, r.reached, ".2f")])
    return rows


def target_line(g: RepeatedComparison) -> str:
    """What time to target measured, or why it could not."""
    if g.target is None:
        return "Time to target: no target (the reference has no re-run with a finite result)."
    return (f"Time to target: {g.time_unit}s (and training seconds) until the validation {g.metric} first "
            f"reaches {g.target:.4g}, the median final value of {g.reference}'s re-runs: the point by "
            "which half of an optimizer's re-runs (every study) got there; slower than 4x the fastest "
            "counts as not reached.")


def _repeated_terminal(g: RepeatedComparison) -> str:
    p = g.studies[0].protocol
    return (f"== {g.name}: {len(g.studies)} studies (comparison on task {g.task}, {g.metric} "
            f"{g.direction}: {p.budget} trials per optimizer, {p.seeds} seeds, per study)\n"
            f"{columns(STUDIED, _studied(g))}\n{g.verdict}\n{target_line(g)}")


def comparisons_terminal(report: Report) -> list[str]:
    """Per comparison: over its studies when it has several, else its one study's table."""
    parts = []
    for g in report.repeated:
        if len(g.studies) > 1:
            parts.append(_repeated_terminal(g))
            continue
        c = g.studies[0]
        parts.append(f"== {c.study} (comparison on task {c.task}, {c.metric} {c.direction}: "
                     f"{c.protocol.budget} trials per optimizer, {c.protocol.seeds} seeds)\n"
                     f"{columns(COMPARED, _compared(c))}\n{c.verdict}\n{target_line(g)}"
                     f"{cost_terminal(c.cost, c.trials)}")
    if report.across_tasks is not None:
        parts.append(f"== measured optimizer table ({len(report.repeated)} comparisons)\n"
                     + columns(MEASURED, _measured(report.across_tasks)))
    return parts


def comparisons_markdown(report: Report) -> list[str]:
    if report.across_tasks is None:
        return []
    lines = ["## Measured optimizer table", "",
             f"Over {len(report.repeated)} comparisons, each optimizer with the same search budget per "
             "task and judged on re-runs over seeds on the test split (with several studies, on the median "
             "over them). Won: named best; tied: not told apart from the best.", "",
             *md_table(MEASURED, _measured(report.across_tasks))]
    for g in report.repeated:
        if len(g.studies) > 1:
            lines += ["", f"## {md(g.name)} ({len(g.studies)} studies: task {md(g.task)}, {g.metric} "
                      f"{g.direction})", "", md(g.verdict), "", *md_table(STUDIED, _studied(g)), "",
                      md(target_line(g))]
        for c in g.studies:
            lines += ["", f"### {md(c.study)} (comparison: task {md(c.task)}, {c.metric} {c.direction})", "",
                      md(c.verdict), "", *md_table(COMPARED, _compared(c)), *cost_markdown(c.cost, c.trials)]
    return lines + [""]
