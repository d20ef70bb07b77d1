"""The user's own table: preprocessing, the leakage guard, and every failure a user can cause."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest
from click.testing import CliRunner

from hpsearch.cli import cli
from hpsearch.errors import ConfigError
from hpsearch.tasks.table import table_task
from tests.conftest import require

TINY = ["--n-trials", "2", "--epochs", "2", "--optimizers", "adam", "--pruner", "none"]


def penguins(path: Path, rows: int = 120, seed: int = 0) -> Path:
    """A penguin-like table: numbers, strings, missing values, string labels, an id column."""
    rng = np.random.default_rng(seed)
    species = rng.choice(["Adelie", "Gentoo", "Chinstrap"], size=rows, p=[0.5, 0.3, 0.2])
    shift = {"Adelie": 0.0, "Gentoo": 8.0, "Chinstrap": 4.0}
    lines = ["species,island,bill_length,flipper,sex,tag"]
    for i, s in enumerate(species):
        bill = "" if i % 10 == 3 else f"{38 + shift[s] + rng.normal():.1f}"
        island = "" if i % 17 == 5 else {"Adelie": "Torgersen", "Gentoo": "Biscoe"}.get(s, "Dream")
        sex = rng.choice(["male", "female"])
        lines.append(f"{s},{island},{bill},{180 + 3 * shift[s] + rng.normal() * 5:.0f},{sex},t{i}")
    path.write_text("\n".join(lines) + "\n")
    return path


def houses(path: Path, rows: int = 150) -> Path:
    rng = np.random.default_rng(1)
    area = rng.uniform(40, 200, rows)
    price = 250_000 + 3_000 * area + rng.normal(0, 20_000, rows)  # a target in large units
    path.write_text("area,rooms,price\n" + "\n".join(
        f"{a:.1f},{int(a // 30)},{p:.0f}" for a, p in zip(area, price, strict=True)) + "\n")
    return path


def test_categorical_missing_values_and_string_labels(tmp_path: Path) -> None:
    task, table = table_task(penguins(tmp_path / "penguins.csv"), "species", "classification")
    assert table.numeric == ("bill_length", "flipper")
    assert table.categorical == ("island", "sex")
    notes = "\n".join(table.notes)
    assert "dropped columns: tag (text or id: 120 distinct values)" in notes
    assert "classes (3): Adelie" in notes and "missing feature values will be imputed" in notes
    data = task.load()
    assert data.classes == ("Adelie", "Chinstrap", "Gentoo")
    assert data.n_outputs == 3
    assert data.n_features == 2 + 3 + 2  # numbers, then one column per island and per sex
    for split in (data.train, data.val, data.test):
        assert np.isfinite(split.x).all()
    assert sum(len(s.y) for s in (data.train, data.val, data.test)) == 120


def test_preprocessing_is_fitted_on_training_rows_only(tmp_path: Path) -> None:
    from sklearn.compose import ColumnTransformer

    task, table = table_task(penguins(tmp_path / "penguins.csv"), "species", "classification")
    data = task.load(split_seed=0)
    # Refit the same preprocessing on the training rows alone: the same numbers come out.
    from sklearn.model_selection import train_test_split

    index = np.arange(len(table.target))
    rest, _ = train_test_split(index, test_size=0.2, random_state=0, stratify=table.target)
    train, val = train_test_split(rest, test_size=0.25, random_state=0,
                                  stratify=table.target[rest])
    transform: ColumnTransformer = task.preprocessor().fit(table.features.iloc[train])  # type: ignore[misc]
    assert np.allclose(data.val.x, transform.transform(table.features.iloc[val]))
    # The leakage guard: statistics of training rows only (all rows would centre everything).
    assert np.allclose(data.train.x[:, 0].mean(), 0, atol=1e-6)
    everything = task.preprocessor().fit(table.features)  # type: ignore[misc]
    assert not np.allclose(data.val.x, everything.transform(table.features.iloc[val]))


def test_a_regression_target_in_large_units_is_reported_in_those_units(workdir: Path) -> None:
    path = houses(workdir / "houses.csv")
    task, _ = table_task(path, "price", "regression")
    data = task.load()
    assert abs(data.train.y.mean()) < 1e-5 and abs(data.train.y.std() - 1) < 1e-4
    assert data.target_scale > 50_000  # the price's own spread
    result = CliRunner().invoke(cli, ["tune", "--task", "regression", "--data", str(path),
                                      "--target", "price", *TINY])
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="houses", storage="sqlite:///studies/hpsearch.db")
    assert study.best_value > 1_000  # RMSE in currency units, not standardised units
    assert study.user_attrs["data_source"]["file"] == "houses.csv"


@pytest.mark.parametrize("content, target, kind, message", [
    ("a,b\n1,2\n3,4\n", "c", "classification", "target column 'c' is not in 'data.csv'; "
                                               "valid choices: a, b"),
    ("x,y\n1,cat\n2,cat\n3,cat\n", "y", "classification", "target 'y' has a single class 'cat'"),
    ("id,k,y\n" + "".join(f"u{i},1,{'ab'[i % 2]}\n" for i in range(8)), "y", "classification",
     "'data.csv' has no usable feature column besides 'y'; dropped: id (text or id: 8 distinct "
     "values), k (constant)"),
    ("", "y", "classification", "is empty"),
    ("x,y\n", "y", "classification", "has no rows"),
    ("x,y\n1,big\n2,small\n", "y", "regression", "regression target 'y' must be numeric"),
])
def test_bad_tables_are_clear_errors(tmp_path: Path, content: str, target: str, kind: str,
                                     message: str) -> None:
    path = tmp_path / "data.csv"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        table_task(path, target, kind)


def test_tuning_a_table_names_the_study_decodes_labels_and_guards_the_data(workdir: Path) -> None:
    path = penguins(workdir / "penguins.csv")
    args = ["tune", "--task", "classification", "--data", str(path), "--target", "species"]
    result = CliRunner().invoke(cli, [*args, *TINY])
    assert result.exit_code == 0, result.output
    assert "penguins.csv: 120 rows, 6 columns; target 'species'" in result.output
    assert "study 'penguins'" in result.output
    best = json.loads(CliRunner().invoke(cli, ["best", "--study", "penguins"]).output)
    assert best["classes"] == ["Adelie", "Chinstrap", "Gentoo"]

    penguins(path, seed=1)  # other data under the same name: refused, nothing changed
    result = CliRunner().invoke(cli, [*args, *TINY[2:], "--n-trials", "3"])
    assert result.exit_code == 2 and "study 'penguins' was made with data=" in result.output
    study = optuna.load_study(study_name="penguins", storage="sqlite:///studies/hpsearch.db")
    assert len(study.trials) == 2


def test_data_options_that_do_not_fit_are_usage_errors(workdir: Path, tmp_path: Path) -> None:
    path = penguins(tmp_path / "p.csv")
    for args, message in (
        (["--task", "image", "--data", str(path), "--target", "species"],
         "task 'image' has built-in data"),
        (["--task", "classification", "--data", str(path)], "--data needs --target COLUMN"),
        (["--task", "classification", "--target", "species"], "--target applies to --data only"),
        (["--task", "classification", "--data", "nope.csv", "--target", "y"],
         "data file 'nope.csv' does not exist"),
        (["--task", "classification", "--val-fraction", "0.9"], "val_fraction must be in (0, 0.5]"),
    ):
        result = CliRunner().invoke(cli, ["tune", *args, *TINY])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
    assert not (workdir / "studies" / "hpsearch.db").exists()


def test_parquet_tables_read_like_csv(tmp_path: Path) -> None:
    import pandas as pd

    require("pyarrow")
    csv = penguins(tmp_path / "penguins.csv")
    parquet = tmp_path / "penguins.parquet"
    pd.read_csv(csv).to_parquet(parquet)
    from_csv = table_task(csv, "species", "classification")[0].load()
    from_parquet = table_task(parquet, "species", "classification")[0].load()
    assert np.array_equal(from_csv.train.x, from_parquet.train.x)
    assert from_csv.classes == from_parquet.classes
