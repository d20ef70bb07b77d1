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
from waiting import poll

from hpsearch.cli import cli

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux's /proc")

MARK = "HPSEARCH_TEST_MARK"
GONE_S = 10.0
# The training: a setsid'd child whose child double-forks (the orphan), both ignoring SIGTERM and
# saying they are up in the trial's folder; then points, a tenth of a second apart.
PROGRAM = r"""
import math, os, signal, sys, time
folder = os.environ["HPSEARCH_TRIAL_DIR"]

def stay(name):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    open(os.path.join(folder, name + ".tmp"), "w").write(str(os.getpid()))
    os.rename(os.path.join(folder, name + ".tmp"), os.path.join(folder, name))
    while True:
        signal.pause()

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        if os.fork() == 0:
            stay("orphan")
        os._exit(0)
    os.wait()
    stay("setsid")
lr = float(sys.argv[1])
for step in range(0, 101, 20):
    while not os.path.exists(os.path.join(folder, "orphan")):
        time.sleep(0.01)
    loss = abs(math.log10(lr) + 2.0) + 1.0 / (1 + step)
    print(f"step {step}: val loss {loss:.4f}")
    time.sleep(float(os.environ.get("DELAY", "0.1")))
"""
ARGS = ["--metric-regex", r"step (?P<step>\d+): val loss (?P<value>[0-9.]+)", "--optimizers",
        "adamw", "--steps", "100", "--eval-every", "20", "--grace-seconds", "1", "--study", "tree"]


def marked(mark: str) -> list[int]:
    """The live processes (not zombies) carrying `mark` in their environment, but this one."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"{MARK}={mark}".encode() in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def all_gone(mark: str) -> None:
    poll(lambda: True if not marked(mark) else None,
         f"every process of the trial gone (left: {marked(mark)})", GONE_S)


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
    all_gone(mark)


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
        all_gone(mark)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    if stop != signal.SIGKILL:  # stopped in order: the trial is recorded as failed, by the signal
        (trial,) = optuna.load_study(study_name="tree",
                                     storage="sqlite:///studies/hpsearch.db").trials
        assert trial.state == TrialState.FAIL
