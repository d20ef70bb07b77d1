from __future__ import annotations

import optuna
import pytest
import tomllib
import torch
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from hpsearch.errors import ConfigError
from hpsearch.space.conditional import SearchSpace, default_params, suggest
from hpsearch.space.optimizers import (
    CLASSIC,
    MODERN,
    OPTIMIZERS,
    build_optimizer,
    get_spec,
    implementation_for,
    parse_optimizers,
    torch_class,
    unavailable_reason,
)
from hpsearch.tasks.base import CLASSIFICATION, mlp
from hpsearch.training.tables import fit
from tests.conftest import REPO, on_cpu, tiny_classification

CLASSIC_TEN = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw",
               "nadam", "lbfgs"]
MODERN_FIVE = ["radam", "adafactor", "muon", "schedulefree_adamw", "lion"]
EVERY = CLASSIC_TEN + MODERN_FIVE
# Where the trial "at torch's defaults" knowingly differs from the class's own defaults.
NOT_TORCH_DEFAULT = {"momentum": {"momentum"}, "nesterov": {"momentum", "nesterov"},
                     "muon": {"adjust_lr_fn"}}  # "original" is what torch's None means

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
    "radam": {"radam_lr": 3e-2, "radam_one_minus_beta1": 0.1, "radam_beta2": 0.99,
              "radam_eps": 1e-8, "radam_weight_decay_on": False},
    "adafactor": {"adafactor_lr": 0.05, "adafactor_beta2_decay": -0.8,
                  "adafactor_weight_decay_on": False},
    "muon": {"muon_lr": 0.02, "muon_adamw_lr": 3e-3, "muon_one_minus_momentum": 0.05,
             "muon_weight_decay_on": False},
    "schedulefree_adamw": {"schedulefree_adamw_lr": 1e-2, "schedulefree_adamw_one_minus_beta1": 0.1,
                           "schedulefree_adamw_beta2": 0.999,
                           "schedulefree_adamw_weight_decay_on": False,
                           "schedulefree_adamw_warmup_steps_on": True,
                           "schedulefree_adamw_warmup_steps": 10},
    "lion": {"lion_lr": 3e-3, "lion_one_minus_beta1": 0.1, "lion_beta2": 0.99,
             "lion_weight_decay_on": True, "lion_weight_decay": 0.1},
}


def config_for(key: str, epochs: int = 6, schedule: str = "none") -> dict:
    params = {"optimizer": key, **GOOD_SETTINGS[key], "schedule": schedule, "clip_grad": False}
    space = SearchSpace(optimizers=(key,))
    config = suggest(optuna.trial.FixedTrial(params), space, epochs).to_dict()
    config["implementation"] = implementation_for(key, "cpu")
    return config


def test_registry_holds_the_classic_ten_then_the_modern_five_with_namespaced_unique_parameters() -> None:
    assert list(OPTIMIZERS) == EVERY
    assert list(CLASSIC) == CLASSIC_TEN and list(MODERN) == MODERN_FIVE
    assert SearchSpace().optimizers == tuple(CLASSIC_TEN)  # the default choice stays the classic ten
    names = [spec.param_name(hp) for spec in OPTIMIZERS.values() for hp in spec.hyperparameters]
    assert len(names) == len(set(names))
    for spec in OPTIMIZERS.values():
        assert all(spec.param_name(hp).startswith(spec.key + "_") for hp in spec.hyperparameters)


def test_every_package_an_optimizer_needs_is_a_dependency_of_a_plain_install() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = {canonicalize_name(Requirement(line).name) for line in project["dependencies"]}
    packages = {canonicalize_name(spec.package) for spec in OPTIMIZERS.values() if spec.package}
    assert packages == {"schedulefree", "pytorch-optimizer"} and packages <= core
    assert [key for key in OPTIMIZERS if unavailable_reason(key)] == []  # installed: none skipped


@pytest.mark.parametrize("key", EVERY)
def test_torch_defaults_name_every_hyperparameter_inside_its_range(key: str) -> None:
    spec = OPTIMIZERS[key]
    assert set(spec.defaults) == {hp.name for hp in spec.hyperparameters}
    for hp in spec.hyperparameters:
        value = spec.defaults[hp.name]
        if value is None:
            assert hp.optional, hp.name
        elif hp.choices:
            assert value in hp.choices
        else:
            assert hp.low <= value <= hp.high, hp.name


@pytest.mark.parametrize("key", EVERY)
def test_the_trial_at_torch_defaults_builds_the_classes_own_defaults(key: str) -> None:
    space = SearchSpace(optimizers=(key,))
    config = suggest(optuna.trial.FixedTrial(default_params(key, space)), space, 10).to_dict()
    model = mlp(4, 2, (8, 8))
    built = build_optimizer(config, model)
    inner = getattr(built, "optimizers", (built,))[0]  # Muon: its Muon part
    plain = torch_class(OPTIMIZERS[key])([p for p in model.parameters() if p.ndim == 2][:1])
    skip = NOT_TORCH_DEFAULT.get(key, set())
    for name in set(config["hyperparameters"]) - skip - {"adamw_lr"}:
        assert inner.param_groups[0][name] == pytest.approx(plain.defaults[name]), name


@pytest.mark.parametrize("key", EVERY)
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
    assert results[-1].closure_evaluations >= results[-1].updates > 3  # inner iterations, not steps
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
    with pytest.raises(ConfigError,
                       match=r"unknown optimizer 'adamx'; valid choices: all, classic, modern, sgd, .*lion"):
        parse_optimizers("adam,adamx")
    assert parse_optimizers(" lbfgs, adam ") == ("adam", "lbfgs")  # registry order
    assert parse_optimizers("muon, radam") == ("radam", "muon")


def test_groups_expand_to_their_entries_in_registry_order() -> None:
    available = tuple(key for key in EVERY if unavailable_reason(key) is None)
    assert parse_optimizers("all") == available
    assert parse_optimizers("classic") == tuple(CLASSIC_TEN)
    assert parse_optimizers("modern") == tuple(k for k in MODERN_FIVE if k in available)
    assert parse_optimizers("lbfgs, modern, sgd") == ("sgd", "lbfgs", *parse_optimizers("modern"))


def test_fused_implementation_only_where_torch_has_it() -> None:
    assert implementation_for("adam", "cpu") == {"fused": True}
    assert implementation_for("nadam", "cpu") == {}
    assert implementation_for("nadam", "cuda") == {"foreach": True}
    assert implementation_for("lbfgs", "cuda") == {}
    assert implementation_for("radam", "cuda") == {"foreach": True}
    assert implementation_for("muon", "cuda") == {}  # torch's Muon takes neither
    assert implementation_for("muon", "cpu") == {}


@pytest.mark.parametrize("device_type", ["cpu", "cuda"])
@pytest.mark.parametrize("key", EVERY)
def test_every_recorded_implementation_is_accepted_by_the_class(key: str, device_type: str) -> None:
    config = config_for(key)
    config["implementation"] = implementation_for(key, device_type)
    optimizer = build_optimizer(config, mlp(4, 2, (8,)))  # the constructor checks its arguments
    for name, value in config["implementation"].items():
        assert optimizer.param_groups[0][name] is value
