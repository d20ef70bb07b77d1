"""A command's placeholders: filled as Python writes each value's type, never split into more
arguments, and deciding what a command's study draws."""

from __future__ import annotations

import pytest

from hpsearch.errors import ConfigError
from hpsearch.space.conditional import SearchSpace, TrialConfig
from hpsearch.training.user.definition import split_command
from hpsearch.training.user.placeholders import (
    check_placeholders,
    fill,
    placeholders,
    searched_space,
    trial_values,
)

ADAMW = TrialConfig("adamw", {"lr": 3e-4, "betas": (0.9, 0.95), "eps": 1e-8, "weight_decay": 0.0},
                    {"name": "cosine", "warmup_fraction": 0.1, "floor": 0.1}, None)


def test_values_are_written_as_python_writes_their_type() -> None:
    values = {**trial_values(ADAMW, 200), "steps": 200, "seed": 7}
    argv = fill(["--lr={lr}", "--wd={weight_decay}", "--max_iters={steps}", "--clip={clip_grad_norm}",
                 "--beta2={beta2}", "--warmup_iters={warmup_steps}", "--min_lr={min_lr}",
                 "--lr_decay_iters={decay_steps}", "--decay_lr={schedule}", "{{literal}}"], values)
    assert argv == ["--lr=0.0003", "--wd=0.0", "--max_iters=200", "--clip=0.0", "--beta2=0.95",
                    "--warmup_iters=20", f"--min_lr={0.1 * 3e-4!r}", "--lr_decay_iters=200",
                    "--decay_lr=cosine", "{literal}"]


def test_a_value_never_becomes_another_argument() -> None:
    argv = split_command("python 'my train.py' --name={optimizer} --tag=\"a b\"")
    assert fill(argv, {"optimizer": "x; rm -rf / --evil"}) == [
        "python", "my train.py", "--name=x; rm -rf / --evil", "--tag=a b"]


def test_wsd_and_step_shapes_name_their_steps() -> None:
    wsd = TrialConfig("sgd", {"lr": 0.1, "weight_decay": 0.0},
                      {"name": "wsd", "warmup_fraction": 0.05, "decay_fraction": 0.2,
                       "shape": "1-sqrt", "floor": 0.0}, 1.5)
    values = trial_values(wsd, 1000)
    assert (values["warmup_steps"], values["decay_start_step"], values["decay_shape"],
            values["clip_grad_norm"]) == (50, 800, "1-sqrt", 1.5)
    step = TrialConfig("sgd", {"lr": 0.1}, {"name": "step", "warmup_fraction": 0.0,
                                            "every_fraction": 0.25, "gamma": 0.5}, None)
    assert (trial_values(step, 400)["step_every_steps"], trial_values(step, 400)["step_gamma"]) == (
        100, 0.5)


def test_what_no_placeholder_expresses_is_not_drawn() -> None:
    space = SearchSpace(optimizers=("adamw",))
    used = {p.name for p in placeholders(["--lr={lr}", "--beta2={beta2}"])}
    searched = searched_space(space, used, schedules_given=False, reads_config=False)
    assert set(searched.fixed) == {"adamw_one_minus_beta1", "adamw_eps", "adamw_weight_decay"}
    assert searched.schedules == ("none",) and not searched.clip
    assert searched_space(space, used, False, reads_config=True) == space


def test_the_schedule_a_command_can_receive() -> None:
    space = SearchSpace(optimizers=("adamw",), schedules=("cosine",))
    nanogpt = {"lr", "warmup_steps", "min_lr"}
    assert searched_space(space, nanogpt, True, False).schedules == ("cosine",)
    with pytest.raises(ConfigError, match="name the one shape it applies with --schedules"):
        searched_space(SearchSpace(optimizers=("adamw",)), nanogpt, False, False)
    with pytest.raises(ConfigError, match="--schedules lists 'wsd', but the command has no"):
        searched_space(SearchSpace(optimizers=("adamw",), schedules=("none", "wsd")),
                       nanogpt | {"schedule"}, True, False)
    every = searched_space(SearchSpace(optimizers=("adamw",)), nanogpt | {"schedule"}, False, False)
    assert every.schedules == ("none", "constant", "cosine", "linear")


def test_several_optimizers_need_the_optimizer_placeholder() -> None:
    with pytest.raises(ConfigError, match=r"no \{optimizer\} placeholder"):
        searched_space(SearchSpace(optimizers=("adamw", "sgd")), {"lr"}, False, False)


def test_placeholders_are_checked_against_every_trial_of_the_space() -> None:
    space = SearchSpace(optimizers=("adamw", "momentum"), schedules=("none",))
    with pytest.raises(ConfigError, match=r"\{momentum\} has no value for optimizer 'adamw'"):
        check_placeholders(["{optimizer}", "--m={momentum}"], space, 100)
    check_placeholders(["{optimizer}", "--m={momentum:0.0}"], space, 100)
    with pytest.raises(ConfigError, match=r"unknown placeholder \{lerning_rate\}"):
        check_placeholders(["--lr={lerning_rate}"], space, 100)
    with pytest.raises(ConfigError, match=r"\{width\} is filled by `hpsearch scale` only"):
        check_placeholders(["--w={width}"], space, 100)
    with pytest.raises(ConfigError, match=r"unknown placeholder \{steps\}"):
        check_placeholders(["--n={steps}"], space, None)  # a budget in epochs has no steps
