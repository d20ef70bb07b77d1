"""Listings for programs: `--format json|csv` of `studies`, `tasks` and `optimizers` hold what the
text shows; `hpsearch trials` gives a study's trials as a table (CSV, JSON, Parquet) and
`trials_frame` as a DataFrame."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import optuna
import pandas
import pytest
from click.testing import CliRunner

from hpsearch.cli import cli
from hpsearch.record import trial_attrs
from hpsearch.report.trials_table import trials_frame

DB = "sqlite:///studies/hpsearch.db"


@pytest.fixture
def tuned(workdir: Path) -> optuna.Study:
    result = CliRunner().invoke(cli, ["tune", "--task", "small", "--n-trials", "4", "--epochs", "2",
                                      "--optimizers", "adam,sgd", "--study", "mine"])
    assert result.exit_code == 0, result.output
    return optuna.load_study(study_name="mine", storage=DB)


def plain(frame: pandas.DataFrame) -> list[dict[str, object]]:
    """The rows with every missing value as None (a file format may store None as NaN)."""
    return [{k: None if pandas.isna(v) else v for k, v in row.items()} for row in frame.to_dict("records")]


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_json_listings_hold_what_the_text_shows(tuned: optuna.Study) -> None:
    text = run("studies").splitlines()
    (study,) = json.loads(run("studies", "--format", "json"))
    words = next(line for line in text if line.startswith("mine")).split()
    assert [study["study"], study["task"], str(study["trials"]), str(study["complete"]),
            str(study["pruned"]), str(study["diverged"]), str(study["failed"]),
            str(study["running"])] == words[:8]
    assert words[8] == f"{study['best_value']:.4f}" and study["best_optimizer"] in words[9]
    tasks = json.loads(run("tasks", "--format", "json"))
    assert [t["task"] for t in tasks] == [line.split()[0] for line in run("tasks").splitlines()]
    assert all(f"batch {t['batch_size']}: {t['description']}" in run("tasks") for t in tasks)
    optimizers = json.loads(run("optimizers", "--format", "json"))
    text = run("optimizers")
    for entry in optimizers:
        assert f"{entry['optimizer']:<18} {entry['torch_class']}" in text
        assert all(f"{name:<34} {rng}" in text for name, rng in entry["hyperparameters"].items())
    csv = pandas.read_csv(io.StringIO(run("tasks", "--format", "csv")))
    assert list(csv["task"]) == [t["task"] for t in tasks]


def test_the_trials_table_matches_the_stored_trials(tuned: optuna.Study) -> None:
    frame = trials_frame(tuned)
    assert list(frame.columns[:13]) == ["number", "state", "optimizer", "value", "diverged", "reason",
                                        "seconds", "steps", "tokens", "seed", "best_epoch",
                                        "best_step", "warm_start"]
    assert frame.columns[-1] == "config" and len(frame) == len(tuned.trials)
    trial = tuned.trials[1]
    row = frame.iloc[1]
    attrs = trial_attrs(trial)
    assert (row["number"], row["state"], row["optimizer"]) == (1, trial.state.name.lower(),
                                                               trial.params["optimizer"])
    assert row["value"] == trial.value and row["seconds"] == attrs["seconds"]
    assert row["seed"] == attrs["seed"] and row["steps"] == attrs["steps"]
    for name, value in trial.params.items():
        if name != "optimizer":
            assert row[name] == value
    assert json.loads(row["config"]) == attrs["config"]


def test_trials_as_csv_round_trip_through_pandas(tuned: optuna.Study) -> None:
    read = pandas.read_csv(io.StringIO(run("trials", "--study", "mine")))
    frame = trials_frame(tuned)
    assert list(read.columns) == list(frame.columns)
    assert plain(read) == plain(frame)  # every value exactly, floats included
    records = json.loads(run("trials", "--format", "json"))  # the one study: --study may be left out
    assert [r["number"] for r in records] == list(frame["number"])


def test_parquet_is_a_file_and_needs_pyarrow(tuned: optuna.Study, monkeypatch: pytest.MonkeyPatch) -> None:
    out = Path("mine.parquet")
    run("trials", "--format", "parquet", "--out", str(out))
    assert plain(pandas.read_parquet(out)) == plain(trials_frame(tuned))
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as on a machine without it
    result = CliRunner().invoke(cli, ["trials", "--format", "parquet", "--out", "other.parquet"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "pip install 'hpsearch[parquet]'" in result.output and not Path("other.parquet").exists()
    result = CliRunner().invoke(cli, ["trials", "--study", "nope"])
    assert result.exit_code == 2 and "unknown study 'nope'; valid choices: mine" in result.output
