"""What an optimizer entry is: the hyperparameters a search samples, how sampled values become
torch's own arguments, and its quirks. The entries themselves are in `optimizers`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hpsearch.errors import ConfigError

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
# (model, kwargs, which parameters weight decay touches) -> the optimizer
Builder = Callable[["torch.nn.Module", dict[str, Any], str], "torch.optim.Optimizer"]


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
    foreach: bool = True  # the class takes `foreach=` (used on CUDA where there is no fused kernel)
    group: str = "classic"  # "classic": the default choice; "modern": picked by name, "modern" or "all"
    package: str = ""  # the pip distribution that provides `torch_class`; "" for torch itself
    schedule_free: bool = False  # replaces learning-rate schedules: the space draws none
    train_eval_modes: bool = False  # needs optimizer.train() before training, .eval() before evaluating
    build: Builder | None = None  # builds from the model, when not `torch_class(params, **kwargs)`
    # torch's own defaults (its package's, outside torch) in sampled terms; None: an optional value off
    defaults: Mapping[str, Any] = None  # type: ignore[assignment]
    # Parameter updates so far, from the optimizer's own state, when one step makes many (L-BFGS).
    inner_iterations: Callable[[torch.optim.Optimizer], int] | None = None
    # µP (a model built with a width multiplier): "adam" scales the hidden matrices' learning rate
    # by base width / width; "spectral" (Muon) keeps it, its updates being scaled by shape already.
    mup_rule: str | None = None

    def __post_init__(self) -> None:
        if self.fixed is None:
            object.__setattr__(self, "fixed", {})
        if self.defaults is None:
            object.__setattr__(self, "defaults", {})

    def param_name(self, hp: Hyperparameter) -> str:
        return f"{self.key}_{hp.name}"

    @property
    def decays(self) -> bool:
        """Whether it has a weight decay to search: where it has none (L-BFGS), which parameters
        decay is moot, and its parameters stay one plain list (L-BFGS refuses groups)."""
        return any(hp.name == "weight_decay" for hp in self.hyperparameters)

    def with_ranges(self, ranges: Mapping[str, tuple[float, float]]) -> OptimizerSpec:
        """This spec with some ranges replaced; `ranges` is keyed by the full Optuna name."""
        hps = tuple(
            hp.with_range(*ranges[self.param_name(hp)]) if self.param_name(hp) in ranges else hp
            for hp in self.hyperparameters
        )
        return replace(self, hyperparameters=hps)


def lr_range(low: float, high: float) -> Hyperparameter:
    return Hyperparameter("lr", low, high, log=True, help="learning rate")


def weight_decay(low: float = 1e-7, high: float = 1e-2) -> Hyperparameter:
    return Hyperparameter("weight_decay", low, high, log=True, optional=True, help="weight decay")


ONE_MINUS_MOMENTUM = Hyperparameter(
    "one_minus_momentum", 1e-3, 0.5, log=True, help="1 - momentum (log scale near 1)"
)
ADAM_FAMILY = (
    Hyperparameter("one_minus_beta1", 1e-3, 0.5, log=True, help="1 - beta1"),
    Hyperparameter("beta2", 0.9, 0.9999, help="beta2"),
    Hyperparameter("eps", 1e-10, 1e-6, log=True, help="epsilon"),
)


def plain_args(sampled: Mapping[str, Any]) -> dict[str, Any]:
    """Sampled names are torch's names; an optional value left off is torch's 0."""
    return {k: (0.0 if v is None else v) for k, v in sampled.items()}


def momentum_args(sampled: Mapping[str, Any]) -> dict[str, Any]:
    args = plain_args(sampled)
    args["momentum"] = 1.0 - args.pop("one_minus_momentum")
    return args


def adam_args(sampled: Mapping[str, Any]) -> dict[str, Any]:
    args = plain_args(sampled)
    args["betas"] = (1.0 - args.pop("one_minus_beta1"), args.pop("beta2"))
    return args


def lbfgs_args(sampled: Mapping[str, Any]) -> dict[str, Any]:
    args = dict(sampled)
    args["line_search_fn"] = None if args["line_search_fn"] == "none" else args["line_search_fn"]
    return args


def schedule_free_args(sampled: Mapping[str, Any]) -> dict[str, Any]:
    args = adam_args({k: v for k, v in sampled.items() if k != "warmup_steps"})
    args["warmup_steps"] = int(sampled["warmup_steps"] or 0)  # off: the package's 0
    return args


def lbfgs_iterations(optimizer: torch.optim.Optimizer) -> int:
    """L-BFGS keeps its cumulative inner iterations (each one moves the parameters) in `n_iter`."""
    state = optimizer.state.get(optimizer.param_groups[0]["params"][0], {})
    return int(state.get("n_iter", 0))
