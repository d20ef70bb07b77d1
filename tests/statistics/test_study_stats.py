"""Judging optimizers across repeated studies, on small synthetic numbers with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpsearch.statistics.basic import TIE_PROBABILITY, WIN_PROBABILITY, probability_best
from hpsearch.statistics.verdicts import (
    improvement_matrix,
    probability_of_improvement,
    reference_target,
    time_profile,
    time_to_target,
    two_level_verdict,
)

JITTER = [-0.002, -0.001, 0.0, 0.001, 0.002]


def around(centre: float) -> list[float]:
    return [centre + j for j in JITTER]


# --- two_level_verdict -------------------------------------------------------------------------


def test_a_winner_in_every_study_is_named() -> None:
    runs = {"sgd": [around(0.80), around(0.83), around(0.78)],
            "adam": [around(0.90), around(0.93), around(0.88)],
            "lion": [around(0.70), around(0.72), around(0.69)]}
    result = two_level_verdict(runs, "maximize")
    assert result.winner == "adam"
    assert result.tied == ()
    assert result.probabilities["adam"] >= WIN_PROBABILITY
    assert result.wins == {"sgd": 0, "adam": 3, "lion": 0}
    assert result.best_in == (frozenset({"adam"}),) * 3
    assert result.ranks == {"sgd": (2.0, 2.0, 2.0), "adam": (1.0, 1.0, 1.0), "lion": (3.0, 3.0, 3.0)}
    assert result.medians["adam"] == pytest.approx(0.90)
    low, high = result.intervals["adam"]
    assert low <= 0.90 <= high and high < 0.94
    assert result.text == "adam is best (P(best) 1.00; best in 3 of 3 studies, 5 seeds each)"
    # Minimizing the same numbers crowns the other end.
    assert two_level_verdict(runs, "minimize").winner == "lion"


def test_a_winner_in_one_study_only_is_not_named() -> None:
    # "a" is best by far in study 0 (so its pooled mean leads) and third in the other two, where b
    # and c trade first place by a hair.
    runs = {"a": [around(100.0), around(1.0), around(1.0)],
            "b": [around(10.0), around(10.0), around(10.1)],
            "c": [around(9.0), around(10.1), around(10.0)]}
    assert np.mean(sum(runs["a"], [])) > np.mean(sum(runs["b"], [])) > np.mean(sum(runs["c"], []))
    result = two_level_verdict(runs, "maximize")
    assert result.winner is None
    assert result.wins == {"a": 1, "b": 1, "c": 1}
    assert result.ranks["a"] == (1.0, 3.0, 3.0)
    assert result.medians == pytest.approx({"a": 1.0, "b": 10.0, "c": 10.0})
    assert {"b", "c"} <= set(result.tied)
    assert list(result.tied) == sorted(result.tied, key=lambda n: -result.probabilities[n])
    assert all(result.probabilities[n] >= TIE_PROBABILITY for n in result.tied)
    assert result.text.startswith("tie between ") and result.text.endswith("over 3 studies)")


def test_best_in_more_than_half_is_needed_even_with_a_high_p_best() -> None:
    # "a" is best in studies 0-2 and a close second in 3-5, each won by a different optimizer that
    # is poor elsewhere: a's median is best in nearly every draw, but 3 of 6 is not more than half.
    def others(won: int, studies: int) -> list[list[float]]:
        return [around(5.0 if r == won else 1.0) for r in range(studies)]

    runs = {"a": [around(5.0)] * 3 + [around(4.9)] * 3,
            "b": others(3, 6), "c": others(4, 6), "d": others(5, 6)}
    result = two_level_verdict(runs, "maximize")
    assert result.wins == {"a": 3, "b": 1, "c": 1, "d": 1}
    assert result.probabilities["a"] >= WIN_PROBABILITY
    assert result.winner is None
    assert result.tied == ("a",)
    assert result.text.startswith("no clear winner: a leads (P(best) 0.9")
    # A seventh study that a wins makes it best in 4 of 7: now it is named.
    runs = {name: studies + [around(5.0 if name == "a" else 1.0)] for name, studies in runs.items()}
    assert two_level_verdict(runs, "maximize").winner == "a"


def test_the_study_to_study_spread_widens_the_interval() -> None:
    rng = np.random.default_rng(1)
    noise = rng.normal(0.0, 0.01, size=(8, 5))  # the same within-study noise in both cases
    offsets = np.linspace(-1.0, 1.0, 8)

    def width(spread: float) -> float:
        runs = {"a": [(0.5 + spread * offsets[r] + noise[r]).tolist() for r in range(8)]}
        low, high = two_level_verdict(runs, "maximize").intervals["a"]
        return high - low

    narrow, wide = width(0.01), width(0.2)
    assert narrow < 0.05 < 0.1 < wide


def test_the_studies_drawn_are_shared_between_optimizers() -> None:
    # Studies differ by a lot, and in each one "a" beats "b" by 1: resampling the same studies for
    # both keeps a ahead in every draw; drawing them independently would not.
    offsets = [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
    runs = {"a": [around(o + 1.0) for o in offsets], "b": [around(o) for o in offsets]}
    result = two_level_verdict(runs, "maximize")
    assert result.probabilities == {"a": 1.0, "b": 0.0}
    assert result.winner == "a"


def test_one_study_reduces_to_being_best_in_it() -> None:
    result = two_level_verdict({"a": [around(0.9)], "b": [around(0.5)]}, "maximize")
    assert result.winner == "a"
    assert result.studies == 1
    assert result.text == "a is best (P(best) 1.00; best in 1 of 1 study, 5 seeds each)"
    same = two_level_verdict({"a": [around(0.9)], "b": [around(0.9)[::-1]]}, "maximize")
    assert same.winner is None
    assert same.best_in == (frozenset({"a", "b"}),)
    assert same.ranks == {"a": (1.5,), "b": (1.5,)}
    assert same.tied == ("a", "b")


def test_one_study_resamples_its_seeds_as_probability_best_does() -> None:
    # Overlapping seeds with a lead of 0.1 in the mean: the seed noise must keep this a tie.
    runs = {"a": [1.0, 2.0, 3.0, 4.0, 5.5], "b": [1.0, 2.0, 3.0, 4.0, 5.0]}
    result = two_level_verdict({name: [values] for name, values in runs.items()}, "maximize")
    flat = probability_best(runs, "maximize")
    assert 0.5 < result.probabilities["a"] < 0.7
    assert result.probabilities == pytest.approx(flat, abs=0.03)
    assert result.winner is None and result.tied == ("a", "b")


def test_a_missing_study_is_skipped_and_a_diverged_run_is_the_worst() -> None:
    runs: dict[str, list[list[float]]] = {"a": [around(0.9), [], around(0.9)],
                                          "b": [around(0.5), around(0.5), [0.5, math.nan]],
                                          "empty": [[], [], []]}
    result = two_level_verdict(runs, "maximize")
    assert set(result.probabilities) == {"a", "b"}  # no re-runs at all: left out
    assert math.isnan(result.ranks["a"][1])
    assert result.best_in == (frozenset({"a"}), frozenset({"b"}), frozenset({"a"}))
    assert result.medians["a"] == pytest.approx(0.9)
    assert result.medians["b"] == pytest.approx(0.5)  # median of 0.5, 0.5 and -inf
    # Study 2 drawn twice or more (7 draws in 27) puts b's median at the worst, either way round.
    assert result.intervals["b"][0] == -math.inf
    assert two_level_verdict(runs, "minimize").intervals["b"][1] == math.inf
    assert result.winner == "a"


def test_the_verdict_is_deterministic_for_a_seed() -> None:
    runs = {"a": [around(0.5), around(0.52)], "b": [around(0.51), around(0.5)]}
    first, again = two_level_verdict(runs, "maximize", seed=3), two_level_verdict(runs, "maximize", seed=3)
    assert first == again


# --- probability of improvement ----------------------------------------------------------------


def test_probability_of_improvement_matches_the_closed_form() -> None:
    # (1,2) x2 -> 0, (2,2) x2 -> 0.5 each, (3,2) x2 -> 1 each: 3 / 6.
    assert probability_of_improvement([1, 2, 3], [2, 2], "maximize") == 0.5
    # (1,2) x2 -> 0, (2,2) x2 -> 0.5, (3,2) x4 -> 1: 5 / 8, and minimizing flips it to 3 / 8.
    assert probability_of_improvement([1, 2, 3, 3], [2, 2], "maximize") == 5 / 8
    assert probability_of_improvement([1, 2, 3, 3], [2, 2], "minimize") == 3 / 8
    assert probability_of_improvement([2, 2], [1, 2, 3, 3], "maximize") == 3 / 8


def test_a_non_finite_run_is_the_worst_and_two_are_equal() -> None:
    assert probability_of_improvement([math.nan, 1.0], [0.0], "maximize") == 0.5
    assert probability_of_improvement([math.inf], [0.0], "maximize") == 0.0  # diverged, not great
    assert probability_of_improvement([-math.inf], [0.0], "minimize") == 0.0
    assert probability_of_improvement([math.inf], [math.nan], "minimize") == 0.5


def test_pooling_across_studies_equals_flattening() -> None:
    nested_a, nested_b = [[1.0, 2.0], [], [3.0, 0.5]], [[2.0], [1.5, 2.5]]
    flat = probability_of_improvement([1.0, 2.0, 3.0, 0.5], [2.0, 1.5, 2.5], "maximize")
    assert probability_of_improvement(nested_a, nested_b, "maximize") == flat == 4.5 / 12


def test_the_improvement_matrix_covers_every_ordered_pair() -> None:
    runs: dict[str, list[list[float]]] = {"a": [[1.0, 2.0], [3.0]], "b": [[2.0], [2.0]], "c": [[0.0], [0.0]],
                                          "none": [[], []]}
    matrix = improvement_matrix(runs, "maximize")
    assert set(matrix) == {(x, y) for x in "abc" for y in "abc" if x != y}
    assert matrix[("a", "b")] == 0.5
    assert matrix[("a", "c")] == 1.0 and matrix[("c", "a")] == 0.0
    assert all(matrix[(x, y)] + matrix[(y, x)] == 1.0 for x, y in matrix)


# --- time to target and its profile ------------------------------------------------------------


def curve(reach: float | None, last: float = 1000.0) -> list[tuple[float, float]]:
    """An accuracy curve every 100 steps up to `last`: 0.5, then 0.9 from step `reach` on."""
    return [(s, 0.9 if reach is not None and s >= reach else 0.5) for s in np.arange(100.0, last + 1, 100.0)]


def test_time_to_target_takes_the_median_over_runs_and_caps_the_ratio() -> None:
    curves = {"fast": [curve(100), curve(200), curve(300)],
              "slow": [curve(1000, 2000), curve(1000, 2000), curve(None, 2000)],  # 5x the fastest
              "mostly_never": [curve(100), curve(None), curve(None)],
              "never": [curve(None)]}
    result = time_to_target(curves, 0.9, "maximize")
    assert result.run_steps["fast"] == (100.0, 200.0, 300.0)
    assert result.run_steps["slow"] == (1000.0, 1000.0, math.inf)
    assert result.times == {"fast": 200.0, "slow": 1000.0, "mostly_never": math.inf, "never": math.inf}
    assert result.fastest == 200.0
    assert result.ratios == {"fast": 1.0, "slow": 5.0, "mostly_never": math.inf, "never": math.inf}
    assert result.reached == {"fast": True, "slow": False, "mostly_never": False, "never": False}
    assert time_to_target(curves, 0.9, "maximize", cap_ratio=6.0).reached["slow"] is True


def test_time_to_target_is_where_half_the_runs_got_there_with_an_even_count() -> None:
    # Two of four runs reach the target (as a reference's own median final value makes it): the time
    # is the later of those two, not the average of a finite step and infinity.
    result = time_to_target({"a": [curve(300), curve(None), curve(100), curve(None)]}, 0.9, "maximize")
    assert result.times == {"a": 300.0}
    assert time_to_target({"a": [curve(300), curve(None)] * 2 + [curve(None)]}, 0.9,
                          "maximize").times == {"a": math.inf}  # two of five: fewer than half


def test_time_to_target_respects_the_direction_and_skips_non_finite_points() -> None:
    losses = {"a": [[(1.0, 2.0), (2.0, math.nan), (3.0, 0.5), (4.0, 0.1)]], "b": [[(1.0, 0.3)]]}
    result = time_to_target(losses, 0.5, "minimize")  # at least as good: 0.5 itself counts
    assert result.times == {"a": 3.0, "b": 1.0}
    assert result.ratios == {"a": 3.0, "b": 1.0}
    assert time_to_target(losses, 0.5, "maximize").times == {"a": 1.0, "b": math.inf}


def test_the_reference_target_is_the_median_of_its_finals() -> None:
    assert reference_target([0.7, 0.9, 0.8], "maximize") == 0.8
    assert reference_target([[0.7, 0.9], [0.8, 0.6]], "maximize") == pytest.approx(0.75)
    # A diverged final is the worst: for a loss it counts as higher than any other.
    assert reference_target([0.3, math.nan, 0.1], "minimize") == 0.3
    with pytest.raises(ValueError, match="inf"):
        reference_target([0.3, math.nan, math.nan], "minimize")


def test_time_profile_on_two_tasks() -> None:
    times = {"t1": {"a": 100.0, "b": 150.0, "c": math.inf},
             "t2": {"a": 500.0, "b": 100.0, "c": 200.0}}  # a is 5x the fastest on t2: not reached
    profile = time_profile(times, [1.0, 1.5, 2.0, 6.0])
    assert profile == {"a": [0.5, 0.5, 0.5, 0.5], "b": [0.5, 1.0, 1.0, 1.0], "c": [0.0, 0.0, 0.5, 0.5]}
    assert time_profile(times, [6.0], cap_ratio=6.0)["a"] == [1.0]
    # An optimizer absent from a task never counts as within on it.
    assert time_profile({"t1": {"a": 1.0}, "t2": {"a": 1.0, "b": 1.0}}, [1.0]) == {"a": [1.0], "b": [0.5]}


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("call, bad", [
    (lambda: two_level_verdict({"a": [[1.0]]}, "maximise"), "maximise"),
    (lambda: two_level_verdict({}, "maximize"), "runs is empty"),
    (lambda: two_level_verdict({"a": [[]]}, "maximize"), "no optimizer"),
    (lambda: two_level_verdict({"a": []}, "maximize"), "0 studies"),
    (lambda: two_level_verdict({"a": [[1.0]], "b": [[1.0], [2.0]]}, "maximize"), "b has 2"),
    (lambda: two_level_verdict({"a": [[1.0]]}, "maximize", draws=0), "got 0"),
    (lambda: two_level_verdict({"a": [[1.0]]}, "maximize", level=1.5), "1.5"),
    (lambda: probability_of_improvement([1.0], [1.0], "up"), "up"),
    (lambda: probability_of_improvement([[], []], [1.0], "maximize"), "a_runs"),
    (lambda: improvement_matrix({}, "maximize"), "runs is empty"),
    (lambda: reference_target([], "maximize"), "reference_final_values"),
    (lambda: time_to_target({"a": [curve(100)]}, 0.9, "maximize", cap_ratio=0.5), "0.5"),
    (lambda: time_to_target({"a": [curve(100)]}, math.nan, "maximize"), "nan"),
    (lambda: time_to_target({"a": []}, 0.9, "maximize"), "'a'"),
    (lambda: time_to_target({}, 0.9, "maximize"), "curves is empty"),
    (lambda: time_to_target({"a": [curve(100)]}, 0.9, "sideways"), "sideways"),
    (lambda: time_profile({"t": {"a": 1.0}}, [1.0, 0.5]), "0.5"),
    (lambda: time_profile({"t": {"a": 1.0}}, [1.0], cap_ratio=0.9), "0.9"),
    (lambda: time_profile({}, [1.0]), "times is empty"),
    (lambda: time_profile({"t": {"a": -3.0}}, [1.0]), "-3.0"),
])
def test_bad_input_is_refused_naming_the_value(call: object, bad: str) -> None:
    with pytest.raises(ValueError, match=bad.replace("(", r"\(").replace(".", r"\.")) as caught:
        call()  # type: ignore[operator]
    assert "\n" not in str(caught.value)
