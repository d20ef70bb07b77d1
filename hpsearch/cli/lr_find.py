"""`hpsearch lr-find`: the learning-rate range test of each optimizer, its page, and the range
it suggests searching."""

from __future__ import annotations

from pathlib import Path

import click

from hpsearch.cli.options import check_writable, example, own_data_options
from hpsearch.definition.config import check_seed
from hpsearch.space.optimizers import parse_optimizers
from hpsearch.tasks import TASKS
from hpsearch.training.device import DEVICE_CHOICES


@click.command("lr-find", epilog=example("hpsearch lr-find --task classification --optimizer adam,sgd"))
@click.option("--task", type=click.Choice(list(TASKS)), required=True, help="Task to test on.")
@click.option("--optimizer", "optimizers", default="adam", show_default=True,
              help="Optimizer(s), comma-separated, or a group: all, classic, modern.")
@click.option("--steps", type=click.IntRange(min=20), default=300, show_default=True,
              help="Mini-batches over which the learning rate grows exponentially.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
@own_data_options("Your own table (CSV, Excel .xlsx or Parquet) instead of the task's data "
                  "[default: the task's own].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("studies/lr-find.html"), show_default=True, help="HTML page to write.")
@click.option("--quiet", is_flag=True, help="No progress line.")
def lr_find(task: str, optimizers: str, steps: int, seed: int, device: str, data: str | None,
            target: str | None, model: str | None, out: Path, quiet: bool,
            **reading: str | None) -> None:
    """Learning-rate range test: loss against an exponentially growing lr, and the range to
    search."""
    from hpsearch.cli.output import RangeTestProgress
    from hpsearch.protocols.lr_find import run_range_tests, testable
    from hpsearch.report.documents.lr_find_page import write_page
    from hpsearch.space.conditional import SearchSpace
    from hpsearch.tasks.prepare import prepare_task
    from hpsearch.tasks.spreadsheet import TableReading
    from hpsearch.training.device import resolve_device

    check_seed("--seed", seed)
    table = TableReading(**reading)
    table.check(data, task != "lm")
    check_writable(out)  # before minutes of range tests, not after
    space = SearchSpace(optimizers=parse_optimizers(optimizers))
    prepared = prepare_task(task, data=data, target=target, model=model, reading=table)
    progress = RangeTestProgress(len(testable(space)), quiet)
    results = run_range_tests(space, prepared, resolve_device(device), seed=seed, steps=steps,
                              on_result=progress)
    progress.finish()
    for key in space.optimizers:
        click.echo(results[key].describe() if key in results else f"{key}: no learning rate to test")
    if results:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_page(results, out)
        click.echo(f"\npage: {out}")
