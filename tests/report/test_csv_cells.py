"""CSV for spreadsheets: a text cell that begins like a formula (a study name or a stored value from
a shared storage, a reason taken from a user model's error message) gets a leading `'` in both
listings, and a number stays a number (-0.5 is -0.5)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import optuna
from click.testing import CliRunner
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import create_trial

from hpsearch.cli import cli

NAME = '=HYPERLINK("http://example.com","x")'
OPTIMIZER = "@SUM(1+1)*cmd|' /C calc'!A0"
REASON = "-2+3 shapes cannot be multiplied"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet runs


def hostile(url: str) -> None:
    """A study, as another program may have stored it, whose text begins like formulas."""
    study = optuna.create_study(study_name=NAME, storage=url, direction="minimize")
    study.set_user_attr("task", "+task")
    for value, reason in ((-0.5, REASON), (0.25, "\tTAB"), (1.5, "\rCR"), (2.0, "boom\r=1+1")):
        study.add_trial(create_trial(
            params={"optimizer": OPTIMIZER, "lr": -value},
            distributions={"optimizer": CategoricalDistribution([OPTIMIZER]),
                           "lr": FloatDistribution(-2, 2)},
            value=value, user_attrs={"record": {"reason": reason, "seconds": -1.0}}))


def cells(*args: str) -> list[dict[str, str]]:
    """The command's CSV, read as a spreadsheet reads it (a carriage return ends a row unless
    quoted)."""
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout_bytes.decode(), newline="")))


def assert_no_formula(rows: list[dict[str, str]]) -> None:
    """Every cell a spreadsheet would run is a number."""
    for row in rows:
        for cell in row.values():
            if cell.startswith(FORMULA_STARTS):
                float(cell)


def test_both_listings_quote_text_that_begins_like_a_formula(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    hostile(url)

    (row,) = cells("studies", "--storage", url, "--format", "csv")
    assert row["study"] == f"'{NAME}" and row["task"] == "'+task"
    assert row["best_optimizer"] == f"'{OPTIMIZER}" and float(row["best_value"]) == -0.5
    assert_no_formula([row])

    rows = cells("trials", "--storage", url, "--format", "csv")
    assert [r["optimizer"] for r in rows] == [f"'{OPTIMIZER}"] * 4
    assert [r["reason"] for r in rows] == [f"'{REASON}", "'\tTAB", "'\rCR", "boom\r=1+1"]
    assert [r["value"] for r in rows] == ["-0.5", "0.25", "1.5", "2.0"]
    assert [r["lr"] for r in rows] == ["0.5", "-0.25", "-1.5", "-2.0"] and rows[0]["seconds"] == "-1.0"
    assert_no_formula(rows)
