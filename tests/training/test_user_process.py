"""A trial's command as a child process, with real processes and real signals: its lines stream
in as it writes them, a flood of output neither blocks it nor fills memory, and nothing it started
outlives the trial, however the trial ends: stopped, ended by itself, or its hpsearch side killed.

Every process a test starts carries a marker in its environment; `marked` finds the live ones in
/proc, so a test sees a process that escaped, whoever its parent is.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpsearch.training.user.process import MAX_LINE, SUPERVISOR, Exited, Line, LineSplitter, Program
from tests.process_tree import ANNOUNCE, GONE_S, MARK, SPLIT, marked, none_left
from tests.waiting import poll

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux's /proc")

REPO = Path(__file__).resolve().parents[2]
GRACE = 1.0
MB = 1 << 20

# The tree's processes announce themselves in the folder given as the first argument.
HERE = "import sys\nfrom pathlib import Path\nhere = Path(sys.argv[1])\n"

# The command itself waits for a signal, its split tree beside it.
TREE = HERE + ANNOUNCE + SPLIT + """
announce("program")
while True:
    signal.pause()
"""

# Ends by itself, leaving a daemon behind (in a session of its own, its parent gone).
DAEMON = HERE + ANNOUNCE + """
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        stay("daemon")
    os._exit(0)
os.wait()
end = time.monotonic() + 30
while not (here / "daemon").exists() and time.monotonic() < end:
    time.sleep(0.01)
print("leaving the daemon behind")
"""

# The hpsearch side: a process that runs the command as a trial, and closes it when stopped.
DRIVER = """
import os, signal, sys
from pathlib import Path
from hpsearch.training.user.process import Exited, Program

def stopped(signum, frame):
    raise SystemExit(128 + signum)

signal.signal(signal.SIGTERM, stopped)
signal.signal(signal.SIGINT, stopped)
here = Path(sys.argv[1])
program = Program(sys.argv[2:], cwd=here, env=dict(os.environ), logs=here / "logs", grace=1.0)
try:
    while not isinstance(program.next_event(timeout=1.0), Exited):
        pass
finally:
    program.close()
"""

COPY = """
import sys
from pathlib import Path
for name, stream in (("data.out", sys.stdout), ("data.err", sys.stderr)):
    stream.buffer.write((Path(sys.argv[1]) / name).read_bytes())
    stream.flush()
sys.exit(3)
"""

STREAMING = """
import sys, time
from pathlib import Path
print("first")  # not flushed: PYTHONUNBUFFERED is set
go = Path(sys.argv[1]) / "go"
end = time.monotonic() + 30
while not go.exists() and time.monotonic() < end:
    time.sleep(0.01)
print("second")
sys.exit(0 if go.exists() else 1)
"""

# 100 MiB to each stream in 1 MiB writes, the streams taking turns: short lines on stdout, lines of
# a MiB on stderr.
FLOOD = """
import sys
MB = 1 << 20
short = (b"s" * 127 + b"\\n") * (MB // 128)
long = b"l" * (MB - 1) + b"\\n"
for _ in range(100):
    for stream, data in ((sys.stdout, short), (sys.stderr, long)):
        stream.buffer.write(data)
        stream.flush()
"""

OUT = (b"plain\nwindows\r\nprogress 50%\rprogress 100%\r\nbad \xff\xfe byte\n" + "é".encode() * 100_000
       + b"\n" + b"y" * 200_000 + b"\nafter\n\n" + b"x" * 200_000)
OUT_LINES = ["plain", "windows", "progress 50%", "progress 100%", "bad \ufffd\ufffd byte", "é" * MAX_LINE,
             "y" * MAX_LINE, "after", "", "x" * MAX_LINE]
ERR = b"warning: slow\nTraceback (most recent call last):\nValueError: boom\n\n  \n"


@pytest.fixture
def mark() -> Iterator[str]:
    """The marker of this test's processes; any still alive at the end are killed."""
    value = uuid.uuid4().hex
    yield value
    for pid in marked(value):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def environment(mark: str) -> dict[str, str]:
    return {**os.environ, MARK: mark, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(REPO)}


def script(folder: Path, name: str, text: str) -> list[str]:
    (folder / name).write_text(text)
    return [sys.executable, str(folder / name), str(folder)]


def program(argv: list[str], folder: Path, mark: str) -> Program:
    return Program(argv, cwd=folder, env=environment(mark), logs=folder / "logs", grace=GRACE)


def drain(running: Program, deadline_s: float = 30.0) -> tuple[list[Line], Exited]:
    """Every line until the end, and the end."""
    lines: list[Line] = []
    end = time.monotonic() + deadline_s
    while True:
        event = running.next_event(timeout=max(0.0, end - time.monotonic()))
        if isinstance(event, Exited):
            return lines, event
        if event is None or time.monotonic() > end:
            pytest.fail(f"not ended in {deadline_s:g} s; the last lines: {lines[-5:]}")
        lines.append(event)


def texts(lines: list[Line], stream: str) -> list[str]:
    return [line.text for line in lines if line.stream == stream]


def tree_up(folder: Path, mark: str, processes: int, driver: subprocess.Popen[bytes] | None = None) -> int:
    """Wait until the whole tree of TREE is up, `processes` marked processes in all; the orphan's
    process ID. The test fails at once if `driver` ends first."""
    def up() -> bool | None:
        if driver is not None and driver.poll() is not None:
            pytest.fail(f"the driver ended: {(folder / 'driver.log').read_text()}")
        return True if {"program", "setsid", "orphan"} <= {p.name for p in folder.iterdir()} else None

    poll(up, "the program, its setsid'd child and the orphan up", 30)
    assert len(marked(mark)) == processes
    return int((folder / "orphan").read_text())


def parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[1])


def test_lines_of_both_streams_and_the_exit(tmp_path: Path, mark: str) -> None:
    (tmp_path / "data.out").write_bytes(OUT)
    (tmp_path / "data.err").write_bytes(ERR)
    with program(script(tmp_path, "copy.py", COPY), tmp_path, mark) as running:
        lines, exited = drain(running)
    assert texts(lines, "stdout") == OUT_LINES
    assert texts(lines, "stderr") == ["warning: slow", "Traceback (most recent call last):",
                                      "ValueError: boom", "", "  "]
    assert exited == Exited(3, "ValueError: boom")
    assert (tmp_path / "logs" / "stdout.log").read_bytes() == OUT
    assert (tmp_path / "logs" / "stderr.log").read_bytes() == ERR


def test_lines_split_alike_however_the_bytes_come() -> None:
    """A \\r\\n or a UTF-8 character split between two reads is still one."""
    sample = b"a\r\nb\rc\n\r\n\xc3\xa9\xe2\x82\xac\xff\r\r\n" + "é".encode() * 70_000 + b"\nend"
    expected = ["a", "b", "c", "", "é€\ufffd", "", "é" * MAX_LINE, "end"]
    for size in (1, 2, 3, 7, 4099, len(sample)):
        splitter = LineSplitter()
        lines = [line for at in range(0, len(sample), size) for line in splitter.feed(sample[at:at + size])]
        assert lines + splitter.finish() == expected, size


def test_lines_arrive_while_the_program_runs(tmp_path: Path, mark: str) -> None:
    with program(script(tmp_path, "streaming.py", STREAMING), tmp_path, mark) as running:
        first = running.next_event(timeout=30)
        assert first == Line("stdout", "first")  # the program waits for "go", created only now
        (tmp_path / "go").touch()
        lines, exited = drain(running)
    assert texts(lines, "stdout") == ["second"]
    assert exited.returncode == 0


def test_a_flood_of_output_neither_blocks_nor_fills_memory(tmp_path: Path, mark: str) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    counts = {"stdout": 0, "stderr": 0}
    cut = 0
    with program(script(tmp_path, "flood.py", FLOOD), tmp_path, mark) as running:
        end = time.monotonic() + 60
        while not isinstance(event := running.next_event(timeout=max(0.0, end - time.monotonic())), Exited):
            if event is None:
                pytest.fail(f"not ended in 60 s: {counts}")
            counts[event.stream] += 1
            cut += len(event.text) == MAX_LINE
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert event.returncode == 0, event
    assert counts == {"stdout": 100 * MB // 128, "stderr": 100}
    assert cut == 100
    for name in ("stdout.log", "stderr.log"):
        assert (tmp_path / "logs" / name).stat().st_size == 100 * MB
        (tmp_path / "logs" / name).unlink()  # 200 MB that pytest would keep
    assert grown_mb < 200


def test_stop_kills_a_program_deaf_to_sigterm_after_the_grace(tmp_path: Path, mark: str) -> None:
    deaf = ["-c", "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('deaf'); "
                  "signal.pause()"]
    with program([sys.executable, *deaf], tmp_path, mark) as running:
        assert running.next_event(timeout=30) == Line("stdout", "deaf")
        assert len(marked(mark)) == 2  # the supervisor and the program
        start = time.monotonic()
        running.stop()
        stopped_s = time.monotonic() - start
        assert not marked(mark)
        exited = drain(running, GONE_S)[1]
    assert exited == Exited(128 + signal.SIGTERM, "")
    assert GRACE <= stopped_s < GRACE + 5


def test_stop_ends_the_whole_tree(tmp_path: Path, mark: str) -> None:
    with program(script(tmp_path, "tree.py", TREE), tmp_path, mark) as running:
        orphan = tree_up(tmp_path, mark, 4)  # the supervisor, the program, setsid'd, orphan
        assert parent(orphan) == running.pid  # the supervisor took the orphan in
        running.stop()
        none_left(mark)
        exited = drain(running, GONE_S)[1]
    assert exited.returncode == 128 + signal.SIGTERM


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT],
                         ids=["SIGKILL", "SIGTERM", "SIGINT"])
def test_nothing_outlives_the_hpsearch_side(tmp_path: Path, mark: str, signum: int) -> None:
    (tmp_path / "tree.py").write_text(TREE)
    with open(tmp_path / "driver.log", "wb") as log:
        driver = subprocess.Popen(
            [*script(tmp_path, "driver.py", DRIVER), sys.executable, str(tmp_path / "tree.py"),
             str(tmp_path)], env=environment(mark), stdout=log, stderr=subprocess.STDOUT)
    try:
        tree_up(tmp_path, mark, 5, driver)  # and the driver
        driver.send_signal(signum)
        code = driver.wait(timeout=GONE_S)
    finally:
        driver.kill()
        driver.wait()
    assert code == (-signum if signum == signal.SIGKILL else 128 + signum), (
        (tmp_path / "driver.log").read_text())
    none_left(mark)


def test_what_the_program_leaves_behind_is_ended(tmp_path: Path, mark: str) -> None:
    with program(script(tmp_path, "daemon.py", DAEMON), tmp_path, mark) as running:
        lines, exited = drain(running)
        assert not marked(mark)  # ended before the supervisor did
    assert texts(lines, "stdout") == ["leaving the daemon behind"]
    assert exited.returncode == 0
    assert not Path(f"/proc/{int((tmp_path / 'daemon').read_text())}").exists()


def test_killed_by_a_signal(tmp_path: Path, mark: str) -> None:
    argv = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
    with program(argv, tmp_path, mark) as running:
        assert drain(running)[1] == Exited(128 + signal.SIGKILL, "")


def test_a_command_that_does_not_exist(tmp_path: Path, mark: str) -> None:
    name = f"hpsearch-no-such-command-{mark}"
    with program([name, "--lr=0.1"], tmp_path, mark) as running:
        lines, exited = drain(running)
    assert exited.returncode == 127
    assert name in exited.last_error
    assert texts(lines, "stderr") == [exited.last_error]


def test_nothing_starts_once_hpsearch_is_gone(tmp_path: Path, mark: str) -> None:
    """The supervisor's parent is not the process that asked for it (it died before the
    parent-death signal was set): the command never starts."""
    assert os.getpid() != 1  # the supervisor's real parent must differ from the one it is told
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(SUPERVISOR), "--parent", "1", "--grace", "1", "--", "touch",
         str(tmp_path / "started")], env=environment(mark), capture_output=True, timeout=30)
    assert done.returncode == 1, done.stderr
    assert not (tmp_path / "started").exists()
