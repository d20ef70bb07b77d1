"""A journal file opened safely: a record cut short by a write that never finished (a kill during
the write, a full disk) is dropped before this process writes, and a file that is not an Optuna
journal is refused in one line, before anything is written.

Optuna reads past a last line without its line end (a writer may be in the middle of it), but its
next write appends onto that half line, and from then on every reader fails on the file. A writer
here takes Optuna's own lock (the symbolic link `FILE.lock`, which every Optuna writer holds for the
whole of its write) and, under it, cuts the file back to its last complete line before each write:
what is cut is a write that died, never one in flight.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

from hpsearch.engine.optuna_adapter import journal_op_codes
from hpsearch.errors import HpsearchError

log = logging.getLogger("hpsearch")

ENTRY_START = b'{"op_code":'  # how Optuna begins every entry of its journal (spaces aside)
BLOCK = 1 << 16


def open_journal(path: Path, shown: str, writing: bool) -> JournalStorage:
    """Optuna's journal storage on `path` (shown as `shown`); one line naming it and what is wrong
    if it is not a journal. A writer's every write first drops a half-written last record."""
    try:
        lock = RepairingLock(path, shown) if writing else None
        storage = JournalStorage(JournalFileBackend(str(path), lock_obj=lock))
        why = end_fault(path)
    except OSError as error:
        raise HpsearchError(f"cannot open storage '{shown}': {error.strerror or error}") from None
    except (ValueError, KeyError, TypeError, AssertionError) as error:  # what Optuna's replay raises
        why = first_fault(path) or f"a record Optuna cannot replay ({type(error).__name__}: {error})"
    if why:
        raise not_a_journal(shown, why)
    return storage


def not_a_journal(shown: str, why: str) -> HpsearchError:
    return HpsearchError(f"storage '{shown}' is not an Optuna journal: {why}")


class RepairingLock(JournalFileSymlinkLock):
    """Optuna's lock on the journal file (the one its writers take); once held, a half-written
    last record, left by a writer that died, is cut off before this process appends."""

    def __init__(self, path: Path, shown: str) -> None:
        super().__init__(str(path))
        self.path, self.shown = path, shown

    def acquire(self) -> bool:
        super().acquire()
        try:
            drop_partial_entry(self.path, self.shown)
        except BaseException:
            self.release()
            raise
        return True


def drop_partial_entry(path: Path, shown: str) -> None:
    """Truncate the file at its last complete line, saying so; called under the writers' lock."""
    with path.open("r+b") as file:
        size = file.seek(0, os.SEEK_END)
        file.seek(max(size - 1, 0))
        if file.read(1) in (b"", b"\n"):
            return  # the usual case: the last write finished (or none was made)
        end = line_end_before(file, size)
        why = tail_fault(file, end, size)
        if why is not None:
            raise not_a_journal(shown, why)
        file.truncate(end)
        file.flush()
        os.fsync(file.fileno())
    log.warning(f"storage '{shown}': dropped the half-written record at its end ({size - end} bytes "
                "of a write that never finished); every complete record is kept")


def end_fault(path: Path) -> str | None:
    """What is wrong with the file's end, which Optuna's reader passes over: a last complete line
    that is not JSON, or an unfinished last line that begins no record."""
    with path.open("rb") as file:
        size = file.seek(0, os.SEEK_END)
        end = line_end_before(file, size)
        why = tail_fault(file, end, size)
        if why is not None or end == 0:
            return why
        start = line_end_before(file, end - 1)
        file.seek(start)
        last = file.read(end - start)
    try:
        json.loads(last)
    except ValueError:
        return "its last line is not a JSON record"
    return None


def tail_fault(file: BinaryIO, end: int, size: int) -> str | None:
    """Why the unfinished last line (from `end` to `size`) is not a record cut short; None if it
    is one, or there is none."""
    file.seek(end)
    if end < size and not begins_entry(file.read(len(ENTRY_START) * 2)):
        return f"it ends in {size - end} bytes that begin no record"
    return None


def first_fault(path: Path) -> str | None:
    """The first line of the file that is not an Optuna record, and why; None if none is found."""
    known = journal_op_codes()
    for number, line in numbered_lines(path):
        try:
            record = json.loads(line)
        except UnicodeDecodeError:
            return f"line {number} is not UTF-8 text"
        except ValueError:
            return f"line {number} is not a JSON record"
        if not isinstance(record, dict) or "op_code" not in record:
            return f"line {number} is a JSON value but not a record (no op_code)"
        if record["op_code"] not in known:
            return (f"line {number} holds an unknown op_code {record['op_code']!r} "
                    f"(known: {min(known)} to {max(known)})")
    return None


def numbered_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """The file's complete lines, numbered from 1 (an unfinished last line is left out)."""
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            if line.endswith(b"\n"):
                yield number, line


def line_end_before(file: BinaryIO, offset: int) -> int:
    """The offset just past the last line end before `offset` (0 if there is none)."""
    while offset > 0:
        start = max(0, offset - BLOCK)
        file.seek(start)
        found = file.read(offset - start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        offset = start
    return 0


def begins_entry(head: bytes) -> bool:
    """Whether an unfinished line is the beginning of an entry, however short."""
    compact = re.sub(rb"\s", b"", head)[:len(ENTRY_START)]
    return compact == ENTRY_START[:len(compact)]
