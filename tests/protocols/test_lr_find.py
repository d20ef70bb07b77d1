"""The learning-rate range test: its schedule and smoothing, its suggestion on a problem whose stable
learning rates are known (gradient descent on least squares), the narrowed space, and the page."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from hpsearch.errors import ConfigError
from hpsearch.protocols import lr_find
from hpsearch.protocols.lr_find import RangeTest, narrow_space, narrowed_ranges, range_test
from hpsearch.report.documents import lr_find_page as range_test_page
from hpsearch.space.conditional import SearchSpace
from hpsearch.space.optimizers import OPTIMIZERS, Hyperparameter, OptimizerSpec, plain_args
from hpsearch.tasks.base import REGRESSION, Task, split_and_scale
from hpsearch.tasks.prepare import PreparedTask, prepare_task


def least_squares() -> tuple[PreparedTask, float]:
    """Linear regression with correlated features, trained full batch (plain gradient descent),
    and 2 / L: gradient descent on this quadratic is stable iff lr < 2 / L, L the largest
    eigenvalue of the loss's Hessian, 2/n A^T A for the mean squared error of A = [X, 1]."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
    y = x @ rng.normal(size=6) + rng.normal(size=500)
    data = split_and_scale(x, y, REGRESSION, seed=0, val_fraction=0.2, test_fraction=0.2)
    n = len(data.train.y)
    task = Task("least-squares", "linear regression", REGRESSION, lambda: (x, y), batch_size=n,
                hidden=())  # an MLP without hidden layers: one nn.Linear
    a = np.hstack([data.train.x, np.ones((n, 1))]).astype(np.float64)
    largest = np.linalg.eigvalsh(2.0 / n * a.T @ a).max()
    return PreparedTask(task, data, (), {}, {}), 2.0 / largest


def fake(optimizer: str, low: float, high: float) -> RangeTest:
    return RangeTest(optimizer, (1e-3, 1e-2), (1.0, 0.5), (1.0, 0.9), high, low, (low, high), 300,
                     True, 0.1)


def test_lr_grows_exponentially_from_lr_min_to_lr_max() -> None:
    lrs = lr_find.lr_schedule(1e-7, 10.0, 300)
    assert len(lrs) == 300
    assert lrs[0] == pytest.approx(1e-7) and lrs[-1] == pytest.approx(10.0)
    ratios = lrs[1:] / lrs[:-1]
    assert np.allclose(ratios, 1e8 ** (1 / 299))

    prepared, _ = least_squares()
    result = range_test(prepared, "sgd", "cpu", steps=50, lr_min=1e-4, lr_max=1e-2)
    assert result.lrs == pytest.approx(tuple(lr_find.lr_schedule(1e-4, 1e-2, 50)))
    assert not result.diverged and result.stopped.startswith("reached lr_max")


def test_smoothing_is_bias_corrected() -> None:
    smoothed = lr_find.smooth([3.0, 3.0, 3.0, 1.0], 0.98)
    assert smoothed[:3] == pytest.approx([3.0, 3.0, 3.0])  # uncorrected: 0.06, 0.119, ...
    expected = (0.98**3 * 0.02 * 3 + 0.98**2 * 0.02 * 3 + 0.98 * 0.02 * 3 + 0.02 * 1) / (1 - 0.98**4)
    assert smoothed[3] == pytest.approx(expected)

    prepared, _ = least_squares()
    result = range_test(prepared, "sgd", "cpu", steps=20)
    assert result.smoothed[0] == result.losses[0]
    assert result.smoothed == pytest.approx(tuple(lr_find.smooth(result.losses, 0.98)))


def test_suggestion_from_a_known_curve() -> None:
    """A loss falling as a logistic in log-lr (steepest at 1e-3), lowest at 1e-1, rising after;
    its first points lie below everything by chance and must not count."""
    lrs = lr_find.lr_schedule(1e-6, 10.0, 200)
    x = np.log10(lrs)
    loss = 1.0 - 0.9 / (1.0 + np.exp(-4.0 * (x + 3.0))) + np.where(x > -1, (x + 1) ** 2, 0.0)
    loss[:5] = 0.01  # a lucky start
    at_min, steepest, (low, high) = lr_find.suggest_range(lrs, loss)
    assert at_min == pytest.approx(0.1, rel=0.1)
    assert steepest == pytest.approx(1e-3, rel=0.1)
    assert (low, high) == pytest.approx((steepest / lr_find.LOW_MARGIN, at_min / lr_find.HIGH_MARGIN))

    _, steep, (low, high) = lr_find.suggest_range(lrs[:100], np.linspace(1.0, 2.0, 100))  # only rising
    assert steep == lrs[lr_find.SKIP_START] and high / low == pytest.approx(10.0)  # still a decade

    noisy = loss + np.random.default_rng(0).normal(0, 0.02, len(loss))  # the steepest survives noise
    assert lr_find.suggest_range(lrs, noisy)[1] == pytest.approx(1e-3, rel=0.3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sgd_suggestion_lies_below_the_stability_edge_of_gradient_descent(seed: int) -> None:
    prepared, edge = least_squares()  # stable iff lr < edge
    result = range_test(prepared, "sgd", "cpu", seed=seed)
    low, high = result.suggested
    assert result.diverged and len(result.lrs) < result.steps
    assert result.lrs[-1] > edge  # it stopped because the loss blew up past 2 / L
    assert 0 < low < high < edge
    assert low > edge / 100  # within two decades of the edge
    assert result.lr_steepest < result.lr_at_min


def test_the_suggested_high_end_trains_and_the_edge_does_not() -> None:
    """2 / L is the edge for this data and model: a constant rate just below trains, above it
    diverges; the suggestion trains."""
    prepared, edge = least_squares()
    high = range_test(prepared, "sgd", "cpu").suggested[1]
    x = torch.from_numpy(prepared.data.train.x)
    y = torch.from_numpy(prepared.data.train.y)

    def final_loss(lr: float) -> float:
        torch.manual_seed(0)
        model = torch.nn.Linear(x.shape[1], 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        for _ in range(300):
            optimizer.zero_grad()
            loss = REGRESSION.loss(model(x), y)
            loss.backward()
            optimizer.step()
        return float(loss.detach())

    assert final_loss(high) < 0.1
    assert final_loss(0.95 * edge) < 0.1
    assert not final_loss(1.05 * edge) < 1.0


def test_a_non_finite_loss_stops_the_test_with_a_finite_suggestion() -> None:
    prepared, _ = least_squares()
    result = range_test(prepared, "sgd", "cpu", steps=100, lr_min=1e-3, lr_max=1e12,
                        diverge_factor=math.inf)  # only a non-finite loss stops it
    assert result.diverged and len(result.lrs) < 100
    assert not math.isfinite(result.smoothed[-1])
    assert all(math.isfinite(v) and v > 0 for v in (*result.suggested, result.lr_at_min))


def test_arguments_are_checked() -> None:
    prepared, _ = least_squares()
    for kwargs in ({"steps": 1}, {"lr_min": 1.0, "lr_max": 0.1}, {"smoothing": 1.0},
                   {"diverge_factor": 1.0}):
        with pytest.raises(ConfigError):
            range_test(prepared, "sgd", "cpu", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown optimizer 'sgdd'"):
        range_test(prepared, "sgdd", "cpu")


@pytest.mark.parametrize("suggested", [
    (1e-3, 1e-2),  # inside adam's 1e-5..1e-1
    (1e-2, 10.0),  # overlapping the top
    (1e-9, 1e-7),  # entirely below
    (5.0, 50.0),  # entirely above
    (2e-3, 2.1e-3),  # tiny
    (1e-2, 1e-3),  # inverted
    (float("nan"), 1e-3),
])
def test_narrowed_ranges_are_valid_and_inside_the_space(suggested: tuple[float, float]) -> None:
    space = SearchSpace(optimizers=("sgd", "adam", "lbfgs"), ranges={"sgd_lr": (1e-3, 0.5)})
    results = {key: fake(key, *suggested) for key in ("sgd", "adam", "lbfgs")}
    ranges = narrowed_ranges(space, results)
    assert set(ranges) == {"sgd_lr", "adam_lr", "lbfgs_lr"}
    for name, (low, high) in ranges.items():
        bound_low, bound_high = (1e-3, 0.5) if name == "sgd_lr" else next(
            (hp.low, hp.high) for hp in OPTIMIZERS[name.removesuffix("_lr")].hyperparameters
            if hp.name == "lr")
        assert bound_low <= low < high <= bound_high
        a, b = suggested
        if not (math.isfinite(a) and a < b):  # no usable suggestion: the range is kept
            assert (low, high) == (bound_low, bound_high)
        elif min(b, bound_high) / max(a, bound_low) >= 10**lr_find.MIN_DECADES:
            assert (low, high) == (max(a, bound_low), min(b, bound_high))  # the intersection
        else:  # empty or tiny: the narrowest range allowed, as near the suggestion as it can be
            assert high / low == pytest.approx(10**lr_find.MIN_DECADES)
            assert low == bound_low or high == bound_high or low < math.sqrt(a * b) < high
    SearchSpace(optimizers=space.optimizers, ranges={**space.ranges, **ranges})  # accepted


def test_narrowing_keeps_a_suggestion_inside_the_range_as_it_is() -> None:
    space = SearchSpace(optimizers=("adam",))
    assert narrowed_ranges(space, {"adam": fake("adam", 3e-4, 1e-2)}) == {"adam_lr": (3e-4, 1e-2)}
    assert narrowed_ranges(space, {"adam": fake("adam", 1e-7, 1e-6)}) == {
        "adam_lr": pytest.approx((1e-5, 10 ** (-5 + lr_find.MIN_DECADES)))}
    assert narrowed_ranges(space, {}) == {}


def test_only_the_lr_parameter_itself_is_narrowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A future entry with two rates (`muon_lr`, `muon_adamw_lr`) has only `muon_lr` narrowed; an
    entry whose rate is named otherwise is left alone and said so."""
    rates = (Hyperparameter("lr", 1e-4, 1.0, log=True), Hyperparameter("adamw_lr", 1e-5, 1e-1, log=True))
    monkeypatch.setitem(OPTIMIZERS, "muon", OptimizerSpec("muon", "torch.optim.SGD", "two rates",
                                                           rates, plain_args))
    monkeypatch.setitem(OPTIMIZERS, "odd", OptimizerSpec(
        "odd", "torch.optim.SGD", "no lr", (Hyperparameter("step_size", 1e-4, 1.0, log=True),), plain_args))
    space = SearchSpace(optimizers=("muon", "odd"))
    results = {"muon": fake("muon", 1e-3, 1e-2), "odd": fake("odd", 1e-3, 1e-2)}
    assert narrowed_ranges(space, results) == {"muon_lr": (1e-3, 1e-2)}
    notes = lr_find.narrowing_notes(space, results)
    assert notes[0].startswith("muon: lr 0.0001..1 -> 0.001..0.01")
    assert notes[1] == "odd: no lr parameter; its space is kept"


def test_a_builtin_task_gives_a_finite_suggestion_for_adam() -> None:
    prepared = prepare_task("small")
    result = range_test(prepared, "adam", "cpu", steps=300)
    low, high = result.suggested
    assert 1 < len(result.lrs) <= 300
    assert 0 < low < high and math.isfinite(high)
    assert 1e-5 < result.lr_at_min < 10.0
    assert result.describe().startswith("adam: lr ")


def test_narrow_space_runs_every_optimizer_including_lbfgs() -> None:
    prepared = prepare_task("small")
    space = SearchSpace(optimizers=("adam", "lbfgs"), ranges={"momentum_lr": (1e-3, 0.1)})
    narrowed, notes = narrow_space(space, prepared, "cpu", seed=0, steps=120)
    assert [note.split(":")[0] for note in notes] == ["adam", "lbfgs"]
    assert all("range test, " in note and " of 120 steps" in note for note in notes)
    assert narrowed.ranges["momentum_lr"] == (1e-3, 0.1)  # other ranges are kept
    for key in ("adam", "lbfgs"):
        low, high = narrowed.ranges[f"{key}_lr"]
        spec = next(s for s in SearchSpace().specs() if s.key == key)
        assert spec.hyperparameters[0].low <= low < high <= spec.hyperparameters[0].high
    assert narrowed.ranges["adam_lr"] != (1e-5, 1e-1)
    assert replace(narrowed, ranges={}) == replace(space, ranges={})


def test_figure_and_page(tmp_path: Path) -> None:
    from plotly.offline import get_plotlyjs

    from hpsearch.report.figures.study import colours

    prepared, _ = least_squares()
    results = {key: range_test(prepared, key, "cpu", steps=60) for key in ("sgd", "adam")}
    fig = range_test_page.figure(results)
    assert fig.layout.xaxis.type == "log"
    palette = colours(["sgd", "adam"])
    smoothed = [t for t in fig.data if t.name in results]
    assert [(t.name, t.line.color) for t in smoothed] == [(k, palette[k]) for k in results]
    shaded = [t for t in fig.data if t.fill == "toself"]
    assert [(min(t.x), max(t.x)) for t in shaded] == [r.suggested for r in results.values()]

    path = range_test_page.write_page(results, tmp_path / "lr.html")
    page = path.read_text()
    assert page.count(get_plotlyjs()) == 1
    assert "<script src=" not in page.replace(get_plotlyjs(), "")  # nothing fetched
    assert page.count('class="plotly-graph-div"') == 1
    assert "<td>adam</td>" in page and "suggested low" in page


def test_tune_narrows_lr_ranges_by_a_range_test_and_keeps_them_on_resume(workdir: Path) -> None:
    import optuna
    from click.testing import CliRunner

    from hpsearch.cli import cli

    command = ["tune", "--task", "small", "--epochs", "2", "--optimizers", "adam,sgd",
               "--lr-from-range-test"]
    result = CliRunner().invoke(cli, [*command, "--n-trials", "4"])
    assert result.exit_code == 0, result.output
    assert "range test adam: lr 1e-05..0.1 ->" in result.output
    study = optuna.load_study(study_name="small", storage="sqlite:///studies/hpsearch.db")
    ranges = study.user_attrs["range_test"]["ranges"]
    assert set(ranges) == {"adam_lr", "sgd_lr"}
    for name, (low, high) in ranges.items():
        registry = OPTIMIZERS[name.removesuffix("_lr")].hyperparameters[0]
        assert registry.low <= low < high <= registry.high and (low, high) != (registry.low,
                                                                               registry.high)
    for trial in study.trials:
        low, high = ranges[f"{trial.params['optimizer']}_lr"]
        assert low <= trial.params[f"{trial.params['optimizer']}_lr"] <= high
    # Resumed, the study keeps the ranges it began with (the same space, so no mismatch).
    result = CliRunner().invoke(cli, [*command, "--n-trials", "5"])
    assert result.exit_code == 0, result.output
    assert "as narrowed by the range test when this study began" in result.output


def test_lr_find_prints_each_suggested_range_and_writes_the_page(workdir: Path) -> None:
    from click.testing import CliRunner

    from hpsearch.cli import cli

    result = CliRunner().invoke(cli, ["lr-find", "--task", "small", "--optimizer", "adam,lbfgs",
                                      "--steps", "60", "--out", "lr.html"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if not line.startswith("[")]  # progress
    assert lines[0].startswith("adam: lr ") and "suggested" in lines[0]
    assert lines[1].startswith("lbfgs: lr ")
    page = (workdir / "lr.html").read_text()
    assert "<title>Learning-rate range test</title>" in page
    assert "<td>adam</td>" in page and "<td>lbfgs</td>" in page  # the table of suggestions
