"""µP: activations keep their size as the model widens (the coordinate check), the hidden matrices'
learning rate and initialisation follow the width, and what µP cannot take is refused."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch

from hpsearch.errors import ConfigError
from hpsearch.space.optimizers import build
from hpsearch.tasks.gpt import gpt
from hpsearch.tasks.mup import build_at_width, coordinate_check, parametrize

ADAM = {"optimizer": "adam", "hyperparameters": {"lr": 1e-2}}
WIDTHS = (32, 64, 128, 256)
BASE = 16


def at_width(parametrization: str, width: int, context: int = 16) -> torch.nn.Module:
    return build_at_width(partial(gpt, depth=2), 256, context, width, parametrization, BASE)


def adamw_losses(model: torch.nn.Module, steps: int = 5) -> list[float]:
    """The losses of `steps` AdamW steps (weight decay on) on four fixed windows."""
    tokens = torch.randint(0, 256, (4, 17), generator=torch.Generator().manual_seed(1))
    x, y = tokens[:, :-1], tokens[:, 1:]
    optimizer = build("adamw", {"lr": 1e-2, "weight_decay": 0.1}, {}, model, "matrices")
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_at_the_base_width_mup_and_sp_are_the_same_model_and_train_alike() -> None:
    """µP changes nothing at its base width: the same seed builds the same outputs, and five
    AdamW steps (weight decay on) give the same losses."""
    x = torch.randint(0, 256, (2, 16))
    losses, outputs = {}, {}
    for parametrization in ("sp", "mup"):
        torch.manual_seed(0)
        model = at_width(parametrization, BASE)
        with torch.no_grad():
            outputs[parametrization] = model(x)
        losses[parametrization] = adamw_losses(model)
    assert torch.equal(outputs["sp"], outputs["mup"])
    assert losses["sp"] == losses["mup"] and losses["sp"][-1] < losses["sp"][0]


def test_the_gpt_attention_of_mup_is_the_standard_one_at_its_fixed_head_dimension() -> None:
    """µP's 1 / d attention carries the multiplier sqrt(d at the base): with the head dimension
    fixed at every width, it is the standard 1 / sqrt(d)."""
    tokens = torch.randint(0, 256, (2, 16))
    for width in (16, 64):
        torch.manual_seed(0)
        linear = gpt(256, 16, width, 2, attention="linear")
        torch.manual_seed(0)
        standard = gpt(256, 16, width, 2)
        with torch.no_grad():
            assert torch.allclose(linear(tokens), standard(tokens), atol=1e-6)


def test_under_mup_every_layer_keeps_its_size_as_the_model_widens_and_not_under_sp() -> None:
    torch.manual_seed(0)
    window = torch.randint(0, 256, (1, 17))  # one window of 16 tokens
    mup = coordinate_check(partial(at_width, "mup"), WIDTHS, ADAM, window)
    sp = coordinate_check(partial(at_width, "sp"), WIDTHS, ADAM, window)
    assert set(mup) == set(sp) and {"token", "blocks.1", "blocks.1.mlp.2", "logits"} <= set(mup)
    assert all(abs(slope) <= 0.15 for slope in mup.values()), mup
    assert sp["logits"] > 0.3, sp


def test_mup_scales_the_hidden_matrices_rate_and_initialisation_with_the_width() -> None:
    torch.manual_seed(0)
    model = at_width("mup", 128)
    hidden = {id(m.weight) for m in model.hpsearch_width_scaled}
    optimizer = build("adamw", {"lr": 1e-2, "weight_decay": 0.1}, {}, model, "matrices")
    rates = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    assert all(rates[i] == pytest.approx(1e-2 * BASE / 128) for i in hidden)
    assert all(rate == 1e-2 for i, rate in rates.items() if i not in hidden)  # embeddings, head
    decayed = {id(p) for group in optimizer.param_groups if group["weight_decay"] > 0
               for p in group["params"]}
    assert hidden <= decayed and id(model.token.weight) not in decayed
    decays = {id(p): group["weight_decay"] for group in optimizer.param_groups for p in group["params"]}
    # The `mup` package's MuAdamW: rate x decay of a hidden matrix is the base width's.
    assert all(decays[i] * rates[i] == pytest.approx(0.1 * 1e-2) for i in hidden)

    base_std = float(at_width("sp", BASE).blocks[0].mlp[0].weight.detach().std())
    assert float(model.blocks[0].mlp[0].weight.detach().std()) == pytest.approx(
        base_std * math.sqrt(BASE / 128), rel=0.05)

    muon = build("muon", {"lr": 0.02, "adamw_lr": 1e-3, "momentum": 0.95, "weight_decay": 0.1,
                          "nesterov": True, "adjust_lr_fn": "original"}, {}, model, "matrices")
    assert {group["lr"] for group in muon.param_groups} == {0.02, 1e-3}  # no width factor


def test_mup_multiplies_the_logits_by_base_width_over_width() -> None:
    torch.manual_seed(0)
    plain = gpt(256, 16, 64, 2)
    torch.manual_seed(0)
    scaled = parametrize(gpt(256, 16, 64, 2), gpt(256, 16, BASE, 2), 64, BASE)
    scaled.load_state_dict(plain.state_dict())
    tokens = torch.randint(0, 256, (2, 16))
    with torch.no_grad():
        assert torch.allclose(scaled(tokens), plain(tokens) * BASE / 64)


def test_what_mup_cannot_take_is_refused_in_one_line() -> None:
    tied = gpt(256, 16, 64, 2)
    tied.head.weight = tied.token.weight
    with pytest.raises(ConfigError, match="tied head"):
        parametrize(tied, gpt(256, 16, BASE, 2), 64, BASE)
    with pytest.raises(ConfigError, match="hpsearch_width_scaled"):
        parametrize(torch.nn.Sequential(torch.nn.Linear(4, 4)), gpt(256, 16, BASE, 2), 64, BASE)
    with pytest.raises(ConfigError, match="'sgd' has no µP learning-rate rule; valid choices"):
        build("sgd", {"lr": 0.1}, {}, at_width("mup", 32), "all")
    with pytest.raises(ConfigError, match="unknown parametrization 'ntk'; valid choices: sp, mup"):
        build_at_width(gpt, 256, 16, 32, "ntk", BASE)
