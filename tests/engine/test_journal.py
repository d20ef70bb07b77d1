"""A journal file: a record half written by a writer that died is dropped before the next write
(under Optuna's own lock, so that a live writer is never cut), readers leave the file as it is, and
a file that is not a journal is refused in one line, exit 1, before anything is written."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock
from optuna.trial import TrialState

from hpsearch.engine.storage import resolve
from tests.cli.test_cli import assert_one_line_error, invoke

TINY = ["--task", "small", "--epochs", "2", "--optimizers", "adam,sgd", "--quiet"]
HALF = b'{"op_code": 6, "worker_id": "abc", "trial_id": 3, "state"'  # a write cut short


def plain_optuna(path: Path) -> optuna.Study:
    """The study as Optuna alone reads the file."""
    return optuna.load_study(study_name="small", storage=JournalStorage(JournalFileBackend(str(path))))


def test_a_half_written_record_is_dropped_before_the_next_write_and_readers_leave_it(
        workdir: Path) -> None:
    journal = workdir / "studies.log"
    url = f"journal:{journal}"
    code, output = invoke("tune", *TINY, "--n-trials", "3", "--storage", url)
    assert code == 0, output
    with journal.open("ab") as file:
        file.write(HALF)
    cut = journal.read_bytes()

    for reader in (["studies"], ["best"], ["trials"], ["report", "--out", str(workdir / "r.html")]):
        code, output = invoke(*reader, "--storage", url)
        assert code == 0, output
    assert journal.read_bytes() == cut  # readers read past the half record and write nothing

    code, output = invoke("tune", *TINY, "--n-trials", "5", "--storage", url)
    assert code == 0, output
    said = [line for line in output.splitlines() if "half-written" in line]
    assert said == [f"storage '{url}': dropped the half-written record at its end ({len(HALF)} bytes "
                    "of a write that never finished); every complete record is kept"], output
    assert HALF not in journal.read_bytes()
    states = [t.state for t in plain_optuna(journal).trials]
    assert states.count(TrialState.COMPLETE) == 5, states


def test_the_repair_waits_for_a_live_writer_that_holds_optunas_lock(tmp_path: Path) -> None:
    journal = tmp_path / "live.log"
    optuna.create_study(study_name="small", storage=JournalStorage(JournalFileBackend(str(journal))))
    storage = resolve(f"journal:{journal}")
    study_id = storage.get_study_id_from_name("small")
    record = json.dumps({"op_code": 2, "worker_id": "live", "study_id": study_id,
                         "user_attr": {"from": "the live writer"}}).encode() + b"\n"
    lock = JournalFileSymlinkLock(str(journal))  # the lock every Optuna writer holds as it writes
    lock.acquire()
    with journal.open("ab") as file:
        file.write(record[:20])  # the live writer is in the middle of its record
        file.flush()
        writer = threading.Thread(target=storage.set_study_user_attr, args=(study_id, "ours", 1))
        writer.start()
        writer.join(timeout=1)
        assert writer.is_alive(), "the write went ahead while another writer held the lock"
        assert journal.read_bytes().endswith(record[:20])  # not cut: the record is in flight
        file.write(record[20:])
    lock.release()
    writer.join(timeout=30)
    assert not writer.is_alive()
    assert plain_optuna(journal).user_attrs == {"from": "the live writer", "ours": 1}


def not_a_journal(kind: str, path: Path) -> None:
    if kind == "random bytes":
        path.write_bytes(random.Random(0).randbytes(300))
    elif kind == "a text file":
        path.write_text("hello\nworld\n")
    elif kind == "one line of text":
        path.write_text("hello\n")
    elif kind == "text without a line end":
        path.write_text("hello")
    else:  # a journal, then a record of an unknown kind and one more
        optuna.create_study(study_name="small", storage=JournalStorage(JournalFileBackend(str(path))))
        with path.open("a") as file:
            file.write('{"op_code": 99, "worker_id": "x"}\n{"op_code": 1, "worker_id": "x", '
                       '"study_id": 0}\n')


@pytest.mark.parametrize("kind, why", [
    ("random bytes", "line 1 is not UTF-8 text"),
    ("a text file", "line 1 is not a JSON record"),
    ("one line of text", "its last line is not a JSON record"),
    ("text without a line end", "it ends in 5 bytes that begin no record"),
    ("an unknown record", "line 2 holds an unknown op_code 99 (known: 0 to 10)"),
])
def test_a_file_that_is_not_a_journal_is_refused_in_one_line(workdir: Path, kind: str,
                                                             why: str) -> None:
    journal = workdir / "not.log"
    not_a_journal(kind, journal)
    before = journal.read_bytes()
    url = f"journal:{journal}"
    for command in (["studies"], ["tune", *TINY, "--n-trials", "1"]):
        code, output = invoke(*command, "--storage", url)
        assert_one_line_error(code, output, 1, f"storage '{url}' is not an Optuna journal: {why}")
    assert journal.read_bytes() == before
    assert not (workdir / "not.log.lock").exists()
