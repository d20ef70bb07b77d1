"""Token streams for the language-model task: the built-in corpus, a text file, or nanoGPT's layout.

- Built in, on every machine: the sorted `*.py` files of Python's standard library (without
  `test/`, `idlelib/`, `lib2to3/` and `site-packages/`), capped at 16 MB, as bytes (vocabulary 256).
  Split by file: every 10th file to validation, the next to test, the rest to training, so no window
  crosses from one split into another and no file is in two.
- `--data corpus.txt`: any file, as bytes, split into contiguous parts (90 % train, 5 % validation,
  5 % test).
- `--data train.bin`: nanoGPT's layout, a flat array of uint16 token ids with `val.bin` beside it,
  memory-mapped and never read whole; the first half of `val.bin` validates, the second is the test
  split. Its vocabulary comes from `--vocab-size`, or from nanoGPT's `meta.pkl` (read by an unpickler
  that admits plain dicts, lists, strings and numbers only) or a `meta.json` beside it. Both files
  are read through once, block by block, for their hash and their largest token id: an id outside
  the vocabulary is refused before anything is stored.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import platform
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpsearch.errors import ConfigError
from hpsearch.tasks.files import regular_file

CAP_BYTES = 16 * 2**20
LEFT_OUT = frozenset({"test", "idlelib", "lib2to3", "site-packages"})
TEXT_SPLIT = (0.90, 0.05)  # train, validation; the rest is the test split
MAX_EVAL_WINDOWS = 256  # fixed validation windows: 16K tokens at a context of 64
SPLITS = {"train": "training", "val": "validation", "test": "test"}
READ_BLOCK = 2**24  # bytes read at a time when a file is hashed and its ids checked


@dataclass(frozen=True)
class Corpus:
    train: np.ndarray  # token ids; uint8 for bytes, a uint16 memory map for nanoGPT's files
    val: np.ndarray
    test: np.ndarray
    vocab_size: int
    byte_level: bool  # a token is a byte: bits per byte follow from the loss
    fingerprint: dict[str, Any]  # what a resumed study must share
    notes: tuple[str, ...]
    where: dict[str, str]  # each split, as a message names it: "the last 5% of 'corpus.txt'"

    def check_context(self, context: int) -> None:
        """Refuse a context whose window (context + 1 tokens) does not fit in every split, from
        the splits' lengths alone: before a model is built or a study touched."""
        short = min(SPLITS, key=lambda split: len(getattr(self, split)))
        tokens = len(getattr(self, short))
        if tokens < context + 1:
            lower = (f"lower --context to at most {tokens - 1}, or give more data" if tokens > 1
                     else "give more data")
            raise ConfigError(f"--context {context} needs windows of {context + 1} tokens, but the "
                              f"{SPLITS[short]} split ({self.where[short]}) holds {tokens}: {lower}")

    def unigram_entropy(self, split: str = "val") -> float:
        """The entropy, in nats per token, of the split's token frequencies: what a model that
        ignores the context can reach at best on it."""
        tokens = np.asarray(getattr(self, split))
        counts = np.bincount(tokens.astype(np.int64), minlength=self.vocab_size).astype(np.float64)
        p = counts[counts > 0] / counts.sum()
        return float(-(p * np.log(p)).sum())


def stdlib_files(root: Path | None = None) -> list[Path]:
    """The standard library's `*.py` files, sorted by their path below it, without the left-out
    folders."""
    root = root or Path(sysconfig.get_paths()["stdlib"])
    return sorted((p for p in root.rglob("*.py")
                   if not LEFT_OUT & set(p.relative_to(root).parts[:-1])),
                  key=lambda p: p.relative_to(root).as_posix())


def split_of(index: int) -> str:
    """The split of the `index`-th file: every 10th to validation, the next to test."""
    return {0: "val", 1: "test"}.get(index % 10, "train")


def builtin_corpus(root: Path | None = None, cap: int = CAP_BYTES) -> Corpus:
    root = root or Path(sysconfig.get_paths()["stdlib"])
    parts: dict[str, list[bytes]] = {"train": [], "val": [], "test": []}
    listing, total = [], 0
    for index, path in enumerate(stdlib_files(root)):
        content = path.read_bytes()
        if total + len(content) > cap:
            break
        total += len(content)
        parts[split_of(index)].append(content)
        listing.append(f"{path.relative_to(root).as_posix()} {len(content)}")
    splits = {name: np.frombuffer(b"".join(chunks), dtype=np.uint8) for name, chunks in parts.items()}
    fingerprint = {"source": "python-stdlib", "python": platform.python_version(),
                   "files": len(listing),
                   "sha256": hashlib.sha256("\n".join(listing).encode()).hexdigest()[:16]}
    return Corpus(**splits, vocab_size=256, byte_level=True, fingerprint=fingerprint,
                  notes=(_describe(f"Python {platform.python_version()} standard library, "
                                   f"{len(listing)} files", splits),),
                  where={split: f"the built-in corpus's {name} files" for split, name in SPLITS.items()})


def text_corpus(path: Path) -> Corpus:
    tokens = _memory_map(path, np.uint8)
    first, second = (round(len(tokens) * sum(TEXT_SPLIT[:i + 1])) for i in range(2))
    splits = {"train": tokens[:first], "val": tokens[first:second], "test": tokens[second:]}
    parts = ("the first", "the next", "the last")
    shares = (TEXT_SPLIT[0], TEXT_SPLIT[1], 1 - sum(TEXT_SPLIT))
    return Corpus(**splits, vocab_size=256, byte_level=True,
                  fingerprint={"file": path.name, "sha256": _read_through(path)[0],
                               "bytes": len(tokens)},
                  notes=(_describe(f"{path.name}, as bytes", splits),),
                  where={split: f"{part} {share:.0%} of '{path}'"
                         for split, part, share in zip(SPLITS, parts, shares, strict=True)})


def nanogpt_corpus(path: Path, vocab_size: int | None = None) -> Corpus:
    val_path = path.with_name("val.bin")
    if not val_path.exists():
        raise ConfigError(f"'{path.name}' is read in nanoGPT's layout, which needs 'val.bin' beside "
                          f"it; not found in '{path.parent}'")
    regular_file(val_path)
    train, val = _memory_map(path, np.uint16), _memory_map(val_path, np.uint16)
    vocab, source = ((vocab_size, "--vocab-size") if vocab_size is not None
                     else read_meta(path.parent))
    hashes: dict[str, str] = {}
    for key, file in (("sha256", path), ("val_sha256", val_path)):
        hashes[key], largest = _read_through(file, np.uint16)
        if largest >= vocab:
            raise ConfigError(f"'{file}' holds token id {largest}, outside the vocabulary of {vocab} "
                              f"(ids 0 to {vocab - 1}, from {source}): the vocabulary must hold "
                              f"every id (at least {largest + 1})")
    half = len(val) // 2
    splits = {"train": train, "val": val[:half], "test": val[half:]}
    return Corpus(**splits, vocab_size=vocab, byte_level=False,
                  fingerprint={"file": path.name, **hashes, "vocab_size": vocab},
                  notes=(_describe(f"{path.name} and val.bin (nanoGPT, vocabulary {vocab})",
                                   splits),),
                  where={"train": f"'{path}'", "val": f"the first half of '{val_path}'",
                         "test": f"the second half of '{val_path}'"})


class PlainUnpickler(pickle.Unpickler):
    """Admits dicts, lists, tuples, strings and numbers: a pickle naming any class or function
    (the way a pickle runs code) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"it names {module}.{name}; only plain data is read")


def read_meta(folder: Path) -> tuple[int, str]:
    """The vocabulary size from nanoGPT's `meta.pkl` or a `meta.json`, and the file it came from
    (as a message names it)."""
    pkl, js = folder / "meta.pkl", folder / "meta.json"
    path = js if js.is_file() else pkl if pkl.is_file() else None
    if path is None:
        raise ConfigError(f"no vocabulary size: give --vocab-size, or put nanoGPT's meta.pkl "
                          f"(or a meta.json) in '{folder}'")
    try:
        if path == js:
            meta = json.loads(js.read_bytes())
        else:
            with pkl.open("rb") as handle:
                meta = PlainUnpickler(handle).load()
    except Exception as error:  # a malformed pickle can raise anything (pickle's documentation)
        text = str(error).splitlines()[0] if str(error) else ""
        raise ConfigError(f"cannot read the vocabulary from '{path}': {type(error).__name__}"
                          f"{': ' + text if text else ''}") from None
    size = meta.get("vocab_size") if isinstance(meta, dict) else None
    if not isinstance(size, int) or isinstance(size, bool) or not 2 <= size <= 65536:
        raise ConfigError(f"'{path}' has no vocab_size from 2 to 65536; got {size!r}")
    return size, f"'{path}'"


def fixed_windows(tokens: np.ndarray, context: int, count: int = MAX_EVAL_WINDOWS) -> np.ndarray:
    """Up to `count` windows of `context + 1` tokens, spread evenly over the split: the same for
    every trial."""
    span = len(tokens) - context - 1
    if span < 0:
        raise ConfigError(f"a split of {len(tokens)} tokens is shorter than one window of "
                          f"{context + 1}: lower --context or give more data")
    starts = np.unique(np.linspace(0, span, num=min(count, span + 1)).astype(np.int64))
    return np.stack([np.asarray(tokens[s:s + context + 1], dtype=np.int64) for s in starts])


def load_corpus(data: str | None, vocab_size: int | None = None) -> Corpus:
    """The built-in corpus, or the user's file: `.bin` in nanoGPT's layout, anything else as text."""
    if data is None:
        return builtin_corpus()
    path = regular_file(data)
    if path.suffix == ".bin":
        return nanogpt_corpus(path, vocab_size)
    if vocab_size is not None and vocab_size != 256:
        raise ConfigError(f"--vocab-size {vocab_size} applies to nanoGPT's .bin files; a text "
                          "file is read as bytes (vocabulary 256)")
    return text_corpus(path)


def _memory_map(path: Path, dtype: type) -> np.ndarray:
    size, itemsize = path.stat().st_size, np.dtype(dtype).itemsize
    if size % itemsize:  # nanoGPT's own reader refuses it too: the last token would be half a one
        raise ConfigError(f"data file '{path}' is {size} bytes, not a whole number of "
                          f"{itemsize}-byte {np.dtype(dtype).name} token ids")
    if size < itemsize * 16:
        raise ConfigError(f"data file '{path}' is too small to train on ({size} bytes)")
    return np.memmap(path, dtype=dtype, mode="r", shape=(size // itemsize,))


def _read_through(path: Path, dtype: type = np.uint8) -> tuple[str, int]:
    """The file's hash, and its largest token id read as `dtype`, in one pass of bounded blocks:
    a memory map of many GB is never held in memory."""
    digest, largest, itemsize = hashlib.sha256(), 0, np.dtype(dtype).itemsize
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(READ_BLOCK), b""):
            digest.update(block)
            ids: np.ndarray = np.frombuffer(block, dtype=dtype, count=len(block) // itemsize)
            largest = max(largest, int(ids.max())) if len(ids) else largest
    return digest.hexdigest()[:16], largest


def _describe(source: str, splits: dict[str, np.ndarray]) -> str:
    sizes = ", ".join(f"{len(tokens):,} {name}" for name, tokens in splits.items())
    return f"corpus: {source}; tokens: {sizes}"
