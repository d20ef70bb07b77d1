"""The report as a reader sees it: opened in a real headless Chromium."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from hpsearch.cli import cli
from tests.browser import render
from tests.conftest import REPO, require

ARTEFACTS = REPO / "build" / "artefacts"


def test_every_plot_renders_without_a_javascript_error(storage: str, tmp_path: Path) -> None:
    chromium = require("chromium")
    page = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", "--storage", storage, "--out", str(page)])
    assert result.exit_code == 0, result.output
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTEFACTS / "report.png"  # kept, to look at what a reader sees
    rendered = render(page, screenshot=screenshot, width=1400, height=2400, chromium=chromium)
    assert rendered.console_errors == []
    assert rendered.plot_divs == 1 + 3 * (6 + 2)  # the leaderboard heatmap, then 6 + 2 on cost per study
    assert rendered.plots == rendered.plots_with_svg == rendered.plot_divs
    assert "alert(1)" in rendered.dom and "<script>alert(1)</script>" not in rendered.dom
    assert screenshot.stat().st_size > 50_000


WIDTHS = """<script>window.addEventListener("load", () => setTimeout(() =>
  document.querySelectorAll(".js-plotly-plot").forEach(plot => console.log("PLOT WIDTH",
    plot._fullLayout.width, plot.parentElement.clientWidth)), 0));</script></body>"""


def test_no_plot_is_drawn_wider_than_its_place_on_the_page(storage: str, tmp_path: Path) -> None:
    chromium = require("chromium")
    page = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", "--storage", storage, "--out", str(page)])
    assert result.exit_code == 0, result.output
    page.write_text(page.read_text().replace("</body>", WIDTHS))
    rendered = render(page, width=1400, height=1200, chromium=chromium)
    widths = [str(m).split("PLOT WIDTH ")[1].split()[:2] for m in rendered.console
              if "PLOT WIDTH" in str(m)]
    assert len(widths) == rendered.plot_divs
    assert all(float(drawn) <= float(place) + 1 for drawn, place in widths), widths
