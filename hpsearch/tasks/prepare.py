"""A run's task, ready to train: the built-in or the user's data, split and preprocessed, and the
built-in or the user's model, checked once before any study is touched."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hpsearch.errors import ConfigError
from hpsearch.record import CLASSES, DATA_SOURCE, UNIGRAM_ENTROPY
from hpsearch.tasks import get_task
from hpsearch.tasks.base import Task, TaskData
from hpsearch.tasks.corpus import Corpus
from hpsearch.tasks.spreadsheet import TableReading

TEST_FRACTION = 0.2


@dataclass(frozen=True)
class LanguageModel:
    """The language model's size (the built-in GPT's; a user's model gets the context) and, for
    nanoGPT's token files, the vocabulary."""

    width: int = 64
    depth: int = 2
    context: int = 64
    vocab_size: int | None = None
PROBE_ROWS = 4  # a user's model runs once on this many training rows before any study


@dataclass(frozen=True)
class PreparedTask:
    task: Task
    data: TaskData | Corpus  # a table task's split arrays, or the language model's corpus
    notes: tuple[str, ...]  # what was done to the data and which model trains: said once per run
    identity: dict[str, Any]  # what a resumed study must share with this run
    record: dict[str, Any]  # stored with the study: data fingerprint, model, class labels


def prepare_task(name: str, *, data: str | None = None, target: str | None = None,
                 model: str | None = None, split_seed: int = 0,
                 val_fraction: float = 0.2, language: LanguageModel | None = None,
                 reading: TableReading | None = None) -> PreparedTask:
    from hpsearch.tasks.models import check_model_builder, load_model_builder

    task = get_task(name)
    if task.problem.kind == "lm":
        if target is not None:
            raise ConfigError("--target applies to tables; a language model predicts the next token")
        return prepare_language(task, data, model, language or LanguageModel())
    notes: list[str] = []
    data_record: dict[str, Any] = {"source": task.source or task.name}
    if data is not None:
        from hpsearch.tasks.table import table_task

        if not target:
            raise ConfigError("--data needs --target COLUMN: the column to predict")
        task, table = table_task(Path(data), target, name, reading)
        notes += table.notes
        data_record = table.fingerprint
    elif target is not None:
        raise ConfigError("--target applies to --data only; the built-in tasks know their target")
    loaded = task.load(split_seed=split_seed, val_fraction=val_fraction,
                       test_fraction=TEST_FRACTION)
    notes.append(f"split (seed {split_seed}): {len(loaded.train.y)} train, {len(loaded.val.y)} "
                 f"validation, {len(loaded.test.y)} test rows; {loaded.n_features} input features")
    model_name = "built-in"
    if model is not None:
        builder = load_model_builder(model)
        probe = check_model_builder(builder, model, loaded.n_features, loaded.n_outputs,
                                    rows=loaded.train.x[:PROBE_ROWS])
        task = replace(task, model=builder)
        model_name = model
        notes.append(f"model: {model} -> {type(probe).__name__} with "
                     f"{sum(p.numel() for p in probe.parameters()):,} parameters")
    return PreparedTask(
        task=task, data=loaded, notes=tuple(notes),
        identity={"data": data_record.get("sha256") or data_record["source"], "model": model_name,
                  "val_fraction": val_fraction},
        record={DATA_SOURCE: data_record, CLASSES: list(loaded.classes)},
    )


def prepare_language(task: Task, data: str | None, model: str | None,
                     language: LanguageModel) -> PreparedTask:
    """The corpus, read (memory-mapped) and split, and the model, built and run once on a few
    windows: a user's model is called as `build(vocab_size, context)`."""
    from functools import partial

    import torch

    from hpsearch.tasks.base import LANGUAGE_TOKENS
    from hpsearch.tasks.corpus import fixed_windows, load_corpus
    from hpsearch.tasks.gpt import gpt
    from hpsearch.tasks.models import check_model_builder, load_model_builder

    corpus = load_corpus(data, language.vocab_size)
    corpus.check_context(language.context)  # from lengths: before a model of that context is run
    if not corpus.byte_level:
        task = replace(task, problem=LANGUAGE_TOKENS)  # bits per byte need bytes
    builder = load_model_builder(model) if model else partial(gpt, width=language.width,
                                                              depth=language.depth)
    name = model or f"gpt width {language.width} depth {language.depth}"
    rows = torch.from_numpy(fixed_windows(corpus.train, language.context, PROBE_ROWS)[:, :-1])
    probe = check_model_builder(builder, name, corpus.vocab_size, language.context, rows=rows,
                                needed=(len(rows), language.context, corpus.vocab_size))
    notes = [*corpus.notes,
             f"model: {name} -> {type(probe).__name__} with "
             f"{sum(p.numel() for p in probe.parameters()):,} parameters, context "
             f"{language.context}",
             f"unigram entropy of the validation split: {corpus.unigram_entropy():.3f} nats/token "
             "(a model that ignores the context reaches this at best)"]
    return PreparedTask(
        task=replace(task, model=builder), data=corpus, notes=tuple(notes),
        identity={"data": corpus.fingerprint.get("sha256"), "model": name,
                  "context": language.context, "vocab_size": corpus.vocab_size},
        record={DATA_SOURCE: corpus.fingerprint, UNIGRAM_ENTROPY: corpus.unigram_entropy()},
    )
