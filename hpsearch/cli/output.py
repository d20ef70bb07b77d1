"""What the commands print while they run and when they end: hpsearch's warnings as plain lines
(Optuna's log kept quiet unless --debug), a live progress line (all workers), a comparison's
progress by phase, each optimizer's best, and the report's summary of stored studies."""

from __future__ import annotations

import logging
import shutil
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from hpsearch import record

if TYPE_CHECKING:
    import optuna

    from hpsearch.engine.run_result import Share
    from hpsearch.protocols.scale_plan import ScalePlan


def summary_of(storage: str | None, names: list[str] | None, reference: str | None = None,
               margin: float | None = None, prefer: tuple[str, ...] | None = None) -> Any:
    """The report's plain data of the named studies (all when None); `reference`: the optimizer
    whose re-runs set each comparison's time-to-target target; `margin` and `prefer`: how each
    comparison's decision is read (None: the defaults)."""
    from hpsearch.engine.storage import display, load_studies, storage_url
    from hpsearch.report.summaries.collect import summarise

    return summarise(load_studies(storage, names), display(storage_url(storage)),
                     reference=reference, margin=margin, prefer=prefer)


def quiet_optuna() -> None:
    """Trial failures are reported by hpsearch in one line each; Optuna's own log adds tracebacks.
    hpsearch's own warnings (a batch that trains one trial at a time, and why) go to stderr as
    plain lines."""
    import optuna

    debug = click.get_current_context().meta.get("debug")
    optuna.logging.set_verbosity(optuna.logging.WARNING if debug else optuna.logging.ERROR)
    logger = logging.getLogger("hpsearch")
    if not any(isinstance(h, EchoHandler) for h in logger.handlers):  # once per process
        logger.addHandler(EchoHandler(logging.WARNING))


class EchoHandler(logging.Handler):
    """A log record as one line on stderr, through click (so that tests capture it)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


def duration(seconds: float) -> str:
    """`42s`, `3m05s`, `1h02m`."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Pace:
    """Elapsed time since the command began, and the time left at the pace of the trials finished
    since the first one this run saw end (start-up and trials stored before do not count)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.started = time.monotonic()
        self.first: tuple[float, int] | None = None  # when the first trial ended, and done by then

    def text(self, done: int, total: int | None = None) -> str:
        """`total`: the count expected by now, where it changes as the run goes (a scale sweep's)."""
        now = time.monotonic()
        total = self.total if total is None else total
        text = f"{duration(now - self.started)} elapsed"
        if self.first is None:
            self.first = (now, done)
        since, done_then = self.first
        if done > done_then and done < total:
            text += f", about {duration((now - since) / (done - done_then) * (total - done))} left"
        return text


class Line:
    """One status line: rewritten in place and cut to the width of a terminal, or one line each
    in a log; nothing when quiet."""

    def __init__(self, quiet: bool = False) -> None:
        self.live = sys.stderr.isatty()
        self.quiet = quiet
        self.width = 0

    def show(self, line: str) -> None:
        if self.quiet:
            return
        if self.live:
            line = line[:max(20, shutil.get_terminal_size().columns - 1)]
            click.echo("\r" + line.ljust(self.width), nl=False, err=True)
            self.width = len(line)
        else:
            click.echo(line, err=True)

    def finish(self) -> None:
        if self.live and self.width and not self.quiet:
            click.echo(err=True)


class CompareProgress(Line):
    """Per study: trials finished by phase, the trial that ended, elapsed and time left."""

    def __init__(self, config: Any, quiet: bool = False) -> None:
        super().__init__(quiet)
        self.config = config
        per_study = len(config.optimizers) * (1 + config.budget + config.seeds)
        self.pace = Pace(per_study * len(config.study_configs))
        self.finished: dict[str, int] = {}

    def __call__(self, task: str, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        from hpsearch.protocols.compare_plan import finished_by_phase

        done = finished_by_phase(study.get_trials(deepcopy=False))
        self.finished[study.study_name] = sum(done.values())
        n = len((record.protocol_of(study.user_attrs) or {}).get("optimizers", [])) or 1
        self.show(f"[{task}] defaults {done['default']}/{n}  search {done['search']}/"
                  f"{n * self.config.budget}  re-runs {done['rerun']}/{n * self.config.seeds}  | "
                  f"#{trial.number} {trial.params.get('optimizer')} "
                  f"{trial.user_attrs.get(record.PHASE)} {trial.state.name.lower()} | "
                  f"{self.pace.text(sum(self.finished.values()))}")


class Progress(Line):
    """The study as stored (all workers), the trial that just ended, elapsed and time left."""

    def __init__(self, total: int, quiet: bool = False) -> None:
        super().__init__(quiet)
        self.total = total
        self.pace = Pace(total)

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.update(study, trial)

    def update(self, study: optuna.Study, trial: optuna.trial.FrozenTrial | None = None) -> None:
        trials = study.get_trials(deepcopy=False)
        count = record.tally(trials)
        done = record.counted(trials)
        line = (f"[{done}/{self.total}] complete {count['complete']} "
                f"pruned {count['pruned']} diverged {count['diverged']}"
                + (f" failed {count['failed']}" if count["failed"] else ""))
        # From the trials at hand: `study.best_trial` would query the storage again.
        best = record.best_trial(trials, record.direction_of(study))
        if best is not None:
            line += f" | best {best.value:.4g} ({best.params.get('optimizer')} #{best.number})"
        if trial is not None:
            line += (f" | #{trial.number} {trial.params.get('optimizer')} "
                     f"{trial.state.name.lower()}")
            attrs = record.trial_attrs(trial)
            steps = attrs.get(record.POINT_STEPS)  # the user's program's own, where it said
            if record.outcome(trial) == "failed":
                line += f": {attrs.get(record.REASON, 'see --debug')}"
            elif steps and steps[-1] is not None:
                line += f" at step {steps[-1]}"
        self.show(f"{line} | {self.pace.text(done)}")


class ScaleProgress(Line):
    """The study's runs finished (every process's, other commands' too) of those its plan expects
    by now, how many of them this command ran where others did some, the run that ended, elapsed
    and time left (the study's, at the pace of every process)."""

    def __init__(self, plan: ScalePlan, quiet: bool = False) -> None:
        super().__init__(quiet)
        self.plan = plan
        self.pace = Pace(0)
        self.share: Share | None = None  # known once the study is open

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial | None = None) -> None:
        from hpsearch.protocols.scale_plan import runs_expected

        trials = study.get_trials(deepcopy=False)
        counted = [t for t in trials if t.state.is_finished() and record.outcome(t) != "failed"]
        expected = max(len(counted), runs_expected(trials, self.plan))
        line = f"[{len(counted)}/~{expected}] runs of the study"
        mine = (sum(self.share.ran(study.study_name, t) for t in counted) if self.share
                else len(counted))
        if mine != len(counted):
            line += f", {mine} by this command"
        if trial is not None:
            attrs = trial.user_attrs
            value = f"{trial.value:.4f}" if trial.value is not None else record.outcome(trial)
            line += (f" | #{trial.number} {attrs.get(record.OPTIMIZER)} "
                     f"{attrs.get(record.PARAMETRIZATION)} width {attrs.get(record.WIDTH)} "
                     + (f"depth {attrs[record.DEPTH]} " if record.DEPTH in attrs else "")
                     + f"x{attrs.get(record.LENGTH)} lr {attrs.get(record.LR, 0):.3g} "
                     f"seed {attrs.get(record.SEED_INDEX)}: {value}")
        self.show(f"{line} | {self.pace.text(len(counted), expected)}")


class RangeTestProgress(Line):
    """The learning-rate range tests: how many are done, the one that ended, elapsed, time left."""

    def __init__(self, total: int, quiet: bool = False) -> None:
        super().__init__(quiet)
        self.pace = Pace(total)
        self.done = 0

    def __call__(self, optimizer: str, result: Any) -> None:
        self.done += 1
        self.show(f"[{self.done}/{self.pace.total}] range tests | {optimizer}: {result.stopped}, "
                  f"{result.seconds:.1f} s | {self.pace.text(self.done)}")


def stopped_line(stop: KeyboardInterrupt, workers: int = 1) -> str:
    """What a stopping signal did to a sweep: how many trials it found in flight (this process's
    own count; with workers, theirs are failed too and not counted here)."""
    from hpsearch.engine import signals

    count = signals.in_flight(stop)
    if count is None or workers > 1:
        failed = "the trials in flight are recorded as failed"
    elif count == 0:
        failed = "no trial was in flight"
    elif count == 1:
        failed = "the trial in flight is recorded as failed"
    else:
        failed = f"the {count} trials in flight are recorded as failed"
    return f"{signals.described(stop)}: {failed}; run the same command to continue"


def print_table(study: optuna.Study) -> None:
    from hpsearch.report.documents.text import optimizer_table
    from hpsearch.report.summaries.study import summarise_optimizers

    rows = summarise_optimizers(study.get_trials(deepcopy=False), record.direction_of(study))
    click.echo("\n" + optimizer_table(rows, study.user_attrs.get(record.METRIC, "value")))


def optimizer_lines() -> list[str]:
    """`hpsearch optimizers`: every entry, its torch class, quirks and ranges; schedules; clipping."""
    from hpsearch.space.conditional import CLIP_RANGE
    from hpsearch.space.optimizers import OPTIMIZERS, notes
    from hpsearch.space.schedules import SCHEDULES

    lines = []
    for spec in OPTIMIZERS.values():
        fixed = "".join(f", {k}={v}" for k, v in spec.fixed.items())
        lines.append(f"{spec.key:<18} {spec.torch_class}{fixed}{notes(spec)}: {spec.description}")
        lines += [f"    {spec.param_name(hp):<34} {hp.describe()}" for hp in spec.hyperparameters]
    return [*lines, "--optimizers takes names or the groups: all (every available one), classic "
            "(the default), modern",
            "schedules (fractions of the run, stepped every step): "
            + ", ".join(f"{s.key} ({s.description})" for s in SCHEDULES.values()),
            f"gradient clipping: off, or max norm {CLIP_RANGE[0]:g}..{CLIP_RANGE[1]:g} (log)"]


def task_lines() -> list[str]:
    """`hpsearch tasks`: each built-in task, its problem, metric and batch size."""
    from hpsearch.tasks import TASKS

    return [f"{task.name:<15} {task.problem.kind:<15} {task.problem.metric} "
            f"({task.problem.direction}), batch {task.batch_size}: {task.description}"
            for task in TASKS.values()]


def tune_start_lines(config: Any, before: int, notes: tuple[str, ...]) -> list[str]:
    """What a sweep says as it starts: the study, its budget, where it came from, and notes."""
    what = f"resuming at {before}/{config.n_trials}" if before else f"{config.n_trials} trials"
    batch = "" if config.user is not None else f" of batch {config.batch_size}"
    budget = (f"{config.steps} steps{batch}, evaluated every {config.eval_every}"
              if config.steps else f"{config.epochs} epochs")
    return [f"study '{config.study_name}' ({config.task}, {what}, {budget}, "
            f"sampler {config.sampler}, pruner {config.pruner}, seed {config.seed}) "
            f"from {config.source}", *(f"  {note}" for note in notes)]


def compare_start_lines(config: Any) -> list[str]:
    """What a comparison says as it starts: per task, its protocol's budget."""
    return [f"study '{study.study_name}' ({study.task}): {len(study.space.optimizers)} optimizers x "
            f"({config.budget} search trials + 1 at torch's defaults + {config.seeds} re-runs on the "
            f"test split), {study.epochs} epochs, seed {config.seed}" for study in config.study_configs]
