"""The optimizer registry: one entry per optimizer, and the builder of the real torch optimizer.

Each `OptimizerSpec` names its torch class, the hyperparameters a search samples (with ranges) and how
sampled values become torch's own arguments (`one_minus_momentum=0.1` -> `momentum=0.9`). Adding an
optimizer is adding one entry. This module imports torch only inside `build_optimizer`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hpsearch.errors import ConfigError, choices

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Hyperparameter:
    """One sampled value; its Optuna name is `<optimizer>_<name>`."""

    name: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    integer: bool = False
    choices: tuple[str, ...] = ()
    optional: bool = False  # "off" is a choice too, so torch's default (0) stays in the space
    help: str = ""

    def with_range(self, low: float, high: float) -> Hyperparameter:
        if self.choices:
            raise ConfigError(f"hyperparameter '{self.name}' is categorical; it has no range")
        if not low < high or (self.log and low <= 0):
            raise ConfigError(
                f"range [{low}, {high}] for '{self.name}' is invalid: need low < high"
                + (" and low > 0 (log scale)" if self.log else "")
            )
        return replace(self, low=float(low), high=float(high))

    def describe(self) -> str:
        if self.choices:
            text = "{" + ", ".join(self.choices) + "}"
        else:
            fmt = "{:g}".format
            text = f"{fmt(self.low)}..{fmt(self.high)}" + (" (log)" if self.log else "")
            if self.integer:
                text += " int"
        return text + (" or off" if self.optional else "")


Converter = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class OptimizerSpec:
    key: str
    torch_class: str
    description: str
    hyperparameters: tuple[Hyperparameter, ...]
    to_torch: Converter
    fixed: Mapping[str, Any] = None  # type: ignore[assignment]  # torch arguments never sampled
    needs_closure: bool = False  # steps through a closure re-evaluating the loss (full batch)
    fused: bool = False  # torch has a fused kernel for this optimizer (CPU and CUDA)

    def __post_init__(self) -> None:
        if self.fixed is None:
            object.__setattr__(self, "fixed", {})

    def param_name(self, hp: Hyperparameter) -> str:
        return f"{self.key}_{hp.name}"

    def with_ranges(self, ranges: Mapping[str, tuple[float, float]]) -> OptimizerSpec:
        """This spec with some ranges replaced; `ranges` is keyed by the full Optuna name."""
        hps = tuple(
            hp.with_range(*ranges[self.param_name(hp)]) if self.param_name(hp) in ranges else hp
            for hp in self.hyperparameters
        )
        return replace(self, hyperparameters=hps)


def _lr_range(low: float, high: float) -> Hyperparameter:
    return Hyperparameter("lr", low, high, log=True, help="learning rate")


def _weight_decay(low: float = 1e-7, high: float = 1e-2) -> Hyperparameter:
    return Hyperparameter("weight_decay", low, high, log=True, optional=True, help="weight decay")


_ONE_MINUS_MOMENTUM = Hyperparameter(
    "one_minus_momentum", 1e-3, 0.5, log=True, help="1 - momentum (log scale near 1)"
)
_ADAM_FAMILY = (
    Hyperparameter("one_minus_beta1", 1e-3, 0.5, log=True, help="1 - beta1"),
    Hyperparameter("beta2", 0.9, 0.9999, help="beta2"),
    Hyperparameter("eps", 1e-10, 1e-6, log=True, help="epsilon"),
)


def _plain(sampled: Mapping[str, Any]) -> dict[str, Any]:
    """Sampled names are torch's names; an optional value left off is torch's 0."""
    return {k: (0.0 if v is None else v) for k, v in sampled.items()}


def _momentum(sampled: Mapping[str, Any]) -> dict[str, Any]:
    args = _plain(sampled)
    args["momentum"] = 1.0 - args.pop("one_minus_momentum")
    return args


def _adam(sampled: Mapping[str, Any]) -> dict[str, Any]:
    args = _plain(sampled)
    args["betas"] = (1.0 - args.pop("one_minus_beta1"), args.pop("beta2"))
    return args


def _lbfgs(sampled: Mapping[str, Any]) -> dict[str, Any]:
    args = dict(sampled)
    args["line_search_fn"] = None if args["line_search_fn"] == "none" else args["line_search_fn"]
    return args


_SPECS = (
    OptimizerSpec("sgd", "torch.optim.SGD", "plain stochastic gradient descent",
                  (_lr_range(1e-4, 1.0), _weight_decay()), _plain, fused=True),
    OptimizerSpec("momentum", "torch.optim.SGD", "SGD with heavy-ball momentum",
                  (_lr_range(1e-4, 1.0), _ONE_MINUS_MOMENTUM, _weight_decay()), _momentum,
                  fused=True),
    OptimizerSpec("nesterov", "torch.optim.SGD", "SGD with Nesterov momentum",
                  (_lr_range(1e-4, 1.0), _ONE_MINUS_MOMENTUM, _weight_decay()), _momentum,
                  fixed={"nesterov": True}, fused=True),
    OptimizerSpec("adagrad", "torch.optim.Adagrad", "per-coordinate rates from summed squared grads",
                  (_lr_range(1e-3, 1.0), _weight_decay()), _plain, fused=True),
    OptimizerSpec("rmsprop", "torch.optim.RMSprop", "rates from a moving average of squared grads",
                  (_lr_range(1e-5, 1e-1), Hyperparameter("alpha", 0.9, 0.999, help="smoothing"),
                   Hyperparameter("momentum", 0.0, 0.9, help="momentum"), _weight_decay()),
                  _plain),
    OptimizerSpec("adadelta", "torch.optim.Adadelta", "unit-corrected running averages",
                  (_lr_range(0.05, 10.0), Hyperparameter("rho", 0.8, 0.99, help="decay rate"),
                   _weight_decay()), _plain),
    OptimizerSpec("adam", "torch.optim.Adam", "adaptive moments; weight decay as L2",
                  (_lr_range(1e-5, 1e-1), *_ADAM_FAMILY, _weight_decay()), _adam, fused=True),
    OptimizerSpec("adamw", "torch.optim.AdamW", "Adam with decoupled weight decay",
                  (_lr_range(1e-5, 1e-1), *_ADAM_FAMILY, _weight_decay(1e-5, 1.0)), _adam,
                  fused=True),
    OptimizerSpec("nadam", "torch.optim.NAdam", "Adam with Nesterov momentum",
                  (_lr_range(1e-5, 1e-1), *_ADAM_FAMILY, _weight_decay()), _adam),
    OptimizerSpec("lbfgs", "torch.optim.LBFGS", "quasi-Newton, full batch; no weight decay in torch",
                  (_lr_range(1e-2, 1.0),
                   Hyperparameter("history_size", 5, 100, integer=True, help="memory"),
                   Hyperparameter("line_search_fn", choices=("strong_wolfe", "none"),
                                  help="line search")),
                  _lbfgs, needs_closure=True),
)

OPTIMIZERS: Mapping[str, OptimizerSpec] = {spec.key: spec for spec in _SPECS}

_ADAM_DEFAULTS = {"one_minus_beta1": 0.1, "beta2": 0.999, "eps": 1e-8, "weight_decay": None}
# torch's own defaults, in each entry's sampled terms (None: an optional value left off). SGD has
# no default momentum but 0, so the momentum entries take the customary 0.9.
TORCH_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "sgd": {"lr": 1e-3, "weight_decay": None},
    "momentum": {"lr": 1e-3, "one_minus_momentum": 0.1, "weight_decay": None},
    "nesterov": {"lr": 1e-3, "one_minus_momentum": 0.1, "weight_decay": None},
    "adagrad": {"lr": 1e-2, "weight_decay": None},
    "rmsprop": {"lr": 1e-2, "alpha": 0.99, "momentum": 0.0, "weight_decay": None},
    "adadelta": {"lr": 1.0, "rho": 0.9, "weight_decay": None},
    "adam": {"lr": 1e-3, **_ADAM_DEFAULTS},
    "adamw": {"lr": 1e-3, **_ADAM_DEFAULTS, "weight_decay": 1e-2},
    "nadam": {"lr": 2e-3, **_ADAM_DEFAULTS},
    "lbfgs": {"lr": 1.0, "history_size": 100, "line_search_fn": "none"},
}


def get_spec(key: str) -> OptimizerSpec:
    try:
        return OPTIMIZERS[key]
    except KeyError:
        raise ConfigError(
            f"unknown optimizer '{key}'; valid choices: {choices(OPTIMIZERS)}"
        ) from None


def parse_optimizers(text: str) -> tuple[str, ...]:
    """`"adam, sgd"` -> `("adam", "sgd")` in registry order; every name checked."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ConfigError(f"no optimizer given; valid choices: {choices(OPTIMIZERS)}")
    for name in names:
        get_spec(name)
    return tuple(key for key in OPTIMIZERS if key in names)


def implementation_for(key: str, device_type: str) -> dict[str, bool]:
    """The fastest torch implementation of this optimizer on this device, recorded in the config."""
    spec = get_spec(key)
    if spec.fused and device_type in ("cpu", "cuda"):
        return {"fused": True}
    if key != "lbfgs" and device_type == "cuda":
        return {"foreach": True}
    return {}


def torch_class(spec: OptimizerSpec) -> type[torch.optim.Optimizer]:
    module, _, name = spec.torch_class.rpartition(".")
    cls: type[torch.optim.Optimizer] = getattr(importlib.import_module(module), name)
    return cls


def build_optimizer(config: Mapping[str, Any], model: torch.nn.Module) -> torch.optim.Optimizer:
    """The torch optimizer an exported configuration describes, over `model`'s parameters.

    `config` is the dict `hpsearch best --format json` prints: its `optimizer` key names the
    registry entry and `hyperparameters` holds torch's own arguments.
    """
    spec = get_spec(str(config["optimizer"]))
    kwargs = dict(config["hyperparameters"])
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    kwargs.update(config.get("implementation") or {})
    params = [p for p in model.parameters() if p.requires_grad]
    return torch_class(spec)(params, **kwargs)
