"""The language model's data and sizes, refused in one line before anything is stored: a context
longer than a split, a malformed meta.pkl, token ids outside the vocabulary, an odd-sized
train.bin, a device or a FIFO given as --data, a width that would change the head size."""

from __future__ import annotations

import json
import os
import pickle
import socket
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hpsearch
from hpsearch.errors import ConfigError
from hpsearch.tasks import corpus as corpora
from hpsearch.tasks.files import regular_file
from hpsearch.tasks.prepare import LanguageModel, prepare_task
from tests.cli.test_bad_input import storage_bytes
from tests.cli.test_cli import assert_one_line_error, invoke

DATABASE = Path("studies/hpsearch.db")
# One short trial of the smallest GPT: what a corpus's checks are run ahead of.
TRAIN = ["--steps", "4", "--eval-every", "2", "--n-trials", "1", "--width", "16", "--depth", "1",
         "--batch-size", "4", "--optimizers", "adamw"]
MARKER_MODEL = """
from pathlib import Path

from hpsearch.tasks.gpt import gpt


def build(vocab_size, context):
    Path("built").touch()  # a model of this context was built (and would be run)
    return gpt(vocab_size, context, 16, 1)
"""


def text_file(path: Path, size: int) -> Path:
    path.write_bytes(bytes(i % 251 for i in range(size)))
    return path


def nanogpt(folder: Path, vocab: int = 50, train_ids: int = 4000, val_ids: int = 1000) -> Path:
    """train.bin and val.bin of ids below `vocab`, in nanoGPT's layout; returns train.bin."""
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    rng.integers(0, vocab, train_ids, dtype=np.uint16).tofile(folder / "train.bin")
    rng.integers(0, vocab, val_ids, dtype=np.uint16).tofile(folder / "val.bin")
    return folder / "train.bin"


# Item 4: a context longer than a split.

@pytest.mark.parametrize("size, context, split, at_most", [
    (100, 16, "validation split (the next 5% of 'corpus.txt') holds 5", "at most 4"),
    (2000, 500, "validation split (the next 5% of 'corpus.txt') holds 100", "at most 99"),
])
def test_a_context_longer_than_a_split_is_refused_before_a_model_or_study_then_a_lower_one_trains(
    workdir: Path, size: int, context: int, split: str, at_most: str
) -> None:
    text_file(workdir / "corpus.txt", size)
    (workdir / "marker.py").write_text(MARKER_MODEL)
    refused = ["tune", "--task", "lm", "--data", "corpus.txt", "--model", "marker.py:build", *TRAIN]
    assert_one_line_error(*invoke(*refused, "--context", str(context)), 2,
                          f"--context {context} needs windows of {context + 1} tokens", split,
                          f"lower --context to {at_most}")
    assert not (workdir / "built").exists()  # refused from the lengths, no model built
    assert not DATABASE.exists()
    code, output = invoke(*refused, "--context", "4")  # the fix the message suggests
    assert code == 0, output
    assert "(1 trials" in output and (workdir / "built").exists()
    stored = storage_bytes()  # the study now holds context 4: a refusal leaves it as it is
    assert_one_line_error(*invoke(*refused, "--context", str(context)), 2, split)
    assert storage_bytes() == stored


class Enough(Exception):
    """Raised by a callback once a run has finished: the sweep trains, no need to wait it out."""


def test_scale_refuses_a_context_longer_than_a_split_then_sweeps_with_a_lower_one(
    workdir: Path
) -> None:
    text_file(workdir / "corpus.txt", 100)
    sweep: dict[str, Any] = {"parametrizations": "sp", "widths": (16,), "depth": 1, "steps": 5,
                             "batch_size": 4, "data": "corpus.txt"}
    assert_one_line_error(*invoke("scale", "--data", "corpus.txt", "--context", "16"), 2,
                          "--context 16 needs windows", "holds 5", "lower --context to at most 4")
    assert not DATABASE.exists()

    def enough(study: Any, trial: Any) -> None:
        raise Enough

    with pytest.raises(Enough):
        hpsearch.scale("adamw", context=4, callbacks=[enough], **sweep)
    finished = hpsearch.load("scale-lm").study.trials
    assert [t.state.name for t in finished] == ["COMPLETE"]


def test_compare_refuses_a_context_longer_than_a_split_then_compares_with_a_lower_one(
    workdir: Path
) -> None:
    text_file(workdir / "corpus.txt", 100)
    budget: dict[str, Any] = {"budget": 1, "seeds": 1, "studies": 1, "steps": 4}
    assert_one_line_error(*invoke("compare", "--task", "lm", "--data", "corpus.txt",
                                  "--optimizers", "adamw", *[f"--{k}={v}" for k, v in budget.items()]),
                          2, "--context 64 needs windows of 65 tokens", "holds 5")
    assert not DATABASE.exists()
    with pytest.raises(ConfigError, match="--context 16 needs windows"):
        hpsearch.compare("lm", optimizers="adamw", data="corpus.txt", context=16, **budget)
    assert not DATABASE.exists()
    result = hpsearch.compare("lm", optimizers="adamw", data="corpus.txt", context=4, **budget)
    assert len(result.study.trials) == 3 and all(t.state.name == "COMPLETE" for t in result.study.trials)


def test_a_long_training_split_does_not_excuse_a_short_test_split(tmp_path: Path) -> None:
    folder = tmp_path / "ng"
    nanogpt(folder, train_ids=5000, val_ids=40)  # test: the second half of val.bin, 20 tokens
    (folder / "meta.json").write_text(json.dumps({"vocab_size": 50}))
    with pytest.raises(ConfigError, match=r"the validation split \(the first half of '.*val.bin'\) "
                                          r"holds 20: lower --context to at most 19"):
        prepare_task("lm", data=str(folder / "train.bin"), language=LanguageModel(16, 1, 32))


# Item 11: every failure of reading meta.pkl (or meta.json) is one line naming the file.

MALFORMED = {
    "append to an int": ("meta.pkl", b"K\x01K\x02a."),
    "empty": ("meta.pkl", b""),
    "no stop": ("meta.pkl", b"}K\x01"),
    "a list as a key": ("meta.pkl", b"}]K\x01s."),
    "a memo never stored": ("meta.pkl", b"h\x05."),
    "a future protocol": ("meta.pkl", b"\x80\x09K\x01."),
    "a function": ("meta.pkl", b"cbuiltins\neval\n(S'1'\ntR."),
    "truncated": ("meta.pkl", pickle.dumps({"vocab_size": 50})[:-3]),
    "not json": ("meta.json", b'{"vocab_size": '),
    "not utf-8": ("meta.json", b"\xff\xfe{}"),
    "deeply nested json": ("meta.json", b"[" * 100_000),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_meta_file_is_one_line_naming_it(workdir: Path, name: str) -> None:
    file, content = MALFORMED[name]
    train = nanogpt(Path("ng"))
    (workdir / "ng" / file).write_bytes(content)
    assert_one_line_error(*invoke("tune", "--task", "lm", "--data", str(train), *TRAIN), 2,
                          f"cannot read the vocabulary from 'ng/{file}'")
    assert not DATABASE.exists()


def test_a_meta_file_without_a_vocabulary_names_it(workdir: Path) -> None:
    train = nanogpt(Path("ng"))
    with (workdir / "ng" / "meta.pkl").open("wb") as handle:
        pickle.dump([1, 2, 3], handle)
    assert_one_line_error(*invoke("tune", "--task", "lm", "--data", str(train), *TRAIN), 2,
                          "'ng/meta.pkl' has no vocab_size from 2 to 65536; got None")


# Item 16: token ids at or above the vocabulary.

@pytest.mark.parametrize("file, meta, flags, source", [
    ("val.bin", None, ["--vocab-size", "50"], "from --vocab-size"),
    ("train.bin", "meta.json", [], "from 'ng/meta.json'"),
    ("train.bin", "meta.pkl", [], "from 'ng/meta.pkl'"),
])
def test_a_token_id_outside_the_vocabulary_is_refused_before_anything_is_stored(
    workdir: Path, file: str, meta: str | None, flags: list[str], source: str
) -> None:
    train = nanogpt(Path("ng"))
    ids = np.fromfile(workdir / "ng" / file, dtype=np.uint16)
    ids[100] = 50  # the first id outside a vocabulary of 50, where validation windows read it
    ids.tofile(workdir / "ng" / file)
    if meta == "meta.json":
        (workdir / "ng" / meta).write_text(json.dumps({"vocab_size": 50}))
    elif meta == "meta.pkl":
        (workdir / "ng" / meta).write_bytes(pickle.dumps({"vocab_size": 50, "itos": {0: "a"}}))
    assert_one_line_error(*invoke("tune", "--task", "lm", "--data", str(train), *flags, *TRAIN,
                                  "--context", "16"), 2,
                          f"'ng/{file}' holds token id 50, outside the vocabulary of 50 "
                          f"(ids 0 to 49, {source})", "at least 51")
    assert not DATABASE.exists()


def test_the_largest_id_is_found_block_by_block(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    train = nanogpt(tmp_path / "ng")
    ids = np.fromfile(train, dtype=np.uint16)
    ids[-1] = 60_000  # in the last of many blocks
    ids.tofile(train)
    monkeypatch.setattr(corpora, "READ_BLOCK", 64)
    with pytest.raises(ConfigError, match="holds token id 60000, outside the vocabulary of 50"):
        corpora.load_corpus(str(train), vocab_size=50)
    assert corpora.load_corpus(str(train), vocab_size=60_001).vocab_size == 60_001


# Item 19: an odd-sized train.bin.

def test_an_odd_sized_token_file_is_refused_naming_its_size(workdir: Path) -> None:
    train = nanogpt(Path("ng"))
    with train.open("ab") as handle:
        handle.write(b"\x01")
    assert_one_line_error(*invoke("tune", "--task", "lm", "--data", str(train),
                                  "--vocab-size", "50", *TRAIN), 2,
                          "data file 'ng/train.bin' is 8001 bytes, not a whole number of 2-byte "
                          "uint16 token ids")
    assert not DATABASE.exists()


# Item 20: --data that is not a regular file.

def test_a_fifo_or_a_device_as_data_says_what_it_is(workdir: Path) -> None:
    os.mkfifo(workdir / "pipe.txt")
    assert_one_line_error(*invoke("tune", "--task", "lm", "--data", "pipe.txt", *TRAIN), 2,
                          "data file 'pipe.txt' is a FIFO (named pipe), not a regular file")
    if Path("/dev/zero").exists():
        assert_one_line_error(*invoke("tune", "--task", "lm", "--data", "/dev/zero", *TRAIN), 2,
                              "data file '/dev/zero' is a character device, not a regular file")
    nanogpt(workdir / "ng")
    (workdir / "ng" / "val.bin").unlink()
    os.mkfifo(workdir / "ng" / "val.bin")
    assert_one_line_error(*invoke("tune", "--task", "lm", "--data", "ng/train.bin",
                                  "--vocab-size", "50", *TRAIN), 2,
                          "data file 'ng/val.bin' is a FIFO (named pipe), not a regular file")
    assert not DATABASE.exists()


def test_regular_file_names_every_kind_of_path(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "plain").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "plain")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "sock"))
        cases = {"folder": "is a directory, not a file", "nowhere": "does not exist",
                 "dangling": "does not exist", "sock": "is a socket, not a regular file",
                 "plain/inside": "cannot be reached: Not a directory"}
        for name, fragment in cases.items():
            with pytest.raises(ConfigError, match=f"^corpus '{tmp_path / name}' {fragment}$"):
                regular_file(tmp_path / name, "corpus")
    assert regular_file(str(tmp_path / "link"), "corpus") == tmp_path / "link"
    (tmp_path / "plain").chmod(0)
    if not os.access(tmp_path / "plain", os.R_OK):  # root reads it anyway
        with pytest.raises(ConfigError, match="'.*plain' cannot be read: Permission denied"):
            regular_file(tmp_path / "plain")
    (tmp_path / "plain").chmod(stat.S_IRUSR | stat.S_IWUSR)


# Item 18a: a width that is not a multiple of the head dimension.

@pytest.mark.parametrize("args, fragment", [
    (["tune", "--task", "lm", "--width", "24", "--steps", "4", "--eval-every", "2"],
     "--width 24 is not a multiple of the head dimension 16"),
    (["tune", "--task", "lm", "--width", "8", "--steps", "4", "--eval-every", "2"],
     "--width 8 is not a multiple of the head dimension 16"),
    (["scale", "--widths", "16,24,32"], "--widths: width 24 is not a multiple of the head dimension 16"),
    (["scale", "--widths", "16,32", "--base-width", "8"],
     "--base-width 8 is not a multiple of the head dimension 16"),
])
def test_a_width_off_the_head_dimension_is_refused(workdir: Path, args: list[str],
                                                   fragment: str) -> None:
    assert_one_line_error(*invoke(*args), 2, fragment, "valid: 16, 32, 48, ...")
    assert not DATABASE.exists()


def test_a_width_off_the_head_dimension_is_refused_from_python(workdir: Path) -> None:
    with pytest.raises(ConfigError, match="--width 40 is not a multiple of the head dimension 16"):
        hpsearch.tune("lm", width=40, steps=4, eval_every=2)
    with pytest.raises(ConfigError, match="--widths: width 24 is not a multiple"):
        hpsearch.scale("adamw", widths=(16, 24))
    assert not DATABASE.exists()
    from hpsearch.tasks.gpt import gpt

    with pytest.raises(ConfigError, match="width 20 is not a multiple"):
        gpt(256, 16, width=20)
