"""Real signals to real processes: whoever stops a sweep (Ctrl-C, a scheduler's SIGTERM, a closed
terminal's SIGHUP), with or without workers, the trials in flight are recorded as failed, no worker
outlives the command, and the same command resumes to its total."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.engine.storage import resolve
from hpsearch.record import trial_attrs
from tests.conftest import require
from tests.waiting import poll, wait_for_trials

# Trials of a second or more, and a stuck process's stacks on SIGABRT (faulthandler).
SWEEP = [sys.executable, "-X", "faulthandler", "-m", "hpsearch", "tune", "--task", "classification",
         "--optimizers", "adam,sgd", "--pruner", "none", "--epochs", "150", "--n-trials", "1000"]
LOG = Path("sweep.log")  # in the test's working directory


def trials() -> list[optuna.trial.FrozenTrial]:
    if not Path("studies/hpsearch.db").exists():
        return []
    try:
        return optuna.load_study(study_name="classification",
                                 storage=resolve("sqlite:///studies/hpsearch.db", create=False)).trials
    except KeyError:  # the study is still being created
        return []


def start(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    with open(LOG, "wb") as log:
        return subprocess.Popen([*prefix, *SWEEP, *args], stdout=log, stderr=subprocess.STDOUT)


def exit_code(process: subprocess.Popen[bytes], deadline_s: float = 60) -> int:
    """Its exit code; a process still running at the deadline dumps its threads' stacks (SIGABRT,
    with faulthandler on) into the failure."""
    try:
        return process.wait(timeout=deadline_s)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        process.wait()
        pytest.fail(f"still running {deadline_s} s after the signal: "
                    f"{LOG.read_text()[-4000:]}")


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as stat:  # a zombie has ended; only its parent's wait is left
        return stat.read().rpartition(")")[2].split()[0] == "Z"


def assert_stopped_cleanly(signum: int, output: str) -> list[optuna.trial.FrozenTrial]:
    found = trials()
    assert not [t for t in found if t.state == TrialState.RUNNING], output
    failed = [t for t in found if t.state == TrialState.FAIL]
    name = signal.Signals(signum).name
    assert failed and all(trial_attrs(t)["reason"] == f"stopped by {name}" for t in failed), output
    assert "Traceback" not in output and "best accuracy" in output  # the table of what finished
    return found


def resume_reaches_the_total(found: list[optuna.trial.FrozenTrial], *args: str) -> None:
    total = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in found) + 1
    done = subprocess.run([*SWEEP[:-1], str(total), *args], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials()) == total


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_a_sweep_as_ctrl_c_does(workdir: Path, signum: int) -> None:
    process = start()
    wait_for_trials(process, log=LOG)
    process.send_signal(signum)
    assert exit_code(process) == 128 + signum
    output = LOG.read_text()
    assert f"stopped by {signal.Signals(signum).name}" in output
    resume_reaches_the_total(assert_stopped_cleanly(signum, output))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_main_process_stops_every_worker_within_seconds(
        workdir: Path, signum: int) -> None:
    process = start("--workers", "2")
    wait_for_trials(process, running=2, log=LOG)  # both workers busy
    workers = {trial_attrs(t)["worker"]["pid"] for t in trials()} - {process.pid}
    signalled = time.monotonic()
    process.send_signal(signum)  # to the main process alone, not its group
    assert exit_code(process) == 128 + signum
    assert time.monotonic() - signalled < 10
    assert workers
    poll(lambda: all(gone(pid) for pid in workers) or None, f"workers {workers} gone", deadline_s=10)
    found = trials()
    assert not [t for t in found if t.state == TrialState.RUNNING]
    assert sum(t.state == TrialState.FAIL for t in found) == 2  # one in flight per worker
    resume_reaches_the_total(found, "--workers", "2")


def test_as_pid_1_in_a_container_sigterm_still_stops_the_sweep(workdir: Path) -> None:
    process = start(prefix=(require("unshare"), "-pf", "--mount-proc"))
    wait_for_trials(process, log=LOG)
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    assert len(children) == 1  # the sweep, PID 1 of its namespace
    os.kill(int(children[0]), signal.SIGTERM)
    assert exit_code(process) == 128 + signal.SIGTERM
    assert_stopped_cleanly(signal.SIGTERM, LOG.read_text())


def test_ctrl_c_stops_a_comparison_as_it_stops_tune(workdir: Path) -> None:
    with open(LOG, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "hpsearch", "compare", "--task", "small",
                                    "--budget", "40", "--epochs", "60"],
                                   stdout=log, stderr=subprocess.STDOUT)
    wait_for_trials(process, "compare-small", log=LOG)
    process.send_signal(signal.SIGINT)
    assert exit_code(process) == 130
    output = LOG.read_text()
    assert "interrupted" in output and "Aborted" not in output and "Traceback" not in output
    study = optuna.load_study(study_name="compare-small",
                              storage=resolve("sqlite:///studies/hpsearch.db", create=False))
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
