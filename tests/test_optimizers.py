from __future__ import annotations

import optuna
import pytest
import torch

from hpsearch.errors import ConfigError
from hpsearch.optimizers import (
    OPTIMIZERS,
    build_optimizer,
    get_spec,
    implementation_for,
    parse_optimizers,
)
from hpsearch.space import SearchSpace, suggest
from hpsearch.tasks.base import CLASSIFICATION, mlp
from hpsearch.train import fit
from tests.conftest import on_cpu, tiny_classification

CLASSIC_TEN = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw",
               "nadam", "lbfgs"]

# A sensible setting of each optimizer, as Optuna parameters, to check that it trains at all.
GOOD_SETTINGS = {
    "sgd": {"sgd_lr": 0.1, "sgd_weight_decay_on": False},
    "momentum": {"momentum_lr": 0.05, "momentum_one_minus_momentum": 0.1,
                 "momentum_weight_decay_on": False},
    "nesterov": {"nesterov_lr": 0.05, "nesterov_one_minus_momentum": 0.1,
                 "nesterov_weight_decay_on": True, "nesterov_weight_decay": 1e-4},
    "adagrad": {"adagrad_lr": 0.05, "adagrad_weight_decay_on": False},
    "rmsprop": {"rmsprop_lr": 1e-3, "rmsprop_alpha": 0.99, "rmsprop_momentum": 0.0,
                "rmsprop_weight_decay_on": False},
    "adadelta": {"adadelta_lr": 1.0, "adadelta_rho": 0.9, "adadelta_weight_decay_on": False},
    "adam": {"adam_lr": 3e-3, "adam_one_minus_beta1": 0.1, "adam_beta2": 0.999,
             "adam_eps": 1e-8, "adam_weight_decay_on": False},
    "adamw": {"adamw_lr": 3e-3, "adamw_one_minus_beta1": 0.1, "adamw_beta2": 0.999,
              "adamw_eps": 1e-8, "adamw_weight_decay_on": True, "adamw_weight_decay": 0.01},
    "nadam": {"nadam_lr": 3e-3, "nadam_one_minus_beta1": 0.1, "nadam_beta2": 0.999,
              "nadam_eps": 1e-8, "nadam_weight_decay_on": False},
    "lbfgs": {"lbfgs_lr": 1.0, "lbfgs_history_size": 10, "lbfgs_line_search_fn": "strong_wolfe"},
}


def config_for(key: str, epochs: int = 6) -> dict:
    params = {"optimizer": key, **GOOD_SETTINGS[key], "schedule": "none", "clip_grad": False}
    config = suggest(optuna.trial.FixedTrial(params), SearchSpace(), epochs).to_dict()
    config["implementation"] = implementation_for(key, "cpu")
    return config


def test_registry_holds_the_classic_ten_with_namespaced_unique_parameters() -> None:
    assert list(OPTIMIZERS) == CLASSIC_TEN
    names = [spec.param_name(hp) for spec in OPTIMIZERS.values() for hp in spec.hyperparameters]
    assert len(names) == len(set(names))
    for spec in OPTIMIZERS.values():
        assert all(spec.param_name(hp).startswith(spec.key + "_") for hp in spec.hyperparameters)


@pytest.mark.parametrize("key", CLASSIC_TEN)
def test_every_optimizer_trains_a_tiny_model_and_lowers_its_loss(key: str) -> None:
    data = on_cpu(tiny_classification())
    torch.manual_seed(0)
    model = mlp(8, 3, (32,))
    results = list(fit(data, model, config_for(key), CLASSIFICATION, epochs=6, batch_size=32,
                       seed=0))
    assert all(r.diverged is None for r in results)
    assert results[-1].train_loss < 0.8 * results[0].train_loss
    assert results[-1].val_metric > 0.5  # three classes: chance is 1/3


def test_lbfgs_steps_through_its_closure_full_batch_and_has_no_weight_decay() -> None:
    spec = get_spec("lbfgs")
    assert spec.needs_closure
    assert not any("weight_decay" in hp.name for hp in spec.hyperparameters)
    config = config_for("lbfgs", epochs=3)
    assert "weight_decay" not in config["hyperparameters"]
    data = on_cpu(tiny_classification())
    results = list(fit(data, mlp(8, 3, (16,)), config, CLASSIFICATION, epochs=3, batch_size=8,
                       seed=0))
    # One full-batch step per epoch, each evaluating the closure many times (line search).
    assert results[-1].closure_evaluations > 3 * 2
    optimizer = build_optimizer(config, mlp(8, 3, (16,)))
    assert isinstance(optimizer, torch.optim.LBFGS)
    assert "weight_decay" not in optimizer.defaults


def test_build_optimizer_passes_torch_arguments() -> None:
    model = mlp(4, 2, (8,))
    momentum = build_optimizer(config_for("nesterov"), model)
    assert type(momentum) is torch.optim.SGD
    group = momentum.param_groups[0]
    assert group["momentum"] == pytest.approx(0.9)
    assert group["nesterov"] is True
    assert group["weight_decay"] == pytest.approx(1e-4)
    assert group["fused"] is True

    adam = build_optimizer(config_for("adam"), model)
    assert type(adam) is torch.optim.Adam
    assert adam.param_groups[0]["betas"] == pytest.approx((0.9, 0.999))
    assert adam.param_groups[0]["weight_decay"] == 0.0

    adamw = build_optimizer(config_for("adamw"), model)
    assert type(adamw) is torch.optim.AdamW
    assert adamw.param_groups[0]["weight_decay"] == pytest.approx(0.01)


def test_unknown_optimizer_names_the_value_and_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"unknown optimizer 'adamx'; valid choices: sgd, .*lbfgs"):
        parse_optimizers("adam,adamx")
    assert parse_optimizers(" lbfgs, adam ") == ("adam", "lbfgs")  # registry order


def test_fused_implementation_only_where_torch_has_it() -> None:
    assert implementation_for("adam", "cpu") == {"fused": True}
    assert implementation_for("nadam", "cpu") == {}
    assert implementation_for("nadam", "cuda") == {"foreach": True}
    assert implementation_for("lbfgs", "cuda") == {}
