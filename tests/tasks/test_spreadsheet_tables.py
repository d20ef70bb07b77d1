"""Tables as spreadsheets write them: a CSV saved in a European locale (semicolons, decimal commas, a
byte-order mark), in cp1252, tab-separated, or an Excel workbook, tunes as it is; what was detected
is said; --sep, --decimal, --encoding and --sheet override it; bad values are one line."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from click.testing import CliRunner

from hpsearch.cli import cli
from tests.cli.test_cli import assert_one_line_error

DB = "sqlite:///studies/hpsearch.db"
TINY = ["--n-trials", "2", "--epochs", "2", "--optimizers", "adam", "--pruner", "none"]
HEADER = ("Länge", "Breite", "Sorte")  # accented names, as a German spreadsheet has them
KINDS = ("Äpfel", "Birnen", "Kirschen")


def rows(count: int = 90) -> list[tuple[float, float, str]]:
    """Two measurements with decimals that tell three kinds apart."""
    rng = np.random.default_rng(0)
    kinds = [KINDS[i % 3] for i in range(count)]
    return [(10 + 3 * KINDS.index(k) + rng.normal(), 2.5 + rng.normal() / 2, k) for k in kinds]


def spreadsheet_csv(path: Path, sep: str = ";", decimal: str = ",", encoding: str = "utf-8-sig",
                    header: tuple[str, ...] = HEADER) -> Path:
    """A CSV as a spreadsheet saves it: its locale's separator and decimal mark, CRLF lines."""
    lines = [sep.join(header)] + [
        sep.join([f"{a:.2f}".replace(".", decimal), f"{b:.3f}".replace(".", decimal), kind])
        for a, b, kind in rows()]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def workbook(path: Path) -> Path:
    """An .xlsx with a notes sheet first and the data on a second sheet, as openpyxl writes it."""
    from openpyxl import Workbook

    book = Workbook()
    notes = book.active
    assert notes is not None
    notes.title = "Notes"
    notes.append(["Notiz"])
    notes.append(["measured in the orchard, 2024"])
    data = book.create_sheet("Messwerte")
    data.append(list(HEADER))
    for row in rows():
        data.append(list(row))
    book.save(path)
    return path


def tune(path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["tune", "--task", "classification", "--data", str(path),
                                      "--target", "Sorte", *TINY, *args])
    return result.exit_code, result.output


@pytest.mark.parametrize("name, sep, decimal, encoding, said", [
    ("semicolons.csv", ";", ",", "utf-8-sig",
     "read as utf-8 with byte-order mark, separator ';', decimal ','"),
    ("latin.csv", ",", ".", "cp1252", "read as cp1252, separator ',', decimal '.'"),
    ("latin-semicolons.csv", ";", ",", "cp1252", "read as cp1252, separator ';', decimal ','"),
    ("tabs.txt", "\t", ".", "utf-8", "read as utf-8, separator tab, decimal '.'"),
])
def test_a_spreadsheet_csv_tunes_as_it_was_saved(workdir: Path, name: str, sep: str, decimal: str,
                                                 encoding: str, said: str) -> None:
    path = spreadsheet_csv(workdir / name, sep, decimal, encoding)
    code, output = tune(path)
    assert code == 0, output
    assert f"{name}: 90 rows, 3 columns; target 'Sorte'; {said}" in output
    assert "features: 2 numeric" in output  # the decimal commas read as numbers, not as text
    study = optuna.load_study(study_name=Path(name).stem, storage=DB)
    assert study.user_attrs["data_source"]["columns"] == list(HEADER)
    assert study.user_attrs["classes"] == sorted(KINDS)
    assert len(study.trials) == 2


def test_an_excel_workbook_tunes_from_the_sheet_asked_for(workdir: Path) -> None:
    path = workbook(workdir / "obst.xlsx")
    code, output = tune(path)  # the first sheet holds notes, not the table
    assert_one_line_error(code, output, 2, "target column 'Sorte' is not in 'obst.xlsx'")
    code, output = tune(path, "--sheet", "Messwerte")
    assert code == 0, output
    assert ("obst.xlsx: 90 rows, 3 columns; target 'Sorte'; read from sheet 'Messwerte' of 2 "
            "(Notes, Messwerte)") in output
    assert "features: 2 numeric" in output
    study = optuna.load_study(study_name="obst", storage=DB)
    assert study.user_attrs["classes"] == sorted(KINDS)
    code, output = tune(path, "--sheet", "1", "--n-trials", "3")  # by position: the same sheet
    assert code == 0, output
    assert "resuming at 2/3" in output


def test_the_overrides_change_the_reading_and_a_study_resumes_only_with_its_own(
        workdir: Path) -> None:
    path = spreadsheet_csv(workdir / "euro.csv", encoding="cp1252")
    code, output = tune(path, "--decimal", ".")  # the commas taken for text: no numeric feature
    assert_one_line_error(code, output, 2, "'euro.csv' has no usable feature column besides "
                                           "'Sorte'")
    code, output = tune(path, "--sep", ",")  # one column named by the whole header
    assert_one_line_error(code, output, 2, "target column 'Sorte' is not in 'euro.csv'; valid "
                                           "choices: Länge;Breite;Sorte")
    code, output = tune(path, "--encoding", "latin-1", "--sep", ";", "--decimal", ",")
    assert code == 0, output
    assert "read as iso8859-1, separator ';', decimal ','" in output
    # The same file read the same way resumes; read another way it is other data: refused.
    code, output = tune(path, "--encoding", "latin-1", "--n-trials", "3")
    assert code == 0 and "resuming at 2/3" in output, output
    study = optuna.load_study(study_name="euro", storage=DB)
    code, output = tune(path, "--n-trials", "4")  # detected: cp1252 this time
    assert_one_line_error(code, output, 2, "study 'euro' was made with data=")
    assert len(optuna.load_study(study_name="euro", storage=DB).trials) == len(study.trials) == 3


def test_a_plain_csv_keeps_the_identity_studies_stored_before_have(workdir: Path) -> None:
    """Studies made before spreadsheets were read name a plain CSV by its bytes' digest alone."""
    path = spreadsheet_csv(workdir / "plain.csv", sep=",", decimal=".", encoding="utf-8")
    code, output = tune(path)
    assert code == 0, output
    study = optuna.load_study(study_name="plain", storage=DB)
    assert study.user_attrs["data"] == hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    assert "read" not in study.user_attrs["data_source"]


@pytest.mark.parametrize("file, args, fragments", [
    ("euro.csv", ["--sep", ":"], ["unknown separator ':'", "valid choices: ',', ';', tab, '|'"]),
    ("euro.csv", ["--decimal", ";"], ["unknown decimal mark ';'", "valid choices: '.', ','"]),
    ("euro.csv", ["--encoding", "klingon"], ["unknown encoding 'klingon'",
                                             "valid choices: utf-8, cp1252, latin-1, utf-16"]),
    ("euro.csv", ["--encoding", "base64"], ["unknown encoding 'base64'"]),
    ("euro.csv", ["--encoding", "utf-8"], ["data file", "euro.csv' cannot be read as utf-8"]),
    ("euro.csv", ["--sheet", "Data"], ["--sheet applies to an Excel workbook", "'euro.csv'"]),
    ("obst.xlsx", ["--sheet", "Daten"], ["sheet 'Daten' is not in 'obst.xlsx'",
                                         "valid choices: Notes, Messwerte (or a position from 0 "
                                         "to 1)"]),
    ("obst.xlsx", ["--sheet", "2"], ["sheet '2' is not in 'obst.xlsx'"]),
    ("obst.xlsx", ["--sep", ";"], ["--sep applies to a CSV file", "'obst.xlsx'"]),
    ("fake.xlsx", [], ["data file", "fake.xlsx' cannot be read"]),
    ("old.xls", [], ["'old.xls' is in the old Excel format", "save it as .xlsx or CSV"]),
])
def test_bad_reading_values_are_one_line_and_store_nothing(workdir: Path, file: str,
                                                           args: list[str],
                                                           fragments: list[str]) -> None:
    spreadsheet_csv(workdir / "euro.csv", encoding="cp1252")
    workbook(workdir / "obst.xlsx")
    (workdir / "fake.xlsx").write_bytes((workdir / "euro.csv").read_bytes())
    (workdir / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0" + bytes(508))
    code, output = tune(workdir / file, *args)
    assert_one_line_error(code, output, 2, *fragments)
    assert not (workdir / "studies" / "hpsearch.db").exists()


def test_reading_options_need_a_table(workdir: Path) -> None:
    for args in (["tune", "--task", "classification", "--sep", ";"],
                 ["tune", "--task", "lm", "--steps", "10", "--data", str(workdir / "c.txt"),
                  "--encoding", "cp1252"],
                 ["compare", "--task", "classification", "--decimal", ","]):
        (workdir / "c.txt").write_text("some text " * 100)
        result = CliRunner().invoke(cli, args)
        assert_one_line_error(result.exit_code, result.output, 2, "applies to a table given with "
                                                                  "--data")
    assert not (workdir / "studies" / "hpsearch.db").exists()


def test_an_xlsx_without_openpyxl_names_the_extra(workdir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = workbook(workdir / "obst.xlsx")
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # how Python marks a package not installed
    code, output = tune(path, "--sheet", "Messwerte")
    assert_one_line_error(code, output, 2, "reading 'obst.xlsx' needs openpyxl: "
                                           "pip install 'hpsearch[excel]'")


def test_compare_and_lr_find_take_the_reading_options(workdir: Path) -> None:
    path = spreadsheet_csv(workdir / "euro.csv", encoding="cp1252")
    result = CliRunner().invoke(cli, [
        "compare", "--task", "classification", "--data", str(path), "--target", "Sorte",
        "--encoding", "cp1252", "--sep", ";", "--decimal", ",", "--epochs", "2", "--budget", "1",
        "--seeds", "1", "--studies", "1", "--optimizers", "adam"])
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="compare-euro", storage=DB)
    assert study.user_attrs["data_source"]["read"] == {"encoding": "cp1252", "sep": ";",
                                                       "decimal": ","}
    result = CliRunner().invoke(cli, [
        "compare", "--task", "classification", "--data", str(path), "--target", "Sorte",
        "--decimal", ".", "--epochs", "2", "--budget", "1", "--seeds", "1", "--studies", "1",
        "--optimizers", "adam"])
    assert_one_line_error(result.exit_code, result.output, 2, "has no usable feature column")
    result = CliRunner().invoke(cli, [
        "lr-find", "--task", "classification", "--data", str(path), "--target", "Sorte",
        "--sep", ";", "--optimizer", "adam", "--steps", "20", "--out", "lr.html"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, [
        "lr-find", "--task", "classification", "--data", str(path), "--target", "Sorte",
        "--sep", "x", "--steps", "20", "--out", "lr.html"])
    assert_one_line_error(result.exit_code, result.output, 2, "unknown separator 'x'")


def test_a_table_that_is_no_regular_file_says_what_it_is(workdir: Path) -> None:
    import os

    os.mkfifo(workdir / "pipe.csv")  # opening it to read would wait for a writer forever
    for path, kind in (("/dev/zero", "a character device"), (workdir / "pipe.csv", "a FIFO")):
        code, output = tune(Path(path))
        assert_one_line_error(code, output, 2, f"data file '{path}' is {kind}", "not a regular file")
    assert not (workdir / "studies" / "hpsearch.db").exists()
