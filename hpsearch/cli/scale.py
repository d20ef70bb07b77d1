"""`hpsearch scale`: learning-rate sweeps across widths (and lengths), and the prediction for the
target run."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from hpsearch.cli.options import (
    batch_trials_option,
    example,
    optimizers_option,
    storage_option,
    user_training_of,
    user_training_options,
)
from hpsearch.cli.output import ScaleProgress, quiet_optuna
from hpsearch.engine import signals
from hpsearch.errors import ConfigError, HpsearchError
from hpsearch.training.device import DEVICE_CHOICES, PRECISIONS

if TYPE_CHECKING:
    from hpsearch.engine.run_result import Share

PARAMETRIZATION_CHOICES = ("both", "sp", "mup", "completep")


def integers(name: str, text: str) -> tuple[int, ...]:
    """A comma-separated list of positive integers, or a one-line error naming the bad part."""
    values = []
    for part in text.split(","):
        try:
            values.append(int(part.strip()))
        except ValueError:
            raise ConfigError(f"--{name} takes comma-separated integers; got '{part.strip()}'") from None
    return tuple(values)


def parametrizations_of(text: str) -> tuple[str, ...]:
    """`--parametrization`: one name, a comma-separated list, or "both" (sp and mup)."""
    names = ("sp", "mup") if text == "both" else tuple(p.strip() for p in text.split(","))
    for name in names:
        if name not in PARAMETRIZATION_CHOICES[1:]:
            raise ConfigError(f"--parametrization: unknown '{name}'; valid choices: "
                              f"{', '.join(PARAMETRIZATION_CHOICES)}, or a comma-separated list")
    return names


@click.command(epilog=example("hpsearch scale --optimizers adamw,muon --widths 32,64,128,256 "
                              "--target-width 1024 --target-steps 2000"))
@click.option("--task", type=click.Choice(["lm"]), default="lm", show_default=True,
              help="The task swept (the language model).")
@optimizers_option("[default: adamw,muon,lion]")
@click.option("--parametrization", default="both", show_default=True,
              help="Standard (sp), µP (mup), CompleteP (completep: µP and depth's rules), a "
                   "comma-separated list of them, or both (sp,mup).")
@click.option("--widths", default="16,32,64,128", show_default=True,
              help="Model widths swept, multiples of 16 (heads = width / 16).")
@click.option("--lengths", default="1", show_default=True,
              help="Training lengths, as multiples of --steps (e.g. 1,2,4,8).")
@click.option("--steps", type=int, default=250, show_default=True, help="Steps of the base length.")
@click.option("--seeds", type=int, default=2, show_default=True,
              help="Seeds at each learning rate of the fine pass.")
@click.option("--base-width", type=int, help="µP's base width [default: the smallest width].")
@click.option("--depth", type=int, default=2, show_default=True, help="Transformer blocks.")
@click.option("--depths", help="Depths swept, as a second axis (e.g. 2,4,8; the model is then "
                               "built with its depth) [default: none: --depth alone].")
@click.option("--base-depth", type=int, help="CompleteP's base depth [default: the smallest depth].")
@click.option("--target-depth", type=int, help="The big run's depth, with --depths: its learning "
                                               "rate is predicted across depth [default: none].")
@click.option("--context", type=int, default=64, show_default=True, help="Tokens per window.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Windows per step.")
@click.option("--target-width", type=int, help="The big run's width: its learning rate is predicted "
                                                "[default: none: no prediction].")
@click.option("--target-steps", type=int, help="The big run's steps, with --target-width "
                                               "[default: the base length, --steps].")
@click.option("--data", help="Your corpus: a text file, or nanoGPT's train.bin [default: the "
                             "built-in corpus].")
@click.option("--model", help="Your model: FILE.py:FUNCTION called as FUNCTION(vocab_size, "
                              "context, width), listing its hidden matrices in "
                              "`model.hpsearch_width_scaled` [default: the built-in GPT].")
@click.option("--study", default="scale-lm", show_default=True,
              help="Study name (--command or --train: scale-command, scale-function).")
@storage_option
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True)
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every run.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes on this machine sharing the sweep.")
@batch_trials_option
@user_training_options
@click.option("--quiet", is_flag=True, help="No progress line.")
def scale(task: str, optimizers: str | None, parametrization: str, widths: str, lengths: str,
          depths: str | None, workers: int, batch_trials: int | None, quiet: bool,
          **options: Any) -> None:
    """Sweep the learning rate across widths (and lengths) in sp and µP; predict the target run's."""
    from hpsearch.protocols.scale import ScaleConfig, run
    from hpsearch.report.summaries.scale import extrapolation, scale_lines, summarise_scale
    from hpsearch.space.optimizers import parse_optimizers

    quiet_optuna()
    config = ScaleConfig(user=user_training_of(options),
        optimizers=parse_optimizers(optimizers) if optimizers else ("adamw", "muon", "lion"),
        parametrizations=parametrizations_of(parametrization),
        widths=integers("widths", widths), lengths=integers("lengths", lengths),
        depths=integers("depths", depths) if depths else (),
        batch_trials=1 if batch_trials is None else batch_trials, **options)

    def on_start(prepared: Any, share: Share) -> None:
        plan = config.plan()
        progress.share = share
        click.echo(f"study '{config.study}': {len(plan.optimizers)} optimizers x "
                   f"{len(plan.parametrizations)} parametrizations x widths "
                   f"{', '.join(map(str, plan.widths))} x "
                   + (f"depths {', '.join(map(str, plan.depths))} x " if plan.depths else "")
                   + "lengths "
                   f"{', '.join(str(n * config.steps) for n in plan.lengths)} steps, "
                   f"{config.seeds} seeds in the fine pass", err=True)
        for note in prepared.notes:
            click.echo(f"  {note}", err=True)
        warning, _ = extrapolation(config.target_width, config.target_steps or config.steps,
                                   plan.widths, [n * config.steps for n in plan.lengths])
        if warning:  # before the sweep's minutes, not only after them
            click.echo(f"warning: {warning}", err=True)

    progress = ScaleProgress(config.plan(), quiet)
    try:
        with signals.handled():
            result = run(config, workers=workers, on_trial=progress, on_start=on_start,
                               on_progress=progress)
    except KeyboardInterrupt as stop:
        progress.finish()
        click.echo(f"{signals.described(stop)}: the runs in flight are recorded as failed; run the "
                   "same command to continue where it stopped", err=True)
        sys.exit(signals.exit_code(stop))
    progress.finish()
    click.echo("\n".join(scale_lines(summarise_scale(result.study))))
    speed = (f", {result.steps_per_second:.1f} steps/s over all workers"
             if result.steps_per_second else "")
    others = f" ({result.others} more by other commands)" if result.others else ""
    click.echo(f"\n{result.trials_run} runs in {result.seconds:.0f} s{speed}; study "
               f"'{config.study}'{others}")
    if result.stopped:
        raise HpsearchError(result.stopped)
