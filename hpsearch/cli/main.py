"""The `hpsearch` command line: thin commands that parse, call the library and print.

torch, optuna and scikit-learn are imported inside commands so that `--help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hpsearch import record
from hpsearch.cli.compare import compare
from hpsearch.cli.listings import list_optimizers, list_studies, list_tasks, list_trials
from hpsearch.cli.lr_find import lr_find
from hpsearch.cli.options import (
    OneLineErrors,
    batch_trials_option,
    check_writable,
    echo,
    example,
    from_study_file,
    language_options,
    optimizers_option,
    reading_options,
    storage_option,
    table_options,
    user_training_options,
    writing,
)
from hpsearch.cli.scale import scale
from hpsearch.definition.config import PRUNERS, SAMPLERS
from hpsearch.engine import signals
from hpsearch.errors import ConfigError, HpsearchError
from hpsearch.report.documents.text import TEXT_FORMATS
from hpsearch.space.export import FORMATS
from hpsearch.space.optimizers import parse_optimizers
from hpsearch.space.schedules import SCHEDULES
from hpsearch.tasks import TASKS
from hpsearch.training.device import DEVICE_CHOICES

if TYPE_CHECKING:
    import optuna


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hpsearch")
@click.option("--debug", is_flag=True, help="Show tracebacks, and Optuna's own log.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Find the optimizer and hyperparameters to train a model with."""
    ctx.meta["debug"] = debug


@cli.command(epilog=example("hpsearch tune --task classification --n-trials 50 --optimizers adam,sgd"))
@click.option("--task", type=click.Choice(list(TASKS)),
              help="Built-in task to tune [default: the --config file's `task`].")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Study definition (TOML) [default: studies/<task>.toml when present].")
@click.option("--study", help="Study name [default: the task's name; with --data, the file's].")
@storage_option
@optimizers_option(from_study_file("optimizers"))
@click.option("--schedules", help="Comma-separated learning-rate schedule shapes to search: "
                                  f"{', '.join(SCHEDULES)} [default: from studies/<task>.toml; "
                                  "all; --command: those its placeholders express].")
@click.option("--n-trials", type=int,
              help=f"Total finished trials the study should hold {from_study_file('n_trials')}.")
@click.option("--epochs", type=int, help=f"The most epochs a trial trains {from_study_file('epochs')}.")
@click.option("--batch-size", type=int,
              help=f"Mini-batch size (else the task's) {from_study_file('batch_size')}.")
@click.option("--timeout", type=float,
              help="Stop starting trials after this many seconds [default: none].")
@click.option("--trial-timeout", type=float, help="Stop a trial at the first epoch's end past this "
                                                  "many seconds (pruned); a --command's program "
                                                  "is stopped then and there [default: none].")
@click.option("--sampler", type=click.Choice(SAMPLERS),
              help=f"Search algorithm {from_study_file('sampler')}.")
@click.option("--pruner", type=click.Choice(PRUNERS),
              help=f"Early stopping of poor trials {from_study_file('pruner')}.")
@click.option("--seed", type=int, help="Seed of the sampler and of every trial's training "
                                       f"{from_study_file('seed')}.")
@click.option("--device", type=click.Choice(DEVICE_CHOICES),
              help="Training device [default: auto].")
@click.option("--data", help="Your own table (CSV, Excel .xlsx or Parquet) instead of the task's "
                             "data; --task then says classification or regression [default: the "
                             "task's own].")
@click.option("--target", help="The column of --data to predict [default: none].")
@table_options
@click.option("--model", help="Your own model: FILE.py:FUNCTION or package.module:FUNCTION, "
                              "called as FUNCTION(in_features, out_features) [default: the "
                              "task's own].")
@click.option("--val-fraction", type=float,
              help="Share of rows for validation [default: 0.2].")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes on this machine sharing the study (cores split among them).")
@click.option("--warm-start", help="Studies (comma-separated) whose best configuration of each "
                                   "optimizer runs first in a new study [default: none].")
@batch_trials_option
@click.option("--lr-from-range-test", is_flag=True, default=None,
              help="Narrow each optimizer's learning-rate range by a range test first.")
@language_options
@user_training_options
@click.option("--quiet", is_flag=True, help="No progress line.")
def tune(task: str | None, config_file: Path | None, optimizers: str | None,
         schedules: str | None, workers: int, warm_start: str | None, quiet: bool,
         **flags: Any) -> None:
    """Search optimizer x hyperparameters for a task; resumes an unfinished study."""

    from hpsearch.cli.output import (
        Progress,
        print_table,
        quiet_optuna,
        stopped_line,
        tune_start_lines,
    )
    from hpsearch.definition.config import load_config
    from hpsearch.engine.studies import load_existing
    from hpsearch.protocols.tune import run
    from hpsearch.protocols.warmstart import parse_studies

    quiet_optuna()
    if not (task or config_file or flags.get("command") or flags.get("train")) and flags.get("study"):
        from hpsearch.engine.studies import refuse_without_training, stored_attributes

        refuse_without_training(stored_attributes(flags.get("storage"), flags["study"]),
                                flags["study"])
    config = load_config(task, config_file, {
        **flags, "optimizers": parse_optimizers(optimizers) if optimizers else None,
        "schedules": tuple(s.strip() for s in schedules.split(",") if s.strip())
        if schedules is not None else None,
        "warm_start": parse_studies(warm_start) if warm_start is not None else None})
    progress = Progress(config.n_trials, quiet)

    def on_start(study: optuna.Study, before: int, notes: tuple[str, ...]) -> None:
        click.echo("\n".join(tune_start_lines(config, before, notes)), err=True)

    try:
        with signals.handled():
            result = run(config, callbacks=[progress], on_start=on_start, workers=workers,
                         on_progress=progress.update)
    except KeyboardInterrupt as stop:  # Ctrl-C, SIGTERM or SIGHUP
        progress.finish()
        click.echo(stopped_line(stop, workers), err=True)
        study = load_existing(config)  # read only: nothing of this process can block it
        if study is not None:
            print_table(study)
        sys.exit(signals.exit_code(stop))
    progress.finish()
    if result.already_done:
        click.echo(f"study '{config.study_name}' already holds {result.trials_before} of "
                   f"{config.n_trials} trials; nothing to run.")
    print_table(result.study)
    click.echo(f"\nresults: {result.storage}, study '{config.study_name}' "
               f"({result.trials_after} trials, device {result.device})")
    click.echo(f"winning configuration: hpsearch best --study {config.study_name}")
    if result.stopped:
        raise HpsearchError(result.stopped)


@cli.command(epilog=example("hpsearch best --study classification --format python"))
@click.option("--study", "study_name",
              help="Study name [default: the storage's study, when it holds only one].")
@storage_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="json", show_default=True)
@click.option("--for-width", type=click.IntRange(min=1),
              help="A scale sweep: the configuration predicted for a run of this width "
                   "[default: none: the best trial's configuration].")
@click.option("--for-depth", type=click.IntRange(min=1),
              help="A sweep of depths: ... and of this depth [default: none].")
@click.option("--for-steps", type=click.IntRange(min=1),
              help="... and of this many steps [default: the sweep's base length, its --steps].")
@click.option("--optimizer", help="With --for-width: this optimizer [default: the best at the "
                                  "largest width swept].")
@click.option("--parametrization", type=click.Choice(["sp", "mup", "completep"]),
              help="With --for-width [default: the best at the largest width swept].")
def best(study_name: str | None, storage: str | None, fmt: str, for_width: int | None,
         for_depth: int | None, for_steps: int | None, optimizer: str | None,
         parametrization: str | None) -> None:
    """Print the winning configuration of a study (or a scale sweep's, for the target run)."""
    from hpsearch.engine.storage import load_study
    from hpsearch.space.export import best_config, render

    study = record.check_readable(load_study(storage, study_name))
    if for_width is None and for_depth is None and (for_steps or optimizer or parametrization):
        raise ConfigError("--for-steps, --optimizer and --parametrization go with --for-width "
                          "or --for-depth")
    if for_width is not None or for_depth is not None:
        from hpsearch.report.summaries.scale_target import target_config

        config = target_config(study, for_width, for_steps, optimizer, parametrization, for_depth)
        if config["prediction"]["warning"]:  # beside the configuration, which may be piped
            click.echo(f"warning: {config['prediction']['warning']}", err=True)
    else:
        config = best_config(study)
    echo(render(config, fmt), nl=False)


@cli.command(epilog=example("hpsearch report --out studies/report.html --format md"))
@storage_option
@click.option("--study", "studies", multiple=True,
              help="Study to include (repeatable) [default: all].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("studies/report.html"), show_default=True, help="HTML page to write.")
@click.option("--format", "fmt", type=click.Choice(TEXT_FORMATS),
              help="Also write the summary as Markdown or JSON, beside the page [default: none: "
                   "the page alone].")
@click.option("--reference", help="Optimizer whose re-runs set each comparison's time-to-target "
                                  "target [default: the best in its study 1].")
@reading_options
def report(storage: str | None, studies: tuple[str, ...], out: Path, fmt: str | None,
           reference: str | None, margin: float | None, prefer: tuple[str, ...] | None) -> None:
    """Write one self-contained HTML report of the studies, and print a summary."""
    from hpsearch.cli.output import summary_of
    from hpsearch.report.documents.page import render_page
    from hpsearch.report.documents.text import markdown, terminal, to_json

    check_writable(out)
    if fmt:
        check_writable(out.with_suffix(f".{fmt}"))
    summary = summary_of(storage, list(studies) or None, reference, margin, prefer)
    for name, why in summary.skipped.items():
        click.echo(f"skipped study '{name}': {why}", err=True)
    if not summary.studies and not summary.comparisons and not summary.scales:
        raise ConfigError(f"no {'hpsearch ' if summary.skipped else ''}studies in this storage; "
                          "run `hpsearch tune` first")
    compared = sorted({r.optimizer for c in summary.comparisons for r in c.optimizers})
    if reference is not None and reference not in compared:
        raise ConfigError(f"--reference '{reference}' is in no comparison here; valid choices: "
                          f"{', '.join(compared) or 'none (no comparison)'}")
    with writing(out):
        out.write_text(render_page(summary), encoding="utf-8")
    echo(terminal(summary))
    echo(f"\nreport: {out}")
    if fmt:
        path = out.with_suffix(f".{fmt}")
        with writing(path, "--format"):
            path.write_text(markdown(summary) if fmt == "md" else to_json(summary), encoding="utf-8")
        echo(f"summary: {path}")


cli.add_command(list_studies)
cli.add_command(list_optimizers)
cli.add_command(list_tasks)
cli.add_command(list_trials)
cli.add_command(scale)
cli.add_command(compare)
cli.add_command(lr_find)


def main() -> None:
    """Run the command, then exit without the interpreter's teardown: with torch loaded it takes
    about a second, after every file is closed and every record committed. Exit handlers run.
    Under a profiler or tracer the exit is the usual one, so that they can write their output."""
    import atexit
    import os

    if sys.getprofile() is not None or sys.gettrace() is not None:
        cli.main(prog_name="hpsearch")
        return
    try:
        cli.main(prog_name="hpsearch")
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 1
        if not isinstance(stop.code, (int, type(None))):
            click.echo(stop.code, err=True)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except OSError as error:  # said already if the command's own write failed
        if code == 0:
            click.echo(f"Error: cannot write standard output: {error.strerror or error}", err=True)
            code = 1
    sys.stderr.flush()
    os._exit(code)
