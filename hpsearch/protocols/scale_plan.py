"""The plan of `hpsearch scale`, as pure functions of the stored trials: per optimizer,
parametrisation, width and length (a *cell*), a learning-rate sweep with every other hyperparameter
fixed by the optimizer's recipe. The protocol runs by it and the report reads by it.

A cell's sweep is a coarse pass (one seed, 0.5 decades apart, widened while its minimum sits at an
edge) and then a fine one (0.25 decades apart around the coarse minimum, every seed), so that the
minimum is bracketed by at least 5 learning rates at most 0.3 decades apart. A trial's place is in
its user attributes, set when it is enqueued: optimizer, parametrization, width, length, lr,
seed_index and seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpsearch import record
from hpsearch.errors import ConfigError, choices
from hpsearch.protocols.plan import BLOCKED, NextTrial
from hpsearch.space.conditional import sampled_params
from hpsearch.space.optimizers import get_spec
from hpsearch.statistics.basic import derive_seed

if TYPE_CHECKING:
    import optuna

COARSE_STEP, FINE_STEP = 0.5, 0.25  # decades between learning rates
COARSE_POINTS, FINE_REACH, MOST_WIDENINGS = 5, 2, 4
# nanoGPT's: 5 % warm-up, cosine to lr / 10; clipping at 1.0.
SCHEDULE_CONFIG = {"name": "cosine", "warmup_fraction": 0.05, "floor": 0.1}
SCHEDULE = {"schedule": "cosine", **{f"schedule_cosine_{k}": v for k, v in SCHEDULE_CONFIG.items()
                                     if k != "name"}}
CLIP_NORM = 1.0
CLIP = {"clip_grad": True, "clip_grad_max_norm": CLIP_NORM}


@dataclass(frozen=True)
class Recipe:
    """An optimizer's fixed hyperparameters (sampled terms) in a scale sweep, and where its
    coarse pass is centred (log10 lr)."""

    fixed: Mapping[str, Any]
    centre: float
    tied: Mapping[str, float] | None = None  # hyperparameters set as a multiple of the lr


RECIPES: Mapping[str, Recipe] = {
    "adamw": Recipe({"one_minus_beta1": 0.1, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.1}, -2.5),
    "adam": Recipe({"one_minus_beta1": 0.1, "beta2": 0.95, "eps": 1e-8, "weight_decay": None}, -2.5),
    "nadam": Recipe({"one_minus_beta1": 0.1, "beta2": 0.95, "eps": 1e-8, "weight_decay": None}, -2.5),
    "lion": Recipe({"one_minus_beta1": 0.1, "beta2": 0.99, "weight_decay": 1.0}, -3.5),
    # Muon's AdamW part (embeddings, head, norms) at a tenth of Muon's rate.
    "muon": Recipe({"one_minus_momentum": 0.05, "weight_decay": 0.1}, -1.5, {"adamw_lr": 0.1}),
}


@dataclass(frozen=True)
class Cell:
    optimizer: str
    parametrization: str
    width: int
    length: int
    depth: int | None = None  # where depths are swept; else the sweep's one depth


@dataclass(frozen=True)
class ScalePlan:
    """What a scale sweep covers."""

    optimizers: tuple[str, ...]
    parametrizations: tuple[str, ...]
    widths: tuple[int, ...]
    lengths: tuple[int, ...]
    seeds: int
    seed: int
    depths: tuple[int, ...] = ()  # swept depths; none: the sweep's one depth

    def __post_init__(self) -> None:
        unknown = [k for k in self.optimizers if k not in RECIPES]
        if unknown:
            raise ConfigError(f"'{unknown[0]}' has no scale recipe; valid choices: {choices(RECIPES)}")
        if self.seeds < 2:
            raise ConfigError(f"seeds must be at least 2 (the best lr's uncertainty); got {self.seeds}")

    def cells(self) -> Iterator[Cell]:
        """Small and short first: the cheap cells answer early."""
        for length in self.lengths:
            for depth in self.depths or (None,):
                for width in self.widths:
                    for optimizer in self.optimizers:
                        for parametrization in self.parametrizations:
                            yield Cell(optimizer, parametrization, width, length, depth)


def lr_key(log_lr: float) -> float:
    return round(log_lr, 6)


def cell_of(trial: optuna.trial.FrozenTrial) -> Cell | None:
    attrs = trial.user_attrs
    try:
        depth = attrs.get(record.DEPTH)
        return Cell(str(attrs[record.OPTIMIZER]), str(attrs[record.PARAMETRIZATION]),
                    int(attrs[record.WIDTH]), int(attrs[record.LENGTH]),
                    None if depth is None else int(depth))
    except KeyError:
        return None


def final_loss(trial: optuna.trial.FrozenTrial) -> float | None:
    """A finished trial's loss (inf when it diverged); None while it runs or when it failed."""
    outcome = record.outcome(trial)
    if outcome == "complete":
        value = record.finite(trial.value)
        return math.inf if value is None else value
    return math.inf if outcome == "diverged" else None


def coarse_points(recipe: Recipe, done: Mapping[float, float | None]) -> list[float]:
    """The coarse pass's log10 learning rates: the recipe's grid, widened by one point past an
    edge while the minimum sits there (as far as the losses known so far tell)."""
    grid = [lr_key(recipe.centre + COARSE_STEP * (i - COARSE_POINTS // 2)) for i in range(COARSE_POINTS)]
    for _ in range(MOST_WIDENINGS + 1):
        if any(done.get(x) is None for x in grid):
            return grid
        losses = [float(done[x]) for x in grid]  # type: ignore[arg-type]  # known: checked above
        best = min(range(len(grid)), key=lambda i: (losses[i], i))
        if 0 < best < len(grid) - 1 and math.isfinite(losses[best]):
            return grid
        if best == 0 or not math.isfinite(losses[best]):  # at the low edge, or all diverged
            grid = [lr_key(grid[0] - COARSE_STEP), *grid]
        else:
            grid = [*grid, lr_key(grid[-1] + COARSE_STEP)]
    return grid


def fine_points(coarse: Sequence[float], done: Mapping[float, float | None]) -> list[float]:
    losses = [done[x] if done.get(x) is not None else math.inf for x in coarse]
    centre = coarse[min(range(len(coarse)), key=lambda i: (losses[i], i))]
    return [lr_key(centre + FINE_STEP * k) for k in range(-FINE_REACH, FINE_REACH + 1)]


def cell_needs(cell_trials: Sequence[optuna.trial.FrozenTrial], recipe: Recipe, seeds: int
               ) -> tuple[list[tuple[float, int]], bool]:
    """(the (log10 lr, seed index) runs the cell still needs, whether it waits on running ones)."""
    taken: dict[tuple[float, int], float | None] = {}
    running = False
    for trial in cell_trials:
        spot = (lr_key(math.log10(float(trial.user_attrs[record.LR]))),
                int(trial.user_attrs.get(record.SEED_INDEX, 0)))
        loss = final_loss(trial)
        if loss is None and record.outcome(trial) == "failed":
            continue  # a failed run is run again
        if loss is None:
            running = True
        if taken.get(spot) is None:  # a finished run of the spot outranks a running retry
            taken[spot] = loss
    first = {x: loss for (x, s), loss in taken.items() if s == 0}
    coarse = coarse_points(recipe, first)
    missing = [(x, 0) for x in coarse if (x, 0) not in taken]
    if missing or any(first.get(x) is None for x in coarse):
        return missing, running
    fine = fine_points(coarse, first)
    return [(x, s) for x in fine for s in range(seeds) if (x, s) not in taken], running


def recipe_values(optimizer: str, lr: float) -> dict[str, Any]:
    """The optimizer's hyperparameters in sampled terms at learning rate `lr`."""
    recipe = RECIPES[optimizer]
    return {"lr": lr, **recipe.fixed, **{k: lr * m for k, m in (recipe.tied or {}).items()}}


def recipe_config(optimizer: str, lr: float) -> dict[str, Any]:
    """A run's configuration as `hpsearch best` exports one (torch's own arguments)."""
    spec = get_spec(optimizer)
    return {"optimizer": optimizer, "torch_class": spec.torch_class,
            "hyperparameters": {**spec.to_torch(recipe_values(optimizer, lr)), **spec.fixed},
            "schedule": dict(SCHEDULE_CONFIG), "clip_grad_norm": CLIP_NORM, "implementation": {},
            "weight_decay_on": "matrices"}


def params_for(optimizer: str, log_lr: float) -> dict[str, Any]:
    """The Optuna parameters of one run: the recipe, the learning rate, the schedule, clipping."""
    values = recipe_values(optimizer, 10.0 ** log_lr)
    return {"optimizer": optimizer, **SCHEDULE, **sampled_params(optimizer, values), **CLIP}


def trials_by_cell(trials: Sequence[optuna.trial.FrozenTrial]) -> dict[Cell, list[optuna.trial.FrozenTrial]]:
    by_cell: dict[Cell, list[optuna.trial.FrozenTrial]] = {}
    for trial in trials:
        cell = cell_of(trial)
        if cell is not None and record.LR in trial.user_attrs:
            by_cell.setdefault(cell, []).append(trial)
    return by_cell


def runs_expected(trials: Sequence[optuna.trial.FrozenTrial], plan: ScalePlan) -> int:
    """The runs the plan will have made when done, as far as the stored ones tell: per cell, its
    runs (finished or running) and what it still needs; a cell still in its coarse pass counts its
    fine pass as if the coarse minimum were inside the grid (a widening adds runs beyond this)."""
    on_coarse = 2 * int(FINE_REACH * FINE_STEP / COARSE_STEP) + 1  # fine points run in the coarse pass
    fine = (2 * FINE_REACH + 1) * plan.seeds - on_coarse
    total = 0
    by_cell = trials_by_cell(trials)
    for cell in plan.cells():
        ran = [t for t in by_cell.get(cell, []) if record.outcome(t) != "failed"]  # failed: run again
        needs, _ = cell_needs(ran, RECIPES[cell.optimizer], plan.seeds)
        in_coarse = not any(s > 0 for _, s in needs) and not any(
            int(t.user_attrs.get(record.SEED_INDEX, 0)) > 0 for t in ran)
        total += len(ran) + len(needs) + (fine if in_coarse else 0)
    return total


def next_trial(trials: Sequence[optuna.trial.FrozenTrial], plan: ScalePlan) -> NextTrial | str | None:
    """The next run to enqueue; None when the plan is done; BLOCKED when what is left waits on
    runs of other processes."""
    by_cell = trials_by_cell(trials)
    blocked = False
    for cell in plan.cells():
        needs, running = cell_needs(by_cell.get(cell, []), RECIPES[cell.optimizer], plan.seeds)
        if needs:
            log_lr, index = needs[0]
            attrs = {record.OPTIMIZER: cell.optimizer, record.PARAMETRIZATION: cell.parametrization,
                     record.WIDTH: cell.width, record.LENGTH: cell.length, record.LR: 10.0 ** log_lr,
                     record.SEED_INDEX: index, record.SEED: derive_seed(plan.seed, index),
                     **({} if cell.depth is None else {record.DEPTH: cell.depth})}
            return NextTrial(params_for(cell.optimizer, log_lr), attrs)
        blocked = blocked or running
    return BLOCKED if blocked else None
