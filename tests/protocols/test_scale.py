"""`hpsearch scale`: the plan brackets each width's best learning rate finely enough, the sweep is
stored and resumed like any other, and what it cannot take is refused in one line."""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from hpsearch import build_optimizer
from hpsearch.cli import cli
from hpsearch.errors import ConfigError
from hpsearch.protocols.scale_plan import RECIPES, ScalePlan, cell_of, next_trial, runs_expected
from hpsearch.tasks.gpt import gpt
from hpsearch.tasks.mup import build_at_width
from tests.browser import render
from tests.cli.test_cli import assert_one_line_error
from tests.cli.test_progress import progress_lines
from tests.conftest import require


def fill(plan: ScalePlan, best_log_lr: dict[int, float]) -> list[optuna.trial.FrozenTrial]:
    """Run the plan to its end on a synthetic loss: a parabola in log lr whose minimum sits at
    `best_log_lr[width]`, diverging two decades above it."""
    trials: list[optuna.trial.FrozenTrial] = []
    while (found := next_trial(trials, plan)) is not None:
        assert not isinstance(found, str)
        attrs = found.attrs
        x = math.log10(attrs["lr"]) - best_log_lr[attrs["width"]]
        diverged = x > 2
        trials.append(create_trial(
            state=TrialState.PRUNED if diverged else TrialState.COMPLETE,
            value=None if diverged else 3.0 + x * x + 0.01 * attrs["seed_index"],
            params={"lr": attrs["lr"]}, distributions={"lr": FloatDistribution(1e-9, 1e3, log=True)},
            user_attrs={**attrs, **({"record": {"diverged": True}} if diverged else {})}))
        assert len(trials) < 500
    return trials


def test_the_plan_brackets_every_minimum_with_five_rates_and_two_seeds() -> None:
    plan = ScalePlan(("adamw",), ("sp",), (16, 64), (1,), seeds=2, seed=0)
    centre = RECIPES["adamw"].centre
    # Inside the coarse grid, and far past its upper edge (the grid must widen towards it).
    trials = fill(plan, {16: centre + 0.3, 64: centre + 2.2})
    for width, truth in ((16, centre + 0.3), (64, centre + 2.2)):
        mine = [t for t in trials if cell_of(t).width == width]  # type: ignore[union-attr]
        lrs = sorted({math.log10(t.user_attrs["lr"]) for t in mine})
        # Five consecutive rates at most 0.3 decades apart bracket the true minimum.
        assert any(run[0] < truth < run[-1] and max(b - a for a, b in zip(run, run[1:], strict=False)) <= 0.3
                   for run in (lrs[i:i + 5] for i in range(len(lrs) - 4))), (width, lrs)
        seeds: dict[float, set[int]] = {}
        for t in mine:
            seeds.setdefault(round(math.log10(t.user_attrs["lr"]), 6), set()).add(
                t.user_attrs["seed_index"])
        assert sum(len(s) >= 2 for s in seeds.values()) >= 5
    assert next_trial(trials, plan) is None  # done: nothing more to run


def test_scale_runs_stores_and_resumes_a_sweep(workdir: Path) -> None:
    args = ["scale", "--optimizers", "adamw", "--parametrization", "mup", "--widths",
            "16,32,48,64", "--steps", "10", "--context", "8", "--batch-size", "4",
            "--target-width", "1024"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "adamw mup:" in result.output and "held out width 64" in result.output
    assert "target (width 1024" in result.output
    study = optuna.load_study(study_name="scale-lm", storage="sqlite:///studies/hpsearch.db")
    assert study.user_attrs["protocol"]["kind"] == "scale"
    finished = [t for t in study.trials if t.state.is_finished()]
    assert {t.user_attrs["width"] for t in finished} == {16, 32, 48, 64}
    # A progress line per finished run; by the end, the runs the plan expects are those it ran.
    lines = progress_lines(result.output)
    assert len(lines) == len(finished) and lines[-1].startswith(f"[{len(finished)}/~{len(finished)}]")
    plan = ScalePlan(("adamw",), ("mup",), (16, 32, 48, 64), (1,), 2, 0)
    assert runs_expected(study.trials, plan) == len(finished)
    assert all(len(t.intermediate_values) == 5 for t in finished if t.state == TrialState.COMPLETE)

    exported = CliRunner().invoke(cli, ["best", "--study", "scale-lm", "--for-width", "128",
                                        "--for-steps", "40"])
    assert exported.exit_code == 0, exported.output
    config = json.loads(exported.output)
    assert config["parametrization"] == {"name": "mup", "base_width": 16, "width": 128}
    lr = config["hyperparameters"]["lr"]
    assert config["prediction"]["interval"][0] < lr < config["prediction"]["interval"][1]
    assert config["steps"] == 40 and config["prediction"]["widths_swept"] == [16, 32, 48, 64]
    model = build_at_width(partial(gpt, depth=2), 256, 16, 128, "mup", 16)
    optimizer = build_optimizer(config, model)
    hidden = {id(m.weight) for m in model.hpsearch_width_scaled}
    rates = [g["lr"] for g in optimizer.param_groups if hidden & {id(p) for p in g["params"]}]
    assert rates and rates == pytest.approx([lr * 16 / 128] * len(rates))
    with pytest.raises(ConfigError, match="this configuration is for µP at width 128"):
        build_optimizer(config, gpt(256, 16, 128, 2))
    python = CliRunner().invoke(cli, ["best", "--study", "scale-lm", "--for-width", "128",
                                      "--format", "python"])
    assert "parametrize(model, base_model, 128, 16)" in python.output

    page = CliRunner().invoke(cli, ["report", "--out", "studies/report.html"])
    assert page.exit_code == 0 and "adamw mup:" in page.output
    assert "does wider help?" in page.output
    assert "adamw mup: loss at the best lr, by width: 16 " in page.output
    assert "Scale sweep scale-lm" in (workdir / "studies" / "report.html").read_text()
    rendered = render(workdir / "studies" / "report.html", width=1400, height=1600,
                      chromium=require("chromium"))
    assert rendered.console_errors == []
    # loss against lr, best lr against width (with the prediction), the loss at the best lr
    # against width, the weight-decay timescale
    assert rendered.plots == rendered.plots_with_svg == rendered.plot_divs == 4

    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "0 runs in" in again.output
    assert len(optuna.load_study(study_name="scale-lm",
                                 storage="sqlite:///studies/hpsearch.db").trials) == len(study.trials)

    other = CliRunner().invoke(cli, [*args[:8], "20", *args[9:]])  # another --steps
    assert_one_line_error(other.exit_code, other.output, 2, "study 'scale-lm' was made with")
    tune = CliRunner().invoke(cli, ["tune", "--task", "lm", "--study", "scale-lm", "--steps", "10",
                                    "--eval-every", "5"])
    assert_one_line_error(tune.exit_code, tune.output, 2, "made by `hpsearch scale`, not `tune`")
    assert len(optuna.load_study(study_name="scale-lm",
                                 storage="sqlite:///studies/hpsearch.db").trials) == len(study.trials)

    # A sweep stored under µP's first rules (attention by 1/16, the hidden decay unscaled) reads,
    # but is not continued under today's.
    first_rules = {k: v for k, v in study.user_attrs["protocol"].items() if k != "mup_rules"}
    study.set_user_attr("protocol", first_rules)
    older = CliRunner().invoke(cli, args)
    assert_one_line_error(older.exit_code, older.output, 2, "swept µP under the rules of edition 1")
    assert CliRunner().invoke(cli, ["report", "--out", "studies/older.html"]).exit_code == 0


TIED = """
from hpsearch.tasks.gpt import gpt

def build(vocab_size, context, width):
    model = gpt(vocab_size, context, width, 1)
    model.head.weight = model.token.weight
    return model
"""


@pytest.mark.parametrize("args, fragments", [
    (["--optimizers", "sgd"], ["'sgd' has no scale recipe; valid choices: adamw"]),
    (["--widths", "16,x"], ["--widths takes comma-separated integers; got 'x'"]),
    (["--widths", "16,16"], ["widths holds a value twice"]),
    (["--seeds", "1"], ["seeds must be at least 2"]),
    (["--steps", "12"], ["steps (12) must be a multiple of 5"]),
    (["--parametrization", "mup", "--model", "tied.py:build"], ["tied head"]),
    (["--parametrization", "sp,ntk"], ["--parametrization: unknown 'ntk'; valid choices"]),
    (["--target-depth", "16"], ["--target-depth 16 needs --depths"]),
    (["--depths", "2,0"], ["depths must be"]),
])
def test_what_scale_cannot_take_is_refused_in_one_line(workdir: Path, args: list[str],
                                                       fragments: list[str]) -> None:
    (workdir / "tied.py").write_text(TIED)
    result = CliRunner().invoke(cli, ["scale", "--steps", "10", "--context", "16", *args])
    assert_one_line_error(result.exit_code, result.output, 2, *fragments)
    assert not (workdir / "studies" / "hpsearch.db").exists()


def test_the_runs_expected_are_exact_without_a_widening_and_never_beyond_the_end() -> None:
    centre = RECIPES["adamw"].centre
    inside = ScalePlan(("adamw",), ("sp",), (16,), (1,), seeds=3, seed=0)
    assert runs_expected([], inside) == len(fill(inside, {16: centre + 0.3}))
    plan = ScalePlan(("adamw",), ("sp",), (16, 64), (1,), seeds=2, seed=0)
    trials = fill(plan, {16: centre + 0.3, 64: centre + 2.2})  # width 64's grid widens 4 times
    estimates = [runs_expected(trials[:n], plan) for n in range(len(trials) + 1)]
    assert estimates == sorted(estimates) and estimates[-1] == len(trials) > estimates[0]


def test_a_sweep_of_depths_fits_and_predicts_the_learning_rate_across_depth(workdir: Path) -> None:
    """`--depths` with `--parametrization completep`: each depth's best learning rate, the power law
    over depth, the prediction at `--target-depth`, and `best --for-depth` builds a model the
    configuration accepts; at the base depth CompleteP's runs are µP's."""
    from hpsearch.report.figures.scale import scale_figures
    from hpsearch.report.summaries.scale import summarise_scale
    from hpsearch.tasks.completep import build_at

    args = ["scale", "--optimizers", "adamw", "--parametrization", "mup,completep", "--widths", "16",
            "--depths", "2,4,8", "--steps", "10", "--context", "8", "--batch-size", "4",
            "--target-depth", "16"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "depths 2, 4, 8" in result.output and "adamw completep:" in result.output
    assert "width    16 depth   8 x1: lr" in result.output
    assert "decades from the shallowest depth to the deepest" in result.output
    assert "fit: lr ~ depth^" in result.output and "target (width -, depth 16" in result.output
    study = optuna.load_study(study_name="scale-lm", storage="sqlite:///studies/hpsearch.db")
    finished = [t for t in study.trials if t.state.is_finished()]
    assert {t.user_attrs["depth"] for t in finished} == {2, 4, 8}
    assert study.user_attrs["protocol"]["depths"] == [2, 4, 8]
    at_base = {p: sorted((t.user_attrs["lr"], t.user_attrs["seed_index"], t.value) for t in finished
                         if t.user_attrs["depth"] == 2 and t.user_attrs["parametrization"] == p)
               for p in ("mup", "completep")}
    assert at_base["mup"] == at_base["completep"]  # the same runs, to the last digit

    exported = CliRunner().invoke(cli, ["best", "--study", "scale-lm", "--for-depth", "16",
                                        "--parametrization", "completep"])
    assert exported.exit_code == 0, exported.output
    config = json.loads(exported.output)
    assert config["parametrization"] == {"name": "completep", "base_width": 16, "width": 16,
                                         "base_depth": 2, "depth": 16}
    assert config["prediction"]["depths_swept"] == [2, 4, 8]
    import hpsearch  # the same prediction, read through the Python API from the stored target

    result = hpsearch.load("scale-lm", storage="sqlite:///studies/hpsearch.db")
    assert result.best_config is not None and result.best_config["depth"] == 16
    assert result.config_for(None, parametrization="completep", depth=16) == config
    model = build_at(gpt, 256, 8, 16, "completep", 16, 16, 2)
    assert build_optimizer(config, model).param_groups[0]["lr"] == config["hyperparameters"]["lr"]
    python = CliRunner().invoke(cli, ["best", "--study", "scale-lm", "--for-depth", "16",
                                      "--parametrization", "completep", "--format", "python"])
    assert "build_at(build, vocab_size, context, 16, 'completep', 16, 16, 2)" in python.output
    titles = [f.layout.title.text for f in scale_figures(summarise_scale(study), ["adamw"])]
    assert any("per depth" in t for t in titles) and "Best learning rate against depth" in titles
