"""Reports of `hpsearch compare` studies, built here trial by trial (no training): known numbers in,
known verdicts, intervals, gains, profiles and tables out; then the page in a real browser."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from hpsearch.report.documents.page import render_page
from hpsearch.report.documents.text import markdown, terminal, to_json
from hpsearch.report.figures.comparison import comparison_figures, profile_figure
from hpsearch.report.summaries.collect import Report
from hpsearch.report.summaries.comparison import ComparisonSummary
from hpsearch.statistics.basic import expected_best, lr_window, mean_interval
from tests.browser import render
from tests.conftest import require, summarise
from tests.report.test_report_summary import known_trials

KEYS = ("sgd", "momentum", "adam")
BUDGET, SEEDS = 4, 3
DIGITS, DIABETES = "compare-digits", "my diabetes run"  # any name: the protocol attribute tells

# Per task and optimizer: the default trial's test value (None: diverged), the search trials as
# (lr, validation value; None: diverged, "fail": failed), and the re-runs' test values.
CLEAR_WINNER: dict[str, Any] = {  # accuracy, maximized: adam wins by far more than the noise
    "adam": (0.90, [(1e-4, 0.90), (1e-2, 0.94), (1e-3, 0.937), (1e-1, None)], [0.95, 0.96, 0.955]),
    "momentum": (None, [(1e-2, 0.80), (1e-1, 0.78), (1e-3, 0.75), (3e-3, 0.79)], [0.80, 0.81, 0.79]),
    "sgd": (0.72, [(1e-2, 0.60), (1e-1, 0.70), (1e-3, 0.65), (3e-2, "fail"), (3e-2, 0.62)],
            [0.70, 0.71, 0.69]),  # the protocol retried the failed trial: a fresh draw replaced it
}
TIE: dict[str, Any] = {  # rmse, minimized: adam and momentum within each other's noise
    "adam": (60.0, [(1e-3, 55.0), (1e-2, 52.0), (1e-4, 80.0), (3e-3, 53.0)], [50.0, 52.0, 48.0]),
    "momentum": (55.0, [(1e-3, 54.0), (1e-2, 51.0), (1e-1, None), (3e-3, 58.0)], [51.0, 49.0, 50.0]),
    "sgd": (65.0, [(1e-3, 75.0), (1e-2, 70.0), (1e-1, 72.0), (3e-3, 90.0)], [70.0, 72.0, 71.0]),
}
DIRECTIONS: dict[str, Literal["maximize", "minimize"]] = {DIGITS: "maximize", DIABETES: "minimize"}


def _trial(key: str, phase: str, lr: float, value: float | str | None, test: float | None,
           number_of_search: int | None = None, seed_index: int | None = None) -> Any:
    config = {"optimizer": key, "hyperparameters": {"lr": lr}, "schedule": {"name": "none"},
              "clip_grad_norm": None}
    attrs: dict[str, Any] = {"phase": phase, "config": config, "seconds": 2.0, "epochs_run": 3}
    if value == "fail":
        state = TrialState.FAIL
    elif value is None:
        state = TrialState.PRUNED
        attrs.update(diverged=True, reason="training loss is nan", epochs_run=1)
    else:
        state = TrialState.COMPLETE
        attrs["test_value"] = test
    if seed_index is not None:
        attrs.update(seed_index=seed_index, rerun_of=number_of_search)
    final = float(value) if isinstance(value, float) else None
    return create_trial(
        state=state, value=final,
        params={"optimizer": key, f"{key}_lr": lr},
        distributions={"optimizer": CategoricalDistribution(list(KEYS)),
                       f"{key}_lr": FloatDistribution(1e-5, 1.0, log=True)},
        user_attrs=attrs, intermediate_values={0: final} if final is not None else {},
    )


def add_comparison(url: str, name: str, task: str, metric: str, plan: dict[str, Any]) -> None:
    study = optuna.create_study(storage=url, study_name=name, direction=DIRECTIONS[name])
    for key, value in (("task", task), ("metric", metric), ("direction", DIRECTIONS[name]), ("epochs", 3),
                       ("protocol", {"kind": "compare", "budget": BUDGET, "seeds": SEEDS,
                                     "sampler": "random", "epochs": 3, "optimizers": list(KEYS),
                                     "seed": 0})):
        study.set_user_attr(key, value)
    for key, (default, _, _) in plan.items():
        study.add_trial(_trial(key, "default", 1e-3, default, default))
    best: dict[str, tuple[int, float]] = {}  # the search trial each optimizer re-runs, and its lr
    better = max if DIRECTIONS[name] == "maximize" else min
    for key, (_, search, _) in plan.items():
        top = better(v for _, v in search if isinstance(v, float))
        for lr, value in search:
            if value == top:
                best[key] = (len(study.trials), lr)
            study.add_trial(_trial(key, "search", lr, value, value))
    for key, (_, _, reruns) in plan.items():
        number, lr = best[key]
        for index, test in enumerate(reruns):
            study.add_trial(_trial(key, "rerun", lr, test, test, number, index))


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('compare') / 'compare.db'}"
    add_comparison(url, DIGITS, "classification", "accuracy", CLEAR_WINNER)
    add_comparison(url, DIABETES, "regression", "rmse", TIE)
    stale = _trial("momentum", "rerun", 1e-3, 500.0, 500.0, 7, 0)  # re-ran #7, no longer its best (#8)
    optuna.load_study(study_name=DIABETES, storage=url).add_trial(stale)
    tune = optuna.create_study(storage=url, study_name="tuned", direction="maximize")
    tune.set_user_attr("metric", "accuracy")
    tune.add_trials(known_trials())
    return url


@pytest.fixture(scope="module")
def report(url: str) -> Report:
    return summarise(url, importance=False)


def by_name(report: Report, name: str) -> ComparisonSummary:
    return next(c for c in report.comparisons if c.study == name)


def test_comparisons_are_told_apart_from_tune_studies(report: Report) -> None:
    assert [s.study for s in report.studies] == ["tuned"]
    assert sorted(c.study for c in report.comparisons) == sorted([DIGITS, DIABETES])
    digits = by_name(report, DIGITS)
    assert (digits.protocol.budget, digits.protocol.seeds, digits.protocol.optimizers) == (4, 3, KEYS)
    assert report.optimizer_order == ["sgd", "momentum", "adam", "lbfgs"]


def test_a_clear_lead_names_the_winner_with_its_budget_and_spread(report: Report) -> None:
    digits = by_name(report, DIGITS)
    assert (digits.winner, digits.tied) == ("adam", ())
    assert [r.optimizer for r in digits.optimizers] == ["adam", "momentum", "sgd"]
    assert [r.rank for r in digits.optimizers] == [1, 2, 3]
    adam = digits.optimizers[0]
    assert adam.p_best == 1.0 and adam.reruns == (0.95, 0.96, 0.955)
    assert adam.test == mean_interval([0.95, 0.96, 0.955])
    assert adam.test.low == pytest.approx(0.9425793, abs=1e-6)  # t(0.975, 2) = 4.303 * 0.005 / sqrt(3)
    assert digits.verdict.startswith("adam is best (P(best) 1.00 over 3 seeds). Budget: 4 random-search "
                                     "trials per optimizer (no pruning) plus one at torch's defaults")
    assert "adam 0.955 ± 0.012, momentum 0.8 ± 0.025" in digits.verdict
    assert adam.rerun_of == adam.best_trial == 4 and adam.best_value == 0.94


def test_overlapping_reruns_are_a_tie_not_a_win(report: Report) -> None:
    diabetes = by_name(report, DIABETES)
    assert diabetes.winner is None and set(diabetes.tied) == {"adam", "momentum"}
    assert diabetes.verdict.startswith("tie between momentum and adam (P(best) 0.51, 0.49 over 3 seeds)")
    assert "Budget: 4 random-search trials per optimizer" in diabetes.verdict
    p = {r.optimizer: r.p_best or 0.0 for r in diabetes.optimizers}
    assert p["sgd"] == 0.0 and p["adam"] + p["momentum"] == pytest.approx(1.0)
    assert diabetes.optimizers[-1].optimizer == "sgd"  # the largest rmse ranks last when minimizing
    momentum = diabetes.optimizers[0]
    assert momentum.rerun_of == 8 and momentum.reruns == (51.0, 49.0, 50.0)  # not the stale re-run
    assert [r.rank for r in diabetes.optimizers] == [1, 1, 3]


def test_gain_over_defaults_is_positive_when_tuning_helped(report: Report) -> None:
    gains = {(c.study, r.optimizer): (r.gain, r.default_state) for c in report.comparisons
             for r in c.optimizers}
    assert gains[DIGITS, "adam"] == (pytest.approx(0.955 - 0.90), "complete")
    assert gains[DIGITS, "sgd"] == (pytest.approx(0.70 - 0.72), "complete")  # tuning hurt
    assert gains[DIGITS, "momentum"] == (None, "diverged")  # shown as such, not dropped
    assert gains[DIABETES, "adam"] == (pytest.approx(60.0 - 50.0), "complete")  # rmse: lower is better
    assert gains[DIABETES, "sgd"] == (pytest.approx(65.0 - 71.0), "complete")


def test_expected_best_counts_a_diverged_trial_as_the_worst_draw(report: Report) -> None:
    digits = by_name(report, DIGITS)
    assert digits.worst_search_value == 0.60
    adam = next(r for r in digits.optimizers if r.optimizer == "adam")
    sgd = next(r for r in digits.optimizers if r.optimizer == "sgd")
    assert adam.search_values == (0.90, 0.94, 0.937, 0.60) and adam.search_diverged == 1
    assert sgd.search_values == (0.60, 0.70, 0.65, 0.62)  # the failed trial was retried: no draw
    assert (sgd.failed, sgd.search_trials, sgd.search_diverged) == (1, 4, 0)
    means, stds = expected_best(adam.search_values, BUDGET, "maximize")
    assert adam.expected_best == pytest.approx(tuple(means)) and len(adam.expected_best) == BUDGET
    assert adam.expected_best_std == pytest.approx(tuple(stds))
    assert adam.expected_best[0] == pytest.approx((0.90 + 0.94 + 0.937 + 0.60) / 4)  # one draw: the mean
    assert adam.expected_best == tuple(sorted(adam.expected_best))  # more trials never hurt
    diabetes = by_name(report, DIABETES)
    momentum = next(r for r in diabetes.optimizers if r.optimizer == "momentum")
    assert diabetes.worst_search_value == 90.0 and momentum.search_values[2] == 90.0  # minimize: worst is max


def test_lr_window_comes_from_the_search_trials(report: Report) -> None:
    adam = next(r for r in by_name(report, DIGITS).optimizers if r.optimizer == "adam")
    assert adam.lr_window == pytest.approx(1.0)  # 1e-3 and 1e-2 came within 10% of the range of the best
    assert adam.lr_window == lr_window([1e-4, 1e-2, 1e-3], [0.90, 0.94, 0.937], "maximize")


def test_the_measured_table_counts_wins_ties_ranks_and_gains(report: Report) -> None:
    across = report.across_tasks
    assert across is not None and across.studies == (DIGITS, DIABETES)
    table = {m.optimizer: m for m in across.table}
    assert [m.optimizer for m in across.table] == ["sgd", "momentum", "adam"]
    assert (table["adam"].won, table["adam"].tied) == ((DIGITS,), (DIABETES,))
    assert (table["momentum"].won, table["momentum"].tied) == ((), (DIABETES,))
    assert (table["sgd"].won, table["sgd"].tied) == ((), ())
    assert table["adam"].mean_rank == 1.25  # 1st, then shares 1st and 2nd on an exactly equal mean
    assert table["momentum"].mean_rank == 1.75 and table["sgd"].mean_rank == 3.0
    assert (table["adam"].helped, table["adam"].gain_tasks) == (2, 2)
    assert (table["momentum"].default_diverged, table["momentum"].gain_tasks) == (1, 1)
    assert table["adam"].mean_gain is None  # accuracy and rmse gains do not average
    assert table["adam"].lr_window == pytest.approx((1.0 + math.log10(1e-2 / 3e-3)) / 2)
    assert table["adam"].seconds == 2 * (1 + BUDGET + SEEDS) * 2.0


def test_the_performance_profile_runs_from_wins_to_every_task(report: Report) -> None:
    across = report.across_tasks
    assert across is not None and across.taus[0] == 0.0
    assert across.taus[-1] == max(g for task in across.gaps.values() for g in task.values())
    assert [across.profile[k][0] for k in KEYS] == [0.0, 0.5, 1.0]  # best (or equal best) at tau 0
    assert [across.profile[k][-1] for k in KEYS] == [1.0, 1.0, 1.0]
    assert across.gaps[DIABETES]["adam"] == across.gaps[DIABETES]["momentum"] == 0.0


def test_one_metric_averages_its_gains(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    add_comparison(url, DIGITS, "classification", "accuracy", CLEAR_WINNER)
    report = summarise(url)
    assert report.studies == []
    adam = next(m for m in report.across_tasks.table if m.optimizer == "adam")  # type: ignore[union-attr]
    assert adam.mean_gain == pytest.approx(0.055)


def test_markdown_terminal_and_json_carry_the_numbers(report: Report) -> None:
    md = markdown(report)
    assert "## Measured optimizer table" in md
    assert ("| optimizer | tasks | recommended | equivalent | worse | won | tied for best | mean rank |"
            in md)
    assert ("| adam | 2 | 1 (compare-digits) | 0 | 0 | 1 (compare-digits) | 1 (my diabetes run) | 1.25 | "
            "0.76 | helped on 2 of 2 | 0 | 2 of 2 | 32.0 |") in md
    # Momentum only leads the tie on diabetes (the runs lean to it): not counted as recommended.
    assert ("| momentum | 2 | 0 | 0 | 1 (compare-digits) | 0 | 1 (my diabetes run) | "
            "1.75 | 0.00 | helped on 1 of 1 | 1 | 1 of 2 | 34.0 |") in md  # + the stale re-run
    assert "| 2 | momentum | 0.8000 | 0.7752 .. 0.8248 | 3 | 0.0000 | 4 of 4 | default diverged |" in md
    assert "tie between momentum and adam" in md and "budgets were unequal" in md  # the tune study's
    text = terminal(report)
    assert "== compare-digits (comparison on task classification, accuracy maximize: 4 trials per " \
           "optimizer, 3 seeds)" in text and "== measured optimizer table (2 comparisons)" in text
    assert "Budgets are unequal" in text  # the tune study still says so
    data = json.loads(to_json(report))
    digits = next(c for c in data["comparisons"] if c["study"] == DIGITS)
    adam = digits["optimizers"][0]
    assert adam["test"] == {"mean": pytest.approx(0.955), "low": pytest.approx(0.9425793, abs=1e-6),
                            "high": pytest.approx(0.9674207, abs=1e-6), "n": 3}
    assert adam["expected_best"] == pytest.approx(list(by_name(report, DIGITS).optimizers[0].expected_best))
    assert digits["optimizers"][1]["default_state"] == "diverged" and digits["optimizers"][1]["gain"] is None
    assert digits["protocol"]["budget"] == 4 and data["across_tasks"]["table"][2]["won"] == [DIGITS]
    assert data["across_tasks"]["profile"]["adam"][0] == 1.0


def test_a_clear_lead_is_recommended_and_the_rest_are_worse_by_more_than_the_margin(
        report: Report) -> None:
    digits = next(g for g in report.repeated if g.name == DIGITS).decision
    assert digits is not None and digits.recommendation.recommended == ("adam",)
    assert {n: s.category for n, s in digits.classes.standings.items()} == {
        "adam": "best", "momentum": "worse", "sgd": "worse"}
    # The test split's size is not stored here: one row's worth of accuracy is read from the
    # accuracies themselves (whole numbers of 1/200), under the 0.5-point floor.
    assert digits.margin == 0.005 and "1/200" in digits.margin_why
    assert digits.text.startswith("Use adam: best test accuracy, every other worse by more than "
                                  "0.5 points.")
    momentum = digits.classes.standings["momentum"]
    assert momentum.difference == pytest.approx(0.155) and momentum.interval[0] > 0.005


def test_a_tie_within_the_noise_is_not_determined_and_says_what_would_tell(report: Report) -> None:
    diabetes = next(g for g in report.repeated if g.name == DIABETES).decision
    assert diabetes is not None and diabetes.classes.leader == "momentum"
    assert diabetes.margin == pytest.approx(0.5) and diabetes.margin_why == "1 % of the best median rmse"
    adam = diabetes.classes.standings["adam"]
    assert adam.category == "not determined" and adam.runs_needed is not None
    assert diabetes.classes.standings["sgd"].category == "worse"
    assert diabetes.text.startswith("Leaning to momentum: the best median test rmse, not yet told "
                                    "apart from adam")
    # One study: the seeds per study are scaled as the studies are (no search luck measured).
    assert adam.seeds_needed == math.ceil(adam.runs_needed * SEEDS) and adam.search_share is None
    assert (f"about {math.ceil(adam.runs_needed)} studies, or {adam.seeds_needed} seeds per study, "
            "would tell") in diabetes.text


def test_a_wider_margin_makes_the_tie_equivalent_and_a_criterion_decides(url: str) -> None:
    from hpsearch.report.summaries.comparison import summarise_comparison
    from hpsearch.report.summaries.repeated import summarise_repeated

    study = summarise_comparison(optuna.load_study(study_name=DIABETES, storage=url))
    for prefer in (("time", "ease", "cost"), ("cost",)):
        decision = summarise_repeated([study], margin=5.0, prefer=prefer).decision
        assert decision is not None and decision.margin_why == "given"
        assert {n: s.category for n, s in decision.classes.standings.items()} == {
            "momentum": "best", "adam": "equivalent", "sgd": "worse"}
        assert set(decision.recommendation.candidates) == {"momentum", "adam"}
        assert decision.recommendation.tried[:1] == prefer[:1]
        assert "tied for best test rmse" in decision.text and "(within 5)" in decision.text


def test_the_terminal_markdown_and_page_say_the_same_row(report: Report) -> None:
    """A comparison's row is written once: every column the terminal shows has the same words and
    the same precision in the Markdown and on the page (which shows more columns)."""
    import html
    import re

    study = by_name(report, DIGITS)
    page, md, text = render_page(report), markdown(report), terminal(report)
    header = next(line for line in text.splitlines() if line.startswith("rank  optimizer  mean test"))
    starts = [m.start() for m in re.finditer(r"(?<=  )\S|^\S", header)]
    md_header = next(line for line in md.splitlines() if line.startswith("| rank | optimizer | mean test"))
    brief = [cell.strip() for cell in md_header.strip("|").split(" | ")]
    section = page[page.index(f'id="compare-{DIGITS}"'):]
    page_header = re.findall(r"<th>(.*?)</th>", section[:section.index("</thead>")])
    assert len(starts) == len(brief) and set(brief) < set(page_header)
    for row in study.optimizers:
        line = next(t for t in text.splitlines() if re.match(rf"\S+\s+{row.optimizer}\s", t))
        terminal_cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        md_row = next(t for t in md.splitlines() if t.startswith(f"| {row.rank or '-'} | {row.optimizer} |"))
        md_cells = [cell.strip() for cell in md_row.strip("|").split(" | ")]
        tr = next(r for r in re.findall(r"<tr>(.*?)</tr>", section) if f"</span>{row.optimizer}<" in r)
        page_cells = [html.unescape(re.sub(r"<[^>]+>", "", c))
                      for c in re.findall(r"<td[^>]*>(.*?)</td>", tr)]
        shown = dict(zip(page_header, page_cells, strict=True))
        assert terminal_cells == md_cells == [shown[name] for name in brief], (terminal_cells, md_cells)


def test_comparison_figures_use_svg_traces_and_one_colour_per_optimizer(report: Report) -> None:
    order = report.optimizer_order
    figs = [f for c in report.comparisons for f in comparison_figures(c, order)]
    figs.append(profile_figure(report.across_tasks, order))  # type: ignore[arg-type]
    assert {t.type for f in figs for t in f.data} == {"scatter", "bar"}
    colours: dict[str, set[str]] = {}
    for f in figs:
        for t in f.data:
            colour = getattr(getattr(t, "line", None), "color", None) or t.marker.color
            colours.setdefault(t.legendgroup, set()).add(colour)
    assert set(colours) == set(KEYS) and all(len(c) == 1 for c in colours.values()), colours
    gain = figs[2]
    assert [t.text[0] for t in gain.data] == ["-0.02", "default diverged", "+0.055"]


def test_the_page_shows_comparisons_apart_from_tune_studies(report: Report) -> None:
    page = render_page(report)
    assert page.count('<section id="compare-') == 2 and page.count('<section id="study-') == 1
    # Two profiles (of scores, of time to target); per comparison P(A > B) and time to target, three
    # figures and two cost figures; the tune leaderboard heatmap and the tune study's six and two.
    assert page.count('class="plotly-graph-div"') == 2 + 2 * (2 + 3 + 2) + 1 + (6 + 2)
    assert "<h2>Measured optimizer table</h2>" in page and "the sampler chose which optimizer" in page
    assert "my diabetes run" in page and "tie between momentum and adam" in page
    assert "default diverged" in page


def test_a_comparison_page_renders_in_a_browser(report: Report, tmp_path: Path) -> None:
    chromium = require("chromium")
    path = tmp_path / "compare.html"
    path.write_text(render_page(report), encoding="utf-8")
    rendered = render(path, width=1400, height=2400, chromium=chromium)
    assert rendered.console_errors == []
    assert rendered.plot_divs == 2 + 2 * (2 + 3 + 2) + 1 + (6 + 2)
    assert rendered.plots == rendered.plots_with_svg == rendered.plot_divs  # each has js-plotly-plot
