"""The report page and the `report` / `studies` commands, on studies made by real tiny sweeps."""

from __future__ import annotations

import json
import re
from pathlib import Path

import plotly.graph_objects as go
import pytest
from click.testing import CliRunner

from hpsearch.cli import cli
from hpsearch.report.documents.page import render_page
from hpsearch.report.figures.cost import cost_figures
from hpsearch.report.figures.study import study_figures
from hpsearch.report.summaries.collect import Report
from hpsearch.report.summaries.study import StudySummary
from hpsearch.space.optimizers import OPTIMIZERS
from tests.conftest import XSS, summarise


def all_figures(study: StudySummary, order: list[str]) -> list[go.Figure]:
    """The six study figures, then the two cost figures."""
    assert study.cost is not None
    return study_figures(study, order) + cost_figures(study.cost, study.trials, study.metric,
                                                      study.direction, order)


@pytest.fixture(scope="module")
def report(storage: str) -> Report:
    return summarise(storage)


@pytest.fixture(scope="module")
def page(report: Report) -> str:
    return render_page(report)


def test_the_page_is_self_contained(page: str) -> None:
    from plotly.offline import get_plotlyjs

    plotly_js = get_plotlyjs()
    assert page.count(plotly_js) == 1  # plotly.js embedded exactly once
    own_html = page.replace(plotly_js, "")
    assert not re.search(r"<script[^>]*\bsrc=", own_html)  # nothing fetched: opens offline
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", own_html)
    assert '"type":"scattergl"' not in own_html  # SVG traces render without a GPU
    assert '"type":"scatter"' in own_html


def test_every_task_optimizer_and_figure_is_on_the_page(report: Report, page: str) -> None:
    sections = page.split('<section id="study-')[1:]
    assert [s.split('"')[0] for s in sections] == [
        "digits", "diabetes", "&lt;script&gt;alert(1)&lt;/script&gt;"]
    for study, section in zip(report.studies, sections, strict=True):
        assert len(study.optimizers) >= 2
        for row in study.optimizers:
            assert f"{row.optimizer}</td>" in section
    figures = 1 + sum(len(all_figures(s, report.optimizer_order)) for s in report.studies)
    assert page.count('class="plotly-graph-div"') == figures == 1 + 3 * (6 + 2)
    assert page.count("per unit of compute</h3>") == 3 and page.count('class="verdict">Pareto front: ') == 3
    assert "accuracy (maximize)" in page and "rmse (minimize)" in page
    assert "sampler random, pruner none, seed 0" in page
    assert "versions</b>: hpsearch" in page and "torch" in page


def test_user_text_is_escaped(page: str) -> None:
    assert XSS not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_figures_use_svg_trace_types_only(report: Report) -> None:
    types = {trace.type for study in report.studies
             for fig in all_figures(study, report.optimizer_order) for trace in fig.data}
    assert types == {"scatter", "box", "heatmap"}


def test_optimizers_keep_one_colour_in_every_figure(report: Report) -> None:
    colours: dict[str, set[str]] = {}
    for study in report.studies:
        for fig in all_figures(study, report.optimizer_order):
            for trace in fig.data:
                group = trace.legendgroup
                colour = getattr(getattr(trace, "line", None), "color", None) or getattr(
                    getattr(trace, "marker", None), "color", None)
                if group and isinstance(colour, str):
                    colours.setdefault(group, set()).add(colour)
    assert set(colours) == {r.optimizer for s in report.studies for r in s.optimizers}
    assert all(len(c) == 1 for c in colours.values()), colours
    assert report.optimizer_order == [k for k in OPTIMIZERS if k in colours]


def test_report_command_writes_the_page_and_the_summary(storage: str, tmp_path: Path) -> None:
    out = tmp_path / "out" / "report.html"
    result = CliRunner().invoke(cli, ["report", "--storage", storage, "--study", "digits",
                                      "--out", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert f"report: {out}" in result.output and "== digits (task classification" in result.output
    assert out.read_text().startswith("<!DOCTYPE html>")
    summary = json.loads(out.with_suffix(".json").read_text())
    assert [s["study"] for s in summary["studies"]] == ["digits"]
    assert summary["studies"][0]["provenance"]["finished"] == 5

    result = CliRunner().invoke(cli, ["report", "--storage", storage, "--out", str(out),
                                      "--format", "md"])
    markdown = out.with_suffix(".md").read_text()
    assert result.exit_code == 0 and "| digits | classification |" in markdown
    assert "&lt;script&gt;" in markdown and XSS not in markdown


def test_report_and_studies_refuse_bad_input(storage: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", "--storage", storage, "--study", "nope"])
    assert result.exit_code == 2 and "unknown study 'nope'; valid choices:" in result.output
    empty = f"sqlite:///{tmp_path / 'missing.db'}"
    result = CliRunner().invoke(cli, ["studies", "--storage", empty])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_studies_lists_each_study_with_its_counts(storage: str) -> None:
    result = CliRunner().invoke(cli, ["studies", "--storage", storage])
    assert result.exit_code == 0
    lines = {line.split()[0]: line.split() for line in result.output.splitlines()[1:]}
    assert lines["digits"][1:7] == ["classification", "5", "5", "0", "0", "0"]
    assert lines["diabetes"][1] == "regression"
