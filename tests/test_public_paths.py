"""The import paths users hold keep working when modules move: every name in `hpsearch.__all__`,
every dotted path the README names (`hpsearch.tasks.mup.parametrize` is pasted into every µP
snippet), and every import an exported snippet writes."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import hpsearch
from hpsearch.space.export import to_python

README = Path(__file__).resolve().parent.parent / "README.md"
DOTTED = re.compile(r"`(hpsearch(?:\.[a-z_]+)+)(?:\(|`)")


def resolve(path: str) -> object:
    """The object at a dotted path: the longest importable module, then attributes."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            found = getattr(found, name)
        return found
    raise ModuleNotFoundError(path)


def readme_paths() -> list[str]:
    return sorted(set(DOTTED.findall(README.read_text(encoding="utf-8"))))


def test_the_readme_names_paths_to_check() -> None:
    assert {"hpsearch.tasks.mup.parametrize", "hpsearch.client.report",
            "hpsearch.record.trial_attrs"} <= set(readme_paths())


@pytest.mark.parametrize("path", readme_paths())
def test_every_path_the_readme_names_resolves(path: str) -> None:
    assert resolve(path) is not None


@pytest.mark.parametrize("name", hpsearch.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(hpsearch, name) is not None


def test_the_imports_an_exported_mup_snippet_writes_resolve() -> None:
    config = {"optimizer": "adamw", "hyperparameters": {"lr": 1e-3, "weight_decay": 0.01},
              "schedule": {"name": "none"}, "clip_grad_norm": None,
              "parametrization": {"name": "mup", "width": 256, "base_width": 64}}
    imports = [line for line in to_python(config).splitlines() if line.startswith(("import ", "from "))]
    assert "from hpsearch.tasks.mup import parametrize" in imports
    for line in imports:
        exec(line, {})  # noqa: S102 - the snippet's own import line, as a user pastes it
