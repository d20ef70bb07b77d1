"""hpsearch from Python and notebooks: `tune`, `compare`, `scale` and `load` return a `Result` (the
best configuration, the Optuna study, the trials as a DataFrame, the verdict, and a method that writes
the report), with the CLI's options, storages and resumption rules.

Called from Python nothing exits the process: bad input raises `hpsearch.ConfigError`, every keyword
checked for its type and range before anything runs. A keyword that takes several values takes a
list or, as on the command line, comma-separated text ("corpus,small", "16,32"). Stopping
signals are handled only while a call runs, on the main thread, and the previous handlers come back
on return; Ctrl-C (SIGINT, as Jupyter sends it) records the trial in flight as failed, then raises
`KeyboardInterrupt`. Optuna's own log is quiet during a call (warnings only); hpsearch's goes to
the `hpsearch` logger (the start of a run, and a line per finished trial at INFO), which prints
nothing until the program configures logging (`logging.basicConfig(level=logging.INFO)`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.api.keywords import check_named, flags, functions, listed, names, user_options
from hpsearch.errors import ConfigError

if TYPE_CHECKING:
    import optuna
    import pandas

Callback = Callable[["optuna.Study", "optuna.trial.FrozenTrial"], None]
log = logging.getLogger("hpsearch")


@dataclass(frozen=True)
class Result:
    """What a sweep or a comparison left in its storage, ready to use."""

    study: optuna.Study  # a comparison's first study
    storage: str | None = None
    studies: tuple[optuna.Study, ...] = ()  # every study of a comparison (one for a sweep)
    stopped: str | None = None  # why a run stopped short of its budget, if it did

    @property
    def best_config(self) -> dict[str, Any] | None:
        """The best trial's exported configuration: `hpsearch.build_optimizer(config, model)`. A
        scale sweep's is the one predicted for its target run (None without a target)."""
        from hpsearch import record
        from hpsearch.report.summaries.scale import stored_target

        if record.is_scale_sweep(self.study.user_attrs):
            protocol = record.protocol_of(self.study.user_attrs) or {}
            width, steps, _ = stored_target(protocol)
            depth = protocol.get("target_depth")
            return self.config_for(width, steps, depth=depth) if width or depth else None
        best = record.best_trial(self.study.get_trials(deepcopy=False), record.direction_of(self.study))
        return None if best is None else dict(record.trial_attrs(best).get(record.CONFIG) or {}) or None

    def config_for(self, width: int | None, steps: int | None = None, optimizer: str | None = None,
                   parametrization: str | None = None, depth: int | None = None
                   ) -> dict[str, Any] | None:
        """A scale sweep's configuration for a run of `width` (and `steps`, and `depth` in a sweep
        of depths), as `hpsearch best --for-width --for-depth` prints it; None while the sweep
        cannot predict it yet."""
        import json

        from hpsearch.errors import HpsearchError
        from hpsearch.report.summaries.scale_target import target_config

        try:  # in the form `best.json` holds it
            return dict(json.loads(json.dumps(target_config(self.study, width, steps, optimizer,
                                                            parametrization, depth))))
        except ConfigError:
            raise
        except HpsearchError:
            return None

    @property
    def trials(self) -> pandas.DataFrame:
        """One row per trial (every study of a comparison, with its name in `study`)."""
        import pandas

        from hpsearch.report.trials_table import trials_frame

        frames = [trials_frame(s).assign(study=s.study_name) for s in self.studies or (self.study,)]
        return pandas.concat(frames, ignore_index=True)

    def summary(self, reference: str | None = None, margin: float | None = None,
                prefer: str | Sequence[str] | None = None) -> Any:
        """The report's plain data of these studies; a comparison's decision read with `margin`
        (in the metric's units) and the criteria in the order `prefer` ("time,ease,cost")."""
        from hpsearch.report.summaries.collect import summarise
        from hpsearch.statistics.recommendation import parse_prefer

        if isinstance(prefer, str):
            try:
                prefer = parse_prefer(prefer)
            except ValueError as error:
                raise ConfigError(str(error).replace("--prefer", "prefer=")) from None
        return summarise(list(self.studies or (self.study,)), self.storage or "(in memory)",
                         importance=False, reference=reference, margin=margin,
                         prefer=tuple(prefer) if prefer else None)

    @property
    def recommendation(self) -> str | None:
        """Each comparison's recommendation and its optimizers' classes against the best, read with
        the default margin (`summary(margin=...)` reads it with another)."""
        texts = [g.decision.text for g in self.summary().repeated if g.decision is not None]
        return "\n".join(texts) or None

    @property
    def verdict(self) -> str | None:
        """A comparison's verdict per comparison (over its studies); a sweep's own verdict."""
        from hpsearch.report.summaries.scale import scale_lines

        summary = self.summary()
        texts = ([g.verdict + (f" {g.decision.text}" if g.decision else "")
                  for g in summary.repeated] or [s.verdict for s in summary.studies]
                 or ["\n".join(scale_lines(s)) for s in summary.scales])
        return "\n".join(texts) or None

    def write_report(self, path: str | Path = "studies/report.html") -> Path:
        from hpsearch.report.documents.page import render_page

        out = Path(path)
        out.write_text(render_page(self.summary()), encoding="utf-8")
        return out

    def _repr_html_(self) -> str:
        from hpsearch.report.documents.notebook import summary_html

        return summary_html(self.summary())


@contextlib.contextmanager
def _running() -> Iterator[None]:
    """Stopping signals handled while the call runs (main thread only); Optuna's log quiet."""
    import optuna

    from hpsearch.engine import signals

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    on_main = threading.current_thread() is threading.main_thread()
    try:
        with signals.handled() if on_main else contextlib.nullcontext():
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


class Relay:
    """Hands every finished trial of the study, whichever worker ran it, to the callbacks, once
    each and in order of number: called after this process's trials and while it waits on others."""

    def __init__(self, callbacks: Iterable[Callback]) -> None:
        self.callbacks = [log_trial, *callbacks]
        self.seen: set[int] = set()

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial | None = None) -> None:
        for finished in study.get_trials(deepcopy=False):
            if finished.state.is_finished() and finished.number not in self.seen:
                self.seen.add(finished.number)
                for callback in self.callbacks:
                    callback(study, finished)


def log_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    from hpsearch import record

    value = "" if trial.value is None else f" {trial.value:.6g}"
    reason = record.trial_attrs(trial).get(record.REASON)
    log.info("%s #%d %s %s%s%s", study.study_name, trial.number,
             trial.params.get(record.OPTIMIZER, trial.user_attrs.get(record.OPTIMIZER, "")),
             record.outcome(trial), value, f": {reason}" if reason else "")


def tune(task: str | None = None, *, study: str | None = None, storage: str | None = None,
         n_trials: int | None = None, optimizers: str | Sequence[str] | None = None,
         schedules: str | Sequence[str] | None = None, workers: int = 1,
         warm_start: str | Sequence[str] | None = None, config_file: str | Path | None = None,
         callbacks: Iterable[Callback] = (),
         train: Callable[..., Any] | str | None = None, command: str | Sequence[str] | None = None,
         **options: Any) -> Result:
    """Run (or resume) a sweep, as `hpsearch tune` does: `options` are its flags by their config
    names (`epochs`, `steps`, `sampler`, `pruner`, `seed`, `data`, `target`, `model`, ...).

    Your own training instead of a task: `train=fn` (or "module:function"), called as
    `fn(config, report)` for each trial, calling `report(step, value)` at each evaluation point;
    or `command="python train.py --lr={lr} ..."` (see the README's "Your training script"), with
    `metric_regex`, `metric_file`, `direction`, `metric_name`, ... among `options`."""
    from hpsearch.definition.config import StudyConfig, check_positive, load_config
    from hpsearch.protocols.tune import run

    check_named(task=task, study=study, storage=storage, n_trials=n_trials, config_file=config_file)
    check_positive("workers", workers)
    relay = Relay(functions("callbacks", callbacks, "f(study, trial)"))
    own = user_options(options, train, command)
    given = flags(options, StudyConfig, {"task", "study_name", "space", "source", "user"},
                  none_unsets=True)
    config = load_config(task, Path(config_file) if config_file else None, {
        **given, **own, "study": study, "storage": storage, "n_trials": n_trials,
        "optimizers": names(optimizers), "warm_start": listed("warm_start", warm_start, str),
        "schedules": (tuple(s.strip() for s in schedules.split(",")) if isinstance(schedules, str)
                      else listed("schedules", schedules, str))})
    from hpsearch.cli.output import tune_start_lines

    def on_start(study: optuna.Study, before: int, notes: tuple[str, ...]) -> None:
        for line in tune_start_lines(config, before, notes):
            log.info(line.strip())

    with _running():
        result = run(config, callbacks=[relay], workers=workers, on_progress=relay,
                     on_start=on_start)
    relay(result.study)
    return Result(result.study, storage, (result.study,), result.stopped)


def compare(tasks: str | Sequence[str] = (), *, storage: str | None = None, workers: int = 1,
            optimizers: str | Sequence[str] | None = None,
            train: Callable[..., Any] | str | None = None, command: str | Sequence[str] | None = None,
            **options: Any) -> Result:
    """Run (or continue) a comparison, as `hpsearch compare` does: `options` are its flags
    (`budget`, `seeds`, `studies`, `epochs`, `steps`, `seed`, `prefix`, `data`, `target`, ...).
    Your own training instead of tasks: `train=fn` or `command=...`, as for `tune`; each re-run
    reports its held-out value (`report(step, value, test=...)`, or `test_regex`)."""
    from hpsearch.definition.config import check_positive, user_training
    from hpsearch.protocols.compare import CompareConfig, run
    from hpsearch.space.optimizers import CLASSIC

    check_named(storage=storage)
    check_positive("workers", workers)
    own = {k: v for k, v in user_options(options, train, command).items() if v is not None}
    given = flags(options, CompareConfig, {"tasks", "study_configs", "storage", "optimizers",
                                           "user"})
    config = CompareConfig(tasks=listed("tasks", tasks, str, ()), optimizers=names(optimizers, CLASSIC),
                           storage=storage, user=user_training(own), **given)
    with _running():
        result = run(config, workers=workers,
                                on_trial=lambda task, study, trial: log_trial(study, trial))
    studies = tuple(load(name, storage).study for name in result.study_names)
    return Result(studies[0], storage, studies, result.stopped)


def scale(optimizers: str | Sequence[str] = ("adamw", "muon", "lion"), *,
          parametrizations: str | Sequence[str] = ("sp", "mup"),
          widths: str | Sequence[int] = (16, 32, 64, 128), lengths: str | Sequence[int] = (1,),
          depths: str | Sequence[int] = (),
          storage: str | None = None, workers: int = 1, callbacks: Iterable[Callback] = (),
          train: Callable[..., Any] | str | None = None, command: str | Sequence[str] | None = None,
          **options: Any) -> Result:
    """Run (or continue) a learning-rate sweep across widths (and lengths, and depths), as
    `hpsearch scale` does: `options` are its flags (`steps`, `seeds`, `target_width`,
    `target_steps`, `depths`, `base_depth`, `target_depth`, `study`, `data`, `model`, ...).
    `Result.best_config` is the target run's predicted configuration. Your own training instead
    of the built-in GPT: `train=fn` or `command=...`, as for `tune`; each run is handed its
    `width`, `base_width`, `parametrization`, `depth` and `base_depth`."""
    from hpsearch.definition.config import check_positive, user_training
    from hpsearch.protocols.scale import ScaleConfig, run

    check_named(storage=storage)
    check_positive("workers", workers)
    relay = Relay(functions("callbacks", callbacks, "f(study, trial)"))
    own = {k: v for k, v in user_options(options, train, command).items() if v is not None}
    given = flags(options, ScaleConfig, {"optimizers", "parametrizations", "widths", "lengths",
                                         "depths", "storage", "study_config", "user"})
    chosen = listed("parametrizations", parametrizations, str, ScaleConfig.parametrizations)
    config = ScaleConfig(
        optimizers=names(optimizers, ScaleConfig.optimizers),
        parametrizations=("sp", "mup") if chosen == ("both",) else chosen,
        widths=listed("widths", widths, int, ScaleConfig.widths),
        lengths=listed("lengths", lengths, int, ScaleConfig.lengths),
        depths=listed("depths", depths, int, ()), storage=storage,
        user=user_training(own), **given)
    with _running():
        result = run(config, workers=workers, on_trial=relay, on_progress=relay)
    relay(result.study)
    return Result(result.study, storage, (result.study,), result.stopped)


def load(study: str | None = None, storage: str | None = None) -> Result:
    """An existing study (its name may be left out when the storage holds one)."""
    from hpsearch.engine.storage import load_study

    check_named(study=study, storage=storage)
    loaded = load_study(storage, study)
    return Result(loaded, storage, (loaded,))
