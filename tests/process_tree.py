"""A trial's process tree, for tests that stop it: scripts whose processes say they are up, a child
that leaves the session and a grandchild that double-forks (both deaf to SIGTERM), and `marked`,
which finds the live processes carrying a test's mark in their environment, whoever their parent
is now."""

from __future__ import annotations

import os
from pathlib import Path

from waiting import poll

MARK = "HPSEARCH_TEST_MARK"
GONE_S = 10.0  # how long a stopped tree may take to go: the grace, then SIGKILL

# Each process of the tree says it is up by a file named after it in the folder `here` (which the
# script sets first), holding its process ID.
ANNOUNCE = """
import os, signal, sys, time
from pathlib import Path

def announce(name):
    (here / f"{name}.tmp").write_text(str(os.getpid()))
    (here / f"{name}.tmp").rename(here / name)

def stay(name):  # deaf to SIGTERM: only the SIGKILL after the grace ends it
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    announce(name)
    while True:
        signal.pause()
"""

# A child that leaves the session, whose own child double-forks: the middle process exits, its
# child is an orphan. The script goes on.
SPLIT = """
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        if os.fork() == 0:
            stay("orphan")
        os._exit(0)
    os.wait()
    stay("setsid")
"""


def marked(mark: str) -> list[int]:
    """The live (not zombie) processes that carry `mark`, this one aside."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{name}/environ").read_bytes()
            state = Path(f"/proc/{name}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # gone meanwhile, or not ours to read
        if needle in environ.split(b"\0") and state != b"Z":
            found.append(int(name))
    return found


def none_left(mark: str, deadline_s: float = GONE_S) -> None:
    poll(lambda: True if not marked(mark) else None,
         f"every process of the trial gone (left: {marked(mark)})", deadline_s)
