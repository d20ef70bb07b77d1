"""`hpsearch best --for-width W --for-depth D --for-steps S`: the configuration a scale sweep
predicts for the target run, with the interval of its learning rate and what the prediction rests
on."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from hpsearch import record
from hpsearch.errors import ConfigError, HpsearchError, choices
from hpsearch.protocols.scale_plan import recipe_config
from hpsearch.report.summaries.scale import Transfer, extrapolation, summarise_scale

if TYPE_CHECKING:
    import optuna


def best_loss_at_largest(transfer: Transfer) -> float:
    """The lowest seed-mean loss at the largest width swept, on the shortest length."""
    found = [c for c in transfer.cells if c.best is not None]
    if not found:
        return math.inf
    widest = max(c.cell.width for c in found)
    shortest = min(c.cell.length for c in found)
    losses = [v for c in found if c.cell.width == widest and c.cell.length == shortest
              for v in c.best.losses if math.isfinite(v)]  # type: ignore[union-attr]
    return min(losses, default=math.inf)


def target_config(study: optuna.Study, width: int | None, steps: int | None = None,
                  optimizer: str | None = None, parametrization: str | None = None,
                  depth: int | None = None) -> dict[str, Any]:
    """The configuration for a run at `width` (and `depth`, in a sweep of depths) for `steps`
    steps: the optimizer and parametrisation asked (by default, those with the lowest loss at the
    largest width swept), its recipe, and the learning rate the sweep's power law predicts there."""
    if not record.is_scale_sweep(study.user_attrs):
        raise ConfigError(f"study '{study.study_name}' is not a scale sweep: --for-width reads one "
                          "made by `hpsearch scale`")
    summary = summarise_scale(study, width, steps, depth)
    transfers = [t for t in summary.transfers
                 if optimizer in (None, t.optimizer) and parametrization in (None, t.parametrization)]
    if not transfers:
        found = sorted({f"{t.optimizer} {t.parametrization}" for t in summary.transfers})
        raise ConfigError(f"no '{optimizer or '*'} {parametrization or '*'}' in study "
                          f"'{study.study_name}'; valid choices: {choices(found)}")
    chosen = min(transfers, key=best_loss_at_largest)
    if chosen.prediction is None:
        raise HpsearchError(f"{chosen.optimizer} {chosen.parametrization}: no prediction yet "
                            f"({chosen.note or 'too few widths finished'})")
    protocol = record.protocol_of(study.user_attrs) or {}
    p = chosen.prediction
    widths = sorted({c.cell.width for c in chosen.cells})
    width = width or widths[-1]  # a sweep of depths at one width: that width
    depths = sorted({c.cell.depth for c in chosen.cells if c.cell.depth is not None})
    rules: dict[str, Any] = {"name": chosen.parametrization}
    if chosen.parametrization != "sp":
        rules.update(base_width=protocol.get("base_width"), width=width)
    if chosen.parametrization == "completep":
        rules.update(base_depth=protocol.get("base_depth") or protocol.get("depth"),
                     depth=depth or protocol.get("depth"))
    lengths = sorted({c.cell.length * summary.steps for c in chosen.cells})
    warning, beyond = extrapolation(width, steps or summary.steps, widths, lengths)
    return {
        **recipe_config(chosen.optimizer, p.lr),
        **({"steps": steps} if steps else {}),
        "parametrization": rules,
        **({"depth": depth} if depth else {}),
        "prediction": {
            "lr": p.lr, "interval": [p.lr_low, p.lr_high], "level": p.level,
            "widths_swept": widths, "steps_swept": lengths,
            **({"depths_swept": depths} if depths else {}),
            "exponents": list(chosen.fit.exponents) if chosen.fit else None,
            "held_out_error_decades": chosen.held_out.mean_abs_error if chosen.held_out else None,
            "note": chosen.note, "warning": warning, "extrapolated": beyond},
        "study": study.study_name,
    }
