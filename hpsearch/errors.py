"""Errors a user can act on. Each message is one line naming the bad value and the valid choices."""

from __future__ import annotations

from collections.abc import Iterable


class HpsearchError(Exception):
    """A problem at run time (exit code 1): the input was well-formed but cannot be honoured."""


class ConfigError(HpsearchError):
    """Bad input from the user (exit code 2): an unknown name, a value out of range, a bad file."""


class StudyMismatchError(ConfigError):
    """A study name the user gave is already used for another task, search space or budget."""


class DeviceUnavailableError(ConfigError):
    """The requested device is not present on this machine."""


def choices(values: Iterable[object]) -> str:
    """Format valid choices for a message: `a, b, c`."""
    return ", ".join(str(v) for v in values)
