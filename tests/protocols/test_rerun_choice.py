"""Which search configuration a comparison re-runs when its metric saturates: accuracy 1.000 ties
many trials on a small validation split; the validation loss, recorded on every classification
trial, tells them apart."""

from __future__ import annotations

from pathlib import Path

import optuna
from click.testing import CliRunner
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from hpsearch import record
from hpsearch.cli import cli
from hpsearch.protocols.compare_plan import rerun_source


def search_trial(number: int, accuracy: float, loss: float | None) -> optuna.trial.FrozenTrial:
    measured = {"loss": loss} if loss is not None else {}
    trial = create_trial(state=TrialState.COMPLETE, value=accuracy, params={"optimizer": "adam"},
                         distributions={"optimizer": CategoricalDistribution(["adam"])},
                         user_attrs={"phase": "search", "optimizer": "adam", "record": measured})
    trial.number = number
    return trial


def test_a_tie_at_the_top_goes_to_the_lowest_validation_loss() -> None:
    trials = [search_trial(0, 0.98, 0.05), search_trial(1, 1.0, 0.30),
              search_trial(2, 1.0, 0.02), search_trial(3, 1.0, 0.10)]
    assert rerun_source(trials, "adam", "maximize").number == 2  # type: ignore[union-attr]
    assert record.tied_at_top(trials, "maximize") == 3
    # Trials stored before the loss was recorded: the earliest of the tie, as before.
    older = [search_trial(0, 0.98, None), search_trial(1, 1.0, None), search_trial(2, 1.0, None)]
    assert rerun_source(older, "adam", "maximize").number == 1  # type: ignore[union-attr]
    # A better accuracy still wins whatever its loss.
    assert rerun_source([*trials, search_trial(4, 0.99, 0.001)], "adam",
                        "maximize").number == 2  # type: ignore[union-attr]


def test_every_classification_trial_records_its_validation_loss(workdir: Path) -> None:
    result = CliRunner().invoke(cli, ["tune", "--task", "classification", "--n-trials", "2",
                                      "--epochs", "1", "--optimizers", "adam"])
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="classification", storage="sqlite:///studies/hpsearch.db")
    losses = [record.validation_loss(t) for t in study.trials]
    assert all(0 < loss < 10 for loss in losses), losses
