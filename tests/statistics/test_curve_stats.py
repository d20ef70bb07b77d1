"""The statistics of loss-curve speed-ups (the data-equivalent speed-up over a baseline), on a
planted synthetic curve."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpsearch.errors import ConfigError, HpsearchError
from hpsearch.statistics.curves import (
    LossCurve,
    data_equivalent_speedup,
    saturating_power_law,
    speedup_interval,
)

PLANTED = LossCurve(a=20.0, b=0.35, c=2.5)
LENGTHS = [1000.0 * 2**k for k in range(6)]


def planted_loss(length: float) -> float:
    return PLANTED.a * length**-PLANTED.b + PLANTED.c


def test_the_saturating_power_law_gives_the_planted_speedup() -> None:
    rng = np.random.default_rng(3)
    curve = saturating_power_law(LENGTHS, [planted_loss(d) + rng.normal(0.0, 1e-4) for d in LENGTHS])
    assert curve.b == pytest.approx(PLANTED.b, abs=0.05)
    assert curve.c == pytest.approx(PLANTED.c, abs=0.05)
    assert data_equivalent_speedup(curve, planted_loss(8000.0), 4000.0) == pytest.approx(2.0, rel=0.05)
    worse = data_equivalent_speedup(curve, planted_loss(2000.0), 4000.0)
    assert worse == pytest.approx(0.5, rel=0.05)
    assert data_equivalent_speedup(curve, curve.c - 0.01, 4000.0) == math.inf


def test_fewer_than_four_lengths_are_not_estimated() -> None:
    with pytest.raises(ConfigError, match="not estimated: needs 4 lengths, got 3"):
        saturating_power_law([1e3, 2e3, 4e3, 4e3], [3.0, 2.9, 2.8, 2.81])
    with pytest.raises(ConfigError, match="not estimated: needs 4 lengths, got 3"):
        speedup_interval({1e3: [3.0], 2e3: [2.9], 4e3: [2.8]}, [2.8], 1e3)


def test_a_loss_that_does_not_fall_with_length_has_no_curve() -> None:
    with pytest.raises(HpsearchError, match="does not fall"):
        saturating_power_law(LENGTHS, [3.0, 3.1, 3.2, 3.3, 3.4, 3.5])


def test_the_speedup_interval_brackets_the_planted_ratio() -> None:
    # Eight seeds: with three, a percentile bootstrap is too narrow (it covers about two times in three).
    rng = np.random.default_rng(4)
    baseline = {d: [planted_loss(d) + rng.normal(0.0, 0.003) for _ in range(8)] for d in LENGTHS}
    other = [planted_loss(8000.0) + rng.normal(0.0, 0.003) for _ in range(8)]
    median, low, high = speedup_interval(baseline, other, 4000.0, draws=200, seed=5)
    assert low < median < high
    assert low <= 2.0 <= high
    assert median == pytest.approx(2.0, rel=0.1)
    assert speedup_interval(baseline, other, 4000.0, draws=200, seed=5) == (median, low, high)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: saturating_power_law(LENGTHS, [3.0] * 5), "lengths differ: lengths has 6, losses has 5"),
    (lambda: data_equivalent_speedup(PLANTED, 3.0, 0.0), "length positive, got loss=3.0, length=0.0"),
    (lambda: speedup_interval({d: [3.0] for d in LENGTHS}, [], 1e3), "other losses must be a non-empty"),
    (lambda: speedup_interval({d: [3.0] for d in LENGTHS}, [3.0], -1.0), "got draws=1000, length=-1.0"),
])
def test_bad_input_gives_a_one_line_error(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        call()
    assert "\n" not in str(caught.value)
