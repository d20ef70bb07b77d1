"""A comparison's tables, each row written once (`report.table`): one study's optimizers, a
comparison over its studies, and the measured optimizer table over every comparison. The terminal
and Markdown show the columns that fit a terminal (`*_BRIEF`); the page and a notebook all of them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch.report.documents import table as cells
from hpsearch.report.documents.table import Cell, Table
from hpsearch.report.summaries.decision import MOST_RUNS, Decision, studies_needed
from hpsearch.statistics.equivalence import UNDETERMINED, Standing

if TYPE_CHECKING:
    from hpsearch.report.summaries.across_tasks import AcrossTasks
    from hpsearch.report.summaries.comparison import ComparedOptimizer, ComparisonSummary
    from hpsearch.report.summaries.repeated import RepeatedComparison, StudiedOptimizer


def _test_column(metric: str) -> str:
    return f"mean test {metric}"


def compared_brief(metric: str) -> tuple[str, ...]:
    return ("rank", "optimizer", _test_column(metric), "95% CI", "seeds", "P(best)",
            "search trials", "gain over default", "lr window (decades)")


def compared_table(c: ComparisonSummary) -> Table:
    """One study of a comparison, best first."""
    columns = ("rank", "optimizer", _test_column(c.metric), "95% CI", "seeds", "P(best)",
               "best search value", "search trials", "default (test)", "gain over default",
               "lr window (decades)", "train s")
    return Table(columns, tuple(_compared_row(r, c.protocol.budget) for r in c.optimizers))


def _compared_row(r: ComparedOptimizer, budget: int) -> tuple[Cell, ...]:
    test = r.test
    interval = (cells.span((test.low, test.high)) if test and test.n > 1 else
                cells.text("one seed: no spread") if test else cells.text(cells.MISSING))
    seeds = f"{test.n if test else 0}" + (f" + {r.rerun_diverged} diverged" if r.rerun_diverged else "")
    search = (f"{r.search_trials} of {budget}"
              + (f", {r.search_diverged} diverged" if r.search_diverged else "")
              + (f"; {r.failed} failed, retried" if r.failed else "")
              + (f"; {r.search_tied} tied at the top (the lowest validation loss re-run)"
                 if r.search_tied > 1 else ""))
    best = (f"{r.best_value:.4f} (#{r.best_trial})" if r.best_trial is not None
            and r.best_value is not None else cells.MISSING)
    default = (cells.value(r.default_value) if r.default_state == "complete"
               else cells.text(f"default {r.default_state}"))
    gain = cells.signed(r.gain) if r.gain is not None else cells.text(
        "default diverged" if r.default_state == "diverged" else cells.MISSING)
    return (cells.text(str(r.rank or cells.MISSING)), cells.optimizer(r.optimizer),
            cells.value(test.mean if test else None), interval, cells.text(seeds),
            cells.value(r.p_best), cells.text(best), cells.text(search), default, gain,
            cells.value(r.lr_window, ".2f"), cells.value(r.seconds, ".1f"))


def _first(g: RepeatedComparison) -> str:
    return g.optimizers[0].optimizer if g.optimizers else ""


def _studied_columns(g: RepeatedComparison) -> tuple[str, ...]:
    return ("rank", "optimizer", f"median test {g.metric}", "90% interval", "P(best)", "best in",
            "rank by study", f"P({_first(g)} > it)", "re-runs", f"{g.time_unit}s to target",
            "seconds to target")


def studied_brief(g: RepeatedComparison) -> tuple[str, ...]:
    return tuple(name for name in _studied_columns(g) if name != "re-runs")


def studied_table(g: RepeatedComparison) -> Table:
    """A comparison over its studies, best median first."""
    rows = tuple(_studied_row(rank, r, g, _first(g)) for rank, r in enumerate(g.optimizers, start=1))
    return Table(_studied_columns(g), rows)


def _studied_row(rank: int, r: StudiedOptimizer, g: RepeatedComparison, first: str
                 ) -> tuple[Cell, ...]:
    beats = g.improvement.get(first, {}).get(r.optimizer) if r.optimizer != first else None
    ranks = " ".join(cells.MISSING if x is None else f"{x:g}" for x in r.ranks)
    return (cells.text(str(rank) if r.median is not None else cells.MISSING),
            cells.optimizer(r.optimizer), cells.value(r.median), cells.span(r.interval),
            cells.value(r.p_best), cells.text(f"{r.best_in} of {len(g.studies)}"),
            cells.text(ranks), cells.value(beats), cells.count(r.runs),
            cells.time_to(r.steps_to_target, r.reached, ".0f"),
            cells.time_to(r.seconds_to_target, r.reached, ".2f"))


def decision_table(g: RepeatedComparison) -> Table | None:
    """Each optimizer's class against the best, with how much worse it is (its 90 % interval), the
    probabilities behind its class and, where undetermined, the runs that would tell."""
    decision = g.decision
    if decision is None:
        return None
    studies = len(g.studies)
    leader = decision.classes.leader

    def needed(s: Standing) -> Cell:
        if s.category != UNDETERMINED:
            return cells.text(cells.MISSING)
        if (more := studies_needed(s, studies)) is None:
            return cells.text(f"over {MOST_RUNS:.0f}x these runs (on the margin)")
        if s.seeds_needed is None:
            return cells.text(f"~{more} studies (seeds would not: {s.search_share or 0:.0%} search luck)")
        return cells.text(f"~{more} studies or {s.seeds_needed} seeds")

    rows = tuple((cells.optimizer(s.optimizer),
                  cells.text(_class(s.optimizer, s.category, decision)),
                  cells.value(s.difference), cells.span(s.interval), cells.value(s.p_within, ".2f"),
                  cells.value(s.p_worse, ".2f"), needed(s))
                 for s in decision.classes.standings.values())
    return Table(("optimizer", "class", f"worse than {leader} by", "90% interval",
                  "P(within margin)", "P(worse by more)", "would tell"), rows)


def _class(name: str, category: str, decision: Decision) -> str:
    if name not in decision.recommendation.recommended:
        return category
    return f"{category} (leaning)" if decision.leaning else f"recommended, {category}"


MEASURED = ("optimizer", "tasks", "recommended", "equivalent", "worse", "won", "tied for best",
            "mean rank", "lr window (decades)", "gain over defaults", "defaults diverged",
            "reached target", "train s")


def measured_table(across: AcrossTasks) -> Table:
    """One row per optimizer over every comparison: the measured "which optimizer" table."""

    def named(names: tuple[str, ...]) -> Cell:
        return cells.text(f"{len(names)}" + (f" ({', '.join(names)})" if names else ""))

    rows = tuple((cells.optimizer(m.optimizer), cells.count(m.tasks), named(m.recommended),
                  named(m.equivalent), named(m.worse), named(m.won), named(m.tied),
                  cells.value(m.mean_rank, ".2f"), cells.value(m.lr_window, ".2f"),
                  cells.text((f"{m.mean_gain:+.4f} mean; " if m.mean_gain is not None else "")
                             + f"helped on {m.helped} of {m.gain_tasks}"),
                  cells.count(m.default_diverged), cells.text(f"{m.reached} of {m.timed_tasks}"),
                  cells.value(m.seconds, ".1f"))
                 for m in across.table)
    return Table(MEASURED, rows)
