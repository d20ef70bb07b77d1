"""`hpsearch scale`: learning-rate sweeps of the language model at several widths (and lengths), per
optimizer and parametrisation (standard, and µP), from which the best learning rate of a much larger
target run is predicted. The plan is `scale_plan`'s; every run is a trial of one study, stored,
resumable and shared by `--workers` like any sweep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from hpsearch import record
from hpsearch.definition.study_file import AUTO_BATCH, measured_batch_trials
from hpsearch.engine import study_objective
from hpsearch.engine.batch import measured_batch
from hpsearch.engine.budget import Chooser, from_plan
from hpsearch.engine.objective import Objective
from hpsearch.engine.pool import run_shares, worker_pool
from hpsearch.engine.run_result import RunResult, Share, counted, result_of, share_of
from hpsearch.engine.runner import run_locked
from hpsearch.engine.studies import check_study, make_sampler, open_checked, open_study, store_run
from hpsearch.engine.user_objective import gpus_per_worker
from hpsearch.errors import StudyMismatchError
from hpsearch.protocols.plan import NextTrial
from hpsearch.protocols.scale_config import FIXED, ScaleConfig, model_at
from hpsearch.protocols.scale_plan import ScalePlan, next_trial
from hpsearch.space.conditional import SearchSpace
from hpsearch.tasks.mup import MUP_RULES
from hpsearch.tasks.prepare import LanguageModel, PreparedTask, prepare_task

if TYPE_CHECKING:
    import optuna
    import torch

def prepare(config: ScaleConfig) -> PreparedTask:
    """The corpus, and the model built at the smallest and largest widths in every parametrisation
    asked (µP's contract checked), before any study is touched."""
    import torch

    if config.user is not None:
        from hpsearch.training.user.prepare import prepare_user

        return prepare_user(config.user)

    from hpsearch.tasks.corpus import fixed_windows
    from hpsearch.tasks.models import check_model_builder
    from hpsearch.tasks.prepare import PROBE_ROWS

    language = LanguageModel(config.first_width, config.first_depth, config.context)
    prepared = prepare_task("lm", data=config.data, language=language)
    corpus: Any = prepared.data
    vocab = corpus.vocab_size
    rows = torch.from_numpy(fixed_windows(corpus.train, config.context, PROBE_ROWS)[:, :-1])
    name = config.model or ("gpt" if config.depths else f"gpt depth {config.depth}")
    for parametrization in config.parametrizations:
        for width, depth in {(min(config.widths), min(config.depths, default=None)),
                             (max(config.widths), max(config.depths, default=None))}:
            at = f" at width {width}" + ("" if depth is None else f", depth {depth}")
            check_model_builder(partial(built, config, parametrization, width=width, depth=depth),
                                f"{name}{at}", vocab, config.context, rows=rows,
                                needed=(len(rows), config.context, vocab))
    return replace(prepared, identity={**prepared.identity, "model": name})


def built(config: ScaleConfig, parametrization: str, vocab_size: int, context: int, width: int,
          depth: int | None) -> torch.nn.Module:
    """`model_at` as `check_model_builder` calls a builder: (vocabulary, context)."""
    return model_at(config, parametrization, vocab_size, width, depth)  # type: ignore[no-any-return]


@dataclass
class ScaleObjective(Objective):
    """An Objective whose trials differ in width, parametrisation and length, read from the
    attributes each was enqueued with."""

    config: ScaleConfig | None = None

    def shape(self, trial: optuna.trial.Trial) -> tuple[torch.nn.Module, int]:
        assert self.config is not None
        attrs = trial.user_attrs
        parametrization, width = str(attrs[record.PARAMETRIZATION]), int(attrs[record.WIDTH])
        depth = attrs.get(record.DEPTH)
        vocab, _ = self.data.model_shape()
        model = model_at(self.config, parametrization, vocab, width,
                         None if depth is None else int(depth))
        return model, self.epochs * int(attrs[record.LENGTH])


def next_from_plan(plan: ScalePlan, space: SearchSpace) -> Chooser:
    """The sweep's plan, taken under the study's lock (`budget.from_plan`), each run's parameters
    those its study draws."""

    def next_of(study: optuna.Study, trials: list[optuna.trial.FrozenTrial]) -> Any:
        found = next_trial(trials, plan)
        return replace(found, params=drawable(found.params, space)) if isinstance(
            found, NextTrial) else found

    return from_plan(next_of)


def drawable(params: dict[str, Any], space: SearchSpace) -> dict[str, Any]:
    """A run's parameters less those its study never draws: the schedule and clipping of a
    command that keeps its own."""
    return {k: v for k, v in params.items()
            if not (k.startswith("schedule") and "cosine" not in space.schedules)
            and not (k.startswith("clip_grad") and not space.clip)}


def check_scale_study(study: optuna.Study, config: ScaleConfig, prepared: PreparedTask) -> None:
    """Refuse a study of another protocol, or a sweep made with other fixed settings."""
    stored = record.protocol_of(study.user_attrs)
    if record.TASK in study.user_attrs and not record.is_scale_sweep(study.user_attrs):
        kind = (stored or {}).get("kind", "tune")
        raise StudyMismatchError(f"study '{config.study}' was made by `hpsearch {kind}`, not "
                                 "`scale`; use another --study name")
    check_study(study, config.study_config, prepared)
    mine = config.protocol()
    stored_rules = (stored or {}).get("mup_rules", 1)
    if stored and "mup" in stored.get("parametrizations", ()) and stored_rules != MUP_RULES:
        raise StudyMismatchError(f"study '{config.study}' swept µP under the rules of edition "
                                 f"{stored_rules}, not {MUP_RULES} (the `mup` package's attention "
                                 "and weight decay); its report still reads, but continue it under "
                                 "another --study name")
    for key in FIXED:
        if stored and stored.get(key) != mine[key]:
            raise StudyMismatchError(f"study '{config.study}' was made with {key}="
                                     f"{stored.get(key)!r}, not {mine[key]!r}; use another --study "
                                     "name or the original settings")


def objective_for(config: ScaleConfig, prepared: PreparedTask, seed: int,
                  device: torch.device, workers: int = 1) -> Objective:
    """The sweep's objective: each run's model and length are its cell's (`ScaleObjective`), the
    user's program is handed the base width, and nothing is pruned."""
    return study_objective.objective_for(config.study_config, prepared, seed, device, workers,
                                         batch_trials=measured_batch_trials(config.batch_trials),
                                         own=partial(ScaleObjective, config=config),
                                         handed={"base_width": config.first_width,
                                                 "depth": config.depth,
                                                 "base_depth": config.first_depth}, pruning=False)


def run_share(config: ScaleConfig, study: optuna.Study, objective: Objective,
              callbacks: list[Any]) -> str | None:
    return run_locked(study, objective, config.storage, config.study,
                      next_from_plan(config.plan(), config.study_config.space), callbacks)


@dataclass(frozen=True)
class ScaleWork:
    """The sweep as the other worker processes run it."""

    config: ScaleConfig
    workers: int = 1

    def load(self) -> PreparedTask:
        return prepare(self.config)

    def run(self, prepared: PreparedTask, seed: int, index: int) -> str | None:
        from hpsearch.statistics.basic import derive_seed
        from hpsearch.training.device import resolve_device

        study = open_study(self.config.study_config, sampler_seed=derive_seed(seed, index),
                           heartbeat=True)
        objective = objective_for(self.config, prepared, seed, resolve_device(self.config.device),
                                  self.workers)
        return run_share(self.config, study, objective, [])


def measured_on_widest(config: ScaleConfig, prepared: PreparedTask) -> tuple[ScaleConfig, str]:
    """`--batch-trials auto`: measured on the largest width swept."""
    parametrization, width = config.parametrizations[0], max(config.widths)
    vocab = prepared.data.vocab_size  # type: ignore[union-attr]  # a corpus

    def build() -> torch.nn.Module:
        return model_at(config, parametrization, vocab, width, max(config.depths, default=None))

    chosen, line = measured_batch(config.study_config, prepared, build)
    return replace(config, batch_trials=chosen), f"{line}, at width {width}"


def run(config: ScaleConfig, workers: int = 1,
          on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
          on_start: Callable[[PreparedTask, Share], None] | None = None,
          on_progress: Callable[[optuna.Study], None] | None = None) -> RunResult:
    """Run (or continue) the sweep; `workers` processes share it (and any other command sweeping
    the study). `on_start` hears which runs are this command's; `on_progress` is called about once
    a second while this process waits on the other workers' runs."""

    from hpsearch.engine.recovery import reclaim_dead_trials
    from hpsearch.training.device import describe, resolve_device, use_training_threads

    started = time.perf_counter()
    prepared: PreparedTask | None = None
    if config.batch_trials == AUTO_BATCH:  # measured once, before the workers start
        prepared = prepare(config)
        config, line = measured_on_widest(config, prepared)
        prepared = replace(prepared, notes=(*prepared.notes, line))
    gpus = gpus_per_worker(config.user, workers)
    with worker_pool(ScaleWork(config, workers), workers, gpus) as pool:
        device = resolve_device(config.device)
        prepared = prepared or prepare(config)
        study = open_checked(config.study_config,
                             lambda study: check_scale_study(study, config, prepared))
        reclaim_dead_trials(study)
        ours = share_of([study], pool)
        trials_before = counted([study])
        stored = dict(record.protocol_of(study.user_attrs) or {})
        protocol = config.protocol(stored)
        store_run(study, config.study_config, prepared, config.seed, describe(device), workers,
                   protocol)
        study.set_user_attr(record.PROTOCOL, protocol)
        study.sampler = make_sampler("random", config.seed)
        use_training_threads(workers)
        if on_start:
            on_start(prepared, ours)
        objective = objective_for(config, prepared, config.seed, device, workers)
        tell = [on_trial] if on_trial else []
        share = partial(run_share, config, study, objective, tell)
        stopped = run_shares(pool, config.seed, share,
                             lambda: on_progress(study) if on_progress else None)
    return result_of([study], ours, started, config.storage, describe(device), stopped,
                     trials_before)
