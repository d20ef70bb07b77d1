"""The read-only listings: the studies of a storage, the optimizers and the built-in tasks."""

from __future__ import annotations

import click

from hpsearch.cli_options import storage_option


@click.command("studies")
@storage_option
def list_studies(storage: str | None) -> None:
    """List the studies in a storage: task, trials by state, best value."""
    from hpsearch.engine.storage import load_studies
    from hpsearch.report.text import study_lines

    click.echo("\n".join(study_lines(load_studies(storage))))


@click.command("optimizers")
def list_optimizers() -> None:
    """List the optimizers, their torch classes and searched hyperparameters."""
    from hpsearch.cli_output import optimizer_lines

    click.echo("\n".join(optimizer_lines()))


@click.command("tasks")
def list_tasks() -> None:
    """List the built-in tasks."""
    from hpsearch.cli_output import task_lines

    click.echo("\n".join(task_lines()))
