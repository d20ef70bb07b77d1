"""`require`: what a test needs beyond hpsearch's own dependencies (unshare, Chromium, PostgreSQL, a
module of the [dev] extra) skips the test where it is missing, but fails it when CI is set, so that
an install mistake never passes there as a skipped test."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.conftest import require

# Where each tool is looked for, pointed at an empty folder (a module: marked not installed).
MISSING = {"unshare": "not found on PATH", "chromium": "`make browser` installs it",
           "postgresql": "`make postgres` installs them", "pyarrow": "the [dev] extra installs it"}


def hide(tool: str, empty: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if tool == "unshare":
        monkeypatch.setenv("PATH", str(empty))
    elif tool == "chromium":
        monkeypatch.setenv("CHROMIUM", str(empty / "chromium"))
    elif tool == "postgresql":
        monkeypatch.setenv("PG_BINDIR", str(empty))
    else:
        monkeypatch.setitem(sys.modules, tool, None)  # how Python marks a package not installed


@pytest.mark.parametrize("ci", ["true", "1", None, "", "false"])
@pytest.mark.parametrize("tool", list(MISSING))
def test_a_missing_tool_skips_a_test_but_fails_it_on_ci(
        tool: str, ci: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hide(tool, tmp_path, monkeypatch)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    outcome = pytest.fail.Exception if ci in ("true", "1") else pytest.skip.Exception
    with pytest.raises(outcome, match=re.escape(MISSING[tool])):
        require(tool)


def test_a_tool_found_is_given_and_an_unknown_one_is_a_mistake_of_the_test() -> None:
    assert require("pyarrow") == "pyarrow"  # the [dev] extra installs it: never skipped
    with pytest.raises(ValueError, match="unknown tool 'docker'; valid choices: unshare, chromium"):
        require("docker")
