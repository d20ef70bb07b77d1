"""The summary as text: a terminal table, Markdown for CI logs, JSON for notebooks."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hpsearch import record
from hpsearch.report.cost import CostRow, CostSummary, warm_note
from hpsearch.report.points import TrialPoint
from hpsearch.report.scale import scale_lines
from hpsearch.report.summary import OptimizerSummary, format_hyperparameters, summarise_optimizers

if TYPE_CHECKING:
    import optuna

    from hpsearch.report.collect import Report
    from hpsearch.report.comparison import AcrossTasks, ComparisonSummary

TEXT_FORMATS = ("md", "json")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def optimizer_table(rows: Sequence[OptimizerSummary], metric: str) -> str:
    """Per optimizer: its budget, pruned and diverged trials, best value and configuration."""
    lines = [f"{'optimizer':<10} {'trials':>6} {'pruned':>6} {'diverged':>8} "
             f"{'best ' + metric:>14} {'top-3 mean':>10}  best configuration"]
    for row in rows:
        best = _number(row.best_value) if row.best_value is not None else "all pruned"
        lines.append(f"{row.optimizer:<10} {row.trials:>6} {row.pruned - row.diverged:>6} "
                     f"{row.diverged:>8} {best:>14} {_number(row.top_k_mean):>10}  "
                     f"{format_hyperparameters(row.best_config)}")
    budgets = sorted({row.trials for row in rows})
    if len(budgets) > 1:
        lines.append(f"\nBudgets are unequal ({budgets[0]} to {budgets[-1]} trials per optimizer): "
                     "the sampler chose which optimizer to try.")
    return "\n".join(lines)


def _short(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def _compared(c: ComparisonSummary) -> list[list[str]]:
    """Per optimizer of a comparison: the cells the terminal and Markdown tables share."""
    rows = []
    for r in c.optimizers:
        test = r.test
        interval = (f"{test.low:.4f} .. {test.high:.4f}" if test and test.n > 1 else
                    "one seed" if test else "-")
        seeds = f"{test.n if test else 0}" + (f"+{r.rerun_diverged} div." if r.rerun_diverged else "")
        gain = _signed(r.gain) if r.gain is not None else (
            "default diverged" if r.default_state == "diverged" else "-")
        rows.append([str(r.rank or "-"), r.optimizer, _number(test.mean if test else None), interval, seeds,
                     _number(r.p_best), f"{r.search_trials}/{c.protocol.budget}"
                     + (f" ({r.search_diverged} div.)" if r.search_diverged else "")
                     + (f", {r.search_tied} tied at top" if r.search_tied > 1 else ""), gain,
                     _short(r.lr_window)])
    return rows


COMPARED = ("rank", "optimizer", "test mean", "95% CI", "seeds", "P(best)", "search", "gain vs default",
            "lr window")
MEASURED = ("optimizer", "tasks", "won", "tied for best", "mean rank", "lr window (decades)",
            "gain over defaults", "defaults diverged", "train s")


def _measured(across: AcrossTasks) -> list[list[str]]:
    return [[m.optimizer, str(m.tasks), str(len(m.won)), str(len(m.tied)), _short(m.mean_rank),
             _short(m.lr_window),
             (f"{_signed(m.mean_gain)}; " if m.mean_gain is not None else "")
             + f"helped {m.helped}/{m.gain_tasks}", str(m.default_diverged), f"{m.seconds:.1f}"]
            for m in across.table]


COST = ("optimizer", "trials run", "mean train s", "vs cheapest", "mean epochs", "mean closure evals",
        "mean updates", "no-result s", "total train s")


def _cost(cost: CostSummary) -> list[list[str]]:
    """Per optimizer, its mean cost per trial; updates unknown to older studies read "-"."""
    def g(value: float | None, digits: int = 4) -> str:
        return "-" if value is None else f"{value:.{digits}g}"

    def partial(r: CostRow) -> str:  # only some trials recorded updates: resumed by a newer hpsearch
        return f" ({r.updates_recorded}/{r.trials})" if 0 < r.updates_recorded < r.trials else ""

    return [[r.optimizer, str(r.trials), g(r.seconds, 3), g(r.relative, 2) + ("x" if r.relative else ""),
             g(r.epochs, 3), g(r.closure_evaluations), g(r.updates) + partial(r),
             f"{r.no_result_seconds:.1f}", f"{r.total_seconds:.1f}"] for r in cost.table]


def _cost_terminal(cost: CostSummary | None, trials: Sequence[TrialPoint]) -> str:
    if cost is None:
        return ""
    warm = warm_note(trials)
    text = f"\n{cost.front_text}" + (f"\n{_columns(COST, _cost(cost))}" if cost.table else "")
    return text + (f"\n{warm}" if warm else "")


def _cost_markdown(cost: CostSummary | None, trials: Sequence[TrialPoint]) -> list[str]:
    if cost is None:
        return []
    warm = warm_note(trials)
    front = _md(cost.front_text).replace(" -&gt; ", " -> ")  # a lone ">" opens no tag
    return (["", front] + (["", *_md_table(COST, _cost(cost))] if cost.table else [])
            + (["", _md(warm)] if warm else []))


def _columns(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table, every column as wide as its widest cell."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
                     for line in [headers, *rows])


def _comparisons_terminal(report: Report) -> list[str]:
    parts = [f"== {c.study} (comparison on task {c.task}, {c.metric} {c.direction}: "
             f"{c.protocol.budget} trials per optimizer, {c.protocol.seeds} seeds)\n"
             f"{_columns(COMPARED, _compared(c))}\n{c.verdict}{_cost_terminal(c.cost, c.trials)}"
             for c in report.comparisons]
    if report.across_tasks is not None:
        parts.append(f"== measured optimizer table ({len(report.comparisons)} comparisons)\n"
                     + _columns(MEASURED, _measured(report.across_tasks)))
    return parts


def terminal(report: Report) -> str:
    parts = _comparisons_terminal(report)
    for study in report.studies:
        parts.append(f"== {study.study} (task {study.task}, {study.metric} {study.direction}, "
                     f"{study.provenance.finished} trials, {study.provenance.budget()})\n"
                     f"{optimizer_table(study.optimizers, study.metric)}"
                     f"\n{study.verdict}{_cost_terminal(study.cost, study.trials)}")
    parts += ["\n".join(scale_lines(scale)) for scale in report.scales]
    return "\n\n".join(parts) if parts else "no studies in this storage"


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers),
            *("| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows)]


def _comparisons_markdown(report: Report) -> list[str]:
    if report.across_tasks is None:
        return []
    lines = ["## Measured optimizer table", "",
             f"Over {len(report.comparisons)} comparisons, each optimizer with the same search budget per "
             "task and judged on re-runs over seeds on the test split. Won: P(best) at least 0.95; tied: not "
             "told apart from the best.", "", *_md_table(MEASURED, _measured(report.across_tasks))]
    for c in report.comparisons:
        lines += ["", f"## {_md(c.study)} (comparison: task {_md(c.task)}, {c.metric} {c.direction})", "",
                  _md(c.verdict), "", *_md_table(COMPARED, _compared(c)), *_cost_markdown(c.cost, c.trials)]
    return lines + [""]


def markdown(report: Report) -> str:
    lines = ["# hpsearch report", "", f"Storage `{report.storage}`, generated {report.generated}.", ""]
    lines += _comparisons_markdown(report)
    if report.comparisons and not report.studies:
        return "\n".join(lines)
    if report.comparisons:
        lines += ["## Tune studies", ""]
    lines += ["| study | task | metric | winner | best | winner's trials (pruned, diverged) |",
              "|---|---|---|---|---|---|"]
    for s in report.studies:
        win = s.optimizers[0] if s.winner else None
        lines.append(f"| {_md(s.study)} | {_md(s.task)} | {s.metric} ({s.direction}) | "
                     f"{_md(s.winner or 'none yet')} | {_number(win.best_value if win else None)} | "
                     + (f"{win.trials} ({win.pruned}, {win.diverged}) |" if win else "- |"))
    lines += ["", "In these `hpsearch tune` studies the sampler chose which optimizer to try, so budgets "
              "were unequal: a winner here is where the search went, not a fair comparison."]
    for s in report.studies:
        lines += ["", f"## {_md(s.study)}", "", s.verdict, "",
                  "| rank | optimizer | best | top-3 mean | median | trials | pruned | diverged |"
                  " configuration |", "|---|---|---|---|---|---|---|---|---|"]
        for r in s.optimizers:
            lines.append(f"| {r.rank or '-'} | {_md(r.optimizer)} | {_number(r.best_value)} | "
                         f"{_number(r.top_k_mean)} | {_number(r.median)} | {r.trials} | "
                         f"{r.pruned - r.diverged} | {r.diverged} | "
                         f"`{format_hyperparameters(r.best_config)}` |")
        lines += _cost_markdown(s.cost, s.trials)
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def to_json(report: Report) -> str:
    return json.dumps(_clean(dataclasses.asdict(report)), indent=1)


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def study_lines(studies: Sequence[optuna.Study]) -> list[str]:
    """`hpsearch studies`: each study's task, trials by outcome and best value."""
    if not studies:
        return ["no studies yet"]
    lines = [f"{'study':<24} {'task':<15} {'trials':>6} {'complete':>8} {'pruned':>6} "
             f"{'diverged':>8} {'failed':>6} {'running':>7}  best"]
    for study in studies:
        trials = study.get_trials(deepcopy=False)
        count = record.tally(trials)
        rows = summarise_optimizers(trials, record.direction_of(study))
        best = next((f"{r.best_value:.4f} ({r.optimizer})" for r in rows
                     if r.best_value is not None), "-")
        lines.append(f"{study.study_name:<24} {study.user_attrs.get(record.TASK, 'custom'):<15} "
                     f"{len(trials):>6} {count['complete']:>8} {count['pruned']:>6} "
                     f"{count['diverged']:>8} {count['failed']:>6} {count['running']:>7}  {best}")
    return lines
