"""`hpsearch scale` over the user's own training: each run is handed its width, µP's base width and
its parametrisation, and the fits read its results as they read the built-in GPT's."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import optuna
from click.testing import CliRunner
from optuna.trial import TrialState

import hpsearch
from hpsearch.cli import cli

STORAGE = "sqlite:///studies/hpsearch.db"
# The best lr falls as 1/width under the standard parametrisation and stays put under µP.
PROGRAM = r"""
import math, sys
args = dict(a.split("=", 1) for a in sys.argv[1:])
lr, steps, width = float(args["--lr"]), int(args["--steps"]), int(args["--width"])
shift = math.log10(width / int(args["--base"])) if args["--param"] == "sp" else 0.0
for step in range(0, steps + 1, steps // 5):
    loss = (math.log10(lr) + 2.0 + shift) ** 2 + 1.0 / (1 + step)
    print(f"step {step}: train loss {loss:.4f}, val loss {loss:.4f}")
"""
COMMAND = (f"{sys.executable} train.py --lr={{lr}} --steps={{steps}} --width={{width}} "
           "--base={base_width} --param={parametrization}")
METRIC = r"step (?P<step>\d+): .*val loss (?P<value>[0-9.]+)"


def best_lr_by_width(study: str, parametrization: str) -> dict[int, float]:
    trials = optuna.load_study(study_name=study, storage=STORAGE).trials
    best: dict[int, optuna.trial.FrozenTrial] = {}
    for trial in trials:
        assert trial.state == TrialState.COMPLETE, trial.user_attrs.get("record")
        if trial.user_attrs["parametrization"] != parametrization:
            continue
        width = trial.user_attrs["width"]
        if width not in best or trial.value < best[width].value:  # type: ignore[operator]
            best[width] = trial
    return {w: t.user_attrs["lr"] for w, t in best.items()}


def test_scale_a_command(workdir: Path) -> None:
    Path("train.py").write_text(PROGRAM)
    result = CliRunner().invoke(cli, [
        "scale", "--command", COMMAND, "--metric-regex", METRIC, "--optimizers", "adamw",
        "--widths", "16,64", "--steps", "20"])
    assert result.exit_code == 0, result.output
    sp, mup = best_lr_by_width("scale-command", "sp"), best_lr_by_width("scale-command", "mup")
    assert math.log10(sp[16] / sp[64]) > 0.3  # about 0.6 decades: 1/width from 16 to 64
    assert abs(math.log10(mup[16] / mup[64])) < 0.2
    assert "moved -0.60 decades from the smallest width to the largest" in result.output
    page = CliRunner().invoke(cli, ["report", "--study", "scale-command", "--out", "page.html"])
    assert page.exit_code == 0 and "scale-command" in Path("page.html").read_text()


def sweep(config: dict, report) -> None:  # type: ignore[no-untyped-def]
    shift = (math.log10(config["width"] / config["base_width"])
             if config["parametrization"] == "sp" else 0.0)
    lr = config["hyperparameters"]["lr"]
    for step in range(0, config["steps"] + 1, config["eval_every"]):
        report(step, (math.log10(lr) + 2.0 + shift) ** 2 + 1.0 / (1 + step))


def test_scale_a_function_through_the_api(workdir: Path) -> None:
    result = hpsearch.scale(train=sweep, optimizers="adamw", widths=(16, 32, 64), steps=20,
                            storage=STORAGE, target_width=256)
    assert result.stopped is None
    sp = best_lr_by_width("scale-function", "sp")
    assert math.log10(sp[16] / sp[64]) > 0.3
    # The prediction for width 256 under µP, where the best lr stays put: about 1e-2.
    predicted = CliRunner().invoke(cli, ["best", "--for-width", "256", "--optimizer", "adamw"])
    assert predicted.exit_code == 0, predicted.output
    assert '"optimizer": "adamw"' in predicted.output
    config = result.best_config
    assert config["parametrization"] == {"name": "mup", "base_width": 16, "width": 256}
    assert math.isclose(config["hyperparameters"]["lr"], 0.01, rel_tol=0.1)


DEEP_PROGRAM = """
import math, sys
args = dict(a.split("=", 1) for a in sys.argv[1:])
lr, steps, depth = float(args["--lr"]), int(args["--steps"]), int(args["--depth"])
shift = math.log10(depth / int(args["--base-depth"])) if args["--param"] != "completep" else 0.0
for step in range(0, steps + 1, steps // 5):
    loss = (math.log10(lr) + 2.0 + shift) ** 2 + 1.0 / (1 + step)
    print(f"step {step}: train loss {loss:.4f}, val loss {loss:.4f}")
"""


def test_scale_a_command_across_depth(workdir: Path) -> None:
    """A command takes `{depth}` and `{base_depth}`: a program whose best lr falls as one over its
    depth except under CompleteP is swept over three depths, and the sweep reads it so."""
    Path("deep.py").write_text(DEEP_PROGRAM)
    command = (f"{sys.executable} deep.py --lr={{lr}} --steps={{steps}} --depth={{depth}} "
               "--base-depth={base_depth} --param={parametrization}")
    result = CliRunner().invoke(cli, [
        "scale", "--command", command, "--metric-regex", METRIC, "--optimizers", "adamw",
        "--parametrization", "mup,completep", "--widths", "16", "--depths", "2,4,8",
        "--steps", "20"])
    assert result.exit_code == 0, result.output
    trials = optuna.load_study(study_name="scale-command", storage=STORAGE).trials
    assert {t.user_attrs["depth"] for t in trials} == {2, 4, 8}
    moved, heading = {}, ""
    for line in result.output.splitlines():
        if line.startswith("adamw "):
            heading = line.rstrip(":")
        elif "from the shallowest depth to the deepest" in line:
            moved[heading] = line.split()[1]
    assert moved == {"adamw mup": "-0.60", "adamw completep": "+0.00"}
