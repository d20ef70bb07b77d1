"""`hpsearch compare`: parse, run the protocol, print the verdicts."""

from __future__ import annotations

import sys
from typing import Any

import click

from hpsearch.cli.options import (
    batch_trials_option,
    example,
    from_study_file,
    optimizers_option,
    own_data_options,
    reading_options,
    storage_option,
    user_training_of,
    user_training_options,
)
from hpsearch.engine import signals
from hpsearch.errors import ConfigError, HpsearchError, choices
from hpsearch.space.optimizers import parse_optimizers
from hpsearch.tasks import TASKS
from hpsearch.training.device import DEVICE_CHOICES


@click.command(epilog=example("hpsearch compare --task small --task sparse --budget 20 --seeds 5"))
@click.option("--task", "tasks", multiple=True, type=click.Choice(list(TASKS)),
              help="Task to compare on (repeatable); with --data, classification, regression "
                   "or lm says what the data is [default: none: --command or --train].")
@click.option("--budget", type=int, default=None,
              help="Search trials per optimizer, drawn at random in its own space "
                   "[default: 20].")
@click.option("--seeds", type=int, default=None,
              help="Fresh seeds each optimizer's best configuration is re-trained with, scored "
                   "on the test split [default: 5].")
@click.option("--studies", "repeats", type=int, default=None,
              help="Whole repetitions of the protocol per task, each with its own data split, "
                   "search draws and seeds; the verdict is the median over them [default: 3].")
@click.option("--reference", help="Optimizer whose re-runs set the time-to-target target "
                                  "[default: the best re-run mean of study 1].")
@reading_options
@optimizers_option("[default: classic]")
@click.option("--epochs", type=int,
              help=f"Epochs per trial {from_study_file('epochs')}.")
@click.option("--steps", type=int,
              help="Steps per trial instead of --epochs [default: epochs; --task lm: 500].")
@click.option("--context", type=int, help="--task lm: tokens per window [default: the study "
                                         "file's, 64].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of everything drawn.")
@storage_option
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
@click.option("--prefix", default="compare", show_default=True,
              help="Studies are named PREFIX-TASK (PREFIX-FILE with --data), then -study2, ...")
@own_data_options("Your own table (CSV, Excel .xlsx or Parquet) or corpus (--task lm) instead of "
                  "the task's data [default: the task's own].")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes on this machine sharing the comparison.")
@batch_trials_option
@user_training_options
@click.option("--quiet", is_flag=True, help="No progress line.")
def compare(tasks: tuple[str, ...], budget: int | None, seeds: int | None, repeats: int | None,
            reference: str | None, margin: float | None, prefer: tuple[str, ...] | None,
            optimizers: str | None, epochs: int | None,
            steps: int | None, context: int | None, seed: int, storage: str | None, device: str, prefix: str,
            data: str | None, target: str | None, model: str | None, workers: int,
            batch_trials: int | None, quiet: bool, **options: Any) -> None:
    """Compare optimizers fairly: equal budgets, re-runs over seeds, scored on the test split,
    repeated over independent studies."""
    from hpsearch.cli.output import (
        CompareProgress,
        compare_start_lines,
        quiet_optuna,
        stopped_line,
        summary_of,
    )
    from hpsearch.protocols.compare import run
    from hpsearch.protocols.compare_config import (
        DEFAULT_BUDGET,
        DEFAULT_SEEDS,
        DEFAULT_STUDIES,
        CompareConfig,
    )
    from hpsearch.space.optimizers import CLASSIC

    quiet_optuna()
    user = user_training_of(options)
    if not tasks and user is None:
        raise ConfigError(f"no task given; use --task (valid choices: {choices(TASKS)}), "
                          "--command or --train")
    config = CompareConfig(
        tasks=tasks, budget=DEFAULT_BUDGET if budget is None else budget,
        seeds=DEFAULT_SEEDS if seeds is None else seeds,
        studies=DEFAULT_STUDIES if repeats is None else repeats,
        optimizers=parse_optimizers(optimizers) if optimizers else CLASSIC, epochs=epochs, steps=steps,
        context=context, seed=seed, storage=storage, device=device, prefix=prefix, data=data, target=target,
        model=model, batch_trials=1 if batch_trials is None else batch_trials, user=user,
        **options)
    if reference is not None and reference not in config.optimizers:
        raise ConfigError(f"--reference '{reference}' is not among the optimizers compared; "
                          f"valid choices: {choices(config.optimizers)}")
    progress = CompareProgress(config, quiet)

    def on_start(prepared: list[Any], notes: tuple[str, ...]) -> None:
        click.echo("\n".join([*compare_start_lines(config), *notes]), err=True)

    try:
        with signals.handled():
            result = run(config, workers=workers, on_trial=progress, on_start=on_start)
    except KeyboardInterrupt as stop:  # Ctrl-C, SIGTERM or SIGHUP
        progress.finish()
        click.echo(stopped_line(stop, workers), err=True)
        sys.exit(signals.exit_code(stop))
    progress.finish()
    from hpsearch.report.documents.text import terminal

    click.echo(terminal(summary_of(storage, list(result.study_names), reference, margin, prefer)))
    click.echo(f"\n{len(result.study_names)} studies in {result.seconds:.0f} s; the page: "
               f"hpsearch report --study {' --study '.join(result.study_names)}"
               + (f" --reference {reference}" if reference else ""))
    if result.stopped:
        raise HpsearchError(result.stopped)
