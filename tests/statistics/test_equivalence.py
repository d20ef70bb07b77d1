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
    seeds_needed,
    study_variance,
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


def studies_of(mean: float, luck: float, noise: float, studies: int, seeds: int, seed: int
               ) -> list[list[float]]:
    """Re-runs of an optimizer whose best configuration differs by study (its search draws, spread
    `luck`) and whose seeds spread by `noise` around it."""
    rng = np.random.default_rng(seed)
    return [list(rng.normal(mean + rng.normal(0.0, luck), noise, seeds)) for _ in range(studies)]


def test_the_study_variance_splits_search_luck_from_seed_noise() -> None:
    """Over many studies the two parts come back as made: the between-study part twice the
    luck's variance (two optimizers' draws), the within part twice the noise's."""
    parts = study_variance(studies_of(0.9, 0.02, 0.005, 400, 4, 1), studies_of(0.9, 0.02, 0.005, 400, 4, 2))
    assert parts is not None and parts.seeds == 4
    assert parts.between == pytest.approx(2 * 0.02**2, rel=0.15)
    assert parts.within == pytest.approx(2 * 0.005**2, rel=0.1)
    assert parts.search_share == pytest.approx(0.0008 / (0.0008 + 0.00005 / 4), abs=0.02)
    assert study_variance([[0.9, 0.91]], [[0.9, 0.92]]) is None  # one study: no between part
    assert study_variance([[0.9], [0.8]], [[0.9], [0.7]]) is None  # one seed: no within part


def test_more_seeds_cannot_shrink_search_luck() -> None:
    luck = study_variance(studies_of(0.9, 0.02, 0.001, 50, 3, 3), studies_of(0.9, 0.02, 0.001, 50, 3, 4))
    assert seeds_needed(4.0, luck, 3) is None  # a quarter of the variance, nearly all of it luck
    noise = study_variance(studies_of(0.9, 0.0, 0.02, 50, 3, 5), studies_of(0.9, 0.0, 0.02, 50, 3, 6))
    assert seeds_needed(4.0, noise, 3) == pytest.approx(12, abs=3)  # nearly all noise: 4x the seeds
    assert seeds_needed(4.0, None, 3) == 12  # parts not measured: seeds scaled as studies


def test_when_search_luck_dominates_the_classes_ask_for_studies_and_those_studies_tell() -> None:
    """A is better than B by half the margin and each study's search draws move both by twice the
    margin: three studies of three seeds cannot tell, no number of seeds would, and the studies the
    estimate asks for (on fresh draws) class B without contradicting the truth, mostly
    as equivalent."""
    margin, truth, luck, noise = 0.01, 0.005, 0.008, 0.002
    asked, then = [], []
    for k in range(20):
        first = classify({"a": studies_of(0.9 + truth, luck, noise, 3, 3, 10 + 2 * k),
                          "b": studies_of(0.9, luck, noise, 3, 3, 11 + 2 * k)}, "maximize", margin,
                         draws=2_000)
        other = next(s for s in first.standings.values() if s.category != BEST)
        if other.category != UNDETERMINED or other.runs_needed is None or other.runs_needed > 40:
            continue
        asked.append((other.seeds_needed, other.search_share))
        studies = math.ceil(other.runs_needed * 3)
        again = classify({"a": studies_of(0.9 + truth, luck, noise, studies, 3, 1000 + k),
                          "b": studies_of(0.9, luck, noise, studies, 3, 2000 + k)}, "maximize",
                         margin, draws=2_000)
        then.append(next(s.category for s in again.standings.values() if s.category != BEST))
    assert len(asked) >= 6, asked
    assert sum(seeds is None for seeds, _ in asked) >= len(asked) / 2, asked
    assert all(share is not None and share > 0.5 for seeds, share in asked if seeds is None), asked
    assert WORSE not in then and then.count(EQUIVALENT) >= len(then) / 2, then
