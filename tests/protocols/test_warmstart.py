"""`--warm-start`: the best configuration of each optimizer from earlier studies runs first."""

from __future__ import annotations

from pathlib import Path

import optuna
from click.testing import CliRunner
from optuna.trial import TrialState

from hpsearch.cli import cli
from hpsearch.record import best_per_optimizer

DB = "sqlite:///studies/hpsearch.db"


def test_best_configurations_of_earlier_studies_run_first_and_are_marked(workdir: Path) -> None:
    runner = CliRunner()
    for task in ("classification", "small"):
        result = runner.invoke(cli, ["tune", "--task", task, "--n-trials", "5", "--epochs", "2",
                                     "--optimizers", "adam,sgd,rmsprop"])
        assert result.exit_code == 0, result.output
    studies = {name: optuna.load_study(study_name=name, storage=DB)
               for name in ("classification", "small")}
    sources = {name: best_per_optimizer(study.trials, "maximize") for name, study in studies.items()}
    expected = [(name, t.number, t.params) for name in sources for t in sources[name]]
    # The new sweep leaves rmsprop out: its warm starts are skipped, with a note. A configuration
    # both studies drew (the same seed draws the same first trials) runs once.
    expected = [e for e in expected if e[2]["optimizer"] != "rmsprop"]
    expected = [e for i, e in enumerate(expected) if e[2] not in [f[2] for f in expected[:i]]]
    result = runner.invoke(cli, ["tune", "--task", "small", "--study", "warm", "--epochs", "2",
                                 "--optimizers", "adam,sgd", "--n-trials", str(len(expected) + 2),
                                 "--warm-start", "classification,small"])
    assert result.exit_code == 0, result.output
    assert "warm start from 'classification'" in result.output
    trials = optuna.load_study(study_name="warm", storage=DB).trials
    first = trials[:len(expected)]
    assert [(t.user_attrs["warm_start"]["study"], t.user_attrs["warm_start"]["trial"], t.params)
            for t in first] == expected
    assert all("warm_start" not in t.user_attrs for t in trials[len(expected):])
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    # Resuming does not enqueue them again.
    result = runner.invoke(cli, ["tune", "--task", "small", "--study", "warm", "--epochs", "2",
                                 "--optimizers", "adam,sgd", "--n-trials", str(len(expected) + 3),
                                 "--warm-start", "classification"])
    assert result.exit_code == 0, result.output
    assert "warm start skipped" in result.output
    after = optuna.load_study(study_name="warm", storage=DB).trials
    assert sum("warm_start" in t.user_attrs for t in after) == len(expected)


def test_an_unknown_warm_start_study_is_one_line_and_stores_nothing(workdir: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["tune", "--task", "small", "--n-trials", "1",
                               "--epochs", "1"]).exit_code == 0
    before = Path("studies/hpsearch.db").read_bytes()
    result = runner.invoke(cli, ["tune", "--task", "small", "--study", "new", "--n-trials", "1",
                                 "--epochs", "1", "--warm-start", "nope"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error: unknown study 'nope' for --warm-start; valid choices: small")
    assert Path("studies/hpsearch.db").read_bytes() == before
