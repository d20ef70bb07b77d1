"""The read-only listings: the studies of a storage, a study's trials, the optimizers and the
built-in tasks, as text, JSON or CSV (and a study's trials as Parquet)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from hpsearch import record
from hpsearch.cli.options import check_writable, echo, example, storage_option, writing
from hpsearch.errors import ConfigError
from hpsearch.report.listings import LISTING_FORMATS

TRIAL_FORMATS = ("csv", "json", "parquet")


def format_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--format", "fmt", type=click.Choice(LISTING_FORMATS), default="text",
                        show_default=True, help="text for people, json or csv for programs.")(command)


@click.command("studies", epilog=example("hpsearch studies --format json"))
@storage_option
@format_option
def list_studies(storage: str | None, fmt: str) -> None:
    """List the studies in a storage: task, trials by state, best value."""
    from hpsearch.engine.storage import load_studies
    from hpsearch.report.listings import render, study_rows, study_text

    rows = study_rows(load_studies(storage))
    echo("\n".join(study_text(rows)) if fmt == "text" else render(rows, fmt))


@click.command("trials", epilog=example(
    "hpsearch trials --study classification --format parquet --out trials.parquet"))
@storage_option
@click.option("--study", help="The study [default: the storage's study, when it holds only one].")
@click.option("--format", "fmt", type=click.Choice(TRIAL_FORMATS), default="csv", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (required for parquet) [default: standard output].")
def list_trials(storage: str | None, study: str | None, fmt: str, out: Path | None) -> None:
    """A study's trials as a table: one row per trial, its outcome, measurements, parameters and
    exported configuration."""
    from hpsearch.engine.storage import load_study
    from hpsearch.report.trials_table import trials_csv, trials_frame

    if fmt == "parquet":
        if out is None:
            raise ConfigError("--format parquet writes a file: give --out FILE.parquet")
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError("--format parquet needs pyarrow: pip install 'hpsearch[parquet]'") from None
    if out is not None:
        check_writable(out)
    frame = trials_frame(record.check_readable(load_study(storage, study)))
    if fmt == "parquet":
        with writing(out):
            frame.to_parquet(out, index=False)
    else:
        text = trials_csv(frame) if fmt == "csv" else frame.to_json(orient="records", indent=1) + "\n"
        if out is None:
            echo(text, nl=False)
        else:
            with writing(out):
                out.write_text(text, encoding="utf-8")
    if out is not None:
        click.echo(f"{len(frame)} trials: {out}", err=True)


@click.command("optimizers", epilog=example("hpsearch optimizers --format json"))
@format_option
def list_optimizers(fmt: str) -> None:
    """List the optimizers, their torch classes and searched hyperparameters."""
    from hpsearch.cli.output import optimizer_lines
    from hpsearch.report.listings import optimizer_rows, render

    echo("\n".join(optimizer_lines()) if fmt == "text" else render(optimizer_rows(), fmt))


@click.command("tasks", epilog=example("hpsearch tasks --format csv"))
@format_option
def list_tasks(fmt: str) -> None:
    """List the built-in tasks."""
    from hpsearch.cli.output import task_lines
    from hpsearch.report.listings import render, task_rows

    echo("\n".join(task_lines()) if fmt == "text" else render(task_rows(), fmt))
