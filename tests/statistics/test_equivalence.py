"""The classes of a comparison's decision on synthetic re-runs: what is best, equivalent to it
within the margin, worse by more than the margin, or not determined, and whether the runs the
"not determined" class asks for do determine it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpsearch.statistics.equivalence import (
    BEST,
    EQUIVALENT,
    UNDETERMINED,
    WORSE,
    classify,
    runs_needed,
)


def runs(mean: float, spread: float, seeds: int, studies: int = 1, seed: int = 0
         ) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    return [list(rng.normal(mean, spread, seeds)) for _ in range(studies)]


def test_a_clearly_better_optimizer_is_best_and_the_others_worse() -> None:
    classes = classify({"adam": runs(0.95, 0.003, 5, 3, 1), "sgd": runs(0.90, 0.003, 5, 3, 2),
                        "lbfgs": runs(0.80, 0.003, 5, 3, 3)}, "maximize", margin=0.01)
    assert classes.leader == "adam"
    assert [classes.standings[n].category for n in ("adam", "sgd", "lbfgs")] == [BEST, WORSE, WORSE]
    sgd = classes.standings["sgd"]
    assert sgd.interval[0] > 0.01 and sgd.p_worse >= 0.9
    assert sgd.difference == pytest.approx(0.05, abs=0.01)


def test_two_identical_optimizers_are_equivalent_whichever_direction() -> None:
    same = [[0.90, 0.91, 0.90], [0.92, 0.91, 0.91]]
    for direction in ("maximize", "minimize"):
        classes = classify({"adam": same, "adamw": same}, direction, margin=0.02)
        assert sorted(s.category for s in classes.standings.values()) == [BEST, EQUIVALENT]


def test_the_direction_decides_who_is_worse() -> None:
    loss = {"adam": runs(2.0, 0.01, 4, seed=1), "sgd": runs(2.5, 0.01, 4, seed=2)}
    classes = classify(loss, "minimize", margin=0.1)
    assert classes.leader == "adam" and classes.standings["sgd"].category == WORSE
    assert classes.standings["sgd"].difference == pytest.approx(0.5, abs=0.05)


def test_a_diverged_optimizer_is_worse_and_two_diverged_are_the_same() -> None:
    classes = classify({"adam": [[0.9, 0.91]], "sgd": [[math.nan, math.nan]],
                        "lbfgs": [[math.nan, math.nan]]}, "maximize", margin=0.01)
    assert classes.standings["sgd"].category == WORSE == classes.standings["lbfgs"].category


def test_half_the_margin_with_a_large_spread_is_not_determined_until_the_runs_it_asks_for() -> None:
    """A is better than B by half the margin, and 3 seeds cannot tell; each time they cannot, A
    and B are measured again with the seeds the estimate asks for. Over 20 such trials of the whole
    procedure, no class contradicts the truth, and most of the re-measured are determined."""
    margin, truth, spread, seeds = 0.01, 0.005, 0.01, 3
    first_seen, then = [], []
    for k in range(20):
        first = classify({"a": runs(0.90 + truth, spread, seeds, seed=10 + 2 * k),
                          "b": runs(0.90, spread, seeds, seed=11 + 2 * k)}, "maximize", margin,
                         draws=2_000)
        other = next(s for s in first.standings.values() if s.category != BEST)
        first_seen.append(other.category)
        if other.category != UNDETERMINED or other.runs_needed is None:
            continue
        more = math.ceil(other.runs_needed * seeds)
        again = classify({"a": runs(0.90 + truth, spread, more, seed=1000 + k),
                          "b": runs(0.90, spread, more, seed=2000 + k)}, "maximize", margin,
                         draws=2_000)
        then.append(next(s.category for s in again.standings.values() if s.category != BEST))
    assert WORSE not in first_seen + then
    assert first_seen.count(UNDETERMINED) >= 10, first_seen  # 3 seeds mostly cannot tell
    assert then.count(EQUIVALENT) >= 2 * len(then) / 3, then


def test_runs_needed_shrinks_the_spread_to_the_distance_from_the_margin() -> None:
    assert runs_needed(0.005, 0.01, 0.01) == pytest.approx((1.6449 * 0.01 / 0.005) ** 2, rel=1e-3)
    assert runs_needed(0.02, 0.01, 0.01) == pytest.approx((1.6449 * 0.01 / 0.01) ** 2, rel=1e-3)
    assert runs_needed(0.01, 0.01, 0.01) is None  # on the margin: no number of runs tells
    assert runs_needed(0.0, 0.0001, 0.01) == 1.0  # already decided: never fewer runs than now


def test_a_bad_margin_is_refused() -> None:
    with pytest.raises(ValueError, match="margin"):
        classify({"a": [[1.0]]}, "maximize", margin=-1.0)
