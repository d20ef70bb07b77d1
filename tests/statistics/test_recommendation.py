"""The recommendation among optimizers tied for best: criteria tried in the stated order, one
deciding only when its leader is 1.25x better than every other candidate with probability 0.9 (or
better by more than the margin, in the metric's units), and --prefer changing the order."""

from __future__ import annotations

import numpy as np
import pytest

from hpsearch.statistics.recommendation import (
    CRITERIA,
    Criterion,
    parse_prefer,
    recommend,
    two_level,
)

DRAWS = 1_000


def measured(name: str, values: dict[str, float], noise: float = 0.0, lower: bool = True,
             margin: float | None = None, seed: int = 0) -> Criterion:
    """A criterion whose replicates scatter around each value by `noise` (relative)."""
    rng = np.random.default_rng(seed)
    draws = {n: v * np.exp(rng.normal(0.0, noise, DRAWS)) if margin is None
             else v + rng.normal(0.0, noise, DRAWS) for n, v in values.items()}
    return Criterion(name, name, "steps", dict(values), draws, lower_is_better=lower, margin=margin)


def test_time_decides_first_when_it_separates_the_leader() -> None:
    time = measured("time", {"adam": 100.0, "adamw": 200.0, "nadam": 300.0})
    cost = measured("cost", {"adam": 9.0, "adamw": 1.0, "nadam": 1.0})
    chosen = recommend(["adamw", "adam", "nadam"], [time, cost])
    assert chosen.recommended == ("adam",) and chosen.criterion == "time"
    assert chosen.closest is not None and chosen.closest.other == "adamw"
    assert chosen.closest.by == pytest.approx(2.0) and chosen.closest.probability == 1.0


def test_a_lead_under_1_25x_does_not_decide_and_the_next_criterion_is_tried() -> None:
    time = measured("time", {"adam": 100.0, "adamw": 120.0})  # 1.2x, however sure
    cost = measured("cost", {"adam": 3.0, "adamw": 1.0})
    chosen = recommend(["adam", "adamw"], [time, cost])
    assert chosen.recommended == ("adamw",) and chosen.criterion == "cost"
    assert chosen.tried == ("time", "cost")


def test_a_lead_that_is_not_sure_enough_does_not_decide() -> None:
    time = measured("time", {"adam": 100.0, "adamw": 140.0}, noise=0.3)  # 1.4x, P well under 0.9
    chosen = recommend(["adam", "adamw"], [time])
    assert chosen.criterion is None and chosen.recommended == ("adam", "adamw")


def test_a_criterion_in_the_metrics_units_separates_by_more_than_the_margin() -> None:
    ease = measured("ease", {"adam": 0.95, "sgd": 0.90}, noise=0.005, lower=False, margin=0.01)
    assert recommend(["sgd", "adam"], [ease]).recommended == ("adam",)
    close = measured("ease", {"adam": 0.95, "sgd": 0.945}, noise=0.001, lower=False, margin=0.01)
    assert recommend(["sgd", "adam"], [close]).criterion is None


def test_what_a_criterion_sets_behind_leaves_the_field_for_the_next() -> None:
    time = measured("time", {"a": 100.0, "b": 105.0, "c": 400.0})
    cost = measured("cost", {"a": 5.0, "b": 2.0, "c": 0.1})  # c is cheapest, but already behind
    chosen = recommend(["a", "b", "c"], [time, cost])
    assert chosen.recommended == ("b",) and chosen.criterion == "cost"


def test_at_most_three_are_named_when_nothing_separates_them() -> None:
    flat = measured("time", dict.fromkeys("abcde", 100.0))
    chosen = recommend(list("abcde"), [flat])
    assert chosen.recommended == ("a", "b", "c") and chosen.unnamed == 2


def test_one_candidate_is_recommended_on_quality_alone() -> None:
    chosen = recommend(["adam"], [measured("time", {"adam": 10.0, "sgd": 1.0})])
    assert chosen.recommended == ("adam",) and chosen.criterion is None and chosen.tried == ()


def test_prefer_changes_which_criterion_decides() -> None:
    by = {"time": measured("time", {"adam": 100.0, "sgd": 300.0}),
          "cost": measured("cost", {"adam": 3.0, "sgd": 1.0})}
    for text, expected in (("time,cost", "adam"), ("cost,time", "sgd")):
        order = parse_prefer(text)
        assert recommend(["adam", "sgd"], [by[c] for c in order]).recommended == (expected,)
    assert parse_prefer("ease") == ("ease",) and CRITERIA == ("time", "ease", "cost")
    for bad in ("time,speed", "", "time,time"):
        with pytest.raises(ValueError, match="time, ease, cost"):
            parse_prefer(bad)


def test_never_reaching_the_target_is_infinitely_slower() -> None:
    time = measured("time", {"adam": 100.0, "sgd": float("inf")})
    assert recommend(["sgd", "adam"], [time]).recommended == ("adam",)


def test_the_two_level_bootstrap_shares_study_draws_and_resamples_within() -> None:
    rng = np.random.default_rng(0)
    picks = rng.integers(0, 2, size=(500, 2))
    values, draws = two_level({"a": [np.array([1.0, 1.0]), np.array([3.0, 3.0])],
                               "b": [np.array([]), np.array([])]}, np.mean, picks, rng)
    assert values == {"a": 2.0} and "b" not in draws
    assert set(np.unique(draws["a"])) == {1.0, 2.0, 3.0}  # both studies, one, or the other
