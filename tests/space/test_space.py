from __future__ import annotations

import optuna
import pytest

from hpsearch.errors import ConfigError
from hpsearch.space.conditional import SearchSpace, default_params, suggest
from hpsearch.space.optimizers import CLASSIC, OPTIMIZERS, parse_optimizers

GENERIC = {"optimizer", "schedule", "clip_grad", "clip_grad_max_norm"}


def fixed(params: dict, space: SearchSpace | None = None, epochs: int = 20) -> dict:
    base = {"schedule": "none", "clip_grad": False}
    return suggest(optuna.trial.FixedTrial({**base, **params}), space or SearchSpace(),
                   epochs).to_dict()


def test_momentum_is_sampled_as_one_minus_and_exported_in_torch_terms() -> None:
    config = fixed({"optimizer": "momentum", "momentum_lr": 0.1,
                    "momentum_one_minus_momentum": 0.05, "momentum_weight_decay_on": True,
                    "momentum_weight_decay": 1e-4})
    assert config == {
        "optimizer": "momentum", "torch_class": "torch.optim.SGD",
        "hyperparameters": {"lr": 0.1, "momentum": pytest.approx(0.95), "weight_decay": 1e-4},
        "schedule": {"name": "none"}, "clip_grad_norm": None,
    }


def test_nesterov_fixes_the_flag() -> None:
    config = fixed({"optimizer": "nesterov", "nesterov_lr": 0.1,
                    "nesterov_one_minus_momentum": 0.1, "nesterov_weight_decay_on": False})
    assert config["hyperparameters"] == {"lr": 0.1, "momentum": pytest.approx(0.9),
                                         "weight_decay": 0.0, "nesterov": True}


@pytest.mark.parametrize("key", ["adam", "adamw", "nadam"])
def test_adam_family_exports_betas(key: str) -> None:
    config = fixed({"optimizer": key, f"{key}_lr": 1e-3, f"{key}_one_minus_beta1": 0.1,
                    f"{key}_beta2": 0.99, f"{key}_eps": 1e-8, f"{key}_weight_decay_on": False})
    assert config["hyperparameters"] == {"lr": 1e-3, "betas": [pytest.approx(0.9), 0.99],
                                         "eps": 1e-8, "weight_decay": 0.0}


def test_lbfgs_line_search_none_is_torch_none() -> None:
    config = fixed({"optimizer": "lbfgs", "lbfgs_lr": 0.5, "lbfgs_history_size": 7,
                    "lbfgs_line_search_fn": "none"})
    assert config["hyperparameters"] == {"lr": 0.5, "history_size": 7, "line_search_fn": None}


def test_schedules_and_clipping_become_torch_arguments() -> None:
    base = {"optimizer": "sgd", "sgd_lr": 0.1, "sgd_weight_decay_on": False}
    step = fixed({**base, "schedule": "step", "schedule_step_warmup_fraction": 0.0,
                  "schedule_step_fraction": 0.25, "schedule_step_gamma": 0.5, "clip_grad": True,
                  "clip_grad_max_norm": 2.0})
    assert step["schedule"] == {"name": "step", "warmup_fraction": 0.0, "every_fraction": 0.25,
                                "gamma": 0.5}
    assert step["clip_grad_norm"] == 2.0
    # Fractions of the run, whatever its length: nothing is counted in epochs.
    wsd = fixed({**base, "schedule": "wsd", "schedule_wsd_warmup_fraction": 0.05,
                 "schedule_wsd_decay_fraction": 0.2, "schedule_wsd_shape": "1-sqrt",
                 "schedule_wsd_floor": 0.1})
    assert wsd["schedule"] == {"name": "wsd", "warmup_fraction": 0.05, "decay_fraction": 0.2,
                               "shape": "1-sqrt", "floor": 0.1}


@pytest.mark.parametrize("group", ["classic", "all"])
def test_random_trials_only_ever_draw_the_chosen_optimizers_parameters(group: str) -> None:
    space = SearchSpace() if group == "classic" else SearchSpace(optimizers=parse_optimizers("all"))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(300 if group == "classic" else 450):
        trial = study.ask()
        config = suggest(trial, space, 10)
        key = config.optimizer
        seen.add(key)
        own = {name for name in trial.params if name not in GENERIC
               and not name.startswith("schedule_")}
        assert own and all(name.startswith(key + "_") for name in own), trial.params
        if OPTIMIZERS[key].schedule_free:  # schedule-free: no schedule drawn, a constant base rate
            assert not any(name == "schedule" or name.startswith("schedule_") for name in trial.params)
            assert config.schedule == {"name": "none"}
        else:
            assert "schedule" in trial.params
        study.tell(trial, 0.0)
    assert seen == set(space.optimizers)
    assert seen == set(CLASSIC if group == "classic" else parse_optimizers("all"))


@pytest.mark.parametrize("key", list(OPTIMIZERS))
def test_default_params_are_a_valid_trial_of_every_entry(key: str) -> None:
    space = SearchSpace(optimizers=(key,))
    params = default_params(key, space)
    config = suggest(optuna.trial.FixedTrial(params), space, 10)
    assert config.optimizer == key and config.schedule == {"name": "none"}
    assert ("schedule" in params) is not OPTIMIZERS[key].schedule_free


def test_a_schedule_free_optimizer_needs_no_constant_schedule_in_the_space() -> None:
    space = SearchSpace(optimizers=("schedulefree_adamw", "adam"), schedules=("cosine",))
    assert "schedule" not in default_params("schedulefree_adamw", space)
    with pytest.raises(ConfigError, match="torch's defaults need the schedule 'none'"):
        default_params("adam", space)


def test_ranges_and_restrictions_are_respected() -> None:
    space = SearchSpace(optimizers=("adam",), ranges={"adam_lr": (1e-3, 2e-3)},
                        schedules=("cosine",), clip=False)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(50):
        trial = study.ask()
        config = suggest(trial, space, 10)
        assert config.optimizer == "adam"
        assert 1e-3 <= config.hyperparameters["lr"] <= 2e-3
        assert config.schedule["name"] == "cosine"
        assert config.clip_grad_norm is None and "clip_grad" not in trial.params
        study.tell(trial, 0.0)


def test_bad_ranges_name_the_value_and_the_choices() -> None:
    with pytest.raises(ConfigError, match="unknown range 'adam_learning_rate'.*adam_lr"):
        SearchSpace(optimizers=("adam",), ranges={"adam_learning_rate": (1e-3, 1e-2)})
    with pytest.raises(ConfigError, match="'lbfgs_line_search_fn'; valid choices: adadelta_lr"):
        SearchSpace(ranges={"lbfgs_line_search_fn": (0, 1)})
    with pytest.raises(ConfigError, match=r"range \[0.1, 0.01\] for 'lr' is invalid"):
        SearchSpace(ranges={"adam_lr": (0.1, 0.01)})
    with pytest.raises(ConfigError, match="unknown schedule 'triangle'; valid choices: none"):
        SearchSpace(schedules=("triangle",))


def test_fingerprint_changes_with_the_space_only() -> None:
    assert SearchSpace().fingerprint() == SearchSpace().fingerprint()
    assert SearchSpace(optimizers=("adam",)).fingerprint() != SearchSpace().fingerprint()
    assert SearchSpace(ranges={"sgd_lr": (1e-3, 1.0)}).fingerprint() != SearchSpace().fingerprint()
    assert SearchSpace(clip=False).fingerprint() != SearchSpace().fingerprint()
    # A range for an optimizer left out of the space does not change it.
    assert SearchSpace(optimizers=("sgd",), ranges={"adam_lr": (1e-4, 1e-3)}).fingerprint() == \
        SearchSpace(optimizers=("sgd",)).fingerprint()
