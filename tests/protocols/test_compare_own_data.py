"""`hpsearch compare` on the user's own table, model and corpus: the same protocol and report."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
from click.testing import CliRunner

from hpsearch.cli import cli
from hpsearch.record import trial_attrs
from tests.tasks.test_table import penguins

DB = "sqlite:///studies/hpsearch.db"
TINY = ["--budget", "1", "--seeds", "1", "--optimizers", "adam", "--studies", "2"]
MODEL = '''
import torch

RUNS = __import__("pathlib").Path(__file__).with_name("runs.txt")


def build(n_in, n_out):
    with RUNS.open("a") as log:
        log.write("built\\n")
    return torch.nn.Sequential(torch.nn.Linear(n_in, 9), torch.nn.Tanh(), torch.nn.Linear(9, n_out))
'''


def test_compare_on_my_table_and_my_model(workdir: Path) -> None:
    table = penguins(workdir / "penguins.csv")
    (workdir / "mine.py").write_text(MODEL)
    result = CliRunner().invoke(cli, ["compare", "--task", "classification", "--data", str(table),
                                      "--target", "species", "--model", "mine.py:build",
                                      "--epochs", "2", *TINY])
    assert result.exit_code == 0, result.output
    assert "== compare-penguins: 2 studies (comparison on task classification" in result.output
    studies = [optuna.load_study(study_name=name, storage=DB)
               for name in ("compare-penguins", "compare-penguins-study2")]
    assert studies[0].user_attrs["split_seed"] != studies[1].user_attrs["split_seed"]
    for study in studies:
        assert study.user_attrs["data_source"]["file"] == "penguins.csv"
        assert study.user_attrs["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
        trials = study.trials
        assert len(trials) == 3 and all(t.state.name == "COMPLETE" for t in trials)
        assert {trial_attrs(t)["model"] for t in trials} == {"Sequential"}  # the user's model
        assert all(0 <= trial_attrs(t)["test_value"] <= 1 for t in trials)
    # The model file ran once per study to check it, then once per trial.
    assert (workdir / "runs.txt").read_text().count("built") == 2 + 2 * 3


def test_data_is_one_dataset(workdir: Path) -> None:
    table = penguins(workdir / "penguins.csv")
    result = CliRunner().invoke(cli, ["compare", "--task", "classification", "--task", "regression",
                                      "--data", str(table), "--target", "species", *TINY])
    assert result.exit_code == 2, result.output
    assert "--data is one dataset: give one --task with it" in result.output
    assert not (workdir / "studies" / "hpsearch.db").exists()


def test_compare_on_my_corpus_keeps_its_validation_and_test_text(workdir: Path) -> None:
    corpus = workdir / "corpus.txt"
    corpus.write_text(Path(json.__file__).read_text()[:4000])  # text every Python install has
    result = CliRunner().invoke(cli, ["compare", "--task", "lm", "--data", str(corpus),
                                      "--steps", "10", "--optimizers", "adamw", "--budget", "1",
                                      "--seeds", "1", "--studies", "2"])
    assert result.exit_code == 0, result.output
    studies = [optuna.load_study(study_name=name, storage=DB)
               for name in ("compare-corpus", "compare-corpus-study2")]
    # The same validation and test text in both studies; the seeds and training order differ.
    assert studies[0].user_attrs["split_seed"] == studies[1].user_attrs["split_seed"]
    assert studies[0].user_attrs["data_source"] == studies[1].user_attrs["data_source"]
    seeds = [trial_attrs(t)["seed"] for s in studies for t in s.trials]
    assert len(set(seeds)) == len(seeds) == 6
    default = [next(t for t in s.trials if t.user_attrs["phase"] == "default") for s in studies]
    assert default[0].params == default[1].params  # torch's defaults, trained on other orders
    assert default[0].intermediate_values != default[1].intermediate_values
