"""`--warm-start STUDY[,STUDY]`: a new sweep starts from what earlier sweeps found.

The best configuration of each optimizer in each named study (another task, or an earlier sweep of
this one) is enqueued as the first trials of the new study, marked with the user attribute
`warm_start` = {"study": name, "trial": number}. Only configurations this study's space can draw
are taken: an optimizer or schedule it leaves out is skipped, with a note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpsearch import record
from hpsearch.definition.config import StudyConfig
from hpsearch.engine import storage as storages
from hpsearch.errors import ConfigError, choices
from hpsearch.space.conditional import SearchSpace

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class WarmStart:
    params: dict[str, Any]
    source: dict[str, Any]  # {"study": name, "trial": number}
    value: float


def parse_studies(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise ConfigError("--warm-start needs study names, separated by commas")
    return names


def read(config: StudyConfig) -> tuple[list[WarmStart], list[str]]:
    """The configurations `--warm-start` names, read (and checked) before anything is stored."""
    if not config.warm_start:
        return [], []
    return collect(storages.resolve(config.storage, read_only=True), config.warm_start, config.space,
                   config.study_name)


def collect(storage: optuna.storages.BaseStorage, names: Sequence[str], space: SearchSpace,
            into: str) -> tuple[list[WarmStart], list[str]]:
    """The configurations to enqueue and a note per study; reads only, so a bad name stores
    nothing."""
    import optuna

    known = optuna.get_all_study_names(storage)
    for name in names:
        if name not in known or name == into:
            given = f"study '{into}' cannot warm-start itself" if name == into else (
                f"unknown study '{name}' for --warm-start")
            raise ConfigError(f"{given}; valid choices: "
                              f"{choices([n for n in known if n != into]) or '(no other studies)'}")
    starts: list[WarmStart] = []
    notes: list[str] = []
    seen: set[str] = set()
    for name in names:
        taken, skipped = [], []
        study = record.check_readable(optuna.load_study(study_name=name, storage=storage))
        for trial in record.best_per_optimizer(study.get_trials(deepcopy=False),
                                               record.direction_of(study)):
            optimizer, schedule = trial.params["optimizer"], trial.params.get("schedule", "none")
            if optimizer not in space.optimizers or schedule not in space.schedules:
                skipped.append(f"{optimizer}#{trial.number}")
                continue
            params = {k: v for k, v in trial.params.items()
                      if space.clip or not k.startswith("clip_grad")}
            fingerprint = repr(sorted(params.items()))
            if fingerprint in seen:
                continue
            seen.add(fingerprint)
            starts.append(WarmStart(params, {"study": name, "trial": trial.number},
                                    float(trial.value)))  # type: ignore[arg-type]
            taken.append(f"{optimizer}#{trial.number}")
        notes.append(f"warm start from '{name}': {', '.join(taken) or 'nothing this space can draw'}"
                     + (f" (skipped, outside this space: {', '.join(skipped)})" if skipped else ""))
    return starts, notes


def enqueue(study: optuna.Study, starts: Sequence[WarmStart]) -> None:
    import warnings

    for start in starts:
        with warnings.catch_warnings():  # a value outside a narrowed range is still tried
            warnings.simplefilter("ignore")
            study.enqueue_trial(start.params, user_attrs={record.WARM_START: start.source})
