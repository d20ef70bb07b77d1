"""µP, the maximal update parametrisation, as "A Practitioner's Guide to µP" (Dey et al. 2024) gives
it, for any model that lists its hidden matrices (those whose fan-in grows with the width) in
`model.hpsearch_width_scaled`:

- the hidden matrices are initialised with the variance they have at the base width, times
  base width / width (read from the same model built at the base width): each keeps its own
  draw, rescaled;
- the output logits are multiplied by base width / width (an untied head: a tied one is refused);
- the optimizer scales the hidden matrices' learning rate by base width / width for Adam-like
  optimizers and Lion, and their weight decay by width / base width, so that a decoupled decay
  (rate x decay) is the same at every width, as the `mup` package's `MuAdam` does; Muon's
  (shape-scaled already) is left as it is: `optimizers.build` reads
  `model.hpsearch_width_multiplier`, which `parametrize` sets;
- attention is the model's own: 1 / head dimension where the heads widen, with a multiplier that
  makes it the standard scale at the base width (the built-in GPT keeps its head dimension, so
  its attention is the standard one under both).

At the base width nothing changes: µP and the standard parametrisation build the same model.
Under µP the best learning rate should stay put as the model widens; `coordinate_check` is the
test of an implementation (the `mup` package's, rewritten: that package needs torchvision), and
`tests/benchmarks/bench_mup_reference.py` holds the built-in GPT against the package itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hpsearch.errors import ConfigError, choices

if TYPE_CHECKING:
    import torch

PARAMETRIZATIONS = ("sp", "mup", "completep")  # CompleteP: µP's rules and depth's (`completep`)
DEFAULT_PARAMETRIZATIONS = ("sp", "mup")
# The rules' edition, stored with a sweep: 1 scaled the GPT's attention by 1/16 under µP and left
# the hidden matrices' weight decay as it was; 2 is the `mup` package's (this module's). A sweep's
# µP runs of one edition are not continued with the other.
MUP_RULES = 2
# A user's model for a scale sweep: build(vocab_size, context, width) -> torch.nn.Module.
WidthBuilder = Callable[[int, int, int], "torch.nn.Module"]


def check_parametrization(name: str) -> str:
    if name not in PARAMETRIZATIONS:
        raise ConfigError(f"unknown parametrization '{name}'; valid choices: {choices(PARAMETRIZATIONS)}")
    return name


def width_scaled(model: torch.nn.Module, where: str = "the model") -> list[torch.nn.Module]:
    """The modules `model.hpsearch_width_scaled` lists, checked: each a module of the model with a
    2-D weight."""
    import torch

    listed = getattr(model, "hpsearch_width_scaled", None)
    if not listed:
        raise ConfigError(f"{where} lists no hidden matrices: µP needs `model.hpsearch_width_scaled`, "
                          "the modules whose fan-in grows with the width")
    own = {id(m) for m in model.modules()}
    for module in listed:
        weight = getattr(module, "weight", None)
        if id(module) not in own or not isinstance(weight, torch.nn.Parameter) or weight.ndim != 2:
            raise ConfigError(f"{where}: hpsearch_width_scaled holds {type(module).__name__}, not a "
                              "module of the model with a 2-D weight")
    return list(listed)


def check_untied(model: torch.nn.Module, where: str = "the model") -> None:
    """µP multiplies the logits by base width / width; a head that shares the embedding's weights
    would scale the input too."""
    seen: dict[int, str] = {}
    for name, parameter in model.named_parameters(remove_duplicate=False):
        if id(parameter) in seen:
            raise ConfigError(f"--parametrization mup refuses {where}: '{name}' and "
                              f"'{seen[id(parameter)]}' share one weight (a tied head); untie it")
        seen[id(parameter)] = name


def parametrize(model: torch.nn.Module, base: torch.nn.Module, width: int, base_width: int,
                depth: int | None = None, base_depth: int | None = None) -> torch.nn.Module:
    """`model` (built at `width`) in µP against `base` (the same model built at `base_width`), in
    place: hidden matrices re-initialised, logits multiplied, the learning-rate rule armed. With
    `depth` and `base_depth` (CompleteP's base is also at another depth), each hidden matrix takes
    the variance of its place in the base model's blocks (the k-th of each block's)."""
    import torch

    check_untied(model)
    scaled, base_scaled = width_scaled(model), width_scaled(base, "the base model")
    pairs = paired(scaled, base_scaled, width, base_width, depth, base_depth)
    multiplier = width / base_width
    if width != base_width or depth != base_depth:  # else the model is its own base
        with torch.no_grad():
            for module, at_base in pairs:
                weight: Any = module.weight
                base_weight: Any = at_base.weight
                wanted = float(base_weight.std()) / math.sqrt(multiplier)
                weight.mul_(wanted / float(weight.std()))

    def scale_logits(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        return output / multiplier

    model.register_forward_hook(scale_logits)
    setattr(model, "hpsearch_width_multiplier", multiplier)  # noqa: B010  # not a module
    return model


def paired(scaled: Sequence[torch.nn.Module], base_scaled: Sequence[torch.nn.Module], width: int,
           base_width: int, depth: int | None, base_depth: int | None
           ) -> list[tuple[torch.nn.Module, torch.nn.Module]]:
    """Each hidden matrix with its counterpart in the base model: the same place, or, where the
    base has other blocks, the same place within a block."""
    if len(scaled) == len(base_scaled):
        return list(zip(scaled, base_scaled, strict=True))
    per_block = len(scaled) // depth if depth else 0
    if per_block and base_depth and (len(scaled), len(base_scaled)) == (per_block * (depth or 0),
                                                                       per_block * base_depth):
        return [(module, base_scaled[k % per_block]) for k, module in enumerate(scaled)]
    raise ConfigError(f"the model lists {len(scaled)} hidden matrices at width {width} and "
                      f"{len(base_scaled)} at the base width {base_width}: they must match"
                      + (f" (or be as many per block, at depths {depth} and {base_depth})"
                         if depth else ""))


def build_at_width(build: WidthBuilder, vocab_size: int, context: int, width: int,
                   parametrization: str, base_width: int) -> torch.nn.Module:
    """The model at `width` in the given parametrisation. The base model is built on a forked
    random stream, so that a model's initialisation depends on its own seed alone."""
    import torch

    if check_parametrization(parametrization) == "completep":
        raise ConfigError("CompleteP needs the model's depth: build it with "
                          "hpsearch.tasks.completep.build_at")
    model = build(vocab_size, context, width)
    if parametrization == "sp":
        return model
    with torch.random.fork_rng(devices=[]):
        base = build(vocab_size, context, base_width)
    return parametrize(model, base, width, base_width)


def watched_layers(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """What a coordinate check measures: embeddings, blocks (`model.blocks`), hidden matrices and,
    as "logits", the model's output."""
    import torch

    names = {id(m): name for name, m in model.named_modules()}
    layers = {names[id(m)]: m for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    layers.update({names[id(m)]: m for m in getattr(model, "blocks", ())})
    layers.update({names[id(m)]: m for m in getattr(model, "hpsearch_width_scaled", ())})
    return {**layers, "logits": model}


def stepped(make: Callable[[int], torch.nn.Module], size: int, seed: int,
            config: Mapping[str, Any], tokens: torch.Tensor, steps: int) -> torch.nn.Module:
    """The model `make(size)` built from `seed` after `steps` optimizer steps (`config` as `hpsearch
    best` exports it) on the windows `tokens`: what a coordinate check measures."""
    import torch
    import torch.nn.functional as F

    from hpsearch.space.optimizers import build

    x, y = tokens[:, :-1], tokens[:, 1:]
    torch.manual_seed(seed)
    model = make(size)
    optimizer = build(config["optimizer"], config["hyperparameters"], {}, model,
                      config.get("weight_decay_on", "all"))
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        logits = model(x)
        F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).backward()
        optimizer.step()
    return model


def coordinate_check(make: Callable[[int], torch.nn.Module], widths: Sequence[int],
                     config: Mapping[str, Any], tokens: torch.Tensor, steps: int = 3,
                     seeds: Sequence[int] = (0, 1, 2)) -> dict[str, float]:
    """Per layer, the slope of log(mean |activation|) against log(width) after `steps` optimizer
    steps (`config` as `hpsearch best` exports it) on the windows `tokens` (rows of context + 1),
    averaged over `seeds`. Near 0 everywhere: activations keep their size as the model widens.

    Use few tokens (one window): an update's part that is not aligned with the batch shrinks as
    1 / sqrt(width) and, with more tokens than the width, still shows at widths of a few hundred."""
    import torch

    x = tokens[:, :-1]
    sizes: dict[str, list[float]] = {}
    for width in widths:
        per_seed: dict[str, list[float]] = {}
        for seed in seeds:
            model = stepped(make, width, seed, config, tokens, steps)
            seen: dict[str, float] = {}
            hooks = [module.register_forward_hook(
                lambda _m, _i, out, name=name, seen=seen: seen.__setitem__(name, float(out.abs().mean())))
                for name, module in watched_layers(model).items()]
            with torch.no_grad():
                model(x)
            for hook in hooks:
                hook.remove()
            for name, value in seen.items():
                per_seed.setdefault(name, []).append(value)
        for name, values in per_seed.items():
            sizes.setdefault(name, []).append(float(np.mean(values)))
    logs = np.log(np.asarray(widths, dtype=float))
    return {name: float(np.polyfit(logs, np.log(values), 1)[0]) for name, values in sizes.items()
            if len(values) == len(widths)}
