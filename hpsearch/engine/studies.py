"""A study in the storage: opened with its sampler and pruner, checked against the run that resumes
it, and told what each run was (one record per run, so that runs on many machines at once never
overwrite each other's)."""

from __future__ import annotations

import datetime
import os
import socket
import uuid
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from hpsearch import record
from hpsearch.definition.config import StudyConfig
from hpsearch.engine import signals
from hpsearch.engine import storage as storages
from hpsearch.engine.conditional_tpe import conditional_tpe
from hpsearch.engine.optuna_adapter import median_pruner, tpe_sampler
from hpsearch.errors import ConfigError, StudyMismatchError
from hpsearch.tasks.prepare import PreparedTask

if TYPE_CHECKING:
    import optuna


def make_sampler(name: str, seed: int | None, concurrent: bool = True
                 ) -> optuna.samplers.BaseSampler:
    """The sampler `name`; `concurrent` when other processes may run trials of the study at the
    same time: TPE then treats their running trials as bad values (its constant liar), so that
    workers do not all draw the same region. One process draws the same trials either way, and
    without the liar reads the study less."""
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return conditional_tpe(seed=seed, constant_liar=concurrent)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, scramble=True,
                                          warn_independent_sampling=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # group=True models each optimizer's own subspace jointly instead of falling back to
        # independent sampling for parameters that are not in every trial.
        return tpe_sampler(seed=seed, multivariate=True, group=True, constant_liar=concurrent)


def make_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    import optuna

    if name == "median":
        return median_pruner(n_startup_trials=5, n_warmup_steps=3)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs,
                                              reduction_factor=3)
    if name == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.NopPruner()


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {pkg: version(pkg) for pkg in ("hpsearch", "optuna", "torch")}


def identity(config: StudyConfig, prepared: PreparedTask) -> dict[str, Any]:
    """What makes two runs' trials comparable: resuming a study with other values is refused."""
    # Steps are None for a budget in epochs (and in studies stored before budgets in steps), so a
    # budget in epochs never resumes one in steps with as many evaluation points.
    return {record.TASK: config.task, record.SPACE_FINGERPRINT: config.space.fingerprint(),
            record.EPOCHS: config.epochs, record.BATCH_SIZE: config.batch_size,
            record.SPLIT_SEED: config.split_seed, record.STEPS: config.steps,
            record.EVAL_EVERY: config.eval_every, **prepared.identity}


def check_study(study: optuna.Study, config: StudyConfig, prepared: PreparedTask,
                flag: str = "--study name") -> None:
    """Refuse a stored study made for another task, space or budget; stores nothing. `flag`: how
    the command that refuses it names a study (`compare` by its --prefix)."""
    from optuna.trial import TrialState

    stored = study.user_attrs
    if record.TASK not in stored:
        states = tuple(s for s in TrialState if s != TrialState.WAITING)  # enqueued are welcome
        if study.get_trials(deepcopy=False, states=states):
            raise StudyMismatchError(
                f"study '{config.study_name}' exists but was not created by hpsearch; "
                f"choose another {flag}"
            )
        return
    if config.user is None:
        refuse_without_training(stored, config.study_name, flag)
    for key, value in identity(config, prepared).items():
        if stored.get(key) != value:
            raise StudyMismatchError(
                f"study '{config.study_name}' was made with {key}={stored.get(key)!r}, "
                f"not {value!r}; use another {flag} or the original settings"
            )


def prepare_study(config: StudyConfig) -> PreparedTask:
    """The task of a study definition, ready to train, done once per process: the built-in or the
    user's data and model, or the user's own command or function."""
    if config.user is not None:
        from hpsearch.training.user.prepare import prepare_user

        return prepare_user(config.user)
    from hpsearch.tasks.prepare import prepare_task

    return prepare_task(config.task, data=config.data, target=config.target, model=config.model,
                        split_seed=config.split_seed, val_fraction=config.val_fraction,
                        language=config.language(), reading=config.reading())


def refuse_without_training(stored: Mapping[str, Any], name: str, flag: str = "--study name"
                            ) -> None:
    """A study of the user's own training, resumed without it: the command or the function is
    never taken from the storage, so that a shared storage cannot make a machine run a program."""
    kind = stored.get(record.TASK)
    if kind in record.USER_TASKS:
        option = "--command" if kind == "command" else "--train"
        raise StudyMismatchError(
            f"study '{name}' trains with your {kind}: give it again with {option} to resume (a "
            f"{kind} is never taken from the storage); or use another {flag}")


def stored_attributes(storage: str | None, name: str) -> Mapping[str, Any]:
    """A stored study's attributes, read only; empty where it does not exist."""
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=storages.resolve(
            storage, create=False, read_only=True)).user_attrs
    except (KeyError, ConfigError):
        return {}


def load_existing(config: StudyConfig) -> optuna.Study | None:
    """The study as stored, opened read-only; None where the storage or the study does not exist
    yet. Checks read it this way, so that input they refuse leaves the storage as it was."""
    import optuna

    try:
        return optuna.load_study(study_name=config.study_name,
                                 storage=storages.resolve(config.storage, create=False,
                                                          read_only=True))
    except (KeyError, ConfigError):
        return None


def open_study(config: StudyConfig, sampler_seed: int | None = None,
               heartbeat: bool = False) -> optuna.Study:
    import optuna

    return optuna.create_study(
        storage=storages.resolve(config.storage, heartbeat=heartbeat),
        study_name=config.study_name,
        direction=config.problem().direction,  # type: ignore[arg-type]
        sampler=make_sampler(config.sampler, sampler_seed),
        pruner=make_pruner(config.pruner, config.epochs),
        load_if_exists=True,
    )


def open_checked(config: StudyConfig, check: Callable[[optuna.Study], None],
                 sampler_seed: int | None = None) -> optuna.Study:
    """The study, opened for trials once `check` accepts it: checked first as stored, read only (a
    study refused is left as it was, byte for byte), and again once open (another process may
    have made it meanwhile)."""
    existing = load_existing(config)
    if existing is not None:
        check(existing)
    study = open_study(config, sampler_seed=sampler_seed, heartbeat=True)
    check(study)
    return study


def store_run(study: optuna.Study, config: StudyConfig, prepared: PreparedTask,
               sampler_seed: int, device: str, workers: int = 1,
               protocol: Mapping[str, Any] | None = None) -> None:
    """Each run is its own attribute (`run:<start>:<host>:<pid>:<random>`), so runs started at
    once on many machines never overwrite each other's record. A new study's identity is written
    first, its task last: a study is taken to have an identity only once all of it is stored, so
    one whose first run was killed halfway is completed by the next run, not refused forever."""
    import optuna

    with signals.held():  # a stop waits until the record is written
        started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        run_record = {
            "started": started, "host": socket.gethostname(), "sampler": config.sampler,
            **(record.CONDITIONAL_TPE if config.sampler == "tpe" else {}),
            "pruner": config.pruner, "seed": config.seed, "sampler_seed": sampler_seed,
            "device": device, "workers": workers, "n_trials": config.n_trials,
            "timeout": config.timeout, "versions": versions(),
        }
        if record.TASK not in study.user_attrs:
            problem = prepared.task.problem
            with warnings.catch_warnings():  # experimental in Optuna since 3.2, and stable in use
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names([problem.metric])  # what optuna-dashboard shows
            whole = {**identity(config, prepared), record.METRIC: problem.metric,
                     record.DIRECTION: problem.direction, record.SPACE: config.space.to_dict(),
                     **prepared.record, **run_record, **({record.PROTOCOL: protocol} if protocol else {})}
            task = whole.pop(record.TASK)
            for key, value in whole.items():
                study.set_user_attr(key, value)
            study.set_user_attr(record.TASK, task)
        # Microseconds and a random suffix: two runs of one process within a second stay apart.
        moment = datetime.datetime.now(datetime.timezone.utc).isoformat()
        study.set_user_attr(record.run_key(moment, socket.gethostname(), os.getpid(), uuid.uuid4().hex[:8]),
                            run_record)
