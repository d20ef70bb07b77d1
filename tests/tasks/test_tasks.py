from __future__ import annotations

import numpy as np
import pytest

from hpsearch.errors import ConfigError
from hpsearch.tasks import TASKS, get_task


def test_builtin_tasks_are_registry_entries() -> None:
    assert {"classification", "regression"} <= set(TASKS)
    assert get_task("classification").problem.direction == "maximize"
    assert get_task("regression").problem.metric == "rmse"
    with pytest.raises(ConfigError, match="unknown task 'vision'; valid choices: classification"):
        get_task("vision")


def test_digits_split_is_disjoint_stratified_and_fixed_by_seed() -> None:
    task = get_task("classification")
    data = task.load(split_seed=0)
    sizes = [len(s.y) for s in (data.train, data.val, data.test)]
    assert sum(sizes) == 1797 and data.n_features == 64 and data.n_outputs == 10
    assert sizes[1] == pytest.approx(0.2 * 1797, abs=2) and sizes[2] == pytest.approx(0.2 * 1797, abs=2)
    rows = [{r.tobytes() for r in s.x} for s in (data.train, data.val, data.test)]
    assert not (rows[0] & rows[2]) and not (rows[1] & rows[2])  # nothing of test in train/val
    for split in (data.val, data.test):
        share = np.bincount(split.y, minlength=10) / len(split.y)
        assert np.abs(share - np.bincount(data.train.y) / len(data.train.y)).max() < 0.02
    again, other = task.load(split_seed=0), task.load(split_seed=1)
    assert np.array_equal(again.test.x, data.test.x)
    assert not np.array_equal(other.test.x, data.test.x)


def test_scaling_uses_training_statistics_only() -> None:
    data = get_task("classification").load()
    informative = data.train.x.std(axis=0) > 0
    assert np.allclose(data.train.x[:, informative].mean(axis=0), 0, atol=1e-5)
    assert not np.allclose(data.val.x[:, informative].mean(axis=0), 0, atol=1e-3)


def test_regression_targets_are_standardised_with_their_units_kept() -> None:
    data = get_task("regression").load()
    assert data.train.y.mean() == pytest.approx(0, abs=1e-5)
    assert data.train.y.std() == pytest.approx(1, abs=1e-4)
    assert 50 < data.target_scale < 100  # diabetes progression spreads over ~25..346
    assert 100 < data.target_mean < 200
