"""docs/architecture.md and the package agree: every module of hpsearch is named in its table of
layers, and every module the table names exists, so that a newcomer reading it finds the house
as it is."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "hpsearch"
DOC = ROOT / "docs" / "architecture.md"


def layer_table() -> str:
    text = DOC.read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if line.startswith("| ") and "`" in line)


def modules() -> dict[str, Path]:
    """File name -> path for every module but a package's face (`__init__.py`, `__main__.py`)."""
    return {path.name: path for path in PACKAGE.rglob("*.py") if not path.name.startswith("__")}


def test_every_module_is_named_in_the_layer_table() -> None:
    table = layer_table()
    unnamed = sorted(str(path.relative_to(ROOT)) for name, path in modules().items()
                     if not any(form in table for form in (f"`{name}`", f"/{name}`", f"`{path.stem}`")))
    assert not unnamed, f"modules docs/architecture.md does not name: {unnamed}"


def test_every_module_the_table_names_exists() -> None:
    named = set(re.findall(r"`(?:[a-z_]+/)*([a-z_]+\.py)`", layer_table()))
    missing = sorted(named - set(modules()))
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"
