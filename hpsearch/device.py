"""Pick the training device: one abstraction for CPU, CUDA and Apple's MPS."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch.errors import DeviceUnavailableError, choices

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


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
