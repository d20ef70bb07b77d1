"""The plan of `hpsearch compare`, as pure functions of the stored trials: which trials a
comparison needs, which one to run next, and which search trial its re-runs re-train. The protocol
runs by it and the report reads by it, so both apply the one rule.

Per task, every optimizer gets one trial at torch's defaults, then `budget` search trials drawn at
random inside its own subspace, then `seeds` re-runs of its best search configuration. A trial's
slot is in its user attributes, set when it is enqueued: `phase` and, for re-runs, `seed_index`,
`rerun_of` and `seed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hpsearch import record
from hpsearch.protocols.plan import BLOCKED, NextTrial
from hpsearch.space.conditional import SearchSpace, default_params
from hpsearch.statistics.basic import derive_seed

if TYPE_CHECKING:
    import optuna

PHASES = ("default", "search", "rerun")
RERUN_SEED_STREAM = 1  # re-run seeds come from their own stream of --seed: never a search seed


@dataclass(frozen=True)
class Slot:
    """One trial the protocol needs: its phase, its optimizer and, for a re-run, which seed."""

    phase: str
    optimizer: str
    seed_index: int | None = None


def plan(optimizers: Sequence[str], budget: int, seeds: int) -> list[Slot]:
    """Every trial the protocol needs, in the order they are best run: defaults, then the search
    round by round (a comparison stopped early still has equal budgets, give or take one), then
    the re-runs, seed by seed. Trials taken together (`--batch-trials`) are consecutive slots: a
    round's draws, one per optimizer, so that each optimizer's draws still come one after another
    as they do one at a time."""
    slots = [Slot("default", key) for key in optimizers]
    slots += [Slot("search", key) for _ in range(budget) for key in optimizers]
    slots += [Slot("rerun", key, i) for i in range(seeds) for key in optimizers]
    return slots


def slot_of(trial: optuna.trial.FrozenTrial) -> Slot | None:
    """The slot a trial fills; a trial just started has drawn no parameter yet, but was enqueued
    with its optimizer."""
    phase = trial.user_attrs.get(record.PHASE)
    optimizer = record.optimizer_of(trial)
    if phase not in PHASES or optimizer is None:
        return None
    return Slot(phase, optimizer, trial.user_attrs.get(record.SEED_INDEX))


def rerun_source(trials: Sequence[optuna.trial.FrozenTrial], optimizer: str,
                 direction: str) -> optuna.trial.FrozenTrial | None:
    """The search trial whose configuration is re-run: the best validation value, then the lowest
    validation loss (a saturated accuracy ties many), then the earliest; diverged and failed trials
    are never picked."""
    search = [t for t in trials if slot_of(t) == Slot("search", optimizer)]
    return record.best_trial(search, direction, by_loss=True)


def next_trial(trials: Sequence[optuna.trial.FrozenTrial], space: SearchSpace, budget: int,
               seeds: int, seed: int, direction: str) -> NextTrial | str | None:
    """The next trial to enqueue; None when the plan is done; BLOCKED when what is left waits on
    another process's search trials.

    Trials that are running, finished or already enqueued fill their slots; failed ones do not,
    so a failure is run again (once as a retry, and otherwise as a fresh draw).
    """
    filled: dict[Slot, int] = {}
    for trial in trials:
        slot = slot_of(trial)
        if slot is None or record.outcome(trial) == "failed":
            continue
        if slot.phase == "rerun":
            best = rerun_source(trials, slot.optimizer, direction)
            if best is None or trial.user_attrs.get(record.RERUN_OF) != best.number:
                continue  # a re-run of an earlier best: the search has moved on since
        filled[slot] = filled.get(slot, 0) + 1
    blocked = False
    for slot in plan(space.optimizers, budget, seeds):
        if filled.get(slot, 0) > 0:
            filled[slot] -= 1
            continue
        role = {record.PHASE: slot.phase, record.OPTIMIZER: slot.optimizer}
        if slot.phase == "default":
            return NextTrial(default_params(slot.optimizer, space), role)
        if slot.phase == "search":
            return NextTrial({record.OPTIMIZER: slot.optimizer}, role)
        if any(slot_of(t) == Slot("search", slot.optimizer)
               and record.outcome(t) in ("running", "waiting") for t in trials):
            blocked = True  # its best configuration is not known yet
            continue
        best = rerun_source(trials, slot.optimizer, direction)
        if best is None:
            continue  # every search trial diverged or failed: nothing to re-run
        index = list(space.optimizers).index(slot.optimizer)
        rerun_seed = derive_seed(seed, RERUN_SEED_STREAM, index, int(slot.seed_index or 0))
        return NextTrial(dict(best.params), {
            **role, record.SEED_INDEX: slot.seed_index, record.RERUN_OF: best.number,
            record.SEED: rerun_seed})
    return BLOCKED if blocked else None


def finished_by_phase(trials: Sequence[optuna.trial.FrozenTrial]) -> dict[str, int]:
    """Finished (complete or pruned) trials of each phase: a comparison's progress."""
    done = dict.fromkeys(PHASES, 0)
    for trial in trials:
        phase = trial.user_attrs.get(record.PHASE)
        if phase in done and record.outcome(trial) in record.FINISHED:
            done[phase] += 1
    return done
