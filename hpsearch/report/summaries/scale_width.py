"""Does wider help? A scale sweep's loss at each width's best learning rate, whether µP's widths
nest (at every learning rate swept with seeds, wider no worse than narrower beyond the seeds'
noise), and µP's best loss against the standard parametrisation's at each width; in words where
they fail. Read at the shortest length and the shallowest depth swept. No plotly."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hpsearch import record
from hpsearch.protocols.scale_plan import Cell, final_loss
from hpsearch.statistics.nesting import Gap, WidthGap, gap, nesting

if TYPE_CHECKING:
    import optuna

Trials = Mapping[Cell, Sequence["optuna.trial.FrozenTrial"]]


@dataclass(frozen=True)
class BestLoss:
    """A width's final loss at its best learning rate (the lowest seed mean among those run with
    two or more seeds), its seeds' losses and that learning rate."""

    width: int
    lr: float
    losses: tuple[float, ...]

    @property
    def mean(self) -> float:
        return sum(self.losses) / len(self.losses)


@dataclass(frozen=True)
class WidthReading:
    """One optimizer in one parametrisation across widths; `against_sp` (µP only): per width, how
    much µP's best loss is above the standard parametrisation's."""

    optimizer: str
    parametrization: str
    best: tuple[BestLoss, ...]
    nesting: tuple[WidthGap, ...]
    against_sp: tuple[tuple[int, Gap], ...] = ()

    @property
    def unnested(self) -> tuple[WidthGap, ...]:
        return tuple(g for g in self.nesting if g.gap.worse)


def seed_curve(trials: Sequence[optuna.trial.FrozenTrial]) -> dict[float, list[float]]:
    """A cell's finite final losses by learning rate, one per seed."""
    curve: dict[float, list[float]] = {}
    for trial in trials:
        loss = final_loss(trial)
        if loss is not None and math.isfinite(loss):
            curve.setdefault(float(trial.user_attrs[record.LR]), []).append(loss)
    return curve


def best_loss(width: int, curve: Mapping[float, Sequence[float]]) -> BestLoss | None:
    rows = {lr: v for lr, v in curve.items() if len(v) >= 2}
    if not rows:
        return None
    lr = min(rows, key=lambda x: sum(rows[x]) / len(rows[x]))
    return BestLoss(width, lr, tuple(rows[lr]))


def width_readings(by_cell: Trials, optimizers: Sequence[str],
                   parametrizations: Sequence[str]) -> tuple[WidthReading, ...]:
    """Per optimizer and parametrisation, at the shortest length: the best loss per width and the
    nesting of neighbouring widths; under µP, its best loss against the standard one's."""
    readings = []
    for optimizer in optimizers:
        best_of: dict[str, dict[int, BestLoss]] = {}
        for parametrization in parametrizations:
            cells = [c for c in by_cell if c.optimizer == optimizer and c.parametrization == parametrization]
            if not cells:
                continue
            shortest = min(c.length for c in cells)
            shallowest = min((c.depth for c in cells if c.depth is not None), default=None)
            curves = {c.width: seed_curve(by_cell[c]) for c in cells
                      if c.length == shortest and c.depth == shallowest}
            best = {w: b for w, curve in sorted(curves.items()) if (b := best_loss(w, curve))}
            best_of[parametrization] = best
            readings.append(WidthReading(optimizer, parametrization, tuple(best.values()),
                                         nesting(curves)))
        if "mup" in best_of and "sp" in best_of:
            against = tuple((w, g) for w, b in best_of["mup"].items() if w in best_of["sp"]
                            and (g := gap(best_of["sp"][w].losses, b.losses)) is not None)
            readings = [r if (r.optimizer, r.parametrization) != (optimizer, "mup")
                        else WidthReading(r.optimizer, r.parametrization, r.best, r.nesting, against)
                        for r in readings]
    return tuple(readings)


def width_lines(readings: Sequence[WidthReading]) -> list[str]:
    """Does wider help, in words: the best loss per width, and µP's failures to nest or to match
    the standard parametrisation (each beyond its 90 % half-width)."""
    lines = []
    for r in readings:
        if not r.best:
            continue
        lines.append(f"{r.optimizer} {r.parametrization}: loss at the best lr, by width: " + ", ".join(
            f"{b.width} {b.mean:.3f}" for b in r.best))
        if r.parametrization != "mup":
            continue
        compared = len(r.nesting)
        if r.unnested:
            worst = max(r.unnested, key=lambda g: g.gap.difference - g.gap.half_width)
            lines.append(
                f"  µP's widths do not nest at {len(r.unnested)} of {compared} learning rates: e.g. "
                f"at lr {worst.lr:.3g} width {worst.wider} is {worst.gap.difference:.3f} above "
                f"width {worst.narrower} (90 % half-width {worst.gap.half_width:.3f})")
        elif compared:
            lines.append(f"  µP's widths nest: wider no worse at all {compared} learning rates "
                         "compared (within the seeds' 90 % half-width)")
        behind = [(w, g) for w, g in r.against_sp if g.worse]
        if behind:
            lines.append("  µP's best loss is worse than the standard parametrisation's at width "
                         + ", ".join(f"{w} (by {g.difference:.3f}, half-width {g.half_width:.3f})"
                                     for w, g in behind))
        elif r.against_sp:
            lines.append("  µP's best loss is no worse than the standard parametrisation's at any "
                         "width (within the seeds' 90 % half-width)")
    return lines
