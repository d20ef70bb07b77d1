"""The optimizer registry: one entry per optimizer, and the builder of the real torch optimizer.

Each `OptimizerSpec` names its torch class, the hyperparameters a search samples (with ranges) and how
sampled values become torch's own arguments (`one_minus_momentum=0.1` -> `momentum=0.9`). Adding an
optimizer is adding one entry, its quirks included: a package to install (`available`), a closure
(L-BFGS), train/eval modes and no schedule (schedule-free AdamW), two optimizers in one (Muon).
The classic ten are the default choice; the modern entries are picked by name or with "modern"/"all".
First what an entry is (`Hyperparameter`, `OptimizerSpec`, the shared hyperparameters and the
converters from sampled values to torch's arguments), then the entries, then the builder.
This module imports torch (and the packages outside it) only when an optimizer is built.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hpsearch.errors import ConfigError, choices
from hpsearch.space.muon import build_muon
from hpsearch.space.param_groups import DECAY_CHOICES, groups

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


# Each entry's `defaults` are torch's own (its package's, outside torch) in sampled terms. SGD has
# no default momentum but 0, so the momentum entries take the customary 0.9; Muon's one weight decay
# for both parts is Muon's 0.1.
ADAM_DEFAULTS = {"one_minus_beta1": 0.1, "beta2": 0.999, "eps": 1e-8, "weight_decay": None}
_SPECS = (
    OptimizerSpec("sgd", "torch.optim.SGD", "plain stochastic gradient descent",
                  (lr_range(1e-4, 1.0), weight_decay()), plain_args, fused=True,
                  defaults={"lr": 1e-3, "weight_decay": None}),
    OptimizerSpec("momentum", "torch.optim.SGD", "SGD with heavy-ball momentum",
                  (lr_range(1e-4, 1.0), ONE_MINUS_MOMENTUM, weight_decay()), momentum_args,
                  fused=True,
                  defaults={"lr": 1e-3, "one_minus_momentum": 0.1, "weight_decay": None}),
    OptimizerSpec("nesterov", "torch.optim.SGD", "SGD with Nesterov momentum",
                  (lr_range(1e-4, 1.0), ONE_MINUS_MOMENTUM, weight_decay()), momentum_args,
                  fixed={"nesterov": True}, fused=True,
                  defaults={"lr": 1e-3, "one_minus_momentum": 0.1, "weight_decay": None}),
    OptimizerSpec("adagrad", "torch.optim.Adagrad", "per-coordinate rates from summed squared grads",
                  (lr_range(1e-3, 1.0), weight_decay()), plain_args, fused=True,
                  defaults={"lr": 1e-2, "weight_decay": None}),
    OptimizerSpec("rmsprop", "torch.optim.RMSprop", "rates from a moving average of squared grads",
                  (lr_range(1e-5, 1e-1), Hyperparameter("alpha", 0.9, 0.999, help="smoothing"),
                   Hyperparameter("momentum", 0.0, 0.9, help="momentum"), weight_decay()),
                  plain_args,
                  defaults={"lr": 1e-2, "alpha": 0.99, "momentum": 0.0, "weight_decay": None}),
    OptimizerSpec("adadelta", "torch.optim.Adadelta", "unit-corrected running averages",
                  (lr_range(0.05, 10.0), Hyperparameter("rho", 0.8, 0.99, help="decay rate"),
                   weight_decay()), plain_args,
                  defaults={"lr": 1.0, "rho": 0.9, "weight_decay": None}),
    OptimizerSpec("adam", "torch.optim.Adam", "adaptive moments; weight decay as L2",
                  (lr_range(1e-5, 1e-1), *ADAM_FAMILY, weight_decay()), adam_args, fused=True,
                  defaults={"lr": 1e-3, **ADAM_DEFAULTS}, mup_rule="adam"),
    OptimizerSpec("adamw", "torch.optim.AdamW", "Adam with decoupled weight decay",
                  (lr_range(1e-5, 1e-1), *ADAM_FAMILY, weight_decay(1e-5, 1.0)), adam_args,
                  fused=True,
                  defaults={"lr": 1e-3, **ADAM_DEFAULTS, "weight_decay": 1e-2}, mup_rule="adam"),
    OptimizerSpec("nadam", "torch.optim.NAdam", "Adam with Nesterov momentum",
                  (lr_range(1e-5, 1e-1), *ADAM_FAMILY, weight_decay()), adam_args,
                  defaults={"lr": 2e-3, **ADAM_DEFAULTS}, mup_rule="adam"),
    OptimizerSpec("lbfgs", "torch.optim.LBFGS", "quasi-Newton, full batch; no weight decay in torch",
                  (lr_range(1e-2, 1.0),
                   Hyperparameter("history_size", 5, 100, integer=True, help="memory"),
                   Hyperparameter("line_search_fn", choices=("strong_wolfe", "none"),
                                  help="line search")),
                  lbfgs_args, needs_closure=True, foreach=False, inner_iterations=lbfgs_iterations,
                  defaults={"lr": 1.0, "history_size": 100, "line_search_fn": "none"}),
    OptimizerSpec("radam", "torch.optim.RAdam", "Adam with a rectified (variance-corrected) warm-up",
                  (lr_range(1e-5, 1e-1), *ADAM_FAMILY, weight_decay()), adam_args, group="modern",
                  defaults={"lr": 1e-3, **ADAM_DEFAULTS}, mup_rule="adam"),
    OptimizerSpec("adafactor", "torch.optim.Adafactor", "factored second moments, relative step sizes",
                  (lr_range(1e-4, 0.3),
                   Hyperparameter("beta2_decay", -1.0, -0.5, help="beta2_t = 1 - t^beta2_decay"),
                   weight_decay(1e-5, 1.0)), plain_args, group="modern",
                  defaults={"lr": 1e-2, "beta2_decay": -0.8, "weight_decay": None}),
    OptimizerSpec("muon", "torch.optim.Muon",
                  "orthogonalised momentum for hidden matrices; AdamW for the other parameters",
                  (Hyperparameter("lr", 1e-3, 0.2, log=True, help="Muon's learning rate"),
                   Hyperparameter("adamw_lr", 1e-5, 1e-1, log=True, help="the AdamW part's rate"),
                   ONE_MINUS_MOMENTUM, weight_decay(1e-5, 1.0)), momentum_args,
                  fixed={"nesterov": True, "adjust_lr_fn": "original"}, foreach=False,
                  build=build_muon, group="modern", mup_rule="spectral",
                  defaults={"lr": 1e-3, "adamw_lr": 1e-3, "one_minus_momentum": 0.05, "weight_decay": 0.1}),
    OptimizerSpec("schedulefree_adamw", "schedulefree.AdamWScheduleFree",
                  "schedule-free AdamW: iterate averaging instead of a learning-rate schedule",
                  (lr_range(1e-4, 1e-1), ADAM_FAMILY[0], ADAM_FAMILY[1], weight_decay(1e-5, 1.0),
                   Hyperparameter("warmup_steps", 10, 1000, log=True, integer=True, optional=True,
                                  help="linear warm-up, in optimizer steps")),
                  schedule_free_args, package="schedulefree", schedule_free=True, train_eval_modes=True,
                  group="modern",
                  defaults={"lr": 2.5e-3, "one_minus_beta1": 0.1, "beta2": 0.999, "weight_decay": None,
                            "warmup_steps": None}, mup_rule="adam"),
    OptimizerSpec("lion", "pytorch_optimizer.Lion", "sign of interpolated momentum; small lr, large decay",
                  (lr_range(1e-6, 1e-2), ADAM_FAMILY[0],
                   Hyperparameter("beta2", 0.9, 0.999, help="momentum decay"),
                   weight_decay(1e-4, 10.0)), adam_args,
                  package="pytorch-optimizer", group="modern", mup_rule="adam",
                  defaults={"lr": 1e-4, "one_minus_beta1": 0.1, "beta2": 0.99, "weight_decay": None}),
)

OPTIMIZERS: Mapping[str, OptimizerSpec] = {spec.key: spec for spec in _SPECS}
GROUPS = ("classic", "modern")

CLASSIC: tuple[str, ...] = tuple(key for key, spec in OPTIMIZERS.items() if spec.group == "classic")
MODERN: tuple[str, ...] = tuple(key for key, spec in OPTIMIZERS.items() if spec.group == "modern")


def available(spec: OptimizerSpec) -> bool:
    """Whether the package `spec` needs is installed (found without importing it)."""
    if not spec.package:
        return True
    return importlib.util.find_spec(spec.torch_class.partition(".")[0]) is not None


def unavailable_reason(key: str) -> str | None:
    """One line saying what to install for `key`; None when it can be used. Its package is one of
    hpsearch's own dependencies: missing only from an environment that left it out."""
    spec = OPTIMIZERS.get(key)
    if spec is None or available(spec):
        return None
    return f"optimizer '{key}' needs `pip install {spec.package}` (a dependency of hpsearch, missing here)"


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
    check_parametrization_of(config, model)
    return build(str(config["optimizer"]), config["hyperparameters"], config.get("implementation"),
                 model, str(config.get("weight_decay_on", "all")))


def check_parametrization_of(config: Mapping[str, Any], model: torch.nn.Module) -> None:
    """A configuration predicted for a µP (or CompleteP) model (`hpsearch best --for-width`) needs
    the model built so at its width (and depth): its learning rate is the base model's."""
    wanted = config.get("parametrization") or {"name": "sp"}
    if wanted.get("name") == "completep":
        check_multiplier(model, "hpsearch_depth_multiplier", wanted, "depth", "CompleteP",
                         "hpsearch.tasks.completep.build_at")
    if wanted.get("name") in ("mup", "completep"):
        check_multiplier(model, "hpsearch_width_multiplier", wanted, "width", "µP",
                         "hpsearch.tasks.mup.parametrize")
    elif getattr(model, "hpsearch_width_multiplier", None) is not None and "parametrization" in config:
        raise ConfigError("this configuration is for the standard parametrisation; the model is "
                          "in µP")


def check_multiplier(model: torch.nn.Module, attribute: str, wanted: Mapping[str, Any], axis: str,
                     rules: str, builder: str) -> None:
    """The model's multiplier along `axis` (`attribute`) is the configuration's size over its base."""
    found = getattr(model, attribute, None)
    expected = wanted[axis] / wanted[f"base_{axis}"]
    if found is None or abs(found - expected) > 1e-9 * expected:
        raise ConfigError(f"this configuration is for {rules} at {axis} {wanted[axis]} (base "
                          f"{wanted[f'base_{axis}']}); the model is "
                          + (f"not in {rules}" if found is None else f"at {found:g} x its base {axis}")
                          + f": build it with {builder}")


def build(key: str, hyperparameters: Mapping[str, Any], implementation: Mapping[str, bool] | None,
          model: torch.nn.Module, decay: str = "all") -> torch.optim.Optimizer:
    """The torch optimizer of registry entry `key` with torch's own arguments, over `model`; weight
    decay on every parameter (`decay="all"`) or on the weight matrices only (`"matrices"`)."""
    spec = get_spec(key)
    kwargs = dict(hyperparameters)
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    kwargs.update(implementation or {})
    if decay not in DECAY_CHOICES:
        raise ConfigError(f"unknown weight_decay_on '{decay}'; valid choices: {choices(DECAY_CHOICES)}")
    multiplier = getattr(model, "hpsearch_width_multiplier", None)  # set by µP's parametrize
    if multiplier is not None and spec.mup_rule is None:
        raise ConfigError(f"'{key}' has no µP learning-rate rule; valid choices under µP: "
                          + choices(k for k, s in OPTIMIZERS.items() if s.mup_rule))
    if spec.build is not None:
        return spec.build(model, kwargs, decay)
    if not spec.decays:
        decay = "all"
    params = [p for p in model.parameters() if p.requires_grad]
    deeper = getattr(model, "hpsearch_depth_multiplier", None)  # set by CompleteP
    if deeper is not None and kwargs.get("eps") is not None:  # CompleteP's epsilon rule
        kwargs["eps"] = kwargs["eps"] / ((multiplier or 1.0) * deeper)
    hidden_lr = kwargs["lr"] / multiplier if multiplier is not None else None
    # µP keeps rate x decay of the hidden matrices as at the base width (the `mup` package's rule)
    hidden_decay = (kwargs.get("weight_decay") or 0.0) * multiplier if multiplier is not None else None
    return torch_class(spec)(groups(params, model, decay, hidden_lr, hidden_decay), **kwargs)
