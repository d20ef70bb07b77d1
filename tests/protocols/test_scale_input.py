"""`hpsearch scale` and what reads its sweeps: a target without a width refused before anything is
stored (and one stored that way by an earlier version read without it, said so), a target outside
the widths or lengths swept said to be extrapolated, and two commands sweeping one study at once
each counting what is true."""

from __future__ import annotations

import collections
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from click.testing import CliRunner

import hpsearch
from hpsearch.cli import cli
from hpsearch.protocols.scale_plan import RECIPES, ScalePlan
from tests.cli.test_cli import assert_one_line_error
from tests.protocols.test_scale import fill
from tests.waiting import MEETING, wait_for_trials

DB = "sqlite:///studies/hpsearch.db"
TINY = ["scale", "--optimizers", "adamw", "--parametrization", "sp", "--widths", "16", "--steps", "5",
        "--context", "8", "--batch-size", "4"]  # 14 runs
WIDTHS, LENGTHS, STEPS = (16, 32, 64), (1, 2), 10
PROTOCOL = {"kind": "scale", "base_width": 16, "depth": 2, "seeds": 2, "seed": 0, "steps": STEPS,
            "optimizers": ["adamw"], "parametrizations": ["sp"], "widths": list(WIDTHS),
            "lengths": list(LENGTHS), "target_width": None, "target_steps": None}


def sweep(**target: Any) -> optuna.Study:
    """A finished sweep in a real storage: the plan run to its end on a synthetic loss whose best
    learning rate falls with width, stored with `target` in its protocol."""
    centre = RECIPES["adamw"].centre
    trials = fill(ScalePlan(("adamw",), ("sp",), WIDTHS, LENGTHS, seeds=2, seed=0),
                  {w: centre - 0.3 * math.log2(w / 16) for w in WIDTHS})
    study = optuna.create_study(study_name="scale-lm", storage=DB, direction="minimize")
    study.add_trials(trials)
    study.set_user_attr("protocol", {**PROTOCOL, **target})
    return study


def test_target_steps_without_a_target_width_are_refused_before_anything_is_stored(
        workdir: Path) -> None:
    result = CliRunner().invoke(cli, [*TINY, "--target-steps", "40"])
    assert_one_line_error(result.exit_code, result.output, 2,
                          "--target-steps 40 needs --target-width")
    with pytest.raises(hpsearch.ConfigError, match="--target-steps 40 needs --target-width"):
        hpsearch.scale("adamw", parametrizations="sp", widths=(16,), steps=5, context=8,
                       batch_size=4, target_steps=40)
    assert not (workdir / "studies" / "hpsearch.db").exists()


def test_a_target_stored_without_its_width_is_left_out_and_said_so(workdir: Path) -> None:
    sweep(target_steps=40)  # as an earlier version stored `scale --target-steps 40`
    unread = "the target stored with the sweep (target_width=None, target_steps=40) is not read"
    result = CliRunner().invoke(cli, ["report", "--out", "studies/report.html"])
    assert result.exit_code == 0, result.output
    assert unread in result.output and "adamw sp:" in result.output
    assert unread in (workdir / "studies" / "report.html").read_text()
    loaded = hpsearch.load("scale-lm", DB)
    assert loaded.verdict is not None and unread in loaded.verdict
    assert loaded.best_config is None  # no target: nothing predicted for it


def test_a_target_below_what_was_swept_is_said_to_be_extrapolated(workdir: Path) -> None:
    sweep(target_width=8)
    below = "width 8 is below the widths swept (16-64): the learning rate is extrapolated"
    result = CliRunner().invoke(cli, ["report", "--out", "studies/report.html"])
    assert result.exit_code == 0, result.output
    assert f"warning: {below}" in result.output
    assert below in (workdir / "studies" / "report.html").read_text()

    best = CliRunner().invoke(cli, ["best", "--for-width", "8"])
    assert best.exit_code == 0, best.output
    assert best.stderr.strip() == f"warning: {below}"
    assert json.loads(best.stdout)["prediction"]["warning"] == below
    short = CliRunner().invoke(cli, ["best", "--for-width", "32", "--for-steps", "5"])
    assert short.exit_code == 0, short.output
    assert short.stderr.strip() == ("warning: 5 steps are below the lengths swept (10-20 steps): "
                                    "the learning rate is extrapolated")
    # Upwards is what the sweep is for: no warning, and the prediction says how far it reaches.
    big = CliRunner().invoke(cli, ["best", "--for-width", "1024", "--for-steps", "80"])
    assert big.exit_code == 0 and big.stderr == "", big.output
    prediction = json.loads(big.stdout)["prediction"]
    assert prediction["warning"] == ""
    assert prediction["extrapolated"] == "extrapolated from widths 16-64 and lengths 10-20 steps"
    inside = CliRunner().invoke(cli, ["best", "--for-width", "32", "--for-steps", "15"])
    assert inside.exit_code == 0 and inside.stderr == "", inside.output
    assert json.loads(inside.stdout)["prediction"]["extrapolated"] == ""



PROGRESS = re.compile(r"^\[(\d+)/~(\d+)\] runs of the study(?:, (\d+) by this command)? \|")


MEETING_GPT = MEETING + """

from hpsearch.tasks.gpt import gpt


def build(vocab_size, context, width):
    return torch.nn.Sequential(gpt(vocab_size, context, width, 2), Meeting())
"""


def test_two_commands_sweeping_one_study_each_count_what_is_true(workdir: Path) -> None:
    """Each says the study's runs are the study's, and how many of them it ran; its last line
    counts only its own. Each also warns, before its sweep, that the target lies below it. The
    model's first training step in each command waits for the other's, so both take part."""
    (workdir / "meeting.py").write_text(MEETING_GPT)
    command = [sys.executable, "-m", "hpsearch", *TINY, "--target-width", "8", "--model",
               "meeting.py:build"]
    processes: list[subprocess.Popen[str]] = []
    try:
        processes.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))
        wait_for_trials(processes[0], "scale-lm", deadline_s=300)  # the first has begun
        processes.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))
        outputs = {p.pid: p.communicate(timeout=600) for p in processes}
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    first, second = processes
    assert first.returncode == second.returncode == 0, outputs
    finished = [t for t in optuna.load_study(study_name="scale-lm", storage=DB).trials
                if t.state.is_finished()]
    ran = collections.Counter(t.user_attrs["worker"]["pid"] for t in finished)
    assert ran[first.pid] > 0 and ran[second.pid] > 0, ran  # they did share the sweep
    assert ran[first.pid] + ran[second.pid] == len(finished)
    for pid, (out, err) in outputs.items():
        lines = [m for line in err.splitlines() if (m := PROGRESS.match(line))]
        assert lines, err
        for m in lines:
            done, mine = int(m[1]), int(m[3] or m[1])
            assert mine <= done <= int(m[2])
        last = lines[-1]  # after this command's last run: all of its runs are counted
        assert int(last[3] or last[1]) == ran[pid], (last[0], ran)
        end = re.search(r"^(\d+) runs in \d+ s.*?(?: \((\d+) more by other commands\))?$", out,
                        re.MULTILINE)
        assert end and int(end[1]) == ran[pid], out
        other = second.pid if pid == first.pid else first.pid
        assert int(end[2] or 0) <= ran[other]  # those finished before this command ended
        assert "warning: width 8 is below the widths swept (16): the learning rate is extrapolated" \
            in err.splitlines()
