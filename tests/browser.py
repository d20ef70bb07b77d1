"""Load a self-contained HTML page in a real headless Chromium: what did it render, what did it log?

    page = render(Path("report.html"), screenshot=tmp_path / "report.png")
    assert page.console_errors == []
    assert page.plot_divs == page.plots == page.plots_with_svg

One Chromium run (about 0.8 s for a small page, 2-3 s for a page that embeds plotly.js, on 2 cores)
does it all: `--dump-dom` prints the DOM once the page's scripts have run (`--virtual-time-budget`
lets timers and promises settle without waiting in real time), `--screenshot` writes a PNG in the same
run, and `--enable-logging=stderr` makes Chromium log every console message of the page to stderr as

    [7601:7601:1125/091148.024535:INFO:CONSOLE:1] "bad", source: file:///tmp/x/page.html (1)

(`CONSOLE:<line>`; older Chromiums write `CONSOLE(<line>)`). The text may span several lines.

Chromium logs every console message of a web page at INFO, whatever its level: `console.error("bad")`
and `console.log("bad")` give the same line. Uncaught exceptions can still be told apart (their text
begins with "Uncaught", or "Uncaught (in promise)"); for the rest, the page is rendered from a copy
that starts with a small script (PRELUDE) which tags what the console methods print with their level
and the caller's line, and reports elements that fail to load (a missing <script src>, <img>, <link>).
The copy lies alone in a temporary directory and the network is switched off, so a page that is not
self-contained reports what it misses instead of loading it from beside it or from the internet. A
failed fetch() shows only as the unhandled rejection it causes ("Uncaught (in promise) TypeError:
Failed to fetch"), when the page leaves it unhandled.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

# Debian's package installs `chromium`; the others are what Chrome / Ubuntu images call it.
CANDIDATES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")

# Tags what the page's console.error/warn/assert/log/info/debug/trace print with their level and
# caller (Chromium's log gives no level, and would give the prelude's line), reports elements that
# fail to load (their error event does not bubble, but the capture phase on window sees it), then
# removes itself so that the DOM dumped is the page's own. It is put on one line so that the page
# keeps its line numbers. The caller is the 5th line of new Error().stack: "Error", caller(),
# emit(), the wrapper, then the page's code.
MARK = "__browser_harness__"
PRELUDE = " ".join(line.strip() for line in r"""
<script>(function () {
  var mark = "%(mark)s";
  var frame = /\(?(\S+?):(\d+):\d+\)?$/;
  function caller() {
    var frames = String(new Error().stack).split("\n");
    var found = frame.exec(frames[4] || "");
    return found ? found[2] + ":" + found[1] : ":";
  }
  function emit(original, level, args) {
    var prefix = mark + ":" + level + ":" + caller();
    args = Array.prototype.slice.call(args);
    if (typeof args[0] === "string") { args[0] = prefix + " " + args[0]; } else { args.unshift(prefix); }
    return original.apply(console, args);
  }
  function tag(name, level) {
    var original = console[name];
    console[name] = function () { return emit(original, level, arguments); };
  }
  var error = console.error;
  tag("error", "error");
  tag("warn", "warning");
  tag("log", "log"); tag("info", "log"); tag("debug", "log"); tag("trace", "log");
  console.assert = function (condition) {
    if (!condition) {
      var args = Array.prototype.slice.call(arguments, 1);
      emit(error, "error", ["Assertion failed:"].concat(args));
    }
  };
  window.addEventListener("error", function (event) {
    var target = event.target;
    if (target && target !== window && target.tagName) {
      var url = target.currentSrc || target.src || target.href || "";
      emit(error, "error", ["failed to load <" + target.tagName.toLowerCase() + "> " + url]);
    }
  }, true);
  document.currentScript.remove();
})();</script>
""".strip().splitlines()) % {"mark": MARK}

# One console message in Chromium's log; the text may span lines. Chromium 156 writes `CONSOLE:12]`,
# older ones `CONSOLE(12)]`.
CONSOLE_LINE = re.compile(
    r'^\[[^\]\n]*:CONSOLE(?::\d+|\(\d+\))\] "(?P<text>.*?)", source: (?P<source>\S*) \((?P<line>\d+)\)$',
    re.MULTILINE | re.DOTALL,
)
TAGGED = re.compile(re.escape(MARK) + r":(?P<level>\w+):(?P<line>\d*):(?P<source>\S*)(?: |$)")
# Messages from Chromium's own pages, not the page under test.
OWN_SOURCES = ("chrome://", "chrome-extension://", "devtools://")

# Where the prelude goes: first thing in <head>, else in <html>, else after the doctype (a script
# before <!DOCTYPE> would switch the page to quirks mode). Only looked for before the first <script>.
INSERT_AFTER = (
    re.compile(rb"<head\b[^>]*>", re.IGNORECASE),
    re.compile(rb"<html\b[^>]*>", re.IGNORECASE),
    re.compile(rb"<!doctype\b[^>]*>", re.IGNORECASE),
)

VOID_ELEMENTS = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param",
    "source", "track", "wbr",
})


class BrowserError(RuntimeError):
    """Chromium failed: it exited non-zero, ran past its timeout, or was not found."""


@dataclass(frozen=True)
class ConsoleMessage:
    # "exception" (uncaught), "error" (console.error/assert, failed loads), "warning", "log"
    # (console.log/info/debug/trace) or "browser": Chromium's own word on the page (a CORS or CSP
    # refusal, a deprecation) and console methods left untagged (count, table, dir...).
    level: str
    text: str
    source: str  # the script's URL: the page's file:// URL for inline scripts
    line: int

    def __str__(self) -> str:
        return f"{self.text} ({self.source}:{self.line})"


@dataclass(frozen=True)
class RenderedPage:
    dom: str  # the DOM after the scripts ran (chromium --dump-dom), without the prelude
    console_errors: list[str]  # uncaught exceptions, console.error/assert, failed loads: "text (source:line)"
    plots: int  # elements with class js-plotly-plot (Plotly.newPlot adds it)
    plots_with_svg: int  # of those, how many contain an <svg class="main-svg"> (the drawn figure)
    plot_divs: int  # elements with class plotly-graph-div (plotly.io.to_html's divs, drawn or not)
    console: list[ConsoleMessage] = field(default_factory=list)  # everything the page logged
    stderr: str = ""  # Chromium's whole log, to look at when something is off


def find_chromium() -> str | None:
    """The Chromium (or Chrome) to run: $CHROMIUM if set, else the first of CANDIDATES on PATH."""
    override = os.environ.get("CHROMIUM")
    if override:
        return shutil.which(override)
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def render(
    page: Path,
    screenshot: Path | None = None,
    width: int = 1400,
    height: int = 3000,
    *,
    virtual_time_ms: int = 10_000,
    timeout: float = 60.0,
    chromium: str | None = None,
) -> RenderedPage:
    """Open `page` in headless Chromium with a window of width x height; dump the DOM once its
    scripts ran (and `virtual_time_ms` of virtual time passed, which costs no real time unless the
    page keeps timers busy) and, if asked, write a PNG of the window to `screenshot`."""
    page = Path(page)
    html = page.read_bytes()  # FileNotFoundError for a missing page, before starting anything
    binary = chromium or find_chromium()
    if binary is None:
        raise BrowserError("chromium not found on PATH or at $CHROMIUM: `make browser` installs it")
    with tempfile.TemporaryDirectory(prefix="browser-harness-") as tmp:
        copy = Path(tmp) / "page" / page.name
        copy.parent.mkdir()
        copy.write_bytes(with_prelude(html))
        command = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-quic",
            # Docker's /dev/shm is 64 MiB, too small for Chromium; Debian's launcher means to add this
            # flag when /dev/shm is small but its test breaks where /dev/shm is mounted twice.
            "--disable-dev-shm-usage",
            # No network: a page that needs the internet (a CDN's plotly.js) fails here as offline.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--hide-scrollbars",
            "--mute-audio",
            f"--user-data-dir={Path(tmp) / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            f"--virtual-time-budget={virtual_time_ms}",
            "--run-all-compositor-stages-before-draw",
            f"--window-size={width},{height}",
            "--dump-dom",
        ]
        if screenshot is not None:
            screenshot = Path(screenshot).resolve()
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.unlink(missing_ok=True)
            command.append(f"--screenshot={screenshot}")
        command.append(copy.as_uri())
        dom, stderr = _run(command, timeout)
    # Messages name the page, not its temporary copy.
    stderr = stderr.replace(copy.as_uri(), page.resolve().as_uri())
    if screenshot is not None and not screenshot.is_file():
        raise BrowserError(f"chromium wrote no screenshot to {screenshot}:\n{_tail(stderr)}")
    if not dom.strip():
        raise BrowserError(f"chromium dumped no DOM for {page}:\n{_tail(stderr)}")
    console = parse_console(stderr)
    counts = count_plots(dom)
    return RenderedPage(
        dom=dom,
        console_errors=[str(m) for m in console if m.level in ("exception", "error")],
        plots=counts.plots,
        plots_with_svg=counts.plots_with_svg,
        plot_divs=counts.plot_divs,
        console=console,
        stderr=stderr,
    )


def with_prelude(html: bytes) -> bytes:
    """The page with PRELUDE inserted before its first script can run."""
    first_script = re.search(rb"<script\b", html, re.IGNORECASE)
    head = html[: first_script.start()] if first_script else html
    for pattern in INSERT_AFTER:
        found = pattern.search(head)
        if found:
            return html[: found.end()] + PRELUDE.encode() + html[found.end():]
    return PRELUDE.encode() + html


def parse_console(stderr: str) -> list[ConsoleMessage]:
    """The page's console messages in Chromium's log; everything else in it is Chromium's own noise
    (D-Bus, GPU, sandbox warnings) and is left out."""
    messages = []
    for found in CONSOLE_LINE.finditer(stderr):
        text, source, line = found["text"], found["source"], int(found["line"])
        if source.startswith(OWN_SOURCES):
            continue
        tagged = TAGGED.match(text)
        if tagged:
            level, text = tagged["level"], text[tagged.end():]
            if tagged["line"]:  # where the page called console.error, rather than the prelude
                source, line = tagged["source"], int(tagged["line"])
        elif text.startswith("Uncaught"):  # "Uncaught Error: boom", "Uncaught (in promise) ..."
            level = "exception"
        else:
            level = "browser"
        messages.append(ConsoleMessage(level, text, source, line))
    return messages


@dataclass(frozen=True)
class PlotCounts:
    plots: int
    plots_with_svg: int
    plot_divs: int


def count_plots(dom: str) -> PlotCounts:
    """Count plotly's divs in a serialized DOM, and the drawn ones among them."""
    parser = _PlotCounter()
    parser.feed(dom)
    parser.close()
    return PlotCounts(
        plots=len(parser.plots),
        plots_with_svg=sum(parser.plots),
        plot_divs=parser.plot_divs,
    )


class _PlotCounter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.plots: list[bool] = []  # per js-plotly-plot element: holds an svg.main-svg
        self.plot_divs = 0
        self.open: list[tuple[str, int | None]] = []  # open elements: (tag, index into plots)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "svg" and "main-svg" in classes:
            for _, index in self.open:
                if index is not None:
                    self.plots[index] = True
        self.plot_divs += "plotly-graph-div" in classes
        index = None
        if "js-plotly-plot" in classes:
            index = len(self.plots)
            self.plots.append(False)
        if tag not in VOID_ELEMENTS:
            self.open.append((tag, index))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID_ELEMENTS:
            self.open.pop()

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.open) - 1, -1, -1):
            if self.open[depth][0] == tag:
                del self.open[depth:]
                return


def _run(command: list[str], timeout: float) -> tuple[str, str]:
    """Run Chromium in its own process group so that a timeout ends its helpers too."""
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        raise BrowserError(
            f"chromium ran past {timeout} s: {' '.join(command)}\n{_tail(_decode(err))}"
        ) from None
    stderr = _decode(err)
    if process.returncode != 0:
        raise BrowserError(
            f"chromium exited with {process.returncode}: {' '.join(command)}\n{_tail(stderr)}"
        )
    return _decode(out), stderr


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _tail(stderr: str, lines: int = 30) -> str:
    """The end of Chromium's log without its D-Bus complaints, which drown everything else."""
    kept = [line for line in stderr.splitlines() if "dbus" not in line and "D-Bus" not in line]
    return "\n".join(kept[-lines:])
