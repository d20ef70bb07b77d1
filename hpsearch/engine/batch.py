"""Trials taken together and trained as batches (`--batch-trials`): those whose optimizers have a
vectorised update and that share a model shape and a length train as one stacked model
(`batched.fit.BatchedFit`, each optimizer updating its own trials); the others, one at a time.

Each trial of a batch stays its own Optuna trial: its own heartbeat, reports, pruning (a pruned or
diverged trial is told at once and leaves the batch; the others train on unchanged), seed, reason
and record, which adds the batch's id and size and marks its seconds as its even share of the
batch's. A stopping signal fails every trial of the batch still training, each with its record of
what it ran and the signal as reason; one that comes while trials that ended are stored waits until
they are told as they ended. A killed batch's trials are reclaimed and retried like any other.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hpsearch import record as rec
from hpsearch.engine import signals
from hpsearch.engine.ledger import TrialLedger, end_all_stopped, tell
from hpsearch.engine.objective import Objective, ending, failure_reason, report_point
from hpsearch.engine.optuna_adapter import heartbeat, served, together
from hpsearch.space.conditional import TrialConfig
from hpsearch.training.batched.fit import Member, why_not_batched
from hpsearch.training.batched.stacked import NotBatchable
from hpsearch.training.tables import PointResult

if TYPE_CHECKING:
    import optuna
    import torch

    from hpsearch.definition.config import StudyConfig
    from hpsearch.tasks.prepare import PreparedTask

log = logging.getLogger("hpsearch")
SAID: set[str] = set()  # why a batch fell back to one trial at a time: said once per process


def say_once(text: str) -> None:
    if text not in SAID:
        SAID.add(text)
        log.warning(text)


@dataclass
class Entry:
    """One trial of the batch, from its drawn configuration to its end."""

    ledger: TrialLedger
    config: TrialConfig
    record: dict[str, Any]
    model: Any = None
    points: int = 0
    ended: bool = field(default=False)


Ending = Callable[[Entry, str, "float | None"], None]


def run_batch(study: optuna.Study, trials: Sequence[optuna.trial.Trial], objective: Objective,
              stopping: list[int] | None = None) -> list[optuna.trial.FrozenTrial]:
    """Train the trials taken together; their ends as told, in the order they ended."""

    told: list[optuna.trial.FrozenTrial] = []
    entries: list[Entry] = []

    def end(entry: Entry, state: str, value: float | None = None) -> None:
        with signals.held():
            told.append(tell(study, entry.ledger, state, value))
            entry.ended = True

    with contextlib.ExitStack() as beats:
        try:
            for trial in trials:
                beats.enter_context(heartbeat(study, trial))
            signals.deliver(stopping or [])
            for trial in trials:
                ledger = TrialLedger(trial)
                entries.append(Entry(ledger, *objective.begin(ledger)))
            alone, groups = group(objective, entries)
            for entry in alone:
                train_alone(objective, entry, end)
            for members in groups:
                train_together(objective, members, end)
        except BaseException as stop:  # every trial not yet told: ended as `run_one` ends one
            untold = [entry for entry in entries if not entry.ended]
            with signals.held(deliver=False):  # one not trained yet: its record all the same
                for entry in untold:
                    if rec.RECORD not in entry.ledger.attrs:
                        objective.finish(entry.ledger, entry.record, 0.0, None)
            not_begun = [TrialLedger(trial) for trial in trials[len(entries):]]
            end_all_stopped(study, [entry.ledger for entry in untold] + not_begun, stop)
            raise
    return told


def measured_batch(study: StudyConfig, prepared: PreparedTask,
                   build: Callable[[], torch.nn.Module] | None = None) -> tuple[int, str]:
    """`--batch-trials auto`: the batch size measured fastest for the study's model (or `build`'s)
    and optimizers on its device, and a line saying what was measured."""
    from hpsearch.training.batched.auto import choose_for
    from hpsearch.training.device import autocast_dtype, resolve_device

    device = resolve_device(study.device)
    return choose_for(prepared, device, study.language().context, study.batch_size,
                      autocast_dtype(device, study.precision), build, study.space.optimizers)


def group(objective: Objective, entries: list[Entry]) -> tuple[list[Entry], list[list[Entry]]]:
    """(the trials to train alone, the batches): a batch shares a model shape and a length, its
    trials' optimizers all vectorised; a group of one trains alone."""

    alone: list[Entry] = []
    batches: dict[Any, list[Entry]] = {}
    if objective.compile_model:
        say_once("batched trials: --compile trains one trial at a time")
        return entries, []
    for entry in entries:
        reason = why_not_batched([entry.config])
        if reason:
            say_once(f"batched trials: {reason}; such trials train one at a time")
            alone.append(entry)
            continue
        entry.model, entry.points = objective.model_for(entry.ledger.trial, entry.record)
        shapes = tuple((n, tuple(p.shape)) for n, p in entry.model.named_parameters())
        batches.setdefault((entry.points, shapes), []).append(entry)
    together = [members for members in batches.values() if len(members) > 1]
    alone += [members[0] for members in batches.values() if len(members) == 1]
    return alone, together


def train_alone(objective: Objective, entry: Entry, end: Ending) -> None:
    end(entry, *ending(lambda: objective.train_one(entry.ledger, entry.config, entry.record)))


def train_together(objective: Objective, members: list[Entry], end: Ending) -> None:
    """One batch: each evaluation point reported per trial, pruned and diverged trials told and
    dropped at once, the rest told when the batch ends."""
    for entry in members:
        entry.record.update({rec.BATCH_ID: members[0].ledger.trial.number,
                             rec.TRIALS_IN_BATCH: len(members), rec.SECONDS_SHARED: True})
    stacked = [Member(e.config, e.model, e.record[rec.SEED]) for e in members]
    try:
        run = objective.trainer.fit_batch(stacked, members[0].points)
    except Exception as why:  # not batchable, or a value torch refuses: alone, each its own end
        if isinstance(why, NotBatchable):
            say_once(f"batched trials: {why}; these trials train one at a time")
        for entry in members:
            for key in (rec.BATCH_ID, rec.TRIALS_IN_BATCH, rec.SECONDS_SHARED):
                entry.record.pop(key)
            train_alone(objective, entry, end)
        return
    last: dict[int, float] = {}
    try:
        for results in run:
            # A stopping signal waits for the point's reports, and for the ends of the trials it
            # stops, to be stored: a trial whose training ended is stored as it ended.
            with signals.held():
                stopped = take_points(objective, members, results, run.seconds, last)
                run.drop(stopped)
                for i in stopped:
                    objective.finish(members[i].ledger, members[i].record, run.seconds[i], "PRUNED")
                    end(members[i], "PRUNED", None)
        tested = run.metrics("test") if objective.score_test and run.active else None
        with signals.held():
            for position, i in enumerate(list(run.active)):
                if tested is not None:
                    members[i].record[rec.TEST_VALUE] = float(tested[position][0])
                objective.finish(members[i].ledger, members[i].record, run.seconds[i], "COMPLETE",
                                 last[i])
                end(members[i], "COMPLETE", last[i])
    except Exception as error:
        for i, entry in enumerate(members):
            if not entry.ended:
                entry.record[rec.REASON] = failure_reason(error)
                objective.finish(entry.ledger, entry.record, run.seconds[i], "FAIL")
                end(entry, "FAIL", None)
    except KeyboardInterrupt:  # stopped: each trial's record, what it ran so far, as a trial alone
        with signals.held(deliver=False):
            for i, entry in enumerate(members):
                if not entry.ended and rec.RECORD not in entry.ledger.attrs:
                    objective.finish(entry.ledger, entry.record, run.seconds[i], None)
        raise


def take_points(objective: Objective, members: list[Entry], results: dict[int, PointResult],
                seconds: list[float], last: dict[int, float]) -> list[int]:
    """Report one evaluation point of the batch's trials, in one transaction, then ask the pruner
    of each; those it stops.

    The pruner decides for the batch's trials as for parallel workers: each sees the study as this
    process last read it, and the batch's reports at this point."""
    stopped = []
    study = members[0].ledger.trial.study
    with together(study) as refused:
        for i, result in results.items():
            report_point(members[i].ledger, result)
    for entry in members:  # failed by another process while it trained here
        entry.ledger.orphaned |= entry.ledger.trial.number in refused
    with served(study):
        for i, result in results.items():
            entry, last[i] = members[i], result.val_metric
            if objective.take_point(entry.ledger, entry.config, entry.record, result,
                                    entry.points, lambda i=i: seconds[i]):  # type: ignore[misc]
                stopped.append(i)
    return stopped
