"""Does wider help: the gap between two sets of seed runs and its half-width, and whether
neighbouring widths nest, on synthetic losses."""

from __future__ import annotations

import numpy as np
import pytest

from hpsearch.statistics.nesting import gap, nesting


def seeds(mean: float, spread: float, n: int, seed: int) -> list[float]:
    return list(np.random.default_rng(seed).normal(mean, spread, n))


def test_the_gap_is_the_difference_of_means_with_welchs_half_width() -> None:
    measured = gap([1.0, 1.2, 1.1], [1.5, 1.4, 1.6])
    assert measured is not None
    assert measured.difference == pytest.approx(0.4)
    # Equal variances and sizes: Welch's freedom is 4, t(0.95, 4) = 2.132, the spread sqrt(2/3) x 0.1
    assert measured.half_width == pytest.approx(2.1318 * 0.1 * (2 / 3) ** 0.5, rel=1e-3)
    assert measured.worse
    assert gap([1.0], [1.0, 2.0]) is None  # one seed: no spread to judge by
    assert gap([1.0, float("nan"), 1.1], [1.0, 1.1]) is not None  # a diverged seed is left out


def test_wider_models_that_improve_nest_and_one_that_is_worse_does_not() -> None:
    lrs = (1e-3, 3e-3, 1e-2)
    nested = {w: {lr: seeds(3.0 - 0.1 * k + abs(np.log10(lr) + 2.5), 0.01, 3, 10 * k + i)
                  for i, lr in enumerate(lrs)} for k, w in enumerate((16, 32, 64))}
    found = nesting(nested)
    assert [(g.narrower, g.wider) for g in found] == [(16, 32)] * 3 + [(32, 64)] * 3
    assert not any(g.gap.worse for g in found)

    broken = {**nested, 64: {lr: [v + 0.3 for v in losses] for lr, losses in nested[64].items()}}
    worse = [g for g in nesting(broken) if g.gap.worse]
    assert {(g.narrower, g.wider) for g in worse} == {(32, 64)} and len(worse) == 3
    # A learning rate run with one seed on either side is not compared.
    sparse = {16: {1e-3: [3.0, 3.1]}, 32: {1e-3: [2.9]}}
    assert nesting(sparse) == ()


def test_the_report_says_in_words_where_mup_does_not_nest_or_falls_behind_sp() -> None:
    from hpsearch.report.summaries.scale_width import BestLoss, WidthReading, width_lines
    from hpsearch.statistics.nesting import Gap, WidthGap

    best = (BestLoss(16, 1e-2, (2.40, 2.41, 2.39)), BestLoss(32, 1e-2, (2.45, 2.46, 2.44)))
    above = WidthGap(16, 32, 1e-2, Gap(0.05, 0.02))
    fine = WidthGap(16, 32, 3e-2, Gap(0.01, 0.02))
    reading = WidthReading("adamw", "mup", best, (above, fine), ((16, Gap(0.0, 0.02)), (32, Gap(0.1, 0.03))))
    lines = width_lines([reading])
    assert lines[0] == "adamw mup: loss at the best lr, by width: 16 2.400, 32 2.450"
    assert ("do not nest at 1 of 2 learning rates: e.g. at lr 0.01 width 32 is 0.050 above "
            "width 16") in lines[1]
    assert "worse than the standard parametrisation's at width 32 (by 0.100" in lines[2]
    nested = WidthReading("adamw", "mup", best, (fine,), ((16, Gap(0.0, 0.02)),))
    assert "µP's widths nest" in width_lines([nested])[1]
    assert "no worse than the standard" in width_lines([nested])[2]
