"""The conditional search space: the optimizer first, then only its own hyperparameters, a schedule
(none for a schedule-free optimizer) and gradient clipping. Pure sampling: nothing here trains or
touches storage."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hpsearch import record
from hpsearch.errors import ConfigError, choices
from hpsearch.space import schedules
from hpsearch.space.optimizers import CLASSIC, OPTIMIZERS, Hyperparameter, OptimizerSpec, get_spec
from hpsearch.space.param_groups import DECAY_CHOICES

if TYPE_CHECKING:
    import optuna

CLIP_RANGE = (0.1, 10.0)


@dataclass(frozen=True)
class SearchSpace:
    optimizers: tuple[str, ...] = CLASSIC  # the modern entries are picked by name
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    schedules: tuple[str, ...] = tuple(schedules.SCHEDULES)
    clip: bool = True  # search "off or a max norm"; False keeps clipping off
    weight_decay_on: str = "all"  # or "matrices": never biases, norms or embeddings
    # Optuna names held at their optimizer's default, never drawn (what a command cannot receive)
    fixed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.weight_decay_on not in DECAY_CHOICES:
            raise ConfigError(f"unknown weight_decay_on '{self.weight_decay_on}'; valid choices: "
                              f"{choices(DECAY_CHOICES)}")
        for key in self.optimizers:
            get_spec(key)
        schedules.check_schedules(self.schedules)
        # A range may name any registered optimizer (a study file lists ranges for optimizers
        # that --optimizers may leave out); only the chosen ones' ranges shape the space.
        known = {spec.param_name(hp) for spec in OPTIMIZERS.values()
                 for hp in spec.hyperparameters if not hp.choices}
        for name in self.ranges:
            if name not in known:
                raise ConfigError(
                    f"unknown range '{name}'; valid choices: {choices(sorted(known))}"
                )
        for spec in OPTIMIZERS.values():
            spec.with_ranges(self.ranges)  # validates every range
        for name in self.fixed:
            if name not in known | {spec.param_name(hp) for spec in OPTIMIZERS.values()
                                    for hp in spec.hyperparameters}:
                raise ConfigError(f"unknown fixed hyperparameter '{name}'")

    def specs(self) -> tuple[OptimizerSpec, ...]:
        return tuple(
            get_spec(key).with_ranges(self.ranges) for key in self.optimizers
        )

    def to_dict(self) -> dict[str, Any]:
        """Everything that decides which trials are possible, for the study's record."""
        return {
            "optimizers": {
                spec.key: {
                    spec.param_name(hp): [hp.low, hp.high, hp.log, hp.integer, list(hp.choices),
                                          hp.optional]
                    for hp in spec.hyperparameters
                }
                for spec in self.specs()
            },
            "schedules": list(self.schedules),
            # Schedules became fractions of the run, stepped every step: a study searched with
            # epoch-wise ones is another experiment, even over the same names.
            "schedule_unit": "fraction of the run, stepped every step",
            "weight_decay_on": self.weight_decay_on,
            "clip": [*CLIP_RANGE] if self.clip else None,
            # Only where some are: the fingerprints of studies without any stay as they were.
            **({"fixed": {name: self.fixed_value(name) for name in self.fixed}} if self.fixed
               else {}),
        }

    def fixed_value(self, name: str) -> Any:
        """A fixed hyperparameter's value in sampled terms: its optimizer's default."""
        spec = next(s for s in OPTIMIZERS.values() if name.startswith(f"{s.key}_")
                    and any(s.param_name(hp) == name for hp in s.hyperparameters))
        return spec.defaults[name.removeprefix(f"{spec.key}_")]

    def fingerprint(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TrialConfig:
    """One sampled configuration, in torch's own terms."""

    optimizer: str
    hyperparameters: Mapping[str, Any]
    schedule: Mapping[str, Any]
    clip_grad_norm: float | None
    implementation: Mapping[str, bool] | None = None  # torch's fused/foreach kernels, once chosen
    decay: str = "all"  # which parameters weight decay touches: "all" or "matrices" (param_groups)

    def to_dict(self) -> dict[str, Any]:
        """The exported configuration: what is stored and what `build_optimizer` takes."""
        spec = get_spec(self.optimizer)
        hps = {k: list(v) if isinstance(v, tuple) else v for k, v in self.hyperparameters.items()}
        exported = {
            "optimizer": self.optimizer,
            "torch_class": spec.torch_class,
            "hyperparameters": hps,
            "schedule": dict(self.schedule),
            "clip_grad_norm": self.clip_grad_norm,
        }
        if self.implementation is not None:
            exported["implementation"] = dict(self.implementation)
        if self.decay != "all":  # exported configurations of before read as "all"
            exported["weight_decay_on"] = self.decay
        return exported

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> TrialConfig:
        """An exported configuration (`hpsearch best --format json`) as a typed one."""
        return cls(str(config["optimizer"]), dict(config["hyperparameters"]),
                   dict(config.get("schedule") or {"name": "none"}), config.get("clip_grad_norm"),
                   config.get("implementation"), str(config.get("weight_decay_on", "all")))


def _suggest_value(
    trial: optuna.trial.BaseTrial, spec: OptimizerSpec, hp: Hyperparameter
) -> Any:
    name = spec.param_name(hp)
    if hp.choices:
        return trial.suggest_categorical(name, hp.choices)
    if hp.optional and not trial.suggest_categorical(f"{name}_on", (False, True)):
        return None
    if hp.integer:
        return trial.suggest_int(name, int(hp.low), int(hp.high), log=hp.log)
    return trial.suggest_float(name, hp.low, hp.high, log=hp.log)


def suggest(trial: optuna.trial.BaseTrial, space: SearchSpace, epochs: int) -> TrialConfig:
    """Sample one configuration; only the chosen optimizer's parameters are drawn."""
    key = trial.suggest_categorical("optimizer", space.optimizers)
    spec = next(s for s in space.specs() if s.key == key)
    sampled = {hp.name: spec.defaults[hp.name] if spec.param_name(hp) in space.fixed
               else _suggest_value(trial, spec, hp) for hp in spec.hyperparameters}
    hyperparameters = {**spec.to_torch(sampled), **spec.fixed}

    schedule: dict[str, Any] = {"name": "none"}  # a schedule-free optimizer draws no schedule
    if not spec.schedule_free:
        name = trial.suggest_categorical("schedule", space.schedules)
        schedule = {"name": name, **schedules.SCHEDULES[name].suggest(trial)}

    clip = None
    if space.clip and trial.suggest_categorical("clip_grad", (False, True)):
        clip = trial.suggest_float("clip_grad_max_norm", *CLIP_RANGE, log=True)
    return TrialConfig(key, hyperparameters, schedule, clip, decay=space.weight_decay_on)


def default_params(key: str, space: SearchSpace) -> dict[str, Any]:
    """The Optuna parameters of `key` at torch's defaults (its package's, outside torch): constant rate
    (a schedule-free optimizer draws no schedule at all), no clipping."""
    spec = get_spec(key)
    params: dict[str, Any] = {"optimizer": key}
    if not spec.schedule_free:
        if "none" not in space.schedules:
            raise ConfigError("torch's defaults need the schedule 'none' (a constant learning rate)")
        params["schedule"] = "none"
    params.update(sampled_params(key, spec.defaults))
    if space.clip:
        params["clip_grad"] = False
    return params


def sampled_params(key: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The Optuna parameters that draw `values` (in sampled terms, None: an optional one off) for
    optimizer `key`'s hyperparameters."""
    spec = get_spec(key)
    params: dict[str, Any] = {}
    for hp in spec.hyperparameters:
        name, value = spec.param_name(hp), values[hp.name]
        if hp.optional:
            params[f"{name}_on"] = value is not None
        if value is not None:
            params[name] = value
    return params


def suggest_optimizer(trial: optuna.trial.BaseTrial, epochs: int,
                      space: SearchSpace | None = None) -> dict[str, Any]:
    """The conditional space for your own Optuna objective.

    Returns the configuration `hpsearch best` exports (torch's own arguments) and records it on the
    trial, so that `hpsearch best` and `hpsearch report` read your study like one made by
    `hpsearch tune`. Build with `hpsearch.build_optimizer(config, model)` and
    `hpsearch.build_scheduler(config, optimizer)`: schedules are fractions of the run, shaped here on
    `epochs` steps (`config["steps"]`), so step it once per epoch; or pass `total_steps` to step it
    after every optimizer step. Clip gradients to `config["clip_grad_norm"]` when it is not None. A
    schedule-free optimizer (`OPTIMIZERS[key].train_eval_modes`) needs `optimizer.train()` before
    training and `optimizer.eval()` before evaluating.
    """
    config = {**suggest(trial, space or SearchSpace(), epochs).to_dict(), "steps": epochs}
    trial.set_user_attr(record.CONFIG, config)
    return config
