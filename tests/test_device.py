from __future__ import annotations

import pytest
import torch

from hpsearch.device import available_devices, resolve_device, visible_gpus, worker_environment
from hpsearch.errors import DeviceUnavailableError


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
