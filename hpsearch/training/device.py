"""Pick the training device: one abstraction for CPU, CUDA and Apple's MPS."""

from __future__ import annotations

import ctypes
import os
from typing import TYPE_CHECKING

from hpsearch.errors import DeviceUnavailableError, choices

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "bf16", "fp32")  # auto: bf16 where the device supports it, else fp32


def training_threads(workers: int = 1) -> int:
    """torch's threads in each of `workers` processes training side by side on this machine:
    OMP_NUM_THREADS where it is set (by the user, a scheduler, a test), else the CPUs this process
    may run on (a cluster job's share, not the whole machine's), divided among the workers.
    More threads than free cores makes OpenMP's spinning threads slow every step down many times."""
    given = os.environ.get("OMP_NUM_THREADS", "").strip()
    if given.isascii() and given.isdigit() and int(given) > 0:
        return int(given)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cpus // workers)


def use_training_threads(workers: int = 1) -> None:
    import torch

    torch.set_num_threads(training_threads(workers))


def available_devices() -> tuple[str, ...]:
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    if torch.backends.mps.is_available():
        found.append("mps")
    return tuple(found)


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; asking for a device that is absent is an error."""
    import torch

    if name not in DEVICE_CHOICES:
        raise DeviceUnavailableError(
            f"unknown device '{name}'; valid choices: {choices(DEVICE_CHOICES)}"
        )
    present = available_devices()
    if name == "auto":
        name = next(d for d in ("cuda", "mps", "cpu") if d in present)
    if name not in present:
        raise DeviceUnavailableError(
            f"device '{name}' is not available on this machine; "
            f"valid choices here: {choices(('auto', *present))}"
        )
    return torch.device(name)


def describe(device: torch.device) -> str:
    """`cpu`, or the GPU's name: what a report needs to tell one run from another."""
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def visible_gpus() -> list[str]:
    """The NVIDIA GPUs this process may use, found without importing torch or starting CUDA, so
    that worker processes can be given theirs before either is loaded: CUDA_VISIBLE_DEVICES when
    it is set, else the driver's count, read through NVML as torch itself does."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [gpu.strip() for gpu in listed.split(",") if gpu.strip()]
    try:
        nvml = ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:  # no NVIDIA driver
        return []
    count = ctypes.c_uint(0)
    if nvml.nvmlInit_v2() != 0 or nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) != 0:
        return []
    nvml.nvmlShutdown()
    return [str(index) for index in range(count.value)]


def worker_environment(index: int, gpus: list[str], per_worker: int = 1) -> dict[str, str]:
    """Worker `index` of a parallel run sees one GPU of its own (round robin) when there are
    several, or its own `per_worker` of them; with one or none it inherits this process's view."""
    if per_worker > 1 and gpus:
        return {"CUDA_VISIBLE_DEVICES": ",".join(gpus[index * per_worker:(index + 1) * per_worker])}
    return {"CUDA_VISIBLE_DEVICES": gpus[index % len(gpus)]} if len(gpus) > 1 else {}


def check_gpu_split(workers: int, per_worker: int) -> None:
    """Refuse more GPUs than are visible: `workers` x `per_worker` (none visible: the CPU)."""
    gpus = visible_gpus()
    if gpus and workers * per_worker > len(gpus):
        raise DeviceUnavailableError(
            f"--workers {workers} x --gpus-per-trial {per_worker} needs {workers * per_worker} "
            f"GPUs; {len(gpus)} are visible ({','.join(gpus)})")


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The dtype a trial's forward passes autocast to: bf16 where the device supports it (`auto`,
    or `bf16` asked for), None (fp32) on the CPU and elsewhere, one code path for all."""
    import torch

    if precision not in PRECISIONS:
        raise DeviceUnavailableError(f"unknown precision '{precision}'; valid choices: "
                                     f"{choices(PRECISIONS)}")
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if device.type != "cuda" or not torch.cuda.is_bf16_supported():
        if precision == "bf16":
            raise DeviceUnavailableError(f"{describe(device)} has no bf16; valid choices here: "
                                         "auto, fp32")
        return None
    return torch.bfloat16
