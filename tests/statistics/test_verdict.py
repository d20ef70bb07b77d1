from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest
import scipy.stats

from hpsearch.statistics.basic import (
    TIE_PROBABILITY,
    WIN_PROBABILITY,
    expected_best,
    lr_window,
    mean_interval,
    performance_profile,
    probability_best,
    profile_gaps,
    verdict,
)

JITTER = [-0.002, -0.001, 0.0, 0.001, 0.002]


def around(centre: float, jitter: list[float] = JITTER) -> list[float]:
    return [centre + j for j in jitter]


# --- verdict and probability_best -------------------------------------------------------------


def test_clear_winner_is_declared_when_maximizing() -> None:
    runs = {"B": around(0.80), "A": around(0.95), "C": around(0.80, JITTER[::-1])}
    result = verdict(runs, "maximize")
    assert result.winner == "A"
    assert result.tied == ()
    assert result.probabilities["A"] >= WIN_PROBABILITY
    assert result.text.startswith("A is best")
    assert "over 5 seeds" in result.text


def test_clear_winner_is_declared_when_minimizing() -> None:
    runs = {"A": around(0.05), "B": around(0.20), "C": around(0.21)}
    result = verdict(runs, "minimize")
    assert result.winner == "A"
    assert result.probabilities["A"] >= WIN_PROBABILITY
    assert "A is best" in result.text
    # The same runs, maximized, crown the other end.
    assert verdict(runs, "maximize").winner == "C"


def test_equal_optimizers_tie_and_the_clearly_worse_one_is_left_out() -> None:
    a = [0.90, 0.91, 0.92, 0.93, 0.94]
    runs = {"C": around(0.70), "A": a, "B": a[::-1]}
    result = verdict(runs, "maximize")
    assert result.winner is None
    assert set(result.tied) == {"A", "B"}
    assert "C" not in result.tied
    assert result.probabilities["C"] == 0.0
    assert list(result.probabilities) == ["C", "A", "B"]
    assert sum(result.probabilities.values()) == pytest.approx(1.0)
    assert result.probabilities[result.tied[0]] >= result.probabilities[result.tied[1]]
    assert all(result.probabilities[name] >= TIE_PROBABILITY for name in result.tied)
    assert result.text.startswith("tie between ")
    assert "A" in result.text and "B" in result.text and "C" not in result.text


def test_three_way_tie_text_lists_names_and_probabilities() -> None:
    runs = {"adam": [0.5] * 5, "nadam": [0.5] * 5, "adamw": [0.5] * 5}
    result = verdict(runs, "maximize")
    assert result.tied == ("adam", "nadam", "adamw")
    assert result.text == "tie between adam, nadam and adamw (P(best) 0.33, 0.33, 0.33 over 5 seeds)"


def test_probability_best_splits_exact_ties_equally() -> None:
    p = probability_best({"A": [0.7] * 5, "B": [0.7] * 5, "C": [0.6] * 5}, "maximize")
    assert p == {"A": 0.5, "B": 0.5, "C": 0.0}


def test_probability_best_splits_ties_within_a_draw() -> None:
    # A's resampled mean is 0 (1/4), 0.5 (1/2, a tie with B) or 1 (1/4): split ties give A 1/2;
    # crediting a tie to both or to the first would give a sum above 1 or A 3/4.
    p = probability_best({"A": [0.0, 1.0], "B": [0.5]}, "maximize", draws=20_000)
    assert p["A"] == pytest.approx(0.5, abs=0.015)
    assert sum(p.values()) == pytest.approx(1.0)


def test_probability_best_matches_the_binomial_answer() -> None:
    # A's mean beats 0.5 when at least 2 of its 3 resampled runs are 1s: 20/27.
    p = probability_best({"A": [0.0, 1.0, 1.0], "B": [0.5]}, "maximize")
    assert p["A"] == pytest.approx(20 / 27, abs=0.015)
    assert p["B"] == pytest.approx(7 / 27, abs=0.015)
    minimized = probability_best({"A": [0.0, 1.0, 1.0], "B": [0.5]}, "minimize")
    assert minimized["A"] == pytest.approx(7 / 27, abs=0.015)


def test_a_diverged_seed_counts_as_the_worst_value() -> None:
    # A wins exactly when its resample of 5 misses the nan run: (4/5)^5.
    p = probability_best({"A": [0.95] * 4 + [math.nan], "B": [0.80] * 5}, "maximize")
    assert p["A"] == pytest.approx(0.8**5, abs=0.015)


def test_probability_best_is_deterministic_for_a_seed() -> None:
    a = [0.90, 0.91, 0.92, 0.93, 0.94]
    runs = {"A": a, "B": a[::-1], "C": [0.915, 0.925, 0.92]}
    assert probability_best(runs, "maximize", seed=3) == probability_best(runs, "maximize", seed=3)
    assert probability_best(runs, "maximize", seed=3) != probability_best(runs, "maximize", seed=4)


def test_optimizers_without_runs_are_left_out() -> None:
    runs = {"A": around(0.95), "empty": [], "B": around(0.80)}
    assert probability_best(runs, "maximize")["empty"] == 0.0
    result = verdict(runs, "maximize")
    assert result.winner == "A"
    assert "empty" not in result.probabilities


def test_a_lone_optimizer_wins_without_competitor() -> None:
    result = verdict({"A": around(0.5), "B": []}, "maximize")
    assert result.winner == "A"
    assert result.probabilities == {"A": 1.0}
    assert "no competitor" in result.text


def test_no_runs_at_all_is_an_error() -> None:
    with pytest.raises(ValueError):
        verdict({"A": []}, "maximize")


@pytest.mark.parametrize("call", [
    lambda: verdict({"A": [1.0]}, "maximise"),
    lambda: probability_best({"A": [1.0]}, "maximise"),
    lambda: expected_best([1.0], 2, "maximise"),
    lambda: profile_gaps({"t": {"A": 1.0}}, {"t": "maximise"}),
    lambda: lr_window([0.1, 0.2], [1.0, 2.0], "maximise"),
])
def test_a_bad_direction_names_itself_and_the_choices(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match=r"'maximise'.*maximize, minimize"):
        call()


# --- mean_interval ------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [0.95, 0.9])
def test_mean_interval_is_the_student_t_interval(level: float) -> None:
    values = [1.0, 2.0, 4.0, 7.0]
    low, high = scipy.stats.t.interval(level, df=3, loc=np.mean(values), scale=scipy.stats.sem(values))
    interval = mean_interval(values, level)
    assert interval.mean == pytest.approx(3.5)
    assert interval.low == pytest.approx(low)
    assert interval.high == pytest.approx(high)
    assert interval.n == 4


def test_mean_interval_of_one_value_has_no_bounds() -> None:
    interval = mean_interval([0.3])
    assert interval.mean == 0.3 and interval.n == 1
    assert math.isnan(interval.low) and math.isnan(interval.high)
    with pytest.raises(ValueError):
        mean_interval([])


# --- expected_best ------------------------------------------------------------------------------


def test_expected_best_by_hand() -> None:
    # k = 2 from [1, 2, 3]: the max is 1, 2, 3 with probability 1/9, 3/9, 5/9.
    means, stds = expected_best([3.0, 1.0, 2.0], 2, "maximize")
    assert means == pytest.approx([2.0, 22 / 9])
    second_moment = (1 * 1 + 4 * 3 + 9 * 5) / 9
    assert stds == pytest.approx([math.sqrt(2 / 3), math.sqrt(second_moment - (22 / 9) ** 2)])
    # The min is 1, 2, 3 with probability 5/9, 3/9, 1/9.
    means, _ = expected_best([3.0, 1.0, 2.0], 2, "minimize")
    assert means == pytest.approx([2.0, 14 / 9])


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_expected_best_matches_brute_force_enumeration(direction: str) -> None:
    values = [0.3, -1.2, 2.5, 0.3]  # unsorted, with a repeat
    pick = max if direction == "maximize" else min
    means, stds = expected_best(values, 3, direction)
    for k in (1, 2, 3):
        bests = [pick(draw) for draw in itertools.product(values, repeat=k)]
        assert means[k - 1] == pytest.approx(np.mean(bests))
        assert stds[k - 1] == pytest.approx(np.std(bests))


def test_expected_best_climbs_to_the_max() -> None:
    values = np.random.default_rng(1).normal(size=20)
    means, stds = expected_best(values.tolist(), 300, "maximize")
    assert len(means) == len(stds) == 300
    assert np.all(np.diff(means) >= -1e-12)
    assert means[0] == pytest.approx(values.mean())
    assert means[-1] == pytest.approx(values.max(), abs=1e-3)
    assert stds[-1] < 1e-2
    lows, _ = expected_best(values.tolist(), 300, "minimize")
    assert np.all(np.diff(lows) <= 1e-12)
    assert lows[-1] == pytest.approx(values.min(), abs=1e-3)


def test_expected_best_ignores_non_finite_values() -> None:
    means, _ = expected_best([1.0, math.nan, 2.0, 3.0, math.inf], 2, "maximize")
    assert means == pytest.approx([2.0, 22 / 9])


# --- performance profile ------------------------------------------------------------------------

SCORES = {
    # minimize; C has no score. spread = std(0.25, 0.75) = 0.25: gaps B 0, A 0.5 / 0.25 = 2.
    "t2": {"B": 0.25, "A": 0.75},
    # maximize. mean 2, spread sqrt((4 + 0 + 4) / 3): gaps A 0, B 2 / spread, C 4 / spread.
    "t1": {"A": 4.0, "B": 2.0, "C": 0.0},
    # all equal: spread 0, every gap 0.
    "t3": {"A": 0.7, "B": 0.7, "C": 0.7},
}
DIRECTIONS = {"t1": "maximize", "t2": "minimize", "t3": "maximize"}
SPREAD_T1 = math.sqrt(8 / 3)


def test_profile_gaps_by_hand() -> None:
    gaps = profile_gaps(SCORES, DIRECTIONS)
    assert gaps["t2"] == {"B": 0.0, "A": 2.0}
    assert gaps["t1"] == pytest.approx({"A": 0.0, "B": 2 / SPREAD_T1, "C": 4 / SPREAD_T1})
    assert gaps["t3"] == {"A": 0.0, "B": 0.0, "C": 0.0}


def test_performance_profile_by_hand() -> None:
    # Gaps: A (2, 0, 0); B (0, 1.22, 0); C (none, 2.45, 0). A missing task never counts.
    profile = performance_profile(SCORES, DIRECTIONS, [0.0, 1.0, 1.5, 2.0, 3.0])
    assert list(profile) == ["B", "A", "C"]
    assert profile["A"] == pytest.approx([2 / 3, 2 / 3, 2 / 3, 1.0, 1.0])
    assert profile["B"] == pytest.approx([2 / 3, 2 / 3, 1.0, 1.0, 1.0])
    assert profile["C"] == pytest.approx([1 / 3, 1 / 3, 1 / 3, 1 / 3, 2 / 3])


def test_a_non_finite_score_counts_as_missing() -> None:
    gaps = profile_gaps({"t": {"A": 1.0, "B": math.nan, "C": 3.0}}, {"t": "maximize"})
    assert gaps == {"t": {"A": 2.0, "C": 0.0}}


def test_a_task_without_direction_is_an_error() -> None:
    with pytest.raises(ValueError, match="t1"):
        profile_gaps(SCORES, {"t2": "minimize", "t3": "maximize"})


# --- lr_window ----------------------------------------------------------------------------------

LRS = [1e-4, 1e-3, 1e-2, 1e-1, 1e0]


def test_lr_window_spans_the_near_best_learning_rates() -> None:
    # best 0.9, worst 0.1: within 0.08 of the best are 1e-2 and 1e-1.
    values = [0.1, 0.5, 0.9, 0.88, 0.2]
    assert lr_window(LRS, values, "maximize") == pytest.approx(1.0)
    # within 0.4 of the best: 1e-3 to 1e-1.
    assert lr_window(LRS, values, "maximize", within=0.5) == pytest.approx(2.0)
    losses = [2.0, 1.0, 0.1, 0.12, 1.5]
    assert lr_window(LRS, losses, "minimize") == pytest.approx(1.0)


def test_lr_window_ignores_non_finite_values() -> None:
    # Were inf counted it would be the lone best and the window 0.
    assert lr_window([1e-6, *LRS, 1e1], [math.inf, 0.1, 0.5, 0.9, 0.88, 0.2, math.nan],
                     "maximize") == pytest.approx(1.0)


def test_lr_window_is_zero_without_a_window() -> None:
    assert lr_window(LRS[:3], [0.1, 0.2, 0.9], "maximize") == 0.0  # one trial qualifies
    assert lr_window(LRS[:2], [0.1, math.nan], "maximize") == 0.0  # one finite trial
    assert lr_window([], [], "maximize") == 0.0


def test_two_seeds_that_never_overlap_are_still_a_tie_when_their_spread_is_wide() -> None:
    # The bootstrap gives A P(best) 1.00 (its two runs both beat both of B's), but B's mean lies
    # well inside A's 95% t interval: the lead is within the noise.
    runs = {"A": [0.90, 0.70], "B": [0.68, 0.66]}
    result = verdict(runs, "maximize")
    assert result.probabilities["A"] == 1.0
    assert result.winner is None and result.tied == ("A", "B")
    # The same lead with tight seeds is a win.
    tight = verdict({"A": [0.900, 0.901, 0.899], "B": [0.68, 0.66, 0.67]}, "maximize")
    assert tight.winner == "A"
