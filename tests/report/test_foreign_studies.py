"""A storage that also holds a study hpsearch cannot read (a multi-objective one, stored by plain
Optuna): `studies` lists it as such, `report` reports the rest and names what it skipped, and `best`
or `trials` on it refuse in one line."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from tests.cli.test_cli import assert_one_line_error, invoke, tiny_sweep

NOTE = "multi-objective: not an hpsearch study"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One tiny hpsearch study, and a multi-objective study beside it."""
    url = tiny_sweep(f"sqlite:///{tmp_path_factory.mktemp('foreign') / 'shared.db'}")
    other = optuna.create_study(study_name="pareto", storage=url, directions=["minimize", "maximize"])
    other.optimize(lambda trial: (trial.suggest_float("x", 0, 1), 1.0), n_trials=2)
    return url


def test_studies_lists_it_as_not_an_hpsearch_study(shared: str) -> None:
    code, output = invoke("studies", "--storage", shared)
    assert code == 0, output
    lines = output.splitlines()
    assert any(line.startswith("small ") for line in lines)
    assert lines[-1].split(None, 1) == ["pareto", NOTE]
    code, output = invoke("studies", "--storage", shared, "--format", "json")
    assert code == 0, output
    rows = {row["study"]: row for row in json.loads(output)}
    assert rows["pareto"]["note"] == NOTE and rows["pareto"]["trials"] == 2
    assert rows["small"]["note"] is None and rows["small"]["complete"] == 2


def test_report_reports_the_rest_and_names_what_it_skipped(shared: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    code, output = invoke("report", "--storage", shared, "--out", str(page))
    assert code == 0, output
    assert f"skipped study 'pareto': {NOTE}" in output.splitlines()
    assert "small" in page.read_text()


@pytest.mark.parametrize("command", [["best"], ["trials"]])
def test_reading_it_alone_is_refused_in_one_line(shared: str, command: list[str]) -> None:
    code, output = invoke(*command, "--storage", shared, "--study", "pareto")
    assert_one_line_error(code, output, 2, f"study 'pareto' cannot be read: {NOTE}")


def test_a_warm_start_from_it_is_refused_in_one_line_and_stores_nothing(shared: str) -> None:
    before = optuna.get_all_study_names(shared)
    code, output = invoke("tune", "--task", "small", "--study", "warm", "--n-trials", "2",
                          "--epochs", "1", "--storage", shared, "--warm-start", "pareto")
    assert_one_line_error(code, output, 2, f"study 'pareto' cannot be read: {NOTE}")
    assert optuna.get_all_study_names(shared) == before
