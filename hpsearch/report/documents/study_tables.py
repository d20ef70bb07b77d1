"""A tune study's tables, each row written once (`report.table`): the leaderboard of the studies,
each study's optimizers, the cost per trial of each optimizer, and the best configurations. The
terminal and Markdown show the columns that fit a terminal (`*_BRIEF`); the page all of them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hpsearch.report.documents import table as cells
from hpsearch.report.documents.table import Cell, Table
from hpsearch.report.summaries.study import OptimizerSummary, format_hyperparameters
from hpsearch.space.export import to_python

if TYPE_CHECKING:
    from hpsearch.report.summaries.comparison import ComparedOptimizer
    from hpsearch.report.summaries.cost import CostRow, CostSummary
    from hpsearch.report.summaries.points import TrialPoint
    from hpsearch.report.summaries.study import StudySummary

LEADERBOARD = ("study", "task", "metric", "winner", "best", "winner's trials", "configuration",
               "trials")


def leaderboard_table(studies: Sequence[StudySummary]) -> Table:
    """One row per tune study: its winner so far and how many trials it had."""
    rows = []
    for study in studies:
        win = study.optimizers[0] if study.winner else None
        rows.append((cells.text(study.study), cells.text(study.task),
                     cells.text(f"{study.metric} ({study.direction})"),
                     cells.optimizer(study.winner) if study.winner else cells.text("none yet"),
                     cells.value(win.best_value if win else None),
                     cells.text(f"{win.trials} ({win.pruned} pruned, {win.diverged} diverged)"
                                if win else cells.MISSING),
                     cells.code(format_hyperparameters(win.best_config) if win else ""),
                     cells.count(study.provenance.finished)))
    return Table(LEADERBOARD, tuple(rows))


def optimizers_brief(metric: str) -> tuple[str, ...]:
    return ("optimizer", "trials", "pruned", "diverged", f"best {metric}", "top-3 mean",
            "best configuration")


def optimizers_table(rows: Sequence[OptimizerSummary], metric: str) -> Table:
    """A sweep's optimizers, best first."""
    columns = ("rank", "optimizer", f"best {metric}", "top-3 mean", "median", "IQR", "trials",
               "complete", "pruned", "diverged", "failed", "train s", "best configuration")
    return Table(columns, tuple(_optimizer_row(r) for r in rows))


def _optimizer_row(r: OptimizerSummary) -> tuple[Cell, ...]:
    spread = (cells.span((r.q1, r.q3)) if r.complete >= 2 and r.q1 is not None and r.q3 is not None
              else cells.text(cells.MISSING))
    best = Cell(r.best_text, numeric=True) if r.best_text else cells.value(r.best_value)
    return (cells.text(str(r.rank or cells.MISSING)), cells.optimizer(r.optimizer), best,
            cells.value(r.top_k_mean), cells.value(r.median), spread, cells.count(r.trials),
            cells.count(r.complete), cells.count(r.pruned - r.diverged), cells.count(r.diverged),
            cells.count(r.failed), cells.value(r.seconds, ".1f"),
            cells.code(format_hyperparameters(r.best_config)))


COST = ("optimizer", "trials run", "mean train s", "vs cheapest", "mean epochs",
        "mean closure evaluations", "mean updates", "no-result s", "total train s")


def cost_table(cost: CostSummary) -> Table:
    """Per optimizer, its mean cost per trial; updates unknown to older studies read "-"."""
    return Table(COST, tuple(_cost_row(r) for r in cost.table))


def _cost_row(r: CostRow) -> tuple[Cell, ...]:
    updates = cells.value(r.updates, ".4g")
    if r.updates is not None and 0 < r.updates_recorded < r.trials:  # resumed by a newer hpsearch
        updates = Cell(f"{updates.text} ({r.updates_recorded} of {r.trials})", numeric=True)
    relative = Cell(cells.MISSING if r.relative is None else f"{r.relative:.2g}x", numeric=True)
    return (cells.optimizer(r.optimizer), cells.count(r.trials), cells.value(r.seconds, ".3g"),
            relative, cells.value(r.epochs, ".3g"), cells.value(r.closure_evaluations, ".4g"),
            updates, cells.value(r.no_result_seconds, ".1f"), cells.value(r.total_seconds, ".1f"))


def best_configs_table(optimizers: Sequence[OptimizerSummary | ComparedOptimizer],
                       trials: Sequence[TrialPoint]) -> Table:
    """Each optimizer's best configuration as PyTorch and as the JSON `hpsearch.build_optimizer`
    takes (a page's table)."""
    warm = {t.number: t.warm_start for t in trials if t.warm_start}
    rows = []
    for r in optimizers:
        if not r.best_config:
            continue
        code = to_python(r.best_config).split("\n", 2)[2].strip()  # without the import line
        source = warm.get(r.best_trial) if r.best_trial is not None else None
        rows.append((cells.optimizer(r.optimizer),
                     Cell(str(r.best_trial) + (f" (warm-started from {source})" if source else ""),
                          numeric=True),
                     cells.value(r.best_value), cells.code(code),
                     cells.code(json.dumps(dict(r.best_config), default=str))))
    return Table(("optimizer", "trial", "value", "PyTorch", "JSON (hpsearch.build_optimizer)"),
                 tuple(rows))
