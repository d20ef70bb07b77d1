"""The statistics of learning rates that transfer across width and length, on planted synthetic data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpsearch.errors import ConfigError, HpsearchError
from hpsearch.statistics.transfer import best_lr, fit_power_law, held_out_error

GRID = [10.0**e for e in np.arange(-4.0, -0.99, 0.25)]  # 13 learning rates, a quarter decade apart


def sweep(vertex: float, seeds: int = 2, noise: float = 0.002, rng_seed: int = 0
          ) -> tuple[list[float], list[float], list[int]]:
    """Runs of a loss that is a parabola in log10 lr with its minimum at `vertex`."""
    rng = np.random.default_rng(rng_seed)
    lrs, losses, ids = [], [], []
    for s in range(seeds):
        for lr in GRID:
            lrs.append(lr)
            losses.append(1.0 + 0.3 * (math.log10(lr) - vertex) ** 2 + rng.normal(0.0, noise))
            ids.append(s)
    return lrs, losses, ids


def test_best_lr_recovers_a_vertex_between_grid_points() -> None:
    truth = -2.6  # between -2.75 and -2.5
    result = best_lr(*sweep(truth))
    assert abs(result.log_lr - truth) < 0.05
    assert result.low <= truth <= result.high
    assert not result.at_edge
    assert result.lr == pytest.approx(10**result.log_lr)
    assert result.sigma >= 0.25 / 4 / math.sqrt(3) - 1e-12  # the grid-resolution floor
    assert result.lrs == pytest.approx(GRID)
    assert len(result.losses) == len(GRID)


def test_seeds_that_agree_exactly_still_give_an_uncertainty() -> None:
    result = best_lr(*sweep(-2.6, noise=0.0))
    assert result.sigma == pytest.approx(0.25 / 4 / math.sqrt(3))
    assert result.low < result.log_lr < result.high


def test_a_minimum_at_the_grid_edge_is_flagged() -> None:
    low_edge = best_lr(*sweep(-4.5))
    high_edge = best_lr(*sweep(-0.5))
    assert low_edge.at_edge and low_edge.log_lr == pytest.approx(-4.0)
    assert high_edge.at_edge and high_edge.log_lr == pytest.approx(-1.0)


def test_a_learning_rate_where_any_seed_diverged_is_left_out() -> None:
    lrs, losses, ids = sweep(-1.9)
    # Seed 1 diverges at the three largest learning rates; seed 0 does not.
    for i, (lr, s) in enumerate(zip(lrs, ids, strict=True)):
        if s == 1 and lr > 10**-1.6:
            losses[i] = math.nan if lr < 0.09 else math.inf
    result = best_lr(lrs, losses, ids)
    assert all(math.isnan(v) for v in result.losses[-3:])
    assert all(math.isfinite(v) for v in result.losses[:-3])
    assert abs(result.log_lr - -1.9) < 0.05 and not result.at_edge
    # The huge finite losses of a diverging curve would pull the vertex if they were kept.
    losses[lrs.index(GRID[-1])] = 1e6
    assert best_lr(lrs, losses, ids).log_lr == pytest.approx(result.log_lr, abs=1e-9)


def test_every_run_diverged_raises() -> None:
    lrs, _, ids = sweep(-2.0)
    with pytest.raises(HpsearchError, match="diverged") as caught:
        best_lr(lrs, [math.nan] * len(lrs), ids)
    assert "\n" not in str(caught.value)


def test_the_fit_recovers_planted_exponents() -> None:
    rng = np.random.default_rng(0)
    xs = [(2.0**w, 2.0**d) for w in range(4, 12) for d in range(7)]
    y = [0.5 - 1.0 * math.log10(w) - 0.3 * math.log10(d) + rng.normal(0.0, 0.1) for w, d in xs]
    fit = fit_power_law(xs, y)
    assert abs(fit.exponents[0] - -1.0) < 0.05
    assert abs(fit.exponents[1] - -0.3) < 0.05
    assert abs(fit.intercept - 0.5) < 3 * fit.intercept_se
    assert fit.residual_sd == pytest.approx(0.1, rel=0.2)
    assert all(0.01 < se < 0.03 for se in fit.exponent_ses)
    assert fit.student_t and math.isnan(fit.chi2_ratio)
    prediction = fit.predict((1024, 8))
    assert prediction.low < prediction.log_lr < prediction.high
    assert prediction.lr == pytest.approx(10**prediction.log_lr)
    assert prediction.lr_low < prediction.lr < prediction.lr_high


def coverage(sigmas_given: bool, replicates: int = 200) -> tuple[float, float]:
    rng = np.random.default_rng(1)
    widths = [16, 32, 64, 128, 256]
    truth = 0.5 - 1.0 * math.log10(1024)
    hits, spans = 0, []
    for _ in range(replicates):
        y = [0.5 - 1.0 * math.log10(w) + rng.normal(0.0, 0.1) for w in widths]
        fit = fit_power_law(widths, y, [0.1] * len(widths) if sigmas_given else None)
        prediction = fit.predict(1024, level=0.9)
        hits += prediction.low <= truth <= prediction.high
        spans.append(prediction.high - prediction.low)
    return hits / replicates, float(np.median(spans))


def test_a_90_percent_interval_covers_the_true_best_lr_at_a_larger_width() -> None:
    covered, median_width = coverage(sigmas_given=True)
    assert 0.85 <= covered <= 0.97
    assert median_width < 0.5


def test_intervals_from_the_residuals_alone_also_cover() -> None:
    covered, _ = coverage(sigmas_given=False)
    assert 0.83 <= covered <= 0.96


def test_known_sigmas_are_inflated_when_the_fit_is_worse_than_they_say() -> None:
    widths = [16, 32, 64, 128, 256]
    y = [-1.2, -1.9, -1.6, -2.6, -2.2]
    tight = fit_power_law(widths, y, [0.01] * 5)
    assert tight.chi2_ratio > 1
    assert tight.exponent_ses[0] == pytest.approx(fit_power_law(widths, y).exponent_ses[0])


def test_held_out_error_holds_out_the_largest_width_only() -> None:
    rng = np.random.default_rng(2)
    xs = [(w, d) for w in (16, 32, 64, 128, 256) for d in (1, 4)]
    y = [0.5 - math.log10(w) - 0.3 * math.log10(d) + rng.normal(0.0, 0.02) for w, d in xs]
    offset = 0.4
    y = [v + offset if w == 256 else v for v, (w, _) in zip(y, xs, strict=True)]
    result = held_out_error(xs, y)
    assert result.width == 256
    assert result.points == ((256.0, 1.0), (256.0, 4.0))
    by_hand = fit_power_law(xs[:8], y[:8])
    expected = [by_hand.predict(p).log_lr - v for p, v in zip(xs[8:], y[8:], strict=True)]
    assert result.errors == pytest.approx(expected, abs=1e-12)
    assert result.errors == pytest.approx([-offset, -offset], abs=0.1)
    assert result.mean_abs_error == pytest.approx(offset, abs=0.1)


def test_held_out_error_needs_three_smaller_widths() -> None:
    with pytest.raises(ConfigError, match=r"3 widths besides the largest \(256\), got 2") as caught:
        held_out_error([64, 128, 256, 256], [-2.0, -2.3, -2.6, -2.6])
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: best_lr([1e-3, 1e-2], [1.0], [0, 0]), "lengths differ: lrs has 2, losses has 1, seeds has 2"),
    (lambda: best_lr([1e-3, -1e-2, 1e-1], [1.0] * 3, [0] * 3), "lrs must be positive, got -0.01"),
    (lambda: best_lr([1e-3, 1e-2], [1.0, 2.0], [0, 0]), "at least 3 learning rates, got 2"),
    (lambda: best_lr([1e-3, 1e-3, 1e-2, 1e-1], [1.0] * 4, [0] * 4), "two runs at lr=0.001 with seed 0"),
    (lambda: best_lr(GRID[:3], [1.0] * 3, [0] * 3, draws=0), "draws must be at least 1, got 0"),
    (lambda: fit_power_law([16, 32], [-1.0, -1.3]), "needs at least 3 points, got 2"),
    (lambda: fit_power_law([16, 0, 64], [-1.0, -1.3, -1.6]), "scale variables must be positive, got 0"),
    (lambda: fit_power_law([16, 32, 64], [-1.0, math.nan, -1.6]), "log_lrs must be finite, got nan"),
    (lambda: fit_power_law([16, 32, 64], [-1, -1.3, -1.6], [0.1, 0, 0.1]), "sigmas must be positive, got 0"),
    (lambda: fit_power_law([16, 32, 64], [-1.0, -1.3]), "lengths differ: xs has 3, log_lrs has 2$"),
    (lambda: held_out_error([16, 32, 64, 128], [-1.0] * 4, [0.1]), "log_lrs has 4, sigmas has 1"),
    (lambda: fit_power_law([(16, 1), 32, 64, 128], [-1.0] * 4), "same number"),
    (lambda: fit_power_law([(16, 1), (32, 1), (64, 1), (128, 1)], [-1.0] * 4), "constant or moves"),
    (lambda: fit_power_law([16, 32, 64], [-1.0, -1.3, -1.6]).predict((1024, 8)), "1 scale variable"),
    (lambda: fit_power_law([16, 32, 64], [-1.0, -1.3, -1.6]).predict(1024, level=1.0), "level must lie"),
])
def test_bad_input_gives_a_one_line_error(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        call()
    assert "\n" not in str(caught.value)
