"""What the commands share: one-line errors with honest exit codes, the common options, and
writing a command's output to a file or standard output."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import click

from hpsearch.definition.config import StudyConfig
from hpsearch.definition.study_file import BatchTrials, parse_batch_trials
from hpsearch.engine.storage import DEFAULT_STORAGE, ENV_VAR
from hpsearch.errors import ConfigError, HpsearchError
from hpsearch.space.optimizers import OPTIMIZERS
from hpsearch.training.device import PRECISIONS


class OneLineErrors(click.Group):
    """Every error is one line: usage errors (exit 2) without the usage block, and library errors
    turned into click's exceptions (ConfigError -> exit 2, other HpsearchError -> exit 1)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """`--debug` is taken after the subcommand too (`hpsearch tune ... --debug`)."""
        cut = args.index("--") if "--" in args else len(args)
        if "--debug" in args[1:cut]:
            args = ["--debug", *(a for i, a in enumerate(args) if not (a == "--debug" and i < cut))]
        return super().parse_args(ctx, args)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as error:
            raise click.UsageError(error.message) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            raise click.UsageError(error.message) from None
        except ConfigError as error:
            if ctx.meta.get("debug"):
                raise
            raise click.UsageError(str(error)) from None
        except HpsearchError as error:
            if ctx.meta.get("debug"):
                raise
            raise click.ClickException(str(error)) from None


def from_study_file(key: str) -> str:
    """How --help shows the default of a flag that a study file sets: the built-in value is the
    one studies/classification.toml holds (a test keeps the two equal)."""
    return f"[default: from studies/<task>.toml; classification: {built_in_default(key)}]"


def built_in_default(key: str) -> Any:
    """A study's setting without a study file (`optimizers`: the name of the group)."""
    from hpsearch.space.conditional import SearchSpace
    from hpsearch.space.optimizers import CLASSIC

    if key == "optimizers":
        return "classic" if SearchSpace().optimizers == CLASSIC else ",".join(SearchSpace().optimizers)
    return {f.name: f.default for f in fields(StudyConfig)}[key]


def example(command_line: str) -> str:
    """A command's --help ends with one example (`\b`: printed as written, not rewrapped)."""
    return f"\b\nExample:\n  {command_line}"


class BatchTrialsParam(click.ParamType):
    """`--batch-trials`: a whole number of trials, or `auto` (measured on the device)."""

    name = "N|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> BatchTrials:
        try:  # a value converted already (a default, a number) parses as itself
            return parse_batch_trials(value)
        except ConfigError as error:
            self.fail(str(error), param, ctx)


batch_trials_option = click.option(
    "--batch-trials", type=BatchTrialsParam(),
    help="Trials taken together; those with a vectorised optimizer train as one stacked model "
         "(one forward call per step for all); auto measures a few steps on the device and batches only "
         "where it is faster [default: 1].")


def _prefer(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    from hpsearch.statistics.recommendation import parse_prefer

    if value is None:
        return None
    try:
        return parse_prefer(value)
    except ValueError as error:
        raise click.BadParameter(str(error), ctx, param) from None


def reading_options(command: Any) -> Any:
    """How a comparison is read, not stored: the margin of practical equivalence and the order of
    the criteria that decide among optimizers tied for best."""
    command = click.option(
        "--prefer", callback=_prefer, metavar="CRITERIA",
        help="When quality ties, the criteria that decide, in order, from time (to the target), "
             "ease (of tuning) and cost (per trial) [default: time,ease,cost].")(command)
    return click.option(
        "--margin", type=click.FloatRange(min=0.0), metavar="X",
        help="Margin of practical equivalence, in the metric's units (0.01 = 1 point of accuracy) "
             "[default: accuracy: the larger of one test sample and 0.5 points; a language "
             "model: 0.01 nats per token; else 1 % of the best].")(command)


def check_writable(path: Path, option: str = "--out") -> None:
    """Refuse, before any work, an output path that cannot be written (its folder is made)."""
    existed = path.exists()
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "it is a directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab"):
            pass
    except OSError as error:
        raise ConfigError(f"cannot write {option} '{path}': {error.strerror or error}") from None
    if not existed:
        path.unlink()


@contextlib.contextmanager
def writing(path: Path | None, option: str = "--out") -> Iterator[None]:
    """A write that fails within the block (a full device, a lost mount) as one line naming where
    it went: the file given by `option`, or standard output when `path` is None."""
    try:
        yield
    except OSError as error:
        where = "standard output" if path is None else f"{option} '{path}'"
        raise HpsearchError(f"cannot write {where}: {error.strerror or error}") from None


def echo(text: str, nl: bool = True) -> None:
    """Print the command's output on standard output; a failed write is one line (`writing`)."""
    with writing(None):
        click.echo(text, nl=nl)


storage_option = click.option(
    "--storage", envvar=ENV_VAR, show_envvar=True,
    help=f"Optuna storage URL: sqlite:///PATH, journal:PATH or "
         f"postgresql://USER:PASSWORD@HOST/DB [default: {DEFAULT_STORAGE}].")


def optimizers_option(default: str) -> Any:
    return click.option("--optimizers", help=f"Comma-separated names, or the groups all, classic "
                                              f"and modern: {', '.join(OPTIMIZERS)} {default}.")


def language_options(command: Any) -> Any:
    """Budgets in steps or tokens (every task), and the language model's size (`--task lm`)."""
    for option in reversed([
        click.option("--steps", type=int, help="A budget in optimizer steps per trial instead of "
                                               "epochs [default: epochs; --task lm: 500]."),
        click.option("--eval-every", type=int,
                     help="With --steps or --tokens: steps between validation evaluations "
                          "[default: 50]."),
        click.option("--width", type=int, help="--task lm: the GPT's width [default: 64]."),
        click.option("--depth", type=int, help="--task lm: the GPT's blocks [default: 2]."),
        click.option("--context", type=int, help="--task lm: tokens per window [default: 64]."),
        click.option("--vocab-size", type=int,
                     help="--task lm with nanoGPT's train.bin: the vocabulary [default: from "
                          "meta.pkl]."),
        click.option("--tokens", type=int,
                     help="A budget in tokens instead of --steps (a table's token is a row) "
                          "[default: none]."),
        click.option("--precision", type=click.Choice(PRECISIONS),
                     help="--task lm: autocast (auto: bf16 on a GPU that has it, else fp32) "
                          "[default: auto]."),
        click.option("--compile", "compile", is_flag=True, default=None,
                     help="--task lm: train through torch.compile (its time recorded apart)."),
    ]):
        command = option(command)
    return command


def user_training_options(command: Any) -> Any:
    """Your own training as each trial: a command (run once per trial with its placeholders
    filled) or a function, and how its points are read."""
    for option in reversed([
        click.option("--command", help="Your training program, run once per trial: "
                                       "'python train.py --lr={lr} --max_iters={steps}' (split as a "
                                       "shell would, never run by one; placeholders: README, \"Your "
                                       "training script\") [default: none]."),
        click.option("--train", help="Your training function, FILE.py:FUNCTION or "
                                     "package.module:FUNCTION, called as FUNCTION(config, report) "
                                     "[default: none]."),
        click.option("--metric-regex", help="--command: a line of its output that is an evaluation "
                                            "point, with groups (?P<value>...) and, optionally, "
                                            "(?P<step>...) [default: hpsearch.client.report]."),
        click.option("--metric-file", help="--command: instead, a JSON file it writes in {trial_dir} "
                                           "at its end, {\"value\": ..., \"step\": ...} [default: none]."),
        click.option("--test-regex", help="--command: a line with the held-out value (?P<value>...), "
                                          "for compare's re-runs [default: none]."),
        click.option("--metric-name", help="The metric's name in reports [default: value]."),
        click.option("--direction", type=click.Choice(("minimize", "maximize")),
                     help="Whether lower or higher values are better [default: minimize]."),
        click.option("--workdir", help="--command: where it runs [default: here]."),
        click.option("--trials-dir", help="Each trial's folder (its output, configuration and "
                                          "files) under this [default: trials/ beside the "
                                          "storage file]."),
        click.option("--grace-seconds", type=float,
                     help="A stopped trial's program: seconds from SIGTERM to SIGKILL "
                          "[default: 10]."),
        click.option("--reads-config", is_flag=True, default=None,
                     help="--command reads HPSEARCH_CONFIG: search every optimizer, schedule and "
                          "clipping, placeholders or not."),
        click.option("--gpus-per-trial", type=click.IntRange(min=1),
                     help="GPUs each trial's program sees (CUDA_VISIBLE_DEVICES), {gpus} "
                          "[default: 1]."),
    ]):
        command = option(command)
    return command


def user_training_of(options: dict[str, Any]) -> Any:
    """The user's training that --command or --train and their options say, taken out of
    `options`; None where neither is given."""
    from hpsearch.definition.config import user_training
    from hpsearch.definition.study_file import USER_KEYS

    given = {key: options.pop(key) for key in USER_KEYS if key in options}
    return user_training({key: value for key, value in given.items() if value is not None})


def own_data_options(data_help: str) -> Any:
    """Your own data and model instead of the task's: --data, --target, how a table is read, and
    --model."""
    def decorate(command: Any) -> Any:
        command = click.option("--model", help="Your own model: FILE.py:FUNCTION or "
                                               "package.module:FUNCTION [default: the task's "
                                               "own].")(command)
        command = table_options(command)
        command = click.option("--target", help="The column of --data to predict [default: "
                                                "none].")(command)
        return click.option("--data", help=data_help)(command)
    return decorate


def table_options(command: Any) -> Any:
    """How a --data table is read where detection should not decide (the start line says what
    was detected)."""
    for option in reversed([
        click.option("--sep", help="A CSV's separator: ',', ';', tab or '|' [default: detected]."),
        click.option("--decimal", help="A CSV's decimal mark: '.' or ',' [default: detected: ',' "
                                       "where a ';'-separated column is written with it]."),
        click.option("--encoding", help="A CSV's text encoding: utf-8, cp1252, latin-1, utf-16, ... "
                                        "[default: detected: UTF-8, else cp1252]."),
        click.option("--sheet", help="An .xlsx workbook's sheet, by name or position from 0 "
                                     "[default: its first]."),
    ]):
        command = option(command)
    return command
