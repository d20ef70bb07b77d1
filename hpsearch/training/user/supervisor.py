"""Runs a trial's command as its child, and makes sure that nothing the command started outlives it.

    python -I -S supervisor.py --parent PID --grace SECONDS -- ARGV...

hpsearch starts this script in a session of its own, with the trial's working directory,
environment and pipes, which the program inherits. The script uses the standard library only: it
runs isolated (-I -S), so it never imports hpsearch, torch or the user's packages.

- The program's descendants stay in reach: this process is a child subreaper, so a descendant whose
  parent died (a double fork, a daemon) becomes its child instead of init's.
- When hpsearch dies, even by SIGKILL, the kernel sends this process SIGTERM (parent-death signal).
- On SIGTERM, SIGINT or SIGHUP, and when the program ends by itself, every descendant is found in
  /proc (setsid'd ones too), sent SIGTERM, given --grace seconds, then sent SIGKILL.
- Exit code: the program's; 128+N when it was killed by signal N, or when signal N stopped the trial;
  127 when the program cannot be started.

Linux only in full: elsewhere (no prctl, no /proc) the program's process group, which is this
script's, is signalled instead (its SIGKILL ends this script too), and descendants that left the
group are not reached.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
STOPPING = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
POLL_S = (0.01, 0.2)  # between scans of /proc: quick at first, cheap on a long grace
KILL_DEADLINE_S = 30.0  # SIGKILL rounds: bounded, in case descendants fork faster than they die


class Stop(Exception):
    """A stopping signal arrived (raised by its handler, caught around the whole run)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


stopping: list[int] = []  # the signal that started the end: later ones must not interrupt it


def on_signal(signum: int, frame: object) -> None:
    if not stopping:
        stopping.append(signum)
        raise Stop(signum)


def prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)  # this process's own symbols, libc's among them
    return bool(libc.prctl(option, value, 0, 0, 0) == 0)


def descendants() -> set[int] | None:
    """The live (not zombie) descendants of this process, found in /proc; None without /proc."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    children: dict[int, list[int]] = {}
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if fields[0] not in (b"Z", b"X"):
            children.setdefault(int(fields[1]), []).append(int(name))
    found: set[int] = set()
    todo = [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def reap() -> bool:
    """Reap every child that has ended, without waiting; whether children remain."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def signal_all(signum: int, signalled: set[int]) -> bool:
    """Send `signum` to each live descendant not in `signalled` (added to it); whether any is left
    alive."""
    children = reap()
    alive = descendants()
    if alive is None:  # no /proc: our process group, the program's too (a SIGTERM here is ignored)
        if signum not in signalled:
            signalled.add(signum)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(os.getpgrp(), signum)
        return children
    for pid in alive - signalled:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
        signalled.add(pid)
    return bool(alive)


def end_tree(grace: float) -> None:
    """SIGTERM to every descendant (new ones too, while they are being waited for), up to `grace`
    seconds for them to go, then SIGKILL until none is left."""
    if not stopping:
        stopping.append(0)  # a stop signal from now on changes nothing: the end is under way
    termed: set[int] = set()
    pause, end = POLL_S[0], time.monotonic() + grace
    while signal_all(signal.SIGTERM, termed) and time.monotonic() < end:
        time.sleep(min(pause, max(0.0, end - time.monotonic())))
        pause = min(pause * 1.5, POLL_S[1])
    end = time.monotonic() + KILL_DEADLINE_S
    while signal_all(signal.SIGKILL, set()) and time.monotonic() < end:
        time.sleep(POLL_S[0])
    reap()


def wait_for(pid: int) -> int:
    """Wait until `pid` ends, reaping orphans that end meanwhile; its wait status."""
    while True:
        ended, status = os.waitpid(-1, 0)
        if ended == pid:
            return status


def exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def run(argv: list[str], parent: int, grace: float) -> int:
    try:
        for signum in STOPPING:
            signal.signal(signum, on_signal)
        prctl(PR_SET_CHILD_SUBREAPER, 1)
        if prctl(PR_SET_PDEATHSIG, signal.SIGTERM) and os.getppid() != parent:
            return 1  # hpsearch died before the signal was set up: start nothing
        try:
            program = subprocess.Popen(argv)
        except OSError as error:  # not found, not executable, not a program
            print(f"hpsearch: cannot run {argv[0]!r}: {error.strerror}", file=sys.stderr, flush=True)
            return 127
        code = exit_code(wait_for(program.pid))
        program.returncode = code  # reaped here: Popen must not wait for it again
        end_tree(grace)  # what the program left behind
        return code
    except Stop as stop:  # a child started meanwhile is found in /proc all the same
        end_tree(grace)
        return 128 + stop.signum


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--grace", type=float, default=10.0)
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        parser.error("no command to run after --")
    return run(argv, args.parent, args.grace)


if __name__ == "__main__":
    sys.exit(main())
