"""CompleteP: the residual stream keeps its size as the model deepens (the coordinate check across
depth), at the base depth it is µP, and its branch, initialisation and epsilon rules hold."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch

from hpsearch import build_optimizer
from hpsearch.errors import ConfigError
from hpsearch.space.optimizers import build
from hpsearch.tasks.completep import build_at, depth_check
from hpsearch.tasks.gpt import gpt
from hpsearch.tasks.mup import build_at_width
from hpsearch.training.batched.stacked import NotBatchable
from hpsearch.training.batched.stacked_gpt import stack
from tests.tasks.test_mup import adamw_losses

ADAM = {"optimizer": "adam", "hyperparameters": {"lr": 1e-2}}
BASE_WIDTH, BASE_DEPTH = 16, 2


def at(parametrization: str, depth: int, width: int = 64) -> torch.nn.Module:
    return build_at(gpt, 256, 16, width, parametrization, BASE_WIDTH, depth, BASE_DEPTH)


def test_under_completep_the_residual_stream_keeps_its_size_as_the_model_deepens() -> None:
    """After 3 Adam steps, log |residual stream| against log depth: flat under CompleteP, rising
    without its branch multiplier (µP alone at each depth)."""
    torch.manual_seed(0)
    window = torch.randint(0, 256, (1, 17))
    depths = (2, 4, 8, 16)
    completep = depth_check(partial(at, "completep"), depths, ADAM, window)
    without = depth_check(partial(at, "mup"), depths, ADAM, window)
    assert abs(completep) <= 0.15, completep
    assert without > 0.3, without


def test_at_the_base_depth_completep_is_mup() -> None:
    losses = {}
    for parametrization in ("mup", "completep"):
        torch.manual_seed(0)
        losses[parametrization] = adamw_losses(at(parametrization, BASE_DEPTH))
    assert losses["mup"] == losses["completep"]


def test_completep_scales_the_branches_keeps_the_base_depths_initialisation_and_epsilon() -> None:
    torch.manual_seed(0)
    deep = at("completep", 8)
    assert deep.hpsearch_depth_multiplier == 4.0
    # The residual projections keep the base depth's GPT-2 scale, and µP's width factor (read
    # from the base model's own draw: 256 values at width 16, so within about 10 %).
    expected = 0.02 / math.sqrt(2 * BASE_DEPTH) * math.sqrt(BASE_WIDTH / 64)
    assert float(deep.blocks[5].proj.weight.detach().std()) == pytest.approx(expected, rel=0.12)
    torch.manual_seed(0)
    plain = at("mup", 8)
    assert float(plain.blocks[5].proj.weight.detach().std()) == pytest.approx(
        0.02 / math.sqrt(2 * 8) * math.sqrt(BASE_WIDTH / 64), rel=0.12)
    # Each branch's output is multiplied by base depth / depth.
    block, x = deep.blocks[0], torch.randn(2, 16, 64)
    with torch.no_grad():
        attended = block.proj(x)
        direct = torch.nn.functional.linear(x, block.proj.weight, block.proj.bias)
    assert torch.allclose(attended, direct * BASE_DEPTH / 8)
    optimizer = build("adamw", {"lr": 1e-3, "eps": 1e-8, "weight_decay": 0.1}, {}, deep, "matrices")
    assert [g["eps"] for g in optimizer.param_groups] == pytest.approx(
        [1e-8 * (16 / 64) * (2 / 8)] * len(optimizer.param_groups))


def test_what_completep_cannot_take_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError, match="CompleteP needs the model's depth"):
        build_at_width(gpt, 256, 16, 32, "completep", BASE_WIDTH)
    flat = partial(lambda v, c, w, d: _without_branches(gpt(v, c, w, d)))
    with pytest.raises(ConfigError, match="hpsearch_residual_branches"):
        build_at(flat, 256, 16, 32, "completep", BASE_WIDTH, 4, BASE_DEPTH)
    config = {"optimizer": "adamw", "hyperparameters": {"lr": 1e-3},
              "parametrization": {"name": "completep", "base_width": 16, "width": 64,
                                  "base_depth": 2, "depth": 8}}
    with pytest.raises(ConfigError, match="this configuration is for CompleteP at depth 8"):
        build_optimizer(config, at("mup", 8))
    assert build_optimizer(config, at("completep", 8)) is not None
    with pytest.raises(NotBatchable, match="CompleteP"):  # its branches and epsilon: one at a time
        stack([at("completep", 4), at("completep", 4)])


def _without_branches(model: torch.nn.Module) -> torch.nn.Module:
    model.hpsearch_residual_branches = []
    return model
