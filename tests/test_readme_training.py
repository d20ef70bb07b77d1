"""The README's "Your training script" runs as written: every `hpsearch` command line of its shell
blocks, and its Python example, run for real on a smaller budget (the flags' values shrunk, every
placeholder as written).

nanoGPT's `train.py config/train_shakespeare_char.py` is not here. `tune` runs
`examples/train_gpt.py` in its place (nanoGPT's flags and lines); `compare` and `scale`, whose
protocols run dozens of programs, run a standard-library stand-in printing the same lines (and the
test line the README asks nanoGPT for), and the arguments each run received are then parsed by
`examples/train_gpt.py`'s own parser. Every nanoGPT argument a trial received is also read as
nanoGPT's configurator reads it (`literal_eval`, its type checked against nanoGPT's default)."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "train_gpt.py"
NANOGPT = "python train.py config/train_shakespeare_char.py"
THE_EXAMPLE = "python examples/train_gpt.py"
# The budget flags, shrunk so that the whole file takes seconds; placeholders stay as written.
SMALL = {"--steps": "20", "--eval-every": "10", "--n-trials": "2", "--budget": "1",
         "--seeds": "2", "--widths": "96,192"}
DEADLINE_S = 240  # one command, at most; they take seconds
# nanoGPT's train.py: the type of each default its configurator checks a `--key=value` against
# (`seed` being the setting the README asks to add for `compare`).
NANOGPT_TYPES: dict[str, type] = {
    "learning_rate": float, "weight_decay": float, "beta1": float, "beta2": float,
    "grad_clip": float, "max_iters": int, "lr_decay_iters": int, "warmup_iters": int,
    "min_lr": float, "eval_interval": int, "eval_iters": int, "log_interval": int,
    "out_dir": str, "device": str, "n_embd": int, "n_head": int, "n_layer": int, "seed": int}
STANDIN = r'''
"""Stands in for nanoGPT's train.py where real runs would take too long: its lines, fast."""
import json, math, os, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--"))
if "learning_rate" in args:
    lr = float(args["learning_rate"])
else:  # --reads-config: the configuration the trial was handed
    with open(os.environ["HPSEARCH_CONFIG"]) as f:
        lr = json.load(f)["hyperparameters"]["lr"]
width, seed = int(args.get("n_embd", 384)), int(args.get("seed", 1337))
steps, every = int(args["max_iters"]), int(args["eval_interval"])
for step in range(0, steps + 1, every):
    loss = (math.log10(lr) + 2.5 + math.log10(width / 96)) ** 2 + 1 / (1 + step) + seed % 97 * 1e-4
    print(f"step {step}: train loss {loss:.4f}, val loss {loss:.4f}")
print(f"test loss {loss + 0.01:.4f}")
'''


def section() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    return readme.split("\n## Your training script\n", 1)[1].split("\n## ", 1)[0]


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", section(), re.S | re.M)


def command_lines(block: str) -> Iterator[list[str]]:
    """Each `hpsearch ...` of a shell block, split as the shell splits it (a quoted argument may
    span lines; a line ending in a backslash goes on)."""
    pending = ""
    for line in block.splitlines():
        pending += line + "\n"
        if pending.rstrip().endswith("\\"):
            continue
        try:
            words = shlex.split(pending.replace("\\\n", " "), comments=True)
        except ValueError:  # a quote still open
            continue
        pending = ""
        if words[:1] == ["hpsearch"]:
            yield words[1:]
    assert not pending.strip(), f"an unfinished command in the README: {pending!r}"


COMMANDS = [words for block in blocks("sh") for words in command_lines(block)]


def ids(words: list[str]) -> str:
    study = words[words.index("--study") + 1] if "--study" in words else "default"
    return f"{words[0]}-{study}"


def train_gpt() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_gpt", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def configurator_accepts(arguments: list[str]) -> None:
    """nanoGPT's configurator: `--key=value` (one `=`), the key one of its settings, the value
    read by `literal_eval` (else as text) and of its default's type."""
    for argument in arguments:
        assert argument.startswith("--") and argument.count("=") == 1, argument
        key, value = argument[2:].split("=")
        try:
            attempt: Any = ast.literal_eval(value)
        except (SyntaxError, ValueError):
            attempt = value
        assert type(attempt) is NANOGPT_TYPES[key], f"nanoGPT refuses {argument}"


def smaller(words: list[str], standin: Path) -> tuple[list[str], str]:
    """The command line on a small budget, its program replaced; and which program runs."""
    words = list(words)
    for index, word in enumerate(words[:-1]):
        if word in SMALL:
            words[index + 1] = SMALL[word]
    if words[0] == "compare" and "--studies" not in words:
        words += ["--studies", "1"]
    command = words[words.index("--command") + 1]
    python = shlex.quote(sys.executable)
    if command.startswith(NANOGPT):
        program = "example" if words[0] == "tune" else "standin"
        runs = shlex.quote(str(EXAMPLE if program == "example" else standin))
        command = command.replace(NANOGPT, f"{python} {runs}", 1)
    else:
        assert command.startswith(THE_EXAMPLE), command
        program = "the example"
        command = command.replace(THE_EXAMPLE, f"{python} {shlex.quote(str(EXAMPLE))}", 1)
    words[words.index("--command") + 1] = command
    return words, program


def test_the_section_has_every_command_it_documents() -> None:
    assert [words[0] for words in COMMANDS] == ["tune", "tune", "compare", "scale"]
    assert len(blocks("python")) == 2


@pytest.mark.parametrize("words", COMMANDS, ids=ids)
def test_a_command_line_of_the_readme_runs(workdir: Path, words: list[str]) -> None:
    standin = workdir / "nanogpt_standin.py"
    standin.write_text(STANDIN)
    args, program = smaller(words, standin)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HPSEARCH_STORAGE", None)
    done = subprocess.run([sys.executable, "-m", "hpsearch", *args], env=env, cwd=workdir,
                          capture_output=True, text=True, timeout=DEADLINE_S)
    assert done.returncode == 0, done.stdout + done.stderr
    storage = "sqlite:///studies/hpsearch.db"
    (study,) = optuna.get_all_study_names(storage)
    trials = optuna.load_study(study_name=study, storage=storage).trials
    assert trials and all(t.state == TrialState.COMPLETE for t in trials), [
        (t.state, t.user_attrs.get("record", {}).get("reason")) for t in trials]
    if words[0] == "tune":
        assert len(trials) == int(SMALL["--n-trials"])
    parser = train_gpt()
    for trial in trials:
        record = trial.user_attrs["record"]
        arguments = record["command"][2:]  # after the interpreter and the script
        parser.parse_args(arguments)  # examples/train_gpt.py takes every flag (it exits if not)
        if program != "the example":
            configurator_accepts(arguments)
        if program == "example":  # real training: nanoGPT's evaluation at step 0 and each interval
            assert record["point_steps"] == [0, 10, 20]
        if trial.user_attrs.get("phase") == "rerun":  # compare's re-runs: scored on --test-regex
            assert "test_value" in record


def test_the_function_example_runs(workdir: Path) -> None:
    (code,) = [block for block in blocks("python") if "hpsearch.tune(train=" in block]
    small = code.replace("steps=400, eval_every=50", "steps=40, eval_every=10")
    small = small.replace("n_trials=30", "n_trials=2")
    assert small.count("=40,") == 1 and small.count("n_trials=2,") == 1, "the example changed"
    namespace: dict[str, Any] = {"__name__": "readme"}
    exec(compile(small, "README.md", "exec"), namespace)
    trials = optuna.load_study(study_name="linear", storage="sqlite:///studies/hpsearch.db").trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert trials[0].user_attrs["record"]["point_steps"] == [10, 20, 30, 40]
    assert namespace["result"].best_config["optimizer"] in ("adamw", "lion", "sgd")
