"""The language-model task: its corpora, its GPT, its step-budgeted loop and its parameter groups."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from click.testing import CliRunner

from hpsearch import build_optimizer
from hpsearch.cli import cli
from hpsearch.errors import ConfigError
from hpsearch.space.export import to_python
from hpsearch.tasks.base import LANGUAGE
from hpsearch.tasks.corpus import builtin_corpus, load_corpus, nanogpt_corpus, split_of, text_corpus
from hpsearch.tasks.gpt import gpt
from hpsearch.training.lm import LMDeviceData, fit_lm
from tests.cli.test_cli import assert_one_line_error

CPU = torch.device("cpu")
ADAMW = {"optimizer": "adamw", "hyperparameters": {"lr": 3e-3, "betas": [0.9, 0.99],
                                                   "weight_decay": 0.1},
         "schedule": {"name": "cosine", "warmup_fraction": 0.05, "floor": 0.1},
         "clip_grad_norm": 1.0, "weight_decay_on": "matrices", "steps": 200}


@pytest.fixture(scope="module")
def corpus():  # type: ignore[no-untyped-def]
    return builtin_corpus()


def test_a_small_gpt_learns_below_the_unigram_entropy(corpus) -> None:  # type: ignore[no-untyped-def]
    data = LMDeviceData.from_corpus(corpus, CPU, context=32)
    torch.manual_seed(0)
    model = gpt(256, 32, width=32, depth=1)
    assert 20_000 <= sum(p.numel() for p in model.parameters()) <= 50_000
    results = list(fit_lm(data, model, ADAMW, LANGUAGE, evaluations=4, batch_size=32, seed=0,
                          eval_every=50))
    entropy = corpus.unigram_entropy()
    assert results[-1].val_metric < entropy - 0.2, (results[-1].metrics, entropy)
    assert results[-1].metrics[1] == pytest.approx(results[-1].val_metric / np.log(2))  # bits/byte
    assert results[-1].extra["steps"] == 200 and results[-1].extra["tokens"] == 200 * 32 * 32
    assert len(results[-1].extra["grad_norms"]) == 4 and results[-1].total_steps == 200


def test_a_tokens_logits_never_see_a_later_token() -> None:
    torch.manual_seed(0)
    model = gpt(256, 16, width=32, depth=2).eval()
    tokens = torch.randint(0, 256, (1, 16))
    changed = tokens.clone()
    changed[0, 10] = (tokens[0, 10] + 1) % 256
    with torch.no_grad():
        before, after = model(tokens), model(changed)
    assert torch.equal(before[0, :10], after[0, :10])  # positions before the change: unmoved
    assert not torch.allclose(before[0, 10:], after[0, 10:])


def test_the_stdlib_corpus_puts_every_file_in_one_split(tmp_path: Path) -> None:
    for index in range(25):
        folder = tmp_path / ("test" if index == 7 else "pkg")  # test/ is left out
        folder.mkdir(exist_ok=True)
        (folder / f"m{index:02d}.py").write_text(f"# FILE-{index:02d}-MARK\n")
    corpus = builtin_corpus(root=tmp_path)
    text = {split: bytes(getattr(corpus, split)).decode() for split in ("train", "val", "test")}
    for index in range(25):
        homes = [split for split, content in text.items() if f"FILE-{index:02d}-MARK" in content]
        assert homes == ([] if index == 7 else [homes[0]])
    assert corpus.fingerprint["files"] == 24
    assert [split_of(i) for i in range(12)] == ["val", "test", *["train"] * 8, "val", "test"]


def test_a_text_file_is_split_into_contiguous_parts(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_bytes(bytes(range(256)) * 40)
    corpus = text_corpus(path)
    assert isinstance(corpus.train, np.memmap) and corpus.vocab_size == 256
    joined = np.concatenate([corpus.train, corpus.val, corpus.test])
    assert joined.tobytes() == path.read_bytes()
    assert len(corpus.train) == round(0.9 * len(joined))


def nanogpt_files(folder: Path, vocab: int = 50) -> None:
    rng = np.random.default_rng(0)
    rng.integers(0, vocab, 5000, dtype=np.uint16).tofile(folder / "train.bin")
    rng.integers(0, vocab, 1000, dtype=np.uint16).tofile(folder / "val.bin")


def test_nanogpt_files_are_memory_mapped_and_sampled_without_reading_them_whole(
    tmp_path: Path,
) -> None:
    nanogpt_files(tmp_path)
    (tmp_path / "meta.json").write_text(json.dumps({"vocab_size": 50}))
    corpus = load_corpus(str(tmp_path / "train.bin"))
    assert isinstance(corpus.train, np.memmap) and corpus.train.dtype == np.uint16
    assert corpus.vocab_size == 50 and len(corpus.val) == len(corpus.test) == 500
    data = LMDeviceData.from_corpus(corpus, CPU, context=16)
    assert isinstance(data.train, np.memmap)  # windows are read from the map, one by one
    x, y = data.batch(4, np.random.default_rng(0), CPU)
    assert x.shape == y.shape == (4, 16) and int(x.max()) < 50


def test_meta_pkl_is_read_only_as_plain_data(tmp_path: Path) -> None:
    nanogpt_files(tmp_path)
    with (tmp_path / "meta.pkl").open("wb") as handle:
        pickle.dump({"vocab_size": 50, "itos": {0: "a"}, "stoi": {"a": 0}}, handle)
    assert nanogpt_corpus(tmp_path / "train.bin").vocab_size == 50

    class Payload:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (print, ("this ran",))

    with (tmp_path / "meta.pkl").open("wb") as handle:
        pickle.dump({"vocab_size": 50, "x": Payload()}, handle)
    with pytest.raises(ConfigError, match="only plain data is read"):
        nanogpt_corpus(tmp_path / "train.bin")


def test_weight_decay_never_touches_biases_norms_or_embeddings() -> None:
    model = gpt(256, 16, width=32, depth=1)
    embeddings = {id(model.token.weight), id(model.position.weight)}
    for key in ("adamw", "lion", "muon"):
        config = {**ADAMW, "optimizer": key, "hyperparameters": (
            {"lr": 0.02, "adamw_lr": 1e-3, "weight_decay": 0.1, "momentum": 0.95,
             "nesterov": True, "adjust_lr_fn": "original"} if key == "muon"
            else {"lr": 1e-3, "weight_decay": 0.1})}
        optimizer = build_optimizer(config, model)
        for group in optimizer.param_groups:
            for p in group["params"]:
                decayed = p.ndim >= 2 and id(p) not in embeddings
                assert (group["weight_decay"] > 0) == decayed, (key, p.shape)
    pasted: dict = {"model": model}
    exec(to_python(ADAMW), pasted)  # the exported snippet builds the same groups
    expected = build_optimizer(ADAMW, model)
    assert [[id(p) for p in g["params"]] for g in pasted["optimizer"].param_groups] == [
        [id(p) for p in g["params"]] for g in expected.param_groups]
    assert [g["weight_decay"] for g in pasted["optimizer"].param_groups] == [0.1, 0.0]


def test_tune_lm_end_to_end(workdir: Path) -> None:
    # 20,480 tokens in windows of 32 x 16 tokens: 40 steps, evaluated twice.
    result = CliRunner().invoke(cli, ["tune", "--task", "lm", "--tokens", "20480", "--eval-every", "20",
                                      "--n-trials", "2", "--width", "16", "--depth", "1",
                                      "--context", "16", "--optimizers", "adamw,lion"])
    assert result.exit_code == 0, result.output
    assert "40 steps of batch 32, evaluated every 20" in result.output
    assert "unigram entropy of the validation split" in result.output
    study = optuna.load_study(study_name="lm", storage="sqlite:///studies/hpsearch.db")
    assert study.user_attrs["steps"] == 40 and study.user_attrs["eval_every"] == 20
    assert all(len(t.intermediate_values) == 2 for t in study.trials if t.state.is_finished())
    best = json.loads(CliRunner().invoke(cli, ["best", "--study", "lm"]).output)
    assert best["weight_decay_on"] == "matrices" and best["steps"] == 40


@pytest.mark.parametrize("args, fragments", [
    (["--task", "lm", "--optimizers", "adamw,lbfgs"], ["--task lm refuses 'lbfgs'",
                                                       "valid choices: adamw"]),
    (["--task", "lm", "--epochs", "3"], ["counts its budget in steps"]),
    (["--task", "lm", "--steps", "45", "--eval-every", "20"], ["multiple of eval_every"]),
    (["--task", "classification", "--context", "32"], ["--context applies to --task lm"]),
    (["--task", "classification", "--compile"], ["--compile applies to --task lm"]),
    (["--task", "lm", "--steps", "100", "--tokens", "100000"], ["--steps or --tokens, not both"]),
    (["--task", "lm", "--tokens", "1000"], ["buy fewer than one evaluation interval"]),
    (["--task", "lm", "--precision", "bf16", "--device", "cpu"], ["cpu has no bf16",
                                                                 "valid choices here: auto, fp32"]),
])
def test_language_budgets_that_do_not_fit_are_usage_errors(workdir: Path, args: list[str],
                                                          fragments: list[str]) -> None:
    result = CliRunner().invoke(cli, ["tune", *args])
    assert_one_line_error(result.exit_code, result.output, 2, *fragments)
    assert not (workdir / "studies" / "hpsearch.db").exists()


def test_compare_lm_scores_its_reruns_on_the_test_split_after_the_decay(workdir: Path) -> None:
    result = CliRunner().invoke(cli, ["compare", "--task", "lm", "--budget", "1", "--seeds", "1",
                                      "--optimizers", "adamw", "--steps", "40", "--studies", "1"])
    assert result.exit_code == 0, result.output
    assert "for 40 steps, scored on the test split at the end of training" in result.output
    study = optuna.load_study(study_name="compare-lm", storage="sqlite:///studies/hpsearch.db")
    assert study.user_attrs["protocol"]["steps"] == 40
    reruns = [t for t in study.trials if t.user_attrs.get("phase") == "rerun"]
    assert reruns and all(np.isfinite(t.user_attrs["record"]["test_value"]) for t in reruns)


@pytest.mark.slow
def test_compiled_training_times_its_compilation_apart(corpus) -> None:  # type: ignore[no-untyped-def]
    data = LMDeviceData.from_corpus(corpus, CPU, context=16)
    torch.manual_seed(0)
    plain = list(fit_lm(data, gpt(256, 16, 16, 1), ADAMW, LANGUAGE, 2, 8, 0, 10))
    torch.manual_seed(0)
    compiled = list(fit_lm(data, gpt(256, 16, 16, 1), ADAMW, LANGUAGE, 2, 8, 0, 10,
                           compile_model=True))
    assert compiled[-1].extra["compile_seconds"] > 0 and "compile_seconds" not in plain[-1].extra
    assert compiled[-1].val_metric == pytest.approx(plain[-1].val_metric, rel=1e-3)
