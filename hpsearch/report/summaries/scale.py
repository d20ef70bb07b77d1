"""A scale sweep as plain data: per optimizer and parametrisation, the best learning rate at each
width and length (with its uncertainty), the power law through them, its error on the largest width
held out, the prediction for the target run, and the data-equivalent speed-ups over AdamW. No plotly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpsearch import record
from hpsearch.errors import HpsearchError
from hpsearch.protocols.scale_plan import RECIPES, Cell, cell_of, final_loss
from hpsearch.report.summaries.scale_width import WidthReading, width_lines, width_readings
from hpsearch.statistics.curves import speedup_interval
from hpsearch.statistics.transfer import (
    BestLR,
    HeldOut,
    PowerLaw,
    Prediction,
    best_lr,
    fit_power_law,
    held_out_error,
)
from hpsearch.tasks.mup import PARAMETRIZATIONS

if TYPE_CHECKING:
    import optuna

BASELINE = "adamw"  # the speed-ups are over AdamW (Wen et al. 2025)
MIN_LENGTHS = 4


@dataclass(frozen=True)
class CellResult:
    cell: Cell
    runs: int
    best: BestLR | None
    problem: str = ""  # why there is no best learning rate yet
    timescale: float | None = None  # 1 / (lr x weight decay) at the best lr, in runs (AdamW's reading)


@dataclass(frozen=True)
class Transfer:
    """One optimizer in one parametrisation, across widths and lengths."""

    optimizer: str
    parametrization: str
    cells: tuple[CellResult, ...]
    fit: PowerLaw | None
    held_out: HeldOut | None
    prediction: Prediction | None
    drift: float | None  # decades the best lr moved from the smallest to the largest width
    note: str = ""
    axes: tuple[str, ...] = ("width",)  # what the power law is fitted over
    depth_drift: float | None = None  # decades it moved from the shallowest to the deepest


@dataclass(frozen=True)
class Speedup:
    optimizer: str
    parametrization: str
    width: int
    length: int
    median: float
    low: float
    high: float


@dataclass(frozen=True)
class ScaleSummary:
    study: str
    steps: int
    target_width: int | None
    target_steps: int | None
    transfers: tuple[Transfer, ...]
    speedups: tuple[Speedup, ...]
    speedup_note: str  # "not estimated" and why, when there are no speed-ups
    warnings: tuple[str, ...] = ()  # the target below what was swept; a stored target unread
    notes: tuple[str, ...] = ()  # the target beyond what was swept: µTransfer's use, said once
    widths: tuple[WidthReading, ...] = ()  # does wider help: best loss per width, µP's nesting
    target_depth: int | None = None


def cell_result(cell: Cell, trials: Sequence[optuna.trial.FrozenTrial], steps: int) -> CellResult:
    runs = [(float(t.user_attrs[record.LR]), loss, int(t.user_attrs.get(record.SEED_INDEX, 0)))
            for t in trials if (loss := final_loss(t)) is not None]
    if len({lr for lr, _, _ in runs}) < 3:
        return CellResult(cell, len(runs), None, "fewer than 3 learning rates finished")
    try:
        best = best_lr([r[0] for r in runs], [r[1] for r in runs], [r[2] for r in runs])
    except HpsearchError as error:
        return CellResult(cell, len(runs), None, str(error))
    decay = RECIPES[cell.optimizer].fixed.get("weight_decay") if cell.optimizer in RECIPES else None
    timescale = 1.0 / (best.lr * decay) / (steps * cell.length) if decay else None
    return CellResult(cell, len(runs), best, timescale=timescale)


def moved(cells: Sequence[CellResult], axis: str) -> float | None:
    """Decades the best lr moved along `axis`, from its smallest value to its largest, with the
    other axes at their first values (the shortest length, the smallest width, the shallowest)."""
    firsts = {name: min((getattr(c.cell, name) for c in cells if getattr(c.cell, name) is not None),
                        default=None) for name in ("width", "length", "depth") if name != axis}
    line = sorted((c for c in cells if all(getattr(c.cell, n) == v for n, v in firsts.items())),
                  key=lambda c: getattr(c.cell, axis) or 0)
    if len(line) < 2 or line[0].best is None or line[-1].best is None:
        return None
    return line[-1].best.log_lr - line[0].best.log_lr


def transfer(optimizer: str, parametrization: str, cells: list[CellResult],
             target: tuple[int | None, float | None], target_depth: int | None = None) -> Transfer:
    """The power law over the axes the sweep varied (width, depth, length, or several), its
    held-out error on the largest value of the first, and the prediction at the target."""
    found = [c for c in cells if c.best is not None and not c.best.at_edge]
    values = {"width": sorted({c.cell.width for c in found}),
              "depth": sorted({c.cell.depth for c in found if c.cell.depth is not None}),
              "length": sorted({c.cell.length for c in found})}
    axes = tuple(name for name, seen in values.items() if len(seen) >= 2)
    xs = [tuple(getattr(c.cell, name) for name in axes) for c in found]
    ys = [c.best.log_lr for c in found if c.best]
    sigmas = [c.best.sigma for c in found if c.best]
    drift = moved(found, "width") if len(values["width"]) >= 2 else None
    depth_drift = moved(found, "depth") if len(values["depth"]) >= 2 else None
    fit = held = prediction = None
    notes = [f"{len(cells) - len(found)} cell(s) left out: their minimum is at the grid's edge "
             "or unknown"] if len(found) < len(cells) else []
    width, length = target
    at = {"width": width, "length": length or 1.0,
          "depth": target_depth if target_depth is not None else min(values["depth"], default=None)}
    for name, swept in values.items():
        if name not in axes and swept and at[name] is not None and at[name] != swept[0]:
            notes.append(f"{name} not swept: the prediction assumes the best lr does not move with "
                         f"the run's {name}")
    try:
        fit = fit_power_law(xs, ys, sigmas) if axes else None
        wanted = width is not None or length is not None or target_depth is not None
        if fit is not None and wanted and all(at[name] is not None for name in axes):
            prediction = fit.predict(tuple(float(at[name]) for name in axes))  # type: ignore[arg-type]
        held = held_out_error(xs, ys, sigmas, axes[0]) if fit is not None else None
    except HpsearchError as error:
        notes.append(str(error))
    return Transfer(optimizer, parametrization, tuple(cells), fit, held, prediction, drift,
                    "; ".join(notes), axes, depth_drift)


def seeds_at_best(by_cell: dict[Cell, list[optuna.trial.FrozenTrial]], cell: Cell) -> list[float]:
    """The cell's final losses, one per seed, at its best learning rate (the lowest mean among
    those run with more than one seed)."""
    by_lr: dict[float, list[float]] = {}
    for t in by_cell.get(cell, []):
        loss = final_loss(t)
        if loss is not None and math.isfinite(loss):
            by_lr.setdefault(float(t.user_attrs[record.LR]), []).append(loss)
    rows = [v for v in by_lr.values() if len(v) >= 2] or list(by_lr.values())
    return min(rows, key=lambda v: sum(v) / len(v)) if rows else []


def speedups(by_cell: dict[Cell, list[optuna.trial.FrozenTrial]], optimizers: Sequence[str],
             parametrizations: Sequence[str]) -> tuple[tuple[Speedup, ...], str]:
    """At the largest width, each optimizer's best final loss at each length against AdamW's loss
    curve over lengths: how much longer AdamW would train to reach it."""
    found: list[Speedup] = []
    notes = []
    for parametrization in parametrizations:
        width = max((c.width for c in by_cell if c.parametrization == parametrization), default=0)

        lengths = sorted(c.length for c in by_cell if c.optimizer == BASELINE
                         and c.parametrization == parametrization and c.width == width)
        baseline = {float(n): seeds_at_best(by_cell, Cell(BASELINE, parametrization, width, n))
                    for n in lengths}
        baseline = {n: v for n, v in baseline.items() if v}
        if len(baseline) < MIN_LENGTHS:
            notes.append(f"{parametrization}: not estimated (AdamW ran at {len(baseline)} length(s); "
                         f"needs {MIN_LENGTHS})")
            continue
        for optimizer in optimizers:
            for length in lengths:
                other = seeds_at_best(by_cell, Cell(optimizer, parametrization, width, length))
                if optimizer == BASELINE or not other:
                    continue
                try:
                    median, low, high = speedup_interval(baseline, other, float(length))
                except HpsearchError as error:
                    notes.append(f"{optimizer} {parametrization} x{length}: {error}")
                    continue
                found.append(Speedup(optimizer, parametrization, width, length, median, low, high))
    return tuple(found), "; ".join(notes)


def stored_target(protocol: Mapping[str, Any]) -> tuple[int | None, int | None, str]:
    """The target run a sweep was stored with: (width, steps, what could not be read). An earlier
    version stored --target-steps without --target-width: such a target is left out, said so."""
    width, steps = protocol.get("target_width"), protocol.get("target_steps")
    valid = all(v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0)
                for v in (width, steps))
    if valid and (width is not None or steps is None):
        return width, steps, ""
    return None, None, (f"the target stored with the sweep (target_width={width!r}, target_steps="
                        f"{steps!r}) is not read: a prediction needs a positive width; `hpsearch "
                        "best --for-width W` predicts for one")


def span(values: Sequence[int]) -> str:
    return f"{min(values)}-{max(values)}" if len(values) > 1 else str(values[0])


def extrapolation(width: int | None, steps: int, widths: Sequence[int],
                  lengths: Sequence[int]) -> tuple[str, str]:
    """Where the target run lies against what was swept (`lengths` in steps): (a warning below the
    smallest, where the power law was never measured; a note beyond the largest, which is
    µTransfer's use). Empty inside, or with no target."""
    if width is None or not widths:
        return "", ""
    below, beyond = [], []
    if width < min(widths):
        below.append(f"width {width} is below the widths swept ({span(widths)})")
    elif width > max(widths):
        beyond.append(f"widths {span(widths)}")
    if len(lengths) > 1:  # one length: the transfer's own note says so
        if steps < min(lengths):
            below.append(f"{steps} steps are below the lengths swept ({span(lengths)} steps)")
        elif steps > max(lengths):
            beyond.append(f"lengths {span(lengths)} steps")
    warning = f"{' and '.join(below)}: the learning rate is extrapolated" if below else ""
    return warning, f"extrapolated from {' and '.join(beyond)}" if beyond else ""


def summarise_scale(study: optuna.Study, width: int | None = None,
                    steps: int | None = None, depth: int | None = None) -> ScaleSummary:
    """The sweep, predicting for the target run it was made for, or for `width`, `steps` and
    `depth`."""
    protocol: dict[str, Any] = dict(record.protocol_of(study.user_attrs) or {})
    unread = ""
    if width is None and depth is None:
        width, steps, unread = stored_target(protocol)
        depth = protocol.get("target_depth")
    target_width, target_steps = width, steps
    steps = int(protocol.get("steps", 0)) or 1
    by_cell: dict[Cell, list[optuna.trial.FrozenTrial]] = {}
    for trial in study.get_trials(deepcopy=False):
        cell = cell_of(trial)
        if cell is not None and record.LR in trial.user_attrs:
            by_cell.setdefault(cell, []).append(trial)
    optimizers = [k for k in protocol.get("optimizers", []) if any(c.optimizer == k for c in by_cell)]
    parametrizations = [p for p in PARAMETRIZATIONS if any(c.parametrization == p for c in by_cell)]
    target = (target_width, target_steps / steps if target_steps else None)
    transfers = []
    for optimizer in optimizers:
        for parametrization in parametrizations:
            cells = sorted((c for c in by_cell if c.optimizer == optimizer
                            and c.parametrization == parametrization),
                           key=lambda c: (c.length, c.depth or 0, c.width))
            results = [cell_result(c, by_cell[c], steps) for c in cells]
            transfers.append(transfer(optimizer, parametrization, results, target, depth))
    found, note = speedups(by_cell, optimizers, parametrizations)
    predicted = any(t.prediction for t in transfers)  # nothing is extrapolated until predicted
    warning, beyond = extrapolation(target_width if predicted else None, target_steps or steps,
                                    sorted({c.width for c in by_cell}),
                                    sorted({c.length * steps for c in by_cell}))
    return ScaleSummary(study.study_name, steps, target_width, target_steps, tuple(transfers), found,
                        note, tuple(w for w in (warning, unread) if w), (beyond,) if beyond else (),
                        width_readings(by_cell, optimizers, parametrizations), depth)


def scale_lines(summary: ScaleSummary) -> list[str]:
    """The sweep in the terminal: best lr per width, the fit, its held-out error, the prediction."""
    lines = [f"== {summary.study}: best learning rate per width ({summary.steps} steps a base "
             "length; 90 % intervals)"]
    lines += [f"warning: {w}" for w in summary.warnings]
    lines += [f"target width {summary.target_width}: {n}" for n in summary.notes]
    for t in summary.transfers:
        lines.append(f"{t.optimizer} {t.parametrization}:")
        for c in t.cells:
            where = f"  width {c.cell.width:>5}" + (
                "" if c.cell.depth is None else f" depth {c.cell.depth:>3}") + f" x{c.cell.length}"
            if c.best is None:
                lines.append(f"{where}: {c.problem} ({c.runs} runs)")
                continue
            edge = " (at the grid's edge)" if c.best.at_edge else ""
            decay = f", weight-decay timescale {c.timescale:.2g} runs" if c.timescale else ""
            lines.append(f"{where}: lr {c.best.lr:.3g} [{10 ** c.best.low:.3g}, "
                         f"{10 ** c.best.high:.3g}] ({c.runs} runs){edge}{decay}")
        if t.drift is not None:
            lines.append(f"  moved {t.drift:+.2f} decades from the smallest width to the largest")
        if t.depth_drift is not None:
            lines.append(f"  moved {t.depth_drift:+.2f} decades from the shallowest depth to the "
                         "deepest")
        if t.fit is not None:
            lines.append("  fit: lr ~ " + " x ".join(
                f"{name}^{b:.2f}±{se:.2f}" for name, b, se in zip(
                    t.axes, t.fit.exponents, t.fit.exponent_ses, strict=True)))
        if t.held_out is not None:
            lines.append(f"  held out {t.axes[0]} {t.held_out.width:g}: the fit missed it by "
                         f"{t.held_out.mean_abs_error:.2f} decades")
        if t.prediction is not None:
            p = t.prediction
            depth = "" if summary.target_depth is None else f", depth {summary.target_depth}"
            lines.append(f"  target (width {summary.target_width or '-'}{depth}, "
                         f"{summary.target_steps or '-'} steps): lr {p.lr:.3g} [{p.lr_low:.3g}, "
                         f"{p.lr_high:.3g}]")
        if t.note:
            lines.append(f"  note: {t.note}")
    for s in summary.speedups:
        lines.append(f"data-equivalent speed-up over AdamW, {s.optimizer} {s.parametrization} width "
                     f"{s.width} x{s.length}: {s.median:.2f} [{s.low:.2f}, {s.high:.2f}]")
    if summary.speedup_note:
        lines.append(f"speed-ups: {summary.speedup_note}")
    if summary.widths:
        lines.append("-- does wider help? (the shortest length; 90 % half-widths over seeds)")
        lines += width_lines(summary.widths)
    return lines
