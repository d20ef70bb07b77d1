"""Batched equals alone: a batch of trials trained as one stacked model gives each trial the numbers
it gets trained alone by `train.fit` (float64, every vectorised optimizer, with schedules, clipping
and weight decay on), BatchNorm's running statistics included; a trial that diverges or is dropped
leaves the others unchanged; one forward call serves the whole batch; what cannot be batched says why
in one line."""

from __future__ import annotations

import dataclasses

import optuna
import pytest
import torch

from hpsearch.space.conditional import SearchSpace, TrialConfig, suggest
from hpsearch.tasks import get_task
from hpsearch.training.batched.fit import BatchedFit, Member
from hpsearch.training.batched.stacked import NotBatchable
from hpsearch.training.batched.vector_optimizers import VECTORISED
from hpsearch.training.tables import DeviceData, PointResult, fit

TASK = get_task("small")
EPOCHS, TRIALS = 3, 8


@pytest.fixture(scope="module")
def data() -> DeviceData:
    raw = DeviceData.from_task_data(TASK.load(), torch.device("cpu"))
    return dataclasses.replace(raw, x_train=raw.x_train.double(), x_val=raw.x_val.double())


def configs(key: str, seed: int = 1) -> list[TrialConfig]:
    """Eight draws of the optimizer's space (schedules included), weight decay on in every one and
    clipping in every other."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    drawn = []
    for i in range(TRIALS):
        config = suggest(study.ask(), SearchSpace(optimizers=(key,)), EPOCHS)
        hyperparameters = dict(config.hyperparameters)
        if "weight_decay" in hyperparameters and not hyperparameters["weight_decay"]:
            hyperparameters["weight_decay"] = 1e-3
        drawn.append(dataclasses.replace(config, hyperparameters=hyperparameters,
                                         clip_grad_norm=0.5 if i % 2 else None))
    return drawn


def model(data: DeviceData, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return TASK.build_model(*data.model_shape()).double()


def alone(data: DeviceData, config: TrialConfig, seed: int) -> tuple[list[PointResult], torch.Tensor]:
    trained = model(data, seed)
    results = list(fit(data, trained, config, TASK.problem, EPOCHS, TASK.batch_size, seed))
    return results, torch.cat([p.detach().flatten() for p in trained.parameters()])


def batched(data: DeviceData, drawn: list[TrialConfig], seeds: list[int]) -> BatchedFit:
    return BatchedFit(data, [Member(c, model(data, s), s) for c, s in zip(drawn, seeds, strict=True)],
                      TASK.problem, EPOCHS, TASK.batch_size)


def flat(run: BatchedFit, trial: int) -> torch.Tensor:
    return torch.cat([t.flatten() for t in run.state_of(trial).values()])


@pytest.mark.parametrize("key", sorted(VECTORISED))
def test_each_trial_of_a_batch_trains_as_it_trains_alone(data: DeviceData, key: str) -> None:
    drawn, seeds = configs(key), [100 + i for i in range(TRIALS)]
    assert len({c.schedule["name"] for c in drawn}) > 2  # schedules of several shapes
    run = batched(data, drawn, seeds)
    by_epoch = list(run)
    assert len(by_epoch) == EPOCHS
    for trial, (config, seed) in enumerate(zip(drawn, seeds, strict=True)):
        results, params = alone(data, config, seed)
        for epoch, expected in enumerate(results):
            got = by_epoch[epoch][trial]
            assert got.train_loss == pytest.approx(expected.train_loss, abs=1e-9, rel=0)
            assert got.metrics == pytest.approx(expected.metrics, abs=1e-9, rel=0)
            assert got.extra["grad_norms"] == pytest.approx(expected.extra["grad_norms"], abs=1e-5)
            assert got.diverged is None and got.total_steps == expected.total_steps
        assert (flat(run, trial) - params).abs().max().item() < 1e-9


def test_a_diverging_or_dropped_trial_leaves_the_others_unchanged(data: DeviceData) -> None:
    drawn, seeds = configs("momentum", seed=3), [200 + i for i in range(TRIALS)]
    hyperparameters = {**drawn[2].hyperparameters, "lr": 1e6}  # blows up at once
    drawn[2] = dataclasses.replace(drawn[2], hyperparameters=hyperparameters, clip_grad_norm=None)
    run = batched(data, drawn, seeds)
    epochs = iter(run)
    first = next(epochs)
    assert first[2].diverged and set(first) == set(range(TRIALS))
    run.drop([5])  # as a pruner stops a trial
    rest = list(epochs)
    assert all(set(results) == set(range(TRIALS)) - {2, 5} for results in rest)
    assert all(len(t) == TRIALS - 2 for t in run.stacked.tensors())  # compacted
    for trial in (0, 1, 3, 4, 6, 7):
        results, params = alone(data, drawn[trial], seeds[trial])
        assert rest[-1][trial].metrics == pytest.approx(results[-1].metrics, abs=1e-9, rel=0)
        assert (flat(run, trial) - params).abs().max().item() < 1e-9
    diverged = alone(data, drawn[2], seeds[2])[0]
    assert len(diverged) == 1 and diverged[0].diverged == first[2].diverged  # the same reason


def test_trials_of_different_optimizers_share_a_batch_each_trained_as_alone(data: DeviceData) -> None:
    # Interleaved, so that the stack's order (each optimizer's trials side by side) is not theirs.
    keys = ["adam", "sgd", "muon", "adagrad", "adam", "rmsprop", "nesterov", "sgd"]
    drawn = [configs(key, seed=5)[i] for i, key in enumerate(keys)]
    seeds = [300 + i for i in range(TRIALS)]
    run = batched(data, drawn, seeds)
    epochs = iter(run)
    first = next(epochs)
    assert set(first) == set(range(TRIALS))
    run.drop([2, 4])  # Muon's only trial, and one of Adam's two
    rest = list(epochs)
    assert all(set(results) == set(range(TRIALS)) - {2, 4} for results in rest)
    for trial in (0, 1, 3, 5, 6, 7):
        results, params = alone(data, drawn[trial], seeds[trial])
        assert first[trial].train_loss == pytest.approx(results[0].train_loss, abs=1e-9, rel=0)
        assert rest[-1][trial].metrics == pytest.approx(results[-1].metrics, abs=1e-9, rel=0)
        assert (flat(run, trial) - params).abs().max().item() < 1e-9
    for trial in (2, 4):
        assert first[trial].metrics == pytest.approx(alone(data, drawn[trial], seeds[trial])[0][0]
                                                     .metrics, abs=1e-9, rel=0)


def test_one_forward_call_serves_the_whole_batch(data: DeviceData) -> None:
    run = batched(data, configs("adam"), list(range(TRIALS)))
    calls: list[int] = []
    run.stacked.base.register_forward_hook(lambda module, args, out: calls.append(1))
    assert all(t.shape[0] == TRIALS for t in run.stacked.tensors())
    results = next(iter(run))
    steps = results[0].extra["steps"]
    assert len(calls) == steps + 1  # each step's forward, and one evaluation of the validation rows


def test_what_cannot_be_batched_says_why_in_one_line(data: DeviceData) -> None:
    with pytest.raises(NotBatchable, match="^lbfgs has no vectorised update$"):
        batched(data, configs("lbfgs"), list(range(TRIALS)))
    with pytest.raises(NotBatchable, match="^lbfgs has no vectorised update$"):
        batched(data, configs("adam")[:4] + configs("lbfgs")[:4], list(range(TRIALS)))

    class Gate(torch.nn.Module):  # Python control flow on a tensor's value: vmap cannot trace it
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x if float(x.sum()) > 0 else -x

    def gated(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(data.model_shape()[0], 2), Gate()).double()

    members = [Member(c, gated(i), i) for i, c in enumerate(configs("adam")[:2])]
    with pytest.raises(NotBatchable, match="cannot be traced by torch.func.vmap") as error:
        BatchedFit(data, members, TASK.problem, EPOCHS, TASK.batch_size)
    assert "\n" not in str(error.value)


def test_batchnorm_s_running_statistics_are_each_trial_s_own(data: DeviceData) -> None:
    def normed(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(data.model_shape()[0], 8), torch.nn.BatchNorm1d(8),
                                   torch.nn.ReLU(), torch.nn.Linear(8, 2)).double()

    drawn = configs("adam")[:3]
    run = BatchedFit(data, [Member(c, normed(i), i) for i, c in enumerate(drawn)], TASK.problem,
                     EPOCHS, TASK.batch_size)
    last = list(run)[-1]
    for trial, config in enumerate(drawn):
        trained = normed(trial)
        expected = list(fit(data, trained, config, TASK.problem, EPOCHS, TASK.batch_size, trial))[-1]
        assert last[trial].metrics == pytest.approx(expected.metrics, abs=1e-9, rel=0)
        state = run.state_of(trial)
        for name, tensor in trained.state_dict().items():
            assert (state[name].double() - tensor.double()).abs().max().item() < 1e-9, name


@pytest.mark.parametrize("keys", [("adamw",), ("muon",), ("lion",), ("muon", "adamw", "lion")])
def test_a_language_model_batch_trains_as_each_trial_alone(keys: tuple[str, ...]) -> None:
    from hpsearch.tasks.gpt import gpt
    from hpsearch.tasks.prepare import LanguageModel, prepare_task
    from hpsearch.training.batched.lm import BatchedLMFit
    from hpsearch.training.lm import device_data, fit_lm

    prepared = prepare_task("lm", language=LanguageModel(width=16, depth=1, context=16))
    corpus = device_data(prepared.data, torch.device("cpu"), 16)
    studies = {key: optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1)) for key in keys}
    drawn = []
    for i in range(4):
        key = keys[i % len(keys)]
        config = suggest(studies[key].ask(), SearchSpace(optimizers=(key,), weight_decay_on="matrices"), 2)
        drawn.append(dataclasses.replace(config, clip_grad_norm=1.0 if i % 2 else None))

    def gpt_at(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return gpt(corpus.vocab_size, 16, 16, 1).double()

    run = BatchedLMFit(corpus, [Member(c, gpt_at(i), i) for i, c in enumerate(drawn)],
                       prepared.task.problem, 2, 8, 5)
    by_point = list(run)
    for trial, config in enumerate(drawn):
        alone = list(fit_lm(corpus, gpt_at(trial), config, prepared.task.problem, 2, 8, trial, 5))
        for point, expected in enumerate(alone):
            assert by_point[point][trial].metrics == pytest.approx(expected.metrics, abs=1e-9, rel=0)
            # the loss is float32 by design (logits.float()): vmap sums it in another order
            assert by_point[point][trial].train_loss == pytest.approx(expected.train_loss, rel=1e-6)


def test_auto_measures_the_study_s_own_optimizers() -> None:
    from hpsearch.tasks.prepare import prepare_task
    from hpsearch.training.batched.auto import choose_for, probe_configs

    assert [c.optimizer for c in probe_configs(["lbfgs", "adam", "sgd", "muon"])] == ["adam", "sgd",
                                                                                      "muon"]
    chosen, line = choose_for(prepare_task("small"), torch.device("cpu"), 0, TASK.batch_size,
                              optimizers=("lbfgs",))
    assert (chosen, line) == (1, "batch trials: one at a time (no optimizer of the study has a "
                                 "vectorised update)")
