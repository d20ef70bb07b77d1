"""Summaries of studies built here: known trials in, known numbers out (no plotly, no browser)."""

from __future__ import annotations

import datetime
import math

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from hpsearch.errors import ConfigError
from hpsearch.report.summaries.points import trial_points, wall_seconds
from hpsearch.report.summaries.study import importance_within, study_verdict, summarise_optimizers
from hpsearch.space.conditional import SearchSpace, suggest
from tests.conftest import summarise

OPTIMIZERS = CategoricalDistribution(["sgd", "adam", "lbfgs"])


def trial(optimizer: str, value: float | None, state: TrialState = TrialState.COMPLETE,
          curve: tuple[float, ...] = (), **attrs: object) -> optuna.trial.FrozenTrial:
    lr = 0.01
    curve = curve or ((value,) if value is not None else ())
    return create_trial(
        state=state, value=value if state == TrialState.COMPLETE else None,
        params={"optimizer": optimizer, f"{optimizer}_lr": lr},
        distributions={"optimizer": OPTIMIZERS,
                       f"{optimizer}_lr": FloatDistribution(1e-5, 1.0, log=True)},
        intermediate_values=dict(enumerate(curve)), user_attrs={"seconds": 1.5, **attrs},
    )


def known_trials() -> list[optuna.trial.FrozenTrial]:
    return [
        trial("adam", 0.9), trial("adam", 0.8), trial("adam", 0.95),
        trial("adam", None, TrialState.PRUNED, curve=(0.3, 0.5)),
        trial("adam", None, TrialState.PRUNED, curve=(0.2, math.nan), diverged=True,
              reason="training loss is nan"),
        trial("sgd", 0.7), trial("sgd", None, TrialState.PRUNED, curve=(0.1,)),
        trial("sgd", None, TrialState.PRUNED, curve=(0.2,)),
        trial("lbfgs", None, TrialState.PRUNED, curve=(0.4,)),
        trial("lbfgs", None, TrialState.FAIL),
    ]


def test_per_optimizer_counts_values_and_ranks() -> None:
    rows = summarise_optimizers(known_trials(), "maximize")
    assert [r.optimizer for r in rows] == ["adam", "sgd", "lbfgs"]
    adam, sgd, lbfgs = rows
    assert (adam.trials, adam.complete, adam.pruned, adam.diverged, adam.failed) == (5, 3, 2, 1, 0)
    assert adam.best_value == 0.95 and adam.rank == 1 and adam.median == 0.9
    assert adam.top_k_mean == pytest.approx((0.95 + 0.9 + 0.8) / 3)
    assert (adam.q1, adam.q3) == (pytest.approx(0.85), pytest.approx(0.925))
    assert adam.seconds == pytest.approx(5 * 1.5)
    assert (sgd.trials, sgd.complete, sgd.pruned, sgd.best_value, sgd.rank) == (3, 1, 2, 0.7, 2)
    assert (lbfgs.trials, lbfgs.failed, lbfgs.best_value, lbfgs.rank) == (1, 1, None, None)


def test_minimising_ranks_the_lowest_first() -> None:
    rows = summarise_optimizers(known_trials(), "minimize")
    assert [r.optimizer for r in rows][:2] == ["sgd", "adam"]
    assert rows[1].best_value == 0.8 and rows[1].top_k_mean == pytest.approx((0.8 + 0.9 + 0.95) / 3)


def test_trial_points_mark_divergence_and_pruned_values() -> None:
    points = trial_points(known_trials())
    states = [p.state for p in points]
    assert states.count("diverged") == 1 and states.count("pruned") == 4
    diverged = next(p for p in points if p.state == "diverged")
    assert diverged.curve == (0.2, None) and diverged.value is None
    assert "nan" in diverged.reason
    pruned = next(p for p in points if p.state == "pruned" and p.optimizer == "adam")
    assert pruned.value == 0.5 and pruned.lr == 0.01


def test_the_verdict_states_budget_and_whether_the_lead_beats_the_spread() -> None:
    rows = summarise_optimizers(known_trials(), "maximize")
    text = study_verdict(rows, "accuracy")
    assert text.startswith("adam has the best accuracy, 0.95")
    assert "from 5 trials (2 pruned, 1 diverged)" in text
    assert "runner-up sgd 0.7 from 3 trials" in text
    assert "Lead 0.25, larger than the spread of adam's own top 3 trials (0.0667)" in text
    assert "Budgets were unequal (1 to 5 trials per optimizer" in text
    close = known_trials()[:3] + [trial("sgd", 0.94), trial("sgd", 0.93), trial("sgd", 0.92)]
    near = study_verdict(summarise_optimizers(close, "maximize"), "accuracy", "classification")
    assert "not a reliable ranking without re-runs over seeds" in near
    # Who a fair comparison would need to separate, and the command that would.
    assert near.endswith("A comparison would need to separate adam, sgd (equal budgets, re-runs "
                         "over seeds): hpsearch compare --task classification --optimizers "
                         "adam,sgd."), near
    assert text.endswith("hpsearch compare --optimizers adam,sgd.")  # task unknown: no --task
    lucky = [trial("adam", 0.99), trial("sgd", 0.5)]
    assert "completed only 1 trials, too few to judge luck" in study_verdict(
        summarise_optimizers(lucky, "maximize"), "accuracy")


def test_wall_clock_is_the_union_of_trial_intervals() -> None:
    origin = datetime.datetime(2026, 1, 1)
    trials = []
    for start, stop in ((0, 10), (5, 15), (20, 25)):
        t = trial("adam", 0.5)
        t.datetime_start = origin + datetime.timedelta(seconds=start)
        t.datetime_complete = origin + datetime.timedelta(seconds=stop)
        trials.append(t)
    assert wall_seconds(trials) == 20.0


def test_importance_finds_the_parameter_that_matters() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    space = SearchSpace(optimizers=("adam",), schedules=("none", "cosine"))
    for _ in range(40):
        t = study.ask()
        lr = suggest(t, space, 3).hyperparameters["lr"]
        quality = -abs(math.log10(lr) + 3)  # best at lr = 1e-3, nothing else matters
        for step in range(3):
            t.report(quality + step, step)
        study.tell(t, quality + 2)
    importances, note = importance_within(study.trials, "adam", "maximize")
    assert max(importances, key=importances.__getitem__) == "adam_lr"
    assert importances["adam_lr"] > 0.8
    assert note == "fANOVA on the 3-epoch metric of 40 trials"
    assert importance_within(study.trials[:3], "adam", "maximize") == (
        {}, "3 finished trials; 5 needed")


def test_summarise_reads_every_study_or_the_named_ones(storage_url: str) -> None:
    from hpsearch.engine.storage import resolve

    backend = resolve(storage_url)
    for name, direction in (("a", "maximize"), ("b", "minimize")):
        study = optuna.create_study(storage=backend, study_name=name, direction=direction)
        study.add_trials(known_trials())
        study.set_user_attr("metric", "accuracy" if direction == "maximize" else "rmse")
    report = summarise(storage_url, importance=False)
    assert [s.study for s in report.studies] == ["a", "b"]
    assert report.optimizer_order == ["sgd", "adam", "lbfgs"]  # registry order, in every figure
    assert [s.winner for s in report.studies] == ["adam", "sgd"]
    assert report.studies[1].metric == "rmse"
    assert [s.study for s in summarise(storage_url, ["b"], importance=False).studies] == ["b"]
    with pytest.raises(ConfigError, match="unknown study 'c'; valid choices: a, b"):
        summarise(storage_url, ["c"])


def test_a_tie_goes_to_the_optimizer_that_reached_it_first() -> None:
    trials = [trial("sgd", 1.0), trial("adam", 1.0)]
    for number, t in enumerate(trials):
        t.number = number
    rows = summarise_optimizers(trials, "maximize")
    assert [r.optimizer for r in rows] == ["sgd", "adam"]
