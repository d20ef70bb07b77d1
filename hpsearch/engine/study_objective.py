"""A study's objective in this worker, whichever kind its trials are: the user's program where the
study has one (`user_objective`), else hpsearch's loop on the task's data on the device. Every
protocol builds its objective here, adding only what is its own."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hpsearch.engine.objective import Objective
from hpsearch.engine.user_objective import user_objective

if TYPE_CHECKING:
    import torch

    from hpsearch.definition.config import StudyConfig
    from hpsearch.tasks.prepare import PreparedTask


def objective_for(config: StudyConfig, prepared: PreparedTask, seed: int, device: torch.device,
                  workers: int = 1, *, batch_trials: int = 1, with_test: bool = False,
                  own: Callable[..., Objective] = Objective,
                  handed: Mapping[str, Any] | None = None, **fields: Any) -> Objective:
    """The objective of `config`'s trials, drawing from `seed`. `fields` are the protocol's own,
    for either kind (a comparison scores the test split and never prunes); `own` builds the
    objective of hpsearch's loop (a scale sweep's, which takes its sweep), `handed` is what the
    user's program is handed besides its configuration (a scale sweep's base width); `with_test`
    puts the test split on the device too."""
    from hpsearch.training.device import autocast_dtype
    from hpsearch.training.lm import device_data

    if config.user is not None:
        return replace(user_objective(config, prepared, seed, device, workers, **(handed or {})),
                       **fields)
    data = device_data(prepared.data, device, config.language().context, with_test=with_test)
    return own(prepared.task, data, config.space, config.epochs, config.batch_size, seed, device,
               eval_every=config.eval_every, precision=autocast_dtype(device, config.precision),
               compile_model=config.compile, batch_trials=batch_trials, **fields)
