"""Every stop of a command trial ends everything its program started: a child that left the
session with `setsid()` and a grandchild that double-forked, each deaf to SIGTERM, are gone when
the trial is pruned and when `hpsearch tune` itself is interrupted, terminated or killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState
from process_tree import ANNOUNCE, MARK, SPLIT, marked, none_left
from waiting import poll

from hpsearch.cli import cli

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux's /proc")

# The training: its split tree (a setsid'd child, a double-forked orphan, both deaf to SIGTERM),
# announced in the trial's folder; then points, a tenth of a second apart.
PROGRAM = ("import os\nfrom pathlib import Path\nhere = Path(os.environ['HPSEARCH_TRIAL_DIR'])\n"
           + ANNOUNCE + SPLIT + r"""
import math
lr = float(sys.argv[1])
for step in range(0, 101, 20):
    while not (here / "orphan").exists():
        time.sleep(0.01)
    loss = abs(math.log10(lr) + 2.0) + 1.0 / (1 + step)
    print(f"step {step}: val loss {loss:.4f}")
    time.sleep(float(os.environ.get("DELAY", "0.1")))
""")
ARGS = ["--metric-regex", r"step (?P<step>\d+): val loss (?P<value>[0-9.]+)", "--optimizers",
        "adamw", "--steps", "100", "--eval-every", "20", "--grace-seconds", "1", "--study", "tree"]


def test_pruned_trials_leave_nothing_behind(workdir: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    mark = uuid.uuid4().hex
    monkeypatch.setenv(MARK, mark)
    Path("train.py").write_text(PROGRAM)
    result = CliRunner().invoke(cli, ["tune", "--command", f"{sys.executable} train.py {{lr}}",
                                      *ARGS, "--n-trials", "9", "--sampler", "random"])
    assert result.exit_code == 0, result.output
    trials = optuna.load_study(study_name="tree", storage="sqlite:///studies/hpsearch.db").trials
    assert any(t.state == TrialState.PRUNED for t in trials), "no trial was pruned"
    none_left(mark)


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143),
                                            (signal.SIGKILL, -9)])
def test_a_stopped_sweep_leaves_nothing_behind(workdir: Path, stop: signal.Signals,
                                               code: int) -> None:
    mark = uuid.uuid4().hex
    Path("train.py").write_text(PROGRAM)
    env = {**os.environ, MARK: mark, "OMP_NUM_THREADS": "1", "DELAY": "60"}
    sweep = subprocess.Popen([sys.executable, "-m", "hpsearch", "tune", "--command",
                              f"{sys.executable} train.py {{lr}}", *ARGS, "--n-trials", "2"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        poll(lambda: next(Path("studies/trials/tree").glob("*/orphan"), None),
             "the trial's whole tree up", 60)
        assert len(marked(mark)) >= 4  # hpsearch's supervisor, the program, setsid'd, orphan
        sweep.send_signal(stop)
        assert sweep.wait(30) == code
        none_left(mark)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    if stop != signal.SIGKILL:  # stopped in order: the trial is recorded as failed, by the signal
        (trial,) = optuna.load_study(study_name="tree",
                                     storage="sqlite:///studies/hpsearch.db").trials
        assert trial.state == TrialState.FAIL
