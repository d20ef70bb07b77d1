"""Stopping a sweep by a signal, whoever sends it: Ctrl-C (SIGINT), a scheduler or `timeout`
(SIGTERM), a closed terminal (SIGHUP). Each ends the command the way Ctrl-C does: the trial in
flight is recorded as failed with the signal as its reason (one whose end is being stored is kept as
it ended), the workers stop too, and the exit code is 128 + the signal's number (130, 143, 129).
Handlers are installed explicitly (a process that is PID 1 in a container ignores SIGTERM
otherwise), and a worker is told by the kernel when its parent dies, so that it never trains on
alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1  # Linux's prctl option: a signal sent to this process when its parent dies


class Stopped(KeyboardInterrupt):
    """A stopping signal arrived; a KeyboardInterrupt, so every Ctrl-C path handles it alike. It
    counts the trials of this process it stopped in flight (recorded as failed), for the line that
    says so."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.in_flight = 0

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def exit_code(stop: KeyboardInterrupt) -> int:
    """128 + the signal's number: 130 for Ctrl-C (a plain KeyboardInterrupt)."""
    return stop.exit_code if isinstance(stop, Stopped) else 128 + signal.SIGINT


def described(stop: KeyboardInterrupt) -> str:
    """"interrupted" for Ctrl-C, else "stopped by SIGTERM" (or the signal that came)."""
    name = stop.args[0] if stop.args else "SIGINT"
    return "interrupted" if name == "SIGINT" else f"stopped by {name}"


def stopped_in_flight(stop: BaseException, trials: int) -> None:
    """Count on the stop `trials` of this process that it stopped in flight."""
    if isinstance(stop, Stopped):
        stop.in_flight += trials


def in_flight(stop: KeyboardInterrupt) -> int | None:
    """The trials of this process the stop found in flight; None where it cannot tell (a
    KeyboardInterrupt raised by other hands than this module's)."""
    return stop.in_flight if isinstance(stop, Stopped) else None


_held = 0  # depth of `held()` blocks in the main thread
_requested: list[int] = []  # the first stopping signal that came: kept until the process or `handled` ends


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if not _requested:
        _requested.append(signum)
    if not _held:
        raise Stopped(signum)


def check() -> None:
    """Raise the stop a signal asked for: the exception the handler raised can be swallowed where
    it landed (a weakref callback, a destructor), so the request stays and is raised again here."""
    if _requested and not _held:
        raise Stopped(_requested[0])


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP stop this process's main thread: at once, or
    at the end of the `held()` block it is in. The previous handlers come back after it, and a
    stop asked for in it is forgotten (it stopped the block): a later `held()` outside raises none."""
    previous = {signum: signal.getsignal(signum) for signum in STOPPING}
    previous_hook = sys.unraisablehook
    stop_on_signals()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = previous_hook
        _requested.clear()


def stop_on_signals() -> None:
    """SIGINT, SIGTERM and SIGHUP stop this process (a worker's, until it exits). A stop raised
    where Python swallows exceptions is not reported there: `check` raises it again."""
    _requested.clear()
    for signum in STOPPING:
        signal.signal(signum, _on_signal)
    hook = sys.unraisablehook

    def quiet(unraisable: Any) -> None:
        if not (_requested and isinstance(unraisable.exc_value, KeyboardInterrupt)):
            hook(unraisable)

    sys.unraisablehook = quiet


@contextlib.contextmanager
def held(deliver: bool = True) -> Iterator[list[int]]:
    """A stopping signal waits until the block ends: a write to the storage interrupted halfway
    would leave this process's own transaction open, and its next write waiting on it. With
    `deliver=False` the stop is handed over in the yielded list instead, for the caller to raise
    where it is ready to (`deliver(handed)`)."""
    global _held
    handed: list[int] = []
    _held += 1
    try:
        yield handed
    finally:
        _held -= 1
        if not _held and _requested:
            handed.append(_requested[0])
            if deliver:
                raise Stopped(handed[0])


def deliver(handed: list[int]) -> None:
    """Raise the stop a `held(deliver=False)` block handed over, if any."""
    if handed:
        raise Stopped(handed[0])


def stop_with_parent() -> None:
    """Ask the kernel for SIGTERM when the parent process dies (Linux; elsewhere nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
