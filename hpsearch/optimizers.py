"""The optimizer registry: one entry per optimizer, and the builder of the real torch optimizer.

Each `OptimizerSpec` names its torch class, the hyperparameters a search samples (with ranges) and how
sampled values become torch's own arguments (`one_minus_momentum=0.1` -> `momentum=0.9`). Adding an
optimizer is adding one entry, its quirks included: a package to install (`available`), a closure
(L-BFGS), train/eval modes and no schedule (schedule-free AdamW), two optimizers in one (Muon).
The classic ten are the default choice; the modern entries are picked by name or with "modern"/"all".
This module imports torch (and the optional packages) only when an optimizer is built.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hpsearch.errors import ConfigError, choices
from hpsearch.muon import build_muon

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
Builder = Callable[["torch.nn.Module", dict[str, Any]], "torch.optim.Optimizer"]  # (model, kwargs)
GROUPS = ("classic", "modern")


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
    extra: str = ""  # the hpsearch extra that installs `package`
    schedule_free: bool = False  # replaces learning-rate schedules: the space draws none
    train_eval_modes: bool = False  # needs optimizer.train() before training, .eval() before evaluating
    build: Builder | None = None  # builds from the model, when not `torch_class(params, **kwargs)`
    # Parameter updates so far, from the optimizer's own state, when one step makes many (L-BFGS).
    inner_iterations: Callable[[torch.optim.Optimizer], int] | None = None

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


def _schedule_free(sampled: Mapping[str, Any]) -> dict[str, Any]:
    args = _adam({k: v for k, v in sampled.items() if k != "warmup_steps"})
    args["warmup_steps"] = int(sampled["warmup_steps"] or 0)  # off: the package's 0
    return args


def _lbfgs_iterations(optimizer: torch.optim.Optimizer) -> int:
    """L-BFGS keeps its cumulative inner iterations (each one moves the parameters) in `n_iter`."""
    state = optimizer.state.get(optimizer.param_groups[0]["params"][0], {})
    return int(state.get("n_iter", 0))


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
                  _lbfgs, needs_closure=True, foreach=False, inner_iterations=_lbfgs_iterations),
    OptimizerSpec("radam", "torch.optim.RAdam", "Adam with a rectified (variance-corrected) warm-up",
                  (_lr_range(1e-5, 1e-1), *_ADAM_FAMILY, _weight_decay()), _adam, group="modern"),
    OptimizerSpec("adafactor", "torch.optim.Adafactor", "factored second moments, relative step sizes",
                  (_lr_range(1e-4, 0.3),
                   Hyperparameter("beta2_decay", -1.0, -0.5, help="beta2_t = 1 - t^beta2_decay"),
                   _weight_decay(1e-5, 1.0)), _plain, group="modern"),
    OptimizerSpec("muon", "torch.optim.Muon",
                  "orthogonalised momentum for hidden matrices; AdamW for the other parameters",
                  (Hyperparameter("lr", 1e-3, 0.2, log=True, help="Muon's learning rate"),
                   Hyperparameter("adamw_lr", 1e-5, 1e-1, log=True, help="the AdamW part's rate"),
                   _ONE_MINUS_MOMENTUM, _weight_decay(1e-5, 1.0)), _momentum,
                  fixed={"nesterov": True, "adjust_lr_fn": "original"}, foreach=False,
                  build=build_muon, group="modern"),
    OptimizerSpec("schedulefree_adamw", "schedulefree.AdamWScheduleFree",
                  "schedule-free AdamW: iterate averaging instead of a learning-rate schedule",
                  (_lr_range(1e-4, 1e-1), _ADAM_FAMILY[0], _ADAM_FAMILY[1], _weight_decay(1e-5, 1.0),
                   Hyperparameter("warmup_steps", 10, 1000, log=True, integer=True, optional=True,
                                  help="linear warm-up, in optimizer steps")),
                  _schedule_free, package="schedulefree", schedule_free=True, train_eval_modes=True,
                  group="modern", extra="modern"),
    OptimizerSpec("lion", "pytorch_optimizer.Lion", "sign of interpolated momentum; small lr, large decay",
                  (_lr_range(1e-6, 1e-2), _ADAM_FAMILY[0],
                   Hyperparameter("beta2", 0.9, 0.999, help="momentum decay"),
                   _weight_decay(1e-4, 10.0)), _adam,
                  package="pytorch-optimizer", group="modern", extra="modern"),
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
    "radam": {"lr": 1e-3, **_ADAM_DEFAULTS},
    "adafactor": {"lr": 1e-2, "beta2_decay": -0.8, "weight_decay": None},
    # torch's Muon and AdamW defaults; one weight decay for both parts, Muon's 0.1.
    "muon": {"lr": 1e-3, "adamw_lr": 1e-3, "one_minus_momentum": 0.05, "weight_decay": 0.1},
    "schedulefree_adamw": {"lr": 2.5e-3, "one_minus_beta1": 0.1, "beta2": 0.999, "weight_decay": None,
                           "warmup_steps": None},
    "lion": {"lr": 1e-4, "one_minus_beta1": 0.1, "beta2": 0.99, "weight_decay": None},
}
CLASSIC: tuple[str, ...] = tuple(key for key, spec in OPTIMIZERS.items() if spec.group == "classic")
MODERN: tuple[str, ...] = tuple(key for key, spec in OPTIMIZERS.items() if spec.group == "modern")


def available(spec: OptimizerSpec) -> bool:
    """Whether the package `spec` needs is installed (found without importing it)."""
    if not spec.package:
        return True
    return importlib.util.find_spec(spec.torch_class.partition(".")[0]) is not None


def unavailable_reason(key: str) -> str | None:
    """One line saying what to install for `key`; None when it can be used."""
    spec = OPTIMIZERS.get(key)
    if spec is None or available(spec):
        return None
    return f"optimizer '{key}' needs `pip install 'hpsearch[{spec.extra}]'` ({spec.package})"


def notes(spec: OptimizerSpec) -> str:
    """What `hpsearch optimizers` shows beside an entry's class: its quirks and whether it can be used."""
    words = [spec.group]
    if spec.needs_closure:
        words.append("closure, full batch")
    if spec.schedule_free:
        words.append("no schedule: its own warm-up")
    reason = unavailable_reason(spec.key)
    if reason:
        words.append("unavailable: " + reason.partition(" needs ")[2].replace("`", ""))
    return " [" + "; ".join(words) + "]"


def get_spec(key: str) -> OptimizerSpec:
    """The entry for `key`; a ConfigError for an unknown name or one whose package is missing."""
    try:
        spec = OPTIMIZERS[key]
    except KeyError:
        raise ConfigError(
            f"unknown optimizer '{key}'; valid choices: {choices(OPTIMIZERS)}"
        ) from None
    reason = unavailable_reason(key)
    if reason:
        raise ConfigError(reason)
    return spec


def parse_optimizers(text: str) -> tuple[str, ...]:
    """`"adam, sgd"` -> `("adam", "sgd")` in registry order; every name checked.

    "classic", "modern" and "all" stand for their groups' available entries.
    """
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ConfigError(f"no optimizer given; valid choices: all, {', '.join(GROUPS)}, "
                          f"{choices(OPTIMIZERS)}")
    chosen: set[str] = set()
    for name in names:
        if name in ("all", *GROUPS):
            chosen.update(key for key, spec in OPTIMIZERS.items()
                          if name in ("all", spec.group) and available(spec))
        elif name not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer '{name}'; valid choices: all, "
                              f"{', '.join(GROUPS)}, {choices(OPTIMIZERS)}")
        else:
            chosen.add(get_spec(name).key)
    return tuple(key for key in OPTIMIZERS if key in chosen)


def implementation_for(key: str, device_type: str) -> dict[str, bool]:
    """The fastest torch implementation of this optimizer on this device, recorded in the config."""
    spec = get_spec(key)
    if spec.fused and device_type in ("cpu", "cuda"):
        return {"fused": True}
    if spec.foreach and device_type == "cuda":
        return {"foreach": True}
    return {}


def torch_class(spec: OptimizerSpec) -> type[torch.optim.Optimizer]:
    module, _, name = spec.torch_class.rpartition(".")
    cls: type[torch.optim.Optimizer] = getattr(importlib.import_module(module), name)
    return cls


def build_optimizer(config: Mapping[str, Any], model: torch.nn.Module) -> torch.optim.Optimizer:
    """The torch optimizer an exported configuration describes, over `model`'s parameters.

    `config` is the dict `hpsearch best --format json` prints: its `optimizer` key names the
    registry entry and `hyperparameters` holds torch's own arguments. `muon` builds one optimizer of
    torch's Muon and AdamW (`split_for_muon` says which parameters go where); `schedulefree_adamw`
    needs `optimizer.train()` before training steps and `optimizer.eval()` before evaluating or saving.
    """
    spec = get_spec(str(config["optimizer"]))
    kwargs = dict(config["hyperparameters"])
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    kwargs.update(config.get("implementation") or {})
    if spec.build is not None:
        return spec.build(model, kwargs)
    params = [p for p in model.parameters() if p.requires_grad]
    return torch_class(spec)(params, **kwargs)
