"""A trial's command run as a child process: its output as lines, its end as an exit code, and
nothing it started left running.

    with Program(["python", "train.py", "--lr=0.001"], cwd=run_dir, env=env, logs=run_dir) as program:
        while not isinstance(event := program.next_event(timeout=1.0), Exited):
            ...  # a Line (stdout or stderr), or None when a second passed in silence

The command runs under `supervisor.py`, in a session of its own (Ctrl-C at the terminal reaches
hpsearch only; hpsearch stops the trial itself). The supervisor ends the command's whole process
tree when told to (`stop`), when the command ends, and when hpsearch dies, even by SIGKILL.

The standard library only: no torch or Optuna here.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

SUPERVISOR = Path(__file__).resolve().with_name("supervisor.py")
MAX_LINE = 65536  # characters kept of one line; the rest of a longer line is dropped
CHUNK = 65536  # bytes read at once
POLL_MS = 500  # how often a reader waiting on a silent pipe checks whether to give up
KILL_WAIT_S = 5.0  # after the grace, how long the supervisor has before SIGKILL
ABANDON_S = 5.0  # how long after a SIGKILL the readers wait for a pipe that stays open
# Lines read but not yet taken by `next_event`, in bytes roughly: past it a reader waits, and the
# program's writes wait on the pipe, until the consumer catches up.
BACKLOG = 32 << 20
LINE_COST = 64  # a Line object's own size


@dataclass(frozen=True, slots=True)
class Line:
    stream: str  # "stdout" or "stderr"
    text: str  # decoded as UTF-8 (errors replaced), without its line ending, cut to MAX_LINE characters


@dataclass(frozen=True, slots=True)
class Exited:
    returncode: int  # the program's exit code; 128+N when killed by signal N
    last_error: str  # the last non-blank line of its standard error ("" if none)


Event = Line | Exited


class LineSplitter:
    """Bytes in, lines out: a line ends at \\n, \\r\\n or a lone \\r (a progress bar's redraw).
    Holds at most MAX_LINE characters of an unfinished line."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._parts: list[str] = []
        self._size = 0  # characters kept of the line so far
        self._open = False  # bytes came since the last line ending
        self._after_cr = False  # the last piece ended with \r: a \n next completes \r\n

    def feed(self, data: bytes) -> list[str]:
        lines = []
        for piece in data.splitlines(keepends=True):
            if self._after_cr:
                self._after_cr = False
                if piece == b"\n":
                    continue
            if piece.endswith((b"\n", b"\r")):
                self._after_cr = piece.endswith(b"\r")
                self._add(piece.rstrip(b"\r\n"), final=True)
                lines.append(self._take())
            else:
                self._add(piece, final=False)
                self._open = True
        return lines

    def finish(self) -> list[str]:
        """The unterminated last line, if any, at the end of the stream."""
        if not self._open:
            return []
        self._add(b"", final=True)
        return [self._take()]

    def _add(self, data: bytes, final: bool) -> None:
        room = MAX_LINE - self._size
        if room <= 0:  # cut: the rest of the line is dropped undecoded
            if final:
                self._decoder.reset()
            return
        text = self._decoder.decode(data, final)[:room]
        if text:
            self._parts.append(text)
            self._size += len(text)

    def _take(self) -> str:
        line = "".join(self._parts)
        self._parts.clear()
        self._size = 0
        self._open = False
        return line


class Program:
    """The user's command, running under the supervisor; its output as `Line`s, its end as `Exited`.

    Create it on a long-lived thread (the main thread): the kernel sends the supervisor its
    parent-death signal when the *thread* that started it ends, which would end the trial.

    One thread takes the events (`next_event`) and closes it (`close`, best in a `finally`); `stop`
    may also come from another thread or a signal handler. Lines not yet taken are bounded
    (BACKLOG): past it the readers, then the program's writes, wait for the consumer.
    """

    def __init__(self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], logs: Path,
                 grace: float = 10.0) -> None:
        if not argv:
            raise ValueError("no command to run")
        self._grace = grace
        self._events: queue.Queue[tuple[list[Event], int]] = queue.Queue()  # (a chunk's, cost)
        self._backlog = 0
        self._taken = threading.Condition()
        self._closing = False
        self._ready: collections.deque[Event] = collections.deque()
        self._exited = False
        self._last_error = ""
        self._open_streams = 2
        self._lock = threading.Lock()
        self._abandon_at: float | None = None
        logs.mkdir(parents=True, exist_ok=True)
        stdout_log = open(logs / "stdout.log", "ab", buffering=0)  # noqa: SIM115 (the reader closes it)
        stderr_log = open(logs / "stderr.log", "ab", buffering=0)  # noqa: SIM115
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(SUPERVISOR), "--parent", str(os.getpid()),
                 "--grace", str(grace), "--", *argv],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                env=dict(env), start_new_session=True)
        except BaseException:
            stdout_log.close()
            stderr_log.close()
            raise
        assert self._process.stdout is not None and self._process.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(pipe, name, log), daemon=True,
                             name=f"hpsearch-{name}-{self._process.pid}")
            for pipe, name, log in ((self._process.stdout, "stdout", stdout_log),
                                    (self._process.stderr, "stderr", stderr_log))]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        """The supervisor's process ID (its process group's and session's too)."""
        return self._process.pid

    def next_event(self, timeout: float | None) -> Line | Exited | None:
        """The next line from either stream, in the order read; `Exited` once, after both streams
        ended and the supervisor was waited for; None when `timeout` seconds passed with nothing,
        and at once after `Exited`."""
        if not self._ready:
            if self._exited:
                return None
            try:
                batch, cost = self._events.get(timeout=timeout)
            except queue.Empty:
                return None
            self._ready.extend(batch)
            with self._taken:
                self._backlog -= cost
                self._taken.notify_all()
        event = self._ready.popleft()
        if isinstance(event, Exited):
            self._exited = True
        return event

    def stop(self) -> None:
        """End the program and everything it started: SIGTERM to the supervisor, which gives the
        tree its grace; SIGKILL to the supervisor's process group if it is still there `grace` + 5
        s later. Does nothing once the supervisor ended."""
        if self._process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=self._grace + KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
            # A descendant out of the group may keep a pipe open: the readers stop waiting for it.
            self._abandon_at = time.monotonic() + ABANDON_S

    def close(self) -> None:
        """`stop`, then wait (boundedly) for the readers, which close the pipes and logs."""
        self._closing = True  # nobody takes lines any more: readers must not wait for room
        self.stop()
        end = time.monotonic() + ABANDON_S
        for reader in self._readers:
            reader.join(timeout=max(0.0, end - time.monotonic()))
        if any(reader.is_alive() for reader in self._readers):
            self._abandon_at = time.monotonic()
            for reader in self._readers:
                reader.join(timeout=2 * POLL_MS / 1000)

    def __enter__(self) -> Program:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _read(self, pipe: BinaryIO, stream: str, log: BinaryIO | None) -> None:
        """Drain one pipe to its end: raw bytes to the log, lines to the queue."""
        splitter = LineSplitter()
        fd = pipe.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        try:
            while True:
                if not poller.poll(POLL_MS):
                    if self._abandon_at is not None and time.monotonic() >= self._abandon_at:
                        break
                    continue
                chunk = os.read(fd, CHUNK)
                if not chunk:
                    break
                log = _append(log, chunk)
                self._put(stream, splitter.feed(chunk))
            self._put(stream, splitter.finish())
        finally:
            pipe.close()
            if log is not None:
                log.close()
            self._stream_ended()

    def _put(self, stream: str, texts: list[str]) -> None:
        if not texts:
            return
        if stream == "stderr":
            for text in reversed(texts):
                if text.strip():
                    self._last_error = text
                    break
        if self._closing:
            return
        cost = sum(map(len, texts)) + LINE_COST * len(texts)
        with self._taken:
            while self._backlog and self._backlog + cost > BACKLOG and not self._closing:
                self._taken.wait(POLL_MS / 1000)
            self._backlog += cost
        self._events.put(([Line(stream, text) for text in texts], cost))

    def _stream_ended(self) -> None:
        with self._lock:
            self._open_streams -= 1
            if self._open_streams:
                return
        returncode = self._process.wait()
        exited = Exited(128 - returncode if returncode < 0 else returncode, self._last_error)
        self._events.put(([exited], 0))


def _append(log: BinaryIO | None, chunk: bytes) -> BinaryIO | None:
    """Write `chunk` to the log; a log that cannot be written to (disk full) is given up, so that
    the pipe is still drained."""
    if log is None:
        return None
    try:
        log.write(chunk)
        return log
    except OSError:
        log.close()
        return None
