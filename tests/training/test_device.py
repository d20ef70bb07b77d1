from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from hpsearch.errors import DeviceUnavailableError
from hpsearch.training.device import (
    available_devices,
    resolve_device,
    training_threads,
    visible_gpus,
    worker_environment,
)


def test_auto_picks_the_best_present_device() -> None:
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu").type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_an_absent_device_is_a_clear_error() -> None:
    with pytest.raises(DeviceUnavailableError) as error:
        resolve_device("cuda")
    assert str(error.value) == (
        "device 'cuda' is not available on this machine; valid choices here: "
        + ", ".join(("auto", *available_devices()))
    )
    with pytest.raises(DeviceUnavailableError, match="unknown device 'tpu'"):
        resolve_device("tpu")


def test_workers_each_get_their_own_gpu_from_the_visible_ones(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3, 5")
    gpus = visible_gpus()
    assert gpus == ["3", "5"]
    assert [worker_environment(i, gpus) for i in range(1, 4)] == [
        {"CUDA_VISIBLE_DEVICES": "5"}, {"CUDA_VISIBLE_DEVICES": "3"},
        {"CUDA_VISIBLE_DEVICES": "5"}]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # none visible: nothing to hand out
    assert visible_gpus() == [] and worker_environment(1, []) == {}
    assert worker_environment(1, ["7"]) == {}  # one GPU: shared, as this process sees it


@pytest.mark.parametrize(("given", "workers", "expected"), [
    ("3", 1, 3), ("3", 4, 3),  # per process, as OpenMP reads it
    ("", 1, "cpus"), ("", 2, "cpus/2"), ("0", 2, "cpus/2"), ("many", 1, "cpus")])
def test_training_threads_follow_omp_num_threads_else_share_this_process_cpus(
        monkeypatch: pytest.MonkeyPatch, given: str, workers: int, expected: object) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", given)
    cpus = len(os.sched_getaffinity(0))
    wanted = {"cpus": cpus, "cpus/2": max(1, cpus // 2)}.get(str(expected), expected)
    assert training_threads(workers) == wanted


def test_training_threads_are_the_cpus_a_job_was_given_not_the_machines() -> None:
    """A scheduler pins a job to some cores (here one, with taskset): os.cpu_count() still says
    the whole machine's."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    shown = subprocess.run(["taskset", "-c", "0", sys.executable, "-c",
                            "from hpsearch.training.device import training_threads; "
                            "print(training_threads())"],
                           capture_output=True, text=True, env=env, timeout=60, check=True)
    assert shown.stdout.strip() == "1"
