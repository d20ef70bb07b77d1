"""Cost-aware reports, on studies built here trial by trial (no training): known seconds and values in,
known Pareto fronts, cumulative-best curves, cost tables and warm-start marks out; then the page in a
real browser."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from hpsearch.report.documents.page import render_page
from hpsearch.report.documents.text import markdown, terminal, to_json
from hpsearch.report.figures.cost import cost_figures
from hpsearch.report.figures.study import WARM_SYMBOL, study_figures
from hpsearch.report.summaries.collect import Report
from hpsearch.report.summaries.cost import (
    CostRow,
    CumulativeBest,
    FrontPoint,
    front_sentence,
    pareto_front,
    warm_note,
)
from hpsearch.report.summaries.points import TrialPoint
from hpsearch.report.summaries.study import StudySummary, summarise_study
from tests.browser import render
from tests.conftest import require, summarise
from tests.report.test_report_compare import CLEAR_WINNER, DIGITS, add_comparison

OPTIMIZERS = CategoricalDistribution(["sgd", "adam", "lbfgs"])

# (optimizer, state, value or curve, seconds, epochs_run, closure_evaluations, updates, warm_start)
COSTED: list[tuple[Any, ...]] = [
    ("sgd", "complete", 0.90, 0.4, 3, 30, 30, None),  # 0: the cheapest good trial: on the front
    ("adam", "complete", 0.97, 0.7, 3, 30, 30, {"study": "classification", "trial": 12}),  # 1: front
    ("sgd", "complete", 0.85, 0.5, 3, 30, 30, None),  # 2: cheap but beaten by #0, cheaper and better
    ("lbfgs", "diverged", (0.99, math.nan), 2.0, 1, 25, 20, None),  # 3: cost with no result
    ("lbfgs", "complete", 0.98, 3.1, 3, 75, 60, {"study": "small", "trial": 4}),  # 4: the best: front
    ("adam", "pruned", (0.99,), 0.2, 1, 10, 10, None),  # 5: a high partial value is no result
    ("sgd", "failed", None, 0.1, None, None, None, None),  # 6: failed before its first epoch
]


def costed_trial(optimizer: str, state: str, value: Any, seconds: float, epochs: int | None,
                 closures: int | None, updates: int | None, warm: dict[str, Any] | None,
                 old: bool = False) -> optuna.trial.FrozenTrial:
    attrs: dict[str, Any] = {"seconds": seconds, "config": {
        "optimizer": optimizer, "hyperparameters": {"lr": 0.01}, "schedule": {"name": "none"},
        "clip_grad_norm": None}}
    for key, recorded in (("epochs_run", epochs), ("closure_evaluations", closures),
                          ("updates", None if old else updates), ("warm_start", None if old else warm)):
        if recorded is not None:
            attrs[key] = recorded
    if state == "diverged":
        attrs.update(diverged=True, reason="training loss is nan")
    curve = value if isinstance(value, tuple) else (value,) if value is not None else ()
    states = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "diverged": TrialState.PRUNED,
              "failed": TrialState.FAIL}
    return create_trial(
        state=states[state], value=value if state == "complete" else None,
        params={"optimizer": optimizer, f"{optimizer}_lr": 0.01},
        distributions={"optimizer": OPTIMIZERS, f"{optimizer}_lr": FloatDistribution(1e-5, 1.0, log=True)},
        intermediate_values=dict(enumerate(curve)), user_attrs=attrs,
    )


def add_study(url: str, name: str, old: bool = False) -> None:
    """`old`: as written before trials recorded `updates` and `warm_start`."""
    study = optuna.create_study(storage=url, study_name=name, direction="maximize")
    study.set_user_attr("metric", "accuracy")
    for row in COSTED:
        study.add_trial(costed_trial(*row, old=old))


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('cost') / 'cost.db'}"
    add_study(url, "costed")
    add_study(url, "old", old=True)
    return url


@pytest.fixture(scope="module")
def report(url: str) -> Report:
    return summarise(url, importance=False)


def by_name(report: Report, name: str) -> StudySummary:
    return next(s for s in report.studies if s.study == name)


def test_the_front_holds_the_trials_no_cheaper_trial_beats(report: Report) -> None:
    cost = by_name(report, "costed").cost
    assert cost is not None
    assert cost.front == [FrontPoint(0, "sgd", 0.4, 0.90), FrontPoint(1, "adam", 0.7, 0.97),
                          FrontPoint(4, "lbfgs", 3.1, 0.98)]  # not #2 (beaten), #3 (diverged), #5 (pruned)
    assert cost.front_text == "Pareto front: sgd (0.4 s, 0.9) -> adam (0.7 s, 0.97) -> lbfgs (3.1 s, 0.98)."
    assert cost.unknown_cost == 0


def test_a_minimised_front_runs_down_and_ties_go_to_the_first_trial() -> None:
    def point(number: int, optimizer: str, seconds: float, value: float) -> TrialPoint:
        return TrialPoint(number=number, optimizer=optimizer, state="complete", value=value, lr=None,
                          epochs_run=1, curve=(value,), finished_s=None, seconds=seconds)

    points = [point(0, "adam", 1.0, 50.0), point(1, "sgd", 1.0, 50.0), point(2, "sgd", 0.5, 70.0),
              point(3, "lbfgs", 6.0, 40.0), point(4, "adam", 2.0, 60.0), point(5, "adam", 0.0, 10.0)]
    front = pareto_front(points, "minimize")
    assert [p.trial for p in front] == [2, 0, 3]  # #1 ties #0 but came later; #5 has no recorded cost
    many = [FrontPoint(i, "adam", 1.0 + i, 0.5 + i / 10) for i in range(5)] + [FrontPoint(9, "sgd", 9.0, 1.0)]
    assert front_sentence(many) == "Pareto front: adam (1 s, 0.5; 3 more; 5 s, 0.9) -> sgd (9 s, 1)."
    assert front_sentence([]) == "Pareto front: no complete trial with a recorded cost yet."


def test_cumulative_best_adds_every_trial_and_ends_at_each_optimizers_compute(report: Report) -> None:
    study = by_name(report, "costed")
    assert study.cost is not None
    curves = {c.optimizer: c for c in study.cost.cumulative}
    assert [c.optimizer for c in study.cost.cumulative] == ["sgd", "adam", "lbfgs"]
    assert curves["lbfgs"] == CumulativeBest("lbfgs", (3, 4), (2.0, 5.1), (None, 0.98))
    assert curves["adam"].trials == (1, 5) and curves["adam"].best == (0.97, 0.97)  # pruned: no result
    assert curves["sgd"].seconds == pytest.approx((0.4, 0.9, 1.0))  # the failed trial's seconds count
    assert {k: (c.seconds[-1], c.best[-1]) for k, c in curves.items()} == {
        "sgd": (pytest.approx(1.0), 0.90), "adam": (pytest.approx(0.9), 0.97), "lbfgs": (5.1, 0.98)}
    assert {r.optimizer: r.seconds for r in study.optimizers} == pytest.approx(
        {k: c.seconds[-1] for k, c in curves.items()})  # the same compute as the optimizer table's


def test_the_cost_table_means_with_and_without_updates(report: Report) -> None:
    costed, old = (by_name(report, name).cost for name in ("costed", "old"))
    assert costed is not None and old is not None
    table = {r.optimizer: r for r in costed.table}
    assert table["lbfgs"] == CostRow(
        optimizer="lbfgs", trials=2, seconds=2.55, relative=pytest.approx(2.55 / (1.0 / 3)), epochs=2.0,
        closure_evaluations=50.0, updates=40.0, updates_recorded=2, total_seconds=5.1, no_result_seconds=2.0)
    sgd = table["sgd"]
    assert (sgd.trials, sgd.seconds, sgd.epochs) == (3, pytest.approx(1.0 / 3), 2.0)  # 3 + 3 + 0 epochs
    assert (sgd.closure_evaluations, sgd.updates, sgd.updates_recorded) == (30.0, 30.0, 2)
    assert (sgd.relative, sgd.no_result_seconds) == (1.0, pytest.approx(0.1))
    assert table["adam"].updates == 20.0 and table["adam"].seconds == pytest.approx(0.45)
    assert [(r.updates, r.updates_recorded) for r in old.table] == [(None, 0)] * 3  # unknown, not 0
    assert [r.closure_evaluations for r in old.table] == [30.0, 20.0, 50.0]
    assert old.front == costed.front  # the same trials cost the same, recorded or not


def test_warm_started_trials_are_marked_and_counted(report: Report) -> None:
    costed, old = by_name(report, "costed"), by_name(report, "old")
    assert [(t.number, t.warm_start) for t in costed.trials if t.warm_start] == [
        (1, "classification#12"), (4, "small#4")]
    assert costed.provenance.warm_started == 2
    assert costed.provenance.warm_from == ("classification#12", "small#4")
    assert (old.provenance.warm_started, old.provenance.warm_from) == (0, ())
    assert warm_note(costed.trials) == (
        "2 trials warm-started from earlier studies: #1 from classification#12, #4 from small#4.")
    assert warm_note(old.trials) == ""
    order = report.optimizer_order
    for study, warm in ((costed, 2), (old, 0)):
        assert study.cost is not None
        figs = study_figures(study, order) + cost_figures(study.cost, study.trials, study.metric,
                                                          study.direction, order)
        marks = [t for f in figs for t in f.data if t.name and t.name.endswith("warm-started")]
        assert len(marks) == 4 * warm  # distribution, lr, cumulative and Pareto figures: one per optimizer
        assert all(t.marker.symbol == WARM_SYMBOL for t in marks)
        captions = [f.layout.title.subtitle.text for f in figs]
        assert sum("\u25c7: warm-started" in c for c in captions) == (4 if warm else 0)


def test_the_figures_draw_the_front_and_the_curves(report: Report) -> None:
    study = by_name(report, "costed")
    assert study.cost is not None
    cumulative, front = cost_figures(study.cost, study.trials, study.metric, study.direction,
                                     report.optimizer_order)
    line = next(t for t in front.data if t.name == "Pareto front")
    assert (list(line.x), list(line.y), list(line.text)) == ([0.4, 0.7, 3.1], [0.90, 0.97, 0.98],
                                                             ["sgd", "adam", "lbfgs"])
    assert front.layout.xaxis.type == "log"
    diverged = next(t for t in front.data if t.name == "lbfgs diverged")
    assert list(diverged.x) == [2.0] and list(diverged.y) == [0.85]  # at the worst value drawn
    lbfgs = next(t for t in cumulative.data if t.name == "lbfgs")
    assert (list(lbfgs.x), list(lbfgs.y)) == ([5.1], [0.98])  # starts after the compute it spent first
    assert {t.type for t in cumulative.data + front.data} == {"scatter"}


def test_markdown_terminal_and_json_carry_cost_and_warm_starts(report: Report) -> None:
    md = markdown(report)
    assert ("| optimizer | trials run | mean train s | vs cheapest | mean epochs | "
            "mean closure evaluations | mean updates | no-result s | total train s |") in md
    assert "| sgd | 3 | 0.333 | 1x | 2 | 30 | 30 (2 of 3) | 0.1 | 1.0 |" in md
    assert "| lbfgs | 2 | 2.55 | 7.6x | 2 | 50 | 40 | 2.0 | 5.1 |" in md
    assert "| lbfgs | 2 | 2.55 | 7.6x | 2 | 50 | - | 2.0 | 5.1 |" in md  # the old study: updates unknown
    assert md.count("Pareto front: sgd (0.4 s, 0.9) -> adam (0.7 s, 0.97) -> lbfgs (3.1 s, 0.98).") == 2
    assert md.count("2 trials warm-started from earlier studies: #1 from classification#12") == 1
    text = terminal(report)
    assert text.count("Pareto front: sgd (0.4 s, 0.9) -> adam") == 2 and "mean closure evaluations" in text
    assert "#4 from small#4." in text

    data = json.loads(to_json(report))
    costed = next(s for s in data["studies"] if s["study"] == "costed")
    study = by_name(report, "costed")
    assert study.cost is not None
    assert [FrontPoint(**p) for p in costed["cost"]["front"]] == study.cost.front
    assert [CostRow(**r) for r in costed["cost"]["table"]] == study.cost.table
    assert [CumulativeBest(**{k: tuple(v) if isinstance(v, list) else v for k, v in c.items()})
            for c in costed["cost"]["cumulative"]] == study.cost.cumulative
    assert costed["cost"]["front_text"] == study.cost.front_text
    assert costed["provenance"]["warm_started"] == 2
    assert costed["trials"][1]["warm_start"] == "classification#12"
    old = next(s for s in data["studies"] if s["study"] == "old")
    assert old["cost"]["table"][2]["updates"] is None and old["trials"][2]["updates"] is None


def test_trials_that_record_no_cost_are_on_no_front() -> None:
    study = optuna.create_study(direction="maximize")  # a user's own objective: no `seconds`
    study.add_trials([create_trial(value=v, params={"optimizer": "adam"},
                                   distributions={"optimizer": OPTIMIZERS}) for v in (0.5, 0.7)])
    summary = summarise_study(study, importance=False)
    assert summary.cost is not None
    assert (summary.cost.front, summary.cost.unknown_cost) == ([], 2)
    assert summary.cost.front_text == "Pareto front: no complete trial with a recorded cost yet."
    row = summary.cost.table[0]
    assert (row.trials, row.seconds, row.relative, row.closure_evaluations, row.updates) == (
        2, 0.0, None, None, None)
    figs = cost_figures(summary.cost, summary.trials, summary.metric, summary.direction, ["adam"])
    assert [len(f.data) for f in figs] == [0, 0]
    assert [f.layout.annotations[0].text for f in figs] == ["no complete trial with a recorded cost"] * 2


def test_a_comparison_costs_its_search_trials_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'compare.db'}"
    add_comparison(url, DIGITS, "classification", "accuracy", CLEAR_WINNER)
    compared = summarise(url, importance=False)
    comparison = compared.comparisons[0]
    assert comparison.cost is not None
    # Every trial took 2 s; the re-runs' 0.96 and the defaults are no search trials.
    assert comparison.cost.front == [FrontPoint(4, "adam", 2.0, 0.94)]
    table = {r.optimizer: r for r in comparison.cost.table}
    assert (table["adam"].trials, table["adam"].no_result_seconds) == (4, 2.0)  # one search trial diverged
    assert (table["sgd"].trials, table["sgd"].total_seconds) == (5, 10.0)  # the failed one spent compute too
    assert [t.number for t in comparison.trials] == sorted(
        t.number for t in comparison.trials)  # its search trials, as points for the figures
    assert "validation accuracy per unit of compute</h3>" in render_page(compared)


def test_the_page_shows_costs_and_warm_starts(report: Report) -> None:
    page = render_page(report)
    costed, old = (page.split(f'<section id="study-{name}">')[1].split("</section>")[0]
                   for name in ("costed", "old"))
    for section in (costed, old):
        assert "accuracy per unit of compute</h3>" in section
        assert "<th>mean closure evaluations</th>" in section
        assert "Pareto front: sgd (0.4 s, 0.9) -&gt; adam (0.7 s, 0.97) -&gt; lbfgs (3.1 s, 0.98)." in section
    assert "<b>warm starts</b>: 2 trial(s)" in costed
    assert "2 trials warm-started from earlier studies" in costed
    assert "(warm-started from small#4)" in costed  # lbfgs's best configuration was warm-started
    assert "warm" not in old  # no mark anywhere
    assert '<td class="num">30 (2 of 3)</td>' in costed  # sgd's updates: two of its three trials told


def test_the_cost_figures_render_in_a_browser(report: Report, tmp_path: Path) -> None:
    chromium = require("chromium")
    path = tmp_path / "cost.html"
    path.write_text(render_page(report), encoding="utf-8")
    rendered = render(path, width=1400, height=2400, chromium=chromium)
    assert rendered.console_errors == []
    assert rendered.plot_divs == 1 + 2 * (6 + 2)  # the heatmap, then six and two on cost per study
    assert rendered.plots == rendered.plots_with_svg == rendered.plot_divs  # each has js-plotly-plot
