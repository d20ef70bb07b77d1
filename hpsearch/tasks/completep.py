"""CompleteP ("Don't be lazy: CompleteP enables compute-efficient deep transformers", Dey et al.
2025): µP's rules across width, and across depth those of its parametrisation table at alpha = 1,
for any model that lists its residual branches in `model.hpsearch_residual_branches` (the modules
whose output is added to the residual stream: the built-in GPT's attention projection and its
MLP's last layer):

- each residual branch's output is multiplied by base depth / depth;
- the hidden matrices take the variance they have in the model at the base width and the base
  depth (so the GPT's residual projections keep the base depth's 0.02 / sqrt(2 x base depth), not
  their own depth's);
- the hidden matrices' learning rate follows the width alone (alpha = 1: no depth factor), norms'
  and biases' rates are left as they are, and Adam's epsilon is multiplied by base width / width x
  base depth / depth (`optimizers.build` reads `model.hpsearch_depth_multiplier`).

At the base depth CompleteP is µP. `depth_check` is the coordinate check across depth: under
CompleteP the residual stream keeps its size as the model deepens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hpsearch.errors import ConfigError
from hpsearch.tasks.mup import build_at_width, check_parametrization, parametrize, stepped

if TYPE_CHECKING:
    import torch

# A user's model for a depth sweep: build(vocab_size, context, width, depth) -> torch.nn.Module.
DepthBuilder = Callable[[int, int, int, int], "torch.nn.Module"]


def residual_branches(model: torch.nn.Module, where: str = "the model") -> list[torch.nn.Module]:
    """The modules `model.hpsearch_residual_branches` lists, checked: each a module of the model."""
    listed = getattr(model, "hpsearch_residual_branches", None)
    if not listed:
        raise ConfigError(f"{where} lists no residual branches: CompleteP needs "
                          "`model.hpsearch_residual_branches`, the modules whose output is added to "
                          "the residual stream")
    own = {id(m) for m in model.modules()}
    if any(id(m) not in own for m in listed):
        raise ConfigError(f"{where}: hpsearch_residual_branches holds a module that is not the "
                          "model's")
    return list(listed)


def depth_parametrize(model: torch.nn.Module, depth: int, base_depth: int) -> torch.nn.Module:
    """CompleteP's depth rules on a model already in µP, in place: every residual branch's output
    multiplied by base depth / depth, and the epsilon rule armed."""
    branches = residual_branches(model)
    residual = base_depth / depth

    def scale_branch(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        return output * residual

    for module in branches:
        module.register_forward_hook(scale_branch)
    setattr(model, "hpsearch_depth_multiplier", depth / base_depth)  # noqa: B010  # not a module
    return model


def build_at(build: Callable[..., torch.nn.Module], vocab_size: int, context: int, width: int,
             parametrization: str, base_width: int, depth: int | None = None,
             base_depth: int | None = None) -> torch.nn.Module:
    """The model at `width` (and `depth`, where depths are swept: `build` is then called with it
    as a fourth argument) in the given parametrisation. CompleteP's base is the model at the base
    width and the base depth, built on a forked random stream."""
    import torch

    if check_parametrization(parametrization) != "completep":
        if depth is None:
            return build_at_width(build, vocab_size, context, width, parametrization, base_width)
        return build_at_width(lambda v, c, w: build(v, c, w, depth), vocab_size, context, width,
                              parametrization, base_width)
    if depth is None or base_depth is None:
        raise ConfigError("--parametrization completep needs the model's depth and its base depth")
    model = build(vocab_size, context, width, depth)
    with torch.random.fork_rng(devices=[]):
        base = build(vocab_size, context, base_width, base_depth)
    parametrize(model, base, width, base_width, depth, base_depth)
    return depth_parametrize(model, depth, base_depth)


def residual_stream(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Mean |activation| of the residual stream after the last residual branch (the input of the
    module `model.blocks[-1]` hands on to)."""
    seen: list[float] = []
    blocks: Any = model.blocks  # type: ignore[union-attr]
    hook = blocks[-1].register_forward_hook(
        lambda _m, _i, out: seen.append(float(out.abs().mean())))
    try:
        model(x)
    finally:
        hook.remove()
    return seen[-1]


def depth_check(make: Callable[[int], torch.nn.Module], depths: Sequence[int],
                config: Mapping[str, Any], tokens: torch.Tensor, steps: int = 3,
                seeds: Sequence[int] = (0, 1, 2)) -> float:
    """The slope of log(mean |residual stream|) against log(depth) after `steps` optimizer steps
    (`config` as `hpsearch best` exports it) on the windows `tokens`, averaged over `seeds`. Near
    0: the stream keeps its size as the model deepens."""
    import torch

    sizes = []
    for depth in depths:
        per_seed = []
        for seed in seeds:
            model = stepped(make, depth, seed, config, tokens, steps)
            with torch.no_grad():
                per_seed.append(residual_stream(model, tokens[:, :-1]))
        sizes.append(float(np.mean(per_seed)))
    return float(np.polyfit(np.log(np.asarray(depths, dtype=float)), np.log(sizes), 1)[0])
