"""`hpsearch compare --studies R`: each study its own data split, search draws and seeds; a
comparison made before is study 1 and stays as it was; a killed multi-study comparison resumes; the
report judges on the median over studies and shows ranks, P(A > B) and time to target."""

from __future__ import annotations

import collections
import json
import math
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState

from hpsearch.cli import cli
from hpsearch.protocols.compare import CompareConfig, tasks_of
from hpsearch.record import trial_attrs
from hpsearch.report.documents.text import to_json
from tests.browser import render
from tests.conftest import require, summarise
from tests.waiting import wait_for_trials

DB = "sqlite:///studies/hpsearch.db"
OPTIMIZERS = ("sgd", "adam")
BUDGET, SEEDS = 2, 2
ARGS = ["compare", "--task", "small", "--epochs", "3", "--optimizers", ",".join(OPTIMIZERS),
        "--budget", str(BUDGET), "--seeds", str(SEEDS)]


def load(name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=DB)


def snapshot(study: optuna.Study) -> list[tuple]:  # type: ignore[type-arg]
    return [(t.number, t.state, t.params, t.value, t.intermediate_values, t.user_attrs)
            for t in study.trials]


def check_complete(study: optuna.Study) -> None:
    trials = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert not [t for t in study.trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    count = collections.Counter((t.params["optimizer"], t.user_attrs["phase"]) for t in trials)
    assert count == {(key, phase): n for key in OPTIMIZERS
                     for phase, n in (("default", 1), ("search", BUDGET), ("rerun", SEEDS))}


def test_each_study_draws_its_own_split_search_and_seeds(workdir: Path) -> None:
    first = CliRunner().invoke(cli, [*ARGS, "--studies", "1"])
    assert first.exit_code == 0, first.output
    assert "Margin: " in first.output and "worse than" in first.output  # compare's last lines
    before = snapshot(load("compare-small"))
    # A comparison made with one study gains a second; the first is left exactly as it was.
    result = CliRunner().invoke(cli, [*ARGS, "--studies", "2"])
    assert result.exit_code == 0, result.output
    one, two = load("compare-small"), load("compare-small-study2")
    assert snapshot(one) == before
    check_complete(one)
    check_complete(two)
    assert (one.user_attrs["protocol"]["study"], two.user_attrs["protocol"]["study"]) == (1, 2)
    assert two.user_attrs["protocol"]["group"] == "compare-small"
    # Its own split: the same task, other rows in each split.
    config = CompareConfig(tasks=("small",), budget=BUDGET, seeds=SEEDS, optimizers=OPTIMIZERS,
                           epochs=3, studies=2)
    data_one, data_two = (p.data for p in tasks_of(config))
    assert one.user_attrs["split_seed"] != two.user_attrs["split_seed"]
    assert data_one.test.y.shape == data_two.test.y.shape
    assert not np.array_equal(data_one.test.x, data_two.test.x)
    # Its own search draws and its own seeds, for every phase.
    draws = [{tuple(sorted(t.params.items())) for t in s.trials if t.user_attrs["phase"] == "search"}
             for s in (one, two)]
    assert draws[0].isdisjoint(draws[1])
    seeds = [trial_attrs(t)["seed"] for s in (one, two) for t in s.trials]
    assert len(set(seeds)) == len(seeds)
    # Every re-run recorded the training seconds at each evaluation: time to target is measured.
    assert all(len(trial_attrs(t)["point_seconds"]) == len(t.intermediate_values)
               for t in two.trials if t.user_attrs["phase"] == "rerun")

    report = summarise(DB, importance=False)
    (group,) = report.repeated
    assert [c.study for c in group.studies] == ["compare-small", "compare-small-study2"]
    rows = {r.optimizer: r for r in group.optimizers}
    for name, row in rows.items():  # the median over two studies is the mean of their means
        means = [next(r.test.mean for r in c.optimizers if r.optimizer == name) for c in group.studies]
        assert row.median == pytest.approx(sum(means) / 2)
        assert len(row.ranks) == 2 and row.runs == 2 * SEEDS
    assert group.improvement["adam"]["sgd"] + group.improvement["sgd"]["adam"] == pytest.approx(1.0)
    reference = group.reference
    assert reference == next(r.optimizer for r in group.studies[0].optimizers if r.test)
    assert rows[reference].steps_to_target is not None and math.isfinite(rows[reference].steps_to_target)
    data = json.loads(to_json(report))
    assert data["repeated"][0]["studies"] == ["compare-small", "compare-small-study2"]
    assert {r["optimizer"] for r in data["repeated"][0]["optimizers"]} == set(OPTIMIZERS)
    text = CliRunner().invoke(cli, ["report", "--out", "r.html", "--reference", "sgd"])
    assert text.exit_code == 0, text.output
    assert "== compare-small: 2 studies" in text.output and "rank by study" in text.output
    assert "the median final value of sgd's re-runs" in text.output
    stored = Path("studies/hpsearch.db").read_bytes()
    bad = CliRunner().invoke(cli, ["report", "--out", "r.html", "--reference", "adamx"])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1, bad.output
    assert "'adamx'" in bad.output and "valid choices: adam, sgd" in bad.output
    assert Path("studies/hpsearch.db").read_bytes() == stored
    check_decision(report, data, len(data_one.test.y), stored)
    check_page(workdir / "r.html")


def check_decision(report: object, data: dict, test_rows: int, stored: bytes) -> None:  # type: ignore[type-arg]
    """The comparison read as a decision: the default margin from the stored test split, a class
    for every optimizer, and another margin or order of criteria read without storing anything."""
    assert all(load(n).user_attrs["protocol"]["test_rows"] == test_rows
               for n in ("compare-small", "compare-small-study2"))
    decision = data["repeated"][0]["decision"]
    assert decision["margin"] == pytest.approx(max(1 / test_rows, 0.005))
    assert f"(1/{test_rows})" in decision["margin_why"]
    assert set(decision["classes"]["standings"]) == set(OPTIMIZERS)
    assert {s["category"] for s in decision["classes"]["standings"].values()} <= {
        "best", "equivalent", "worse", "not determined"}
    wide = CliRunner().invoke(cli, ["report", "--out", "r.html", "--margin", "1", "--prefer",
                                    "cost,time"])
    assert wide.exit_code == 0, wide.output
    assert "tied for best test accuracy with 1 other (within 100 points)" in wide.output \
        or "Use any of" in wide.output, wide.output
    assert "Margin: 100 points (given)." in wide.output, wide.output
    bad = CliRunner().invoke(cli, ["report", "--out", "r.html", "--prefer", "speed"])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1, bad.output
    assert "'speed'" in bad.output and "time, ease, cost" in bad.output
    assert Path("studies/hpsearch.db").read_bytes() == stored


def check_page(page: Path) -> None:
    """The page of a comparison over two studies, as a reader sees it in Chromium."""
    chromium = require("chromium")
    html = page.read_text()
    assert "recommendation" in html and "Margin: " in html
    assert "Rank in each study" in html and "Probability of improvement" in html
    assert "Time to target" in html and "Time-to-target profile" in html
    rendered = render(page, width=1400, height=2400, chromium=chromium)
    assert rendered.console_errors == []
    # Two profiles, the comparison's three figures over its studies (ranks, P(A > B), time to
    # target), then per study its three figures and two cost figures.
    assert rendered.plot_divs == 2 + 3 + 2 * (3 + 2)
    assert rendered.plots == rendered.plots_with_svg == rendered.plot_divs


def test_a_bad_reference_is_one_line_and_stores_nothing(workdir: Path) -> None:
    result = CliRunner().invoke(cli, [*ARGS, "--reference", "adamx"])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and "'adamx'" in result.output
    assert "valid choices: sgd, adam" in result.output
    assert not Path("studies/hpsearch.db").exists()


def test_a_killed_multi_study_comparison_resumes_where_it_stopped(workdir: Path) -> None:
    command = [sys.executable, "-m", "hpsearch", *ARGS, "--studies", "2", "--epochs", "20"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_trials(process, "compare-small-study2", finished=2, deadline_s=240)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    one = snapshot(load("compare-small"))
    check_complete(load("compare-small"))  # study 1 ran to its end first
    second = load("compare-small-study2").trials
    finished = {t.number: (t.params, t.value, t.user_attrs) for t in second if t.state.is_finished()}
    assert [t.state for t in second].count(TrialState.RUNNING) == 1

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert snapshot(load("compare-small")) == one
    study = load("compare-small-study2")
    assert {t.number: (t.params, t.value, t.user_attrs) for t in study.trials
            if t.number in finished} == finished
    check_complete(study)
