"""The modern entries: RAdam, Adafactor, Muon (with AdamW in one optimizer), schedule-free AdamW, Lion."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from hpsearch.errors import ConfigError
from hpsearch.space import optimizers
from hpsearch.space.conditional import SearchSpace
from hpsearch.space.muon import split_for_muon
from hpsearch.space.optimizers import (
    MODERN,
    OPTIMIZERS,
    available,
    build,
    build_optimizer,
    get_spec,
    notes,
    parse_optimizers,
    unavailable_reason,
)
from hpsearch.space.schedules import build_scheduler
from hpsearch.tasks.base import REGRESSION, mlp
from hpsearch.training.tables import fit
from tests.conftest import on_cpu, tiny_regression
from tests.space.test_optimizers import config_for


@pytest.mark.parametrize("key", MODERN)
def test_each_modern_optimizer_fits_a_small_regression(key: str) -> None:
    data = on_cpu(tiny_regression())
    torch.manual_seed(0)
    model = mlp(6, 1, (32, 32))
    results = list(fit(data, model, config_for(key, epochs=8), REGRESSION, epochs=8, batch_size=16,
                       seed=0))
    assert len(results) == 8 and all(r.diverged is None for r in results)
    losses = [r.train_loss for r in results]
    assert all(math.isfinite(v) for r in results for v in (r.train_loss, *r.metrics))
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert losses[-1] < 0.2 * losses[0], losses
    assert results[-1].metrics[1] > 0.9  # R^2 on the validation split
    assert results[-1].updates == 8 * len(range(0, len(data.x_train), 16))


def _ids(params: list[torch.Tensor]) -> set[int]:
    return {id(p) for p in params}


def test_muon_takes_the_hidden_matrices_of_an_mlp_and_adamw_the_rest() -> None:
    model = nn.Sequential(nn.Linear(8, 32), nn.LayerNorm(32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(),
                          nn.Linear(16, 3))
    optimizer = build_optimizer(config_for("muon"), model)
    muon, adamw = optimizer.optimizers  # type: ignore[attr-defined]
    assert type(muon) is torch.optim.Muon and type(adamw) is torch.optim.AdamW
    assert _ids(muon.param_groups[0]["params"]) == _ids([model[0].weight, model[3].weight])
    assert _ids(adamw.param_groups[0]["params"]) == _ids(
        [model[0].bias, model[1].weight, model[1].bias, model[3].bias, model[5].weight, model[5].bias])
    assert muon.param_groups[0]["lr"] == pytest.approx(0.02)
    assert adamw.param_groups[0]["lr"] == pytest.approx(3e-3)
    assert muon.param_groups[0]["momentum"] == pytest.approx(0.95)
    assert muon.param_groups[0]["adjust_lr_fn"] == "original"


def test_muon_leaves_conv_kernels_embeddings_and_the_output_layer_to_adamw() -> None:
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 16), nn.ReLU(),
                        nn.Linear(16, 3))
    hidden, rest = split_for_muon(cnn)
    assert _ids(hidden) == _ids([cnn[3].weight])
    assert _ids(rest) == _ids([cnn[0].weight, cnn[0].bias, cnn[3].bias, cnn[5].weight, cnn[5].bias])
    optimizer = build_optimizer(config_for("muon"), cnn)
    before = [p.detach().clone() for p in cnn.parameters()]
    loss = nn.functional.cross_entropy(cnn(torch.randn(5, 1, 8, 8)), torch.tensor([0, 1, 2, 0, 1]))
    loss.backward()
    optimizer.step()
    assert all(not torch.equal(b, p) for b, p in zip(before, cnn.parameters(), strict=True))

    embedded = nn.Sequential(nn.Embedding(10, 8), nn.Linear(8, 8), nn.Linear(8, 2))
    hidden, rest = split_for_muon(embedded)
    assert _ids(hidden) == _ids([embedded[1].weight])
    # A model with one matrix, its output layer, has nothing for Muon: AdamW alone.
    linear = nn.Linear(4, 2)
    alone = build_optimizer(config_for("muon"), linear)
    assert [type(o) for o in alone.optimizers] == [torch.optim.AdamW]  # type: ignore[attr-defined]


def test_muon_is_one_optimizer_to_the_loop_and_the_schedulers() -> None:
    torch.manual_seed(0)
    model = mlp(4, 2, (8, 8))
    config = {**config_for("muon"), "schedule": {"name": "cosine", "warmup_epochs": 0, "T_max": 10}}
    optimizer = build_optimizer(config, model)
    assert isinstance(optimizer, torch.optim.Optimizer)
    muon, adamw = optimizer.optimizers  # type: ignore[attr-defined]
    assert optimizer.param_groups == [*muon.param_groups, *adamw.param_groups]
    assert all(a is b for a, b in zip(optimizer.param_groups, [*muon.param_groups, *adamw.param_groups],
                                      strict=True))
    scheduler = build_scheduler(config, optimizer)
    assert scheduler is not None
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    calls = []

    def closure() -> torch.Tensor:
        calls.append(1)
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss

    for _ in range(3):
        optimizer.step(closure)
        scheduler.step()
    assert len(calls) == 3  # the closure once per step, for both parts
    factor = (1 + math.cos(math.pi * 3 / 10)) / 2
    assert muon.param_groups[0]["lr"] == pytest.approx(0.02 * factor)
    assert adamw.param_groups[0]["lr"] == pytest.approx(3e-3 * factor)
    assert all("momentum_buffer" in muon.state[p] for p in muon.param_groups[0]["params"])
    assert all("exp_avg" in adamw.state[p] for p in adamw.param_groups[0]["params"])

    optimizer.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    twin = mlp(4, 2, (8, 8))
    twin.load_state_dict(model.state_dict())
    restored = build_optimizer(config, twin)
    restored.load_state_dict(optimizer.state_dict())
    for old, new in zip(optimizer.optimizers, restored.optimizers, strict=True):  # type: ignore[attr-defined]
        assert old.param_groups[0]["lr"] == new.param_groups[0]["lr"]
        for p, q in zip(old.param_groups[0]["params"], new.param_groups[0]["params"], strict=True):
            for name, value in old.state[p].items():
                assert torch.equal(value, new.state[q][name]), name


def test_schedule_free_trains_in_train_mode_and_is_evaluated_in_eval_mode(
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = config_for("schedulefree_adamw")
    assert config["schedule"] == {"name": "none"}
    built = []

    def capture(key: str, hyperparameters: dict, implementation: dict | None,
                model: nn.Module, decay: str = "all") -> torch.optim.Optimizer:
        built.append(build(key, hyperparameters, implementation, model, decay))
        return built[-1]

    monkeypatch.setattr("hpsearch.training.tables.build", capture)
    model = mlp(6, 1, (16,))
    seen: dict[bool, set[bool]] = {True: set(), False: set()}  # model.training -> optimizer modes
    model.register_forward_hook(
        lambda module, args, output: seen[module.training].add(built[0].param_groups[0]["train_mode"]))
    results = list(fit(on_cpu(tiny_regression()), model, config, REGRESSION, 3, 16, 0))
    assert len(results) == 3
    assert seen == {True: {True}, False: {False}}
    assert built[0].param_groups[0]["train_mode"] is False  # left at the averaged weights


def test_lion_ranges_follow_its_paper_smaller_rate_larger_decay_than_adamw() -> None:
    def ranges(key: str) -> dict[str, tuple[float, float]]:
        return {hp.name: (hp.low, hp.high) for hp in OPTIMIZERS[key].hyperparameters}

    lion, adamw = ranges("lion"), ranges("adamw")
    assert lion["lr"][1] <= adamw["lr"][1] / 3 and lion["lr"][0] <= adamw["lr"][0] / 3
    assert lion["weight_decay"][0] >= 3 * adamw["weight_decay"][0]
    assert lion["weight_decay"][1] >= 3 * adamw["weight_decay"][1]


def test_availability_is_found_without_importing_the_package() -> None:
    assert all(available(spec) for spec in OPTIMIZERS.values() if not spec.package)
    missing = replace(OPTIMIZERS["lion"], torch_class="hpsearch_no_such_package.Lion")
    assert not available(missing)


def test_an_unavailable_optimizer_is_refused_in_one_line_naming_its_package(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(optimizers, "available", lambda spec: spec.key != "lion")
    reason = ("optimizer 'lion' needs `pip install pytorch-optimizer` (a dependency of hpsearch, "
              "missing here)")
    assert unavailable_reason("lion") == reason
    assert unavailable_reason("adam") is None
    for attempt in (lambda: get_spec("lion"), lambda: parse_optimizers("adam, lion"),
                    lambda: SearchSpace(optimizers=("lion",)),
                    lambda: build_optimizer({**config_for("adam"), "optimizer": "lion"}, mlp(2, 2, ()))):
        with pytest.raises(ConfigError) as error:
            attempt()
        assert str(error.value) == reason
    assert "lion" not in parse_optimizers("all") and "lion" not in parse_optimizers("modern")
    assert parse_optimizers("all")[-1] == "schedulefree_adamw"
    assert notes(OPTIMIZERS["lion"]).endswith(
        "; unavailable: pip install pytorch-optimizer (a dependency of hpsearch, missing here)]")
    assert "unavailable" not in notes(OPTIMIZERS["muon"])
