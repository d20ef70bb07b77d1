"""The scenario tasks (sparse, small, image, sequence): data, models and a tiny sweep each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from hpsearch.cli import cli
from hpsearch.definition.config import load_config
from hpsearch.tasks import TASKS, get_task, scenarios

SCENARIOS = ("sparse", "small", "image", "sequence")
# task -> (rows, features, classes, a size the source names)
SHAPES = {"sparse": (3000, 3000, 4, "3,000"), "small": (569, 30, 2, "569"),
          "image": (1797, 64, 10, "1,797"), "sequence": (5000, 40, 10, "5,000")}


def test_importing_the_scenarios_imports_no_heavy_library() -> None:
    code = "import sys, hpsearch.tasks.scenarios; print(sorted(m for m in ('torch', 'sklearn', " \
           "'mnist1d', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_scenarios_are_listed_with_their_description() -> None:
    result = CliRunner().invoke(cli, ["tasks"])
    assert result.exit_code == 0, result.output
    for name in SCENARIOS:
        line = next(line for line in result.output.splitlines() if line.startswith(name + " "))
        assert get_task(name).description in line and "accuracy (maximize)" in line


@pytest.mark.parametrize("name", SCENARIOS)
def test_each_scenario_loads_split_stratified_and_fixed_by_seed(name: str) -> None:
    task = get_task(name)
    rows, features, classes, size = SHAPES[name]
    assert task.problem.kind == "classification"
    assert size in task.source and size in task.description
    data = task.load(split_seed=0)
    splits = (data.train, data.val, data.test)
    assert sum(len(s.y) for s in splits) == rows
    assert data.n_features == features and data.n_outputs == classes
    for split in splits:
        assert split.x.dtype == np.float32 and split.x.shape == (len(split.y), features)
        assert split.y.dtype == np.int64 and set(np.unique(split.y)) == set(range(classes))
        assert np.isfinite(split.x).all()
    assert len(data.test.y) == pytest.approx(0.2 * rows, abs=2)
    again, other = task.load(split_seed=0), task.load(split_seed=1)
    assert np.array_equal(again.test.x, data.test.x) and np.array_equal(again.test.y, data.test.y)
    assert not np.array_equal(other.test.x, data.test.x)


def test_sparse_features_keep_their_zeros() -> None:
    data = get_task("sparse").load()
    for split in (data.train, data.val, data.test):
        assert 0.005 < np.count_nonzero(split.x) / split.x.size < 0.02  # ~1% non-zeros
        assert split.x.min() == 0.0  # TF-IDF: no centering, so absent terms stay exactly 0
        assert np.allclose(np.linalg.norm(split.x, axis=1), 1.0, atol=1e-5)
    # Zipf: a few terms are in most documents, most terms in very few.
    document_frequency = np.count_nonzero(data.train.x, axis=0) / len(data.train.x)
    assert document_frequency.max() > 0.5 and np.median(document_frequency) < 0.01


def test_sparse_corpus_is_generated_the_same_every_time() -> None:
    counts, labels = scenarios.sparse_documents()
    fresh_counts, fresh_labels = scenarios._corpus.__wrapped__()
    assert np.array_equal(counts, fresh_counts) and np.array_equal(labels, fresh_labels)
    assert np.bincount(labels).min() > 600  # four balanced-ish topics


def test_mnist1d_is_generated_offline_deterministically_and_leaves_global_seeds_alone() -> None:
    x, y = scenarios.mnist1d()
    assert x.shape == (5000, 40) and y.shape == (5000,)
    state = np.random.get_state()
    fresh_x, fresh_y = scenarios._mnist1d.__wrapped__()
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]
    assert np.array_equal(x, fresh_x) and np.array_equal(y, fresh_y)


@pytest.mark.parametrize("name, layer", [("sparse", torch.nn.Linear), ("small", torch.nn.Linear),
                                         ("image", torch.nn.Conv2d),
                                         ("sequence", torch.nn.Conv1d)])
def test_each_model_maps_a_batch_to_one_output_per_class(name: str, layer: type) -> None:
    _, features, classes, _ = SHAPES[name]
    model = get_task(name).build_model(features, classes)
    assert any(isinstance(module, layer) for module in model.modules())
    output = model(torch.randn(7, features))
    assert output.shape == (7, classes)
    output.sum().backward()  # trainable end to end
    assert all(p.grad is not None for p in model.parameters())


def test_the_convolutional_models_refuse_inputs_they_cannot_reshape() -> None:
    with pytest.raises(ValueError, match="square images"):
        scenarios.image_cnn(60, 10)
    with pytest.raises(ValueError, match="length >= 4"):
        scenarios.sequence_cnn(3, 10)


@pytest.mark.parametrize("name", SCENARIOS)
def test_each_scenario_tunes_end_to_end(workdir: Path, name: str) -> None:
    config = load_config(name)  # the shipped study definition
    assert config.task == name and config.source == str(Path("studies") / f"{name}.toml")
    assert config.batch_size == get_task(name).batch_size

    runner = CliRunner()
    result = runner.invoke(cli, ["tune", "--task", name, "--n-trials", "3", "--epochs", "2",
                                 "--optimizers", "adam,lbfgs", "--pruner", "none"])
    assert result.exit_code == 0, result.output
    assert "best accuracy" in result.output and f"study '{name}' (3 trials" in result.output
    best = json.loads(runner.invoke(cli, ["best", "--study", name]).output)
    assert best["metric"]["name"] == "accuracy"
    assert 1.0 / SHAPES[name][2] < best["metric"]["value"] <= 1.0  # better than chance


def test_the_registry_holds_the_scenarios() -> None:
    assert set(SCENARIOS) <= set(TASKS)
