"""A whole report as plain data: every study of a storage, `tune` studies and comparisons apart,
with one optimizer order (and so one colour each) for every figure."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hpsearch import record
from hpsearch.report.summaries.across_tasks import AcrossTasks, across_tasks
from hpsearch.report.summaries.comparison import ComparisonSummary, summarise_comparison
from hpsearch.report.summaries.points import optimizer_order
from hpsearch.report.summaries.repeated import RepeatedComparison, group_comparisons
from hpsearch.report.summaries.scale import ScaleSummary, summarise_scale
from hpsearch.report.summaries.study import StudySummary, summarise_study
from hpsearch.statistics.recommendation import CRITERIA

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class Report:
    storage: str
    generated: str
    studies: list[StudySummary]  # `hpsearch tune` studies: the sampler chose each optimizer's budget
    optimizer_order: list[str]  # one order (and so one colour each) for every figure and task
    comparisons: list[ComparisonSummary] = field(default_factory=list)  # `hpsearch compare` studies
    across_tasks: AcrossTasks | None = None  # over every comparison; None without one
    repeated: list[RepeatedComparison] = field(default_factory=list)  # each comparison, its studies
    scales: list[ScaleSummary] = field(default_factory=list)  # `hpsearch scale` sweeps
    skipped: dict[str, str] = field(default_factory=dict)  # studies hpsearch cannot read: why


def summarise(loaded: Sequence[optuna.Study], storage: str, importance: bool = True,
              reference: str | None = None, margin: float | None = None,
              prefer: Sequence[str] | None = None) -> Report:
    """The studies (as loaded from one storage, shown as `storage`) as plain data; `reference`: the
    optimizer whose re-runs set each comparison's time-to-target target (default: study 1's best);
    `margin` and `prefer`: how each comparison's decision is read (default: the task's margin;
    time, ease, cost).
    The studies hpsearch cannot read are left out, and named in `skipped`."""
    skipped = {s.study_name: why for s in loaded if (why := record.why_foreign(s)) is not None}
    loaded = [s for s in loaded if s.study_name not in skipped]
    studies = [summarise_study(s, importance) for s in loaded  # scale sweeps: `hpsearch scale`
               if not record.is_comparison(s.user_attrs) and not record.is_scale_sweep(s.user_attrs)]
    comparisons = [summarise_comparison(s) for s in loaded if record.is_comparison(s.user_attrs)]
    scales = [summarise_scale(s) for s in loaded if record.is_scale_sweep(s.user_attrs)]
    seen = {row.optimizer for s in studies for row in s.optimizers} | {
        row.optimizer for c in comparisons for row in c.optimizers} | {
        t.optimizer for s in scales for t in s.transfers}
    order = optimizer_order(sorted(seen))
    repeated = group_comparisons(comparisons, reference, margin, prefer or CRITERIA)
    return Report(
        storage=storage,
        generated=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        studies=studies, optimizer_order=order, comparisons=comparisons,
        across_tasks=across_tasks(repeated, order), repeated=repeated,
        scales=scales, skipped=skipped,
    )
