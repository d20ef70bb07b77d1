"""The browser harness (tests/browser.py) against small pages: does it see plots drawn, errors thrown
and errors logged? Chromium runs here; without it these skip, except on CI (CI=true) where they fail."""

from __future__ import annotations

import struct
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline
import pytest

from tests.browser import (
    BrowserError,
    ConsoleMessage,
    count_plots,
    parse_console,
    render,
    with_prelude,
)
from tests.conftest import require


@pytest.fixture(scope="module")
def chromium() -> str:
    return require("chromium")


def page_with(tmp_path: Path, body: str, head: str = "", name: str = "page.html") -> Path:
    page = tmp_path / name
    page.write_text(f'<!DOCTYPE html>\n<html><head><meta charset="utf-8">{head}</head>\n<body>\n{body}\n'
                    "</body></html>\n", encoding="utf-8")
    return page


def figure_divs(*figures: go.Figure) -> str:
    return "\n".join(pio.to_html(fig, full_html=False, include_plotlyjs=False) for fig in figures)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    return width, height


def test_two_plotly_figures_render_without_errors(chromium: str, tmp_path: Path) -> None:
    figures = (
        go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2], mode="lines+markers", name="loss")),
        go.Figure(go.Scatter(x=[0.1, 0.2, 0.3], y=[0.9, 0.7, 0.8], mode="markers")),
    )
    page = page_with(tmp_path, figure_divs(*figures),
                     head=f"<script>{plotly.offline.get_plotlyjs()}</script>")
    shot = tmp_path / "shots" / "page.png"

    rendered = render(page, screenshot=shot, width=1000, height=1200, chromium=chromium)

    assert rendered.console_errors == [], rendered.console_errors
    assert rendered.plot_divs == rendered.plots == rendered.plots_with_svg == 2
    assert 'class="main-svg"' in rendered.dom
    assert "__browser_harness__" not in rendered.dom  # the prelude removed itself
    assert png_size(shot) == (1000, 1200)


def test_uncaught_exception_is_reported(chromium: str, tmp_path: Path) -> None:
    page = page_with(tmp_path, '<p>before</p>\n<script>throw new Error("boom")</script>')

    rendered = render(page, chromium=chromium)

    assert rendered.console_errors == [f"Uncaught Error: boom ({page.resolve().as_uri()}:5)"]
    assert "<p>before</p>" in rendered.dom


def test_console_error_is_reported_and_log_or_warn_is_not(chromium: str, tmp_path: Path) -> None:
    page = page_with(tmp_path, '<script>\nconsole.log("fine");\nconsole.warn("careful");\n'
                     'console.error("bad", 42);\nPromise.reject(new Error("late"));\n</script>')

    rendered = render(page, chromium=chromium)

    uri = page.resolve().as_uri()
    assert rendered.console_errors == [f"bad 42 ({uri}:7)", f"Uncaught (in promise) Error: late ({uri}:8)"]
    assert [(m.level, m.text) for m in rendered.console] == [
        ("log", "fine"), ("warning", "careful"), ("error", "bad 42"),
        ("exception", "Uncaught (in promise) Error: late"),
    ]


def test_plot_that_did_not_draw_and_missing_files_are_caught(chromium: str, tmp_path: Path) -> None:
    # plotly.js is expected from beside the page (or a CDN): neither loads, so nothing is drawn.
    (tmp_path / "plotly.min.js").write_text(plotly.offline.get_plotlyjs())
    page = page_with(tmp_path, figure_divs(go.Figure(go.Scatter(x=[1], y=[1]))),
                     head='<script src="plotly.min.js"></script>'
                          '<script src="https://cdn.plot.ly/plotly-2.35.2.min.js"></script>')

    rendered = render(page, chromium=chromium)

    assert rendered.plot_divs == 1
    assert rendered.plots == rendered.plots_with_svg == 0
    errors = "\n".join(rendered.console_errors)
    assert "failed to load <script> file://" in errors and "plotly.min.js" in errors
    assert "failed to load <script> https://cdn.plot.ly/plotly-2.35.2.min.js" in errors
    assert "Uncaught ReferenceError: Plotly is not defined" in errors


def test_chromium_failure_raises(tmp_path: Path) -> None:
    page = page_with(tmp_path, "<p>x</p>")
    with pytest.raises(BrowserError, match="exited with 1"):
        render(page, chromium="false")


def test_prelude_goes_first_and_keeps_line_numbers() -> None:
    html = b'<!DOCTYPE html>\n<html lang="en"><head>\n<script>x()</script></head></html>'
    out = with_prelude(html)
    assert out.startswith(b'<!DOCTYPE html>\n<html lang="en"><head><script>(function')
    assert out.count(b"\n") == html.count(b"\n")
    assert with_prelude(b"<p>no head</p>").startswith(b"<script>(function")
    # a <head> mentioned inside a script is not taken for the page's
    assert with_prelude(b'<!doctype html><script>"<head>"</script>').startswith(b"<!doctype html><script>(")


def test_parse_console_reads_chromium_log_and_skips_its_noise() -> None:
    stderr = (
        "[7460:7489:1125/091146.957795:ERROR:dbus/bus.cc:405] Failed to connect to the bus\n"
        '[7460:7460:1125/091147.441030:INFO:CONSOLE:1] "Uncaught Error: boom", source: file:///p.html (1)\n'
        '[7601:7601:1125/091148.024535:INFO:CONSOLE:1] "__browser_harness__:error:3:file:///p.html two\n'
        'lines", source: file:///p.html (1)\n'
        '[1:1:1125/091148.0:INFO:CONSOLE(7)] "old format", source: file:///p.html (7)\n'
        '[1:1:1125/091148.0:INFO:CONSOLE:2] "internal", source: chrome://newtab/ (2)\n'
    )
    assert parse_console(stderr) == [
        ConsoleMessage("exception", "Uncaught Error: boom", "file:///p.html", 1),
        ConsoleMessage("error", "two\nlines", "file:///p.html", 3),
        ConsoleMessage("browser", "old format", "file:///p.html", 7),
    ]


def test_count_plots_needs_the_svg_inside_the_plot() -> None:
    dom = (
        '<div class="plotly-graph-div js-plotly-plot"><div><svg class="main-svg"><g></g></svg></div></div>'
        '<div class="plotly-graph-div js-plotly-plot"><img src="x.png"><br></div>'
        '<svg class="main-svg"></svg>'
        '<div class="plotly-graph-div"></div>'
    )
    counts = count_plots(dom)
    assert (counts.plot_divs, counts.plots, counts.plots_with_svg) == (3, 2, 1)


@pytest.mark.parametrize("ci", ["true", None])
def test_missing_chromium_skips_locally_but_fails_on_ci(
    ci: str | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHROMIUM", str(tmp_path / "no-such-chromium"))
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    outcome = pytest.fail.Exception if ci == "true" else pytest.skip.Exception
    with pytest.raises(outcome, match="make browser"):
        require("chromium")
