"""The built-in GPT stacked without vmap: a batch of language-model trials, standard and µP side by
side (one width, so one shape: the engine batches them together), gives each trial what `fit_lm`
gives it alone (float64, every vectorised optimizer, weight decay on matrices, clipping, schedules);
a user's model and a GPT with hooks of its own go on through vmap."""

from __future__ import annotations

import dataclasses
from functools import partial

import optuna
import pytest
import torch

from hpsearch.space.conditional import SearchSpace, TrialConfig, suggest
from hpsearch.space.optimizers import get_spec
from hpsearch.tasks.gpt import gpt
from hpsearch.tasks.mup import build_at_width
from hpsearch.tasks.prepare import LanguageModel, prepare_task
from hpsearch.training.batched.fit import Member
from hpsearch.training.batched.lm import BatchedLMFit
from hpsearch.training.batched.stacked import StackedModel
from hpsearch.training.batched.stacked_gpt import StackedGPT, stack
from hpsearch.training.batched.vector_optimizers import VECTORISED
from hpsearch.training.lm import LMDeviceData, device_data, fit_lm

CONTEXT, WIDTH, BASE_WIDTH, POINTS, EVERY, BATCH = 16, 32, 16, 2, 3, 4
# (parametrisation, seed) of each trial: µP at twice its base width beside the standard model (an
# optimizer without µP's learning-rate rule: the standard model alone).
TRIALS = [("sp", 0), ("mup", 1), ("sp", 2), ("mup", 3)]
SCHEDULES = [{"name": "cosine", "warmup_fraction": 0.2, "floor": 0.1}, {"name": "none"}]


@pytest.fixture(scope="module")
def setting() -> tuple[LMDeviceData, object]:
    prepared = prepare_task("lm", language=LanguageModel(width=WIDTH, depth=2, context=CONTEXT))
    data = device_data(prepared.data, torch.device("cpu"), CONTEXT)
    assert isinstance(data, LMDeviceData)
    return data, prepared.task.problem


def model(data: LMDeviceData, parametrization: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    build = partial(gpt, depth=2)
    return build_at_width(build, data.vocab_size, CONTEXT, WIDTH, parametrization,
                          BASE_WIDTH).double()


def configs(key: str) -> list[TrialConfig]:
    """Draws of the optimizer's space: weight decay on matrices (never 0), clipping in every other
    trial, a warmed-up cosine schedule in every other."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=7))
    drawn = []
    for i in range(len(TRIALS)):
        config = suggest(study.ask(), SearchSpace(optimizers=(key,), weight_decay_on="matrices"),
                         POINTS)
        hyperparameters = dict(config.hyperparameters)
        if "weight_decay" in hyperparameters and not hyperparameters["weight_decay"]:
            hyperparameters["weight_decay"] = 1e-2
        drawn.append(dataclasses.replace(config, hyperparameters=hyperparameters,
                                         clip_grad_norm=0.5 if i % 2 else None,
                                         schedule=SCHEDULES[(i // 2) % 2]))
    return drawn


@pytest.mark.parametrize("key", sorted(VECTORISED))
def test_each_gpt_trial_of_a_batch_trains_as_it_trains_alone(setting: tuple[LMDeviceData, object],
                                                             key: str) -> None:
    data, problem = setting
    drawn = configs(key)
    trials = TRIALS if get_spec(key).mup_rule else [("sp", seed) for _, seed in TRIALS]
    members = [Member(c, model(data, p, s), s) for c, (p, s) in zip(drawn, trials, strict=True)]
    run = BatchedLMFit(data, members, problem, POINTS, BATCH, EVERY)  # type: ignore[arg-type]
    assert isinstance(run.stacked, StackedGPT)
    by_point = list(run)
    for trial, (config, (parametrization, seed)) in enumerate(zip(drawn, trials, strict=True)):
        alone = model(data, parametrization, seed)
        results = list(fit_lm(data, alone, config, problem, POINTS, BATCH, seed, EVERY))  # type: ignore[arg-type]
        assert len(results) == len(by_point) == POINTS
        for point, expected in enumerate(results):
            got = by_point[point][trial]
            assert got.train_loss == pytest.approx(expected.train_loss, abs=1e-9, rel=0)
            assert got.metrics == pytest.approx(expected.metrics, abs=1e-9, rel=0)
            assert got.extra["grad_norms"] == pytest.approx(expected.extra["grad_norms"], abs=1e-6)
        state = run.state_of(trial)
        for name, tensor in alone.state_dict().items():
            gap = (state[name] - tensor).abs()
            if key == "lion" and name.endswith("qkv.bias"):
                # The keys' bias moves no score (softmax ignores a shift along a row): its gradient
                # is 0 up to rounding, whose sign Lion follows; the rest must agree.
                gap[WIDTH:2 * WIDTH] = 0
            assert gap.max().item() < 1e-9, (name, parametrization)


def test_a_dropped_trial_leaves_the_others_unchanged(setting: tuple[LMDeviceData, object]) -> None:
    data, problem = setting
    drawn = configs("adamw")
    members = [Member(c, model(data, p, s), s) for c, (p, s) in zip(drawn, TRIALS, strict=True)]
    run = BatchedLMFit(data, members, problem, POINTS, BATCH, EVERY)  # type: ignore[arg-type]
    points = iter(run)
    next(points)
    run.drop([1])  # a µP trial: the rest, two standard and one µP, train on
    last = list(points)[-1]
    assert set(last) == {0, 2, 3}
    for trial in (0, 2, 3):
        parametrization, seed = TRIALS[trial]
        expected = list(fit_lm(data, model(data, parametrization, seed), drawn[trial], problem,  # type: ignore[arg-type]
                               POINTS, BATCH, seed, EVERY))[-1]
        assert last[trial].metrics == pytest.approx(expected.metrics, abs=1e-9, rel=0)


def test_other_models_go_through_vmap(setting: tuple[LMDeviceData, object]) -> None:
    data, _ = setting
    assert type(stack([model(data, "sp", 0), model(data, "mup", 1)])) is StackedGPT
    hooked = model(data, "sp", 2)
    hooked.blocks[0].register_forward_hook(lambda m, i, out: out * 2)  # type: ignore[index]
    assert type(stack([model(data, "sp", 0), hooked])) is StackedModel
    user = [torch.nn.Sequential(torch.nn.Embedding(data.vocab_size, 8),
                                torch.nn.Linear(8, data.vocab_size)) for _ in range(2)]
    assert type(stack(user)) is StackedModel
