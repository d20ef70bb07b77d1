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
  that admits plain dicts, lists, strings and numbers only) or a `meta.json` beside it.
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

CAP_BYTES = 16 * 2**20
LEFT_OUT = frozenset({"test", "idlelib", "lib2to3", "site-packages"})
TEXT_SPLIT = (0.90, 0.05)  # train, validation; the rest is the test split
MAX_EVAL_WINDOWS = 256  # fixed validation windows: 16K tokens at a context of 64


@dataclass(frozen=True)
class Corpus:
    train: np.ndarray  # token ids; uint8 for bytes, a uint16 memory map for nanoGPT's files
    val: np.ndarray
    test: np.ndarray
    vocab_size: int
    byte_level: bool  # a token is a byte: bits per byte follow from the loss
    fingerprint: dict[str, Any]  # what a resumed study must share
    notes: tuple[str, ...]

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
                                   f"{len(listing)} files", splits),))


def text_corpus(path: Path) -> Corpus:
    tokens = _memory_map(path, np.uint8)
    first, second = (round(len(tokens) * sum(TEXT_SPLIT[:i + 1])) for i in range(2))
    splits = {"train": tokens[:first], "val": tokens[first:second], "test": tokens[second:]}
    return Corpus(**splits, vocab_size=256, byte_level=True,
                  fingerprint={"file": path.name, "sha256": _file_hash(path), "bytes": len(tokens)},
                  notes=(_describe(f"{path.name}, as bytes", splits),))


def nanogpt_corpus(path: Path, vocab_size: int | None = None) -> Corpus:
    val_path = path.with_name("val.bin")
    if not val_path.is_file():
        raise ConfigError(f"'{path.name}' is read in nanoGPT's layout, which needs 'val.bin' beside "
                          f"it; not found in '{path.parent}'")
    train, val = _memory_map(path, np.uint16), _memory_map(val_path, np.uint16)
    vocab = vocab_size if vocab_size is not None else read_meta(path.parent)
    half = len(val) // 2
    splits = {"train": train, "val": val[:half], "test": val[half:]}
    return Corpus(**splits, vocab_size=vocab, byte_level=False,
                  fingerprint={"file": path.name, "sha256": _file_hash(path),
                               "val_sha256": _file_hash(val_path), "vocab_size": vocab},
                  notes=(_describe(f"{path.name} and val.bin (nanoGPT, vocabulary {vocab})",
                                   splits),))


class PlainUnpickler(pickle.Unpickler):
    """Admits dicts, lists, tuples, strings and numbers: a pickle naming any class or function
    (the way a pickle runs code) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"it names {module}.{name}; only plain data is read")


def read_meta(folder: Path) -> int:
    """The vocabulary size from nanoGPT's `meta.pkl` or a `meta.json`."""
    pkl, js = folder / "meta.pkl", folder / "meta.json"
    try:
        if js.is_file():
            meta = json.loads(js.read_text())
        elif pkl.is_file():
            with pkl.open("rb") as handle:
                meta = PlainUnpickler(handle).load()
        else:
            raise ConfigError(f"no vocabulary size: give --vocab-size, or put nanoGPT's meta.pkl "
                              f"(or a meta.json) in '{folder}'")
    except (pickle.UnpicklingError, json.JSONDecodeError, EOFError, ValueError) as error:
        raise ConfigError(f"cannot read the vocabulary from '{folder}': {error}") from None
    size = meta.get("vocab_size") if isinstance(meta, dict) else None
    if not isinstance(size, int) or isinstance(size, bool) or not 2 <= size <= 65536:
        raise ConfigError(f"the meta file in '{folder}' has no vocab_size from 2 to 65536; "
                          f"got {size!r}")
    return size


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
    path = Path(data)
    if not path.is_file():
        raise ConfigError(f"data file '{data}' does not exist" if not path.exists() else
                          f"data file '{data}' is a directory, not a file")
    if path.suffix == ".bin":
        return nanogpt_corpus(path, vocab_size)
    if vocab_size is not None and vocab_size != 256:
        raise ConfigError(f"--vocab-size {vocab_size} applies to nanoGPT's .bin files; a text "
                          "file is read as bytes (vocabulary 256)")
    return text_corpus(path)


def _memory_map(path: Path, dtype: type) -> np.ndarray:
    size = path.stat().st_size
    if size < np.dtype(dtype).itemsize * 16:
        raise ConfigError(f"data file '{path}' is too small to train on ({size} bytes)")
    return np.memmap(path, dtype=dtype, mode="r", shape=(size // np.dtype(dtype).itemsize,))


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _describe(source: str, splits: dict[str, np.ndarray]) -> str:
    sizes = ", ".join(f"{len(tokens):,} {name}" for name, tokens in splits.items())
    return f"corpus: {source}; tokens: {sizes}"
