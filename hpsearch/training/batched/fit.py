"""The training loop of a batch of trials trained as one stacked model, each as `train.fit` trains
it alone: its own initialisation (its model is built under its seed by the caller), its own data
order (a generator seeded with its seed), schedule, gradient clipping (the norm of its own
gradients) and results. One forward and one backward call per step serve the whole batch.

Iterating yields, at each evaluation point, one `PointResult` per trial still in the batch. A trial
that diverges leaves the batch after its result; `drop` takes out trials the caller stops (pruned
ones): the stacked tensors and the optimizer's state are compacted, and the others train on
unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpsearch.space.conditional import TrialConfig
from hpsearch.space.muon import split_for_muon
from hpsearch.space.optimizers import build, get_spec
from hpsearch.space.param_groups import embedding_ids, is_decayed, width_scaled_ids
from hpsearch.space.schedules import is_fractional, lr_factor
from hpsearch.training.batched.mixed import Kind
from hpsearch.training.batched.roled import RoledOptimizer
from hpsearch.training.batched.stacked import NotBatchable
from hpsearch.training.batched.stacked_gpt import stack
from hpsearch.training.batched.vector_optimizers import VECTORISED, ParamRole, gradient
from hpsearch.training.tables import (
    EVAL_CHUNK,
    PointResult,
    divergence,
    shuffled_batches,
    speeds,
    steps_due,
)

if TYPE_CHECKING:
    import torch

    from hpsearch.tasks import Problem


@dataclass(frozen=True)
class Member:
    """One trial of a batch: its configuration, its model (built under its seed) and its seed."""

    config: TrialConfig
    model: torch.nn.Module
    seed: int


def param_roles(model: torch.nn.Module, key: str, decay: str) -> list[ParamRole]:
    """Each parameter's treatment as `optimizers.build` groups it: weight decay, µP's hidden rate
    (the generic builder's rule), and Muon's share."""
    params = [p for p in model.parameters()]
    spec = get_spec(key)
    embeddings = embedding_ids(model)
    muon = {id(p) for p in split_for_muon(model)[0]} if key == "muon" else set()
    multiplier = getattr(model, "hpsearch_width_multiplier", None)
    hidden = width_scaled_ids(model) if multiplier is not None and spec.build is None else set()
    return [ParamRole(decayed=decay == "all" or is_decayed(p, embeddings),
                      lr_divisor=float(multiplier or 1.0) if id(p) in hidden else 1.0, muon=id(p) in muon)
            for p in params]


def kind(config: TrialConfig) -> Kind:
    return config.optimizer, config.decay


def multiplier(model: torch.nn.Module) -> float:
    """µP's width multiplier of the model (1: the standard parametrisation)."""
    return float(getattr(model, "hpsearch_width_multiplier", None) or 1.0)


def why_not_batched(configs: Sequence[TrialConfig]) -> str | None:
    """Why these configurations cannot share a batch (None: they can). Trials of different
    vectorised optimizers can: each optimizer updates its own trials (`batched.mixed`)."""
    for config in configs:
        if config.optimizer not in VECTORISED:
            return f"{config.optimizer} has no vectorised update"
    if not all(is_fractional(c.schedule) for c in configs):
        return "an epoch-wise schedule (stored before schedules were fractions)"
    return None


class BatchedFit:
    """`for results in BatchedFit(...)`: {trial index: its PointResult} at each evaluation point.

    A table's loop; `batched.lm.BatchedLMFit` overrides the hooks below for a language model: the
    steps due by each point, each trial's stream of batches, the loss, and the metrics."""

    def __init__(self, data: Any, members: Sequence[Member], problem: Problem, epochs: int,
                 batch_size: int, eval_every: int | None = None) -> None:
        import torch

        # The stack holds each optimizer's trials side by side (and, within, those of one µP width
        # multiplier); `active` maps its positions to the trials' indices in `members`.
        self.active = sorted(range(len(members)), key=lambda i: (kind(members[i].config),
                                                                 multiplier(members[i].model)))
        members = [members[i] for i in self.active]
        configs = [m.config for m in members]
        reason = why_not_batched(configs)
        if reason:
            raise NotBatchable(reason)
        if any(not p.requires_grad for m in members for p in m.model.parameters()):
            raise NotBatchable("the model has frozen parameters")
        for m in members:  # torch's own checks of every trial's values, as alone
            build(m.config.optimizer, m.config.hyperparameters, None, m.model, m.config.decay)
        self.data, self.problem, self.batch_size = data, problem, batch_size
        self.device = self.device_of(data)
        self.stacked = stack([m.model for m in members])  # the built-in GPT's own, else vmap's
        self.stacked.check(*self.sample(len(members)), self.loss)
        self.optimizer = RoledOptimizer(self.stacked.tensors(), [kind(c) for c in configs],
                                        [c.hyperparameters for c in configs],
                                        [param_roles(m.model, *kind(m.config)) for m in members])
        self.due = self.steps_due(epochs, eval_every)
        last = max(1, self.due[-1] - 1)
        self.factors = torch.tensor([[lr_factor(c.schedule, t / last) for c in configs]
                                     for t in range(self.due[-1])], dtype=torch.float64,
                                    device=self.device)
        self.clip = torch.tensor([c.clip_grad_norm or 0.0 for c in configs], dtype=torch.float64,
                                 device=self.device)
        self.clipping = bool((self.clip > 0).any())  # read once, not at every step
        self.batches = [self.stream(m.seed) for m in members]
        self.seconds = [0.0] * len(members)  # each trial's share of the batch's time
        self.grad_norms: list[list[float]] = [[] for _ in members]
        self.flops = 6 * sum(p[0].numel() for p in self.stacked.tensors())

    # The hooks: what a table's loop does; a language model's does otherwise.
    @staticmethod
    def device_of(data: Any) -> torch.device:
        return data.x_train.device  # type: ignore[no-any-return]

    def sample(self, trials: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A few rows for every trial, to check that the model can be traced (no stream is used)."""
        import torch

        rows = torch.arange(min(2, len(self.data.x_train)), device=self.device).expand(trials, -1)
        return self.data.x_train[rows], self.data.y_train[rows]

    def steps_due(self, points: int, eval_every: int | None) -> list[int]:
        return steps_due(len(self.data.x_train), self.batch_size, points, eval_every, False)

    def stream(self, seed: int) -> Any:
        """One trial's source of batches, seeded with its seed as when it trains alone."""
        import torch

        generator = torch.Generator(device=self.device).manual_seed(seed)
        return shuffled_batches(len(self.data.x_train), self.batch_size, generator, self.device)

    def draw(self) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Every trial's next batch, stacked, and the rows (or tokens) each holds: the weight of
        its loss in the mean over an evaluation point."""
        import torch

        index = torch.stack([next(b) for b in self.batches])
        return self.data.x_train[index], self.data.y_train[index], int(index.shape[1])

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.problem.loss(output, target)

    @staticmethod
    def weighted(losses: torch.Tensor, rows: int) -> torch.Tensor:
        """A step's losses as the point's mean sums them: a table weighs each batch by its rows."""
        return losses * rows

    @staticmethod
    def mean(total: torch.Tensor, rows: int, steps: int) -> torch.Tensor:
        return total / max(1, rows)

    def forward(self) -> Any:
        """The context of a forward pass (a language model's autocast)."""
        import contextlib

        return contextlib.nullcontext()

    def drop(self, trials: Iterable[int]) -> None:
        """Take these trials out of the batch (the others train on as before)."""
        import torch

        gone = set(trials)
        keep = [i for i, trial in enumerate(self.active) if trial not in gone]
        if len(keep) == len(self.active):
            return
        index = torch.tensor(keep, dtype=torch.long, device=self.factors.device)
        self.stacked.keep(index)
        self.optimizer.keep(index, self.stacked.tensors())
        self.factors, self.clip = self.factors[:, index], self.clip[index]
        self.clipping = bool((self.clip > 0).any())
        self.batches = [self.batches[i] for i in keep]
        self.active = [self.active[i] for i in keep]

    def clip_gradients(self) -> torch.Tensor:
        """torch's clip_grad_norm_ for each trial over its own gradients; the norms before it, [B]."""
        import torch

        tensors = self.stacked.tensors()
        norms = torch.stack([torch.linalg.vector_norm(gradient(p).flatten(1), dim=1) for p in tensors])
        total = torch.linalg.vector_norm(norms, dim=0)
        if self.clipping:
            coef = torch.where(self.clip > 0, torch.clamp(self.clip.to(total.dtype) / (total + 1e-6),
                                                          max=1.0), torch.ones_like(total))
            for p in tensors:
                gradient(p).mul_(coef.to(p.dtype).view(-1, *([1] * (p.ndim - 1))))
        return total

    def __iter__(self) -> Iterator[dict[int, PointResult]]:
        import torch

        stacked = self.stacked
        steps = rows = 0
        norm = torch.zeros(len(self.active), device=self.device)
        for epoch, until in enumerate(self.due):
            started = time.perf_counter()
            stacked.base.train()
            total = torch.zeros(len(self.active), device=self.device)
            rows_before, steps_before = rows, steps
            while steps < until:
                x, y, held = self.draw()
                for p in stacked.tensors():
                    p.grad = None
                with self.forward():
                    losses = stacked.losses(x, y, self.loss)
                losses.sum().backward()
                norm = self.clip_gradients()
                with torch.no_grad():
                    self.optimizer.step(self.factors[steps])
                total += self.weighted(losses.detach(), held)
                steps += 1
                rows += held
            results = self.evaluate(epoch, self.mean(total, rows - rows_before, steps - steps_before),
                                    norm, steps, rows, time.perf_counter() - started)
            yield results
            self.drop(trial for trial, result in results.items() if result.diverged)
            if not self.active:
                return

    def evaluate(self, epoch: int, train_loss: torch.Tensor, norm: torch.Tensor, steps: int,
                 rows: int, seconds: float) -> dict[int, PointResult]:
        import torch

        metrics = self.metrics("val")
        param_sums = torch.stack([torch.stack([p.detach()[i].sum() for p in self.stacked.tensors()])
                                  .sum() for i in range(len(self.active))])
        table = torch.cat([torch.stack([train_loss, param_sums, norm.float()], dim=1), metrics],
                          dim=1).tolist()  # one read from the device for the whole batch
        results = {}
        for trial, (loss, check, grad_norm, *values) in zip(self.active, table, strict=True):
            self.seconds[trial] += seconds / len(self.active)
            self.grad_norms[trial].append(round(grad_norm, 6))
            results[trial] = PointResult(epoch, loss, tuple(values), steps, steps,
                                         divergence(loss, check, values), self.due[-1],
                                         speeds(steps, rows, self.seconds[trial], self.flops,
                                                self.grad_norms[trial]))
        return results

    def metrics(self, split: str = "val") -> torch.Tensor:
        """Every trial's metrics on the validation (or test) split, [B, metrics]."""
        import torch

        x, y = (self.data.x_val, self.data.y_val) if split == "val" else (self.data.x_test,
                                                                         self.data.y_test)
        if x is None or y is None:
            raise ValueError(f"no '{split}' split on the device")
        self.stacked.base.eval()
        with torch.no_grad():
            output = torch.cat([self.stacked.outputs(x[i:i + EVAL_CHUNK])
                                for i in range(0, len(x), EVAL_CHUNK)], dim=1)
            return torch.stack([self.problem.evaluate(out, y, self.data.target_scale)
                                for out in output])

    def state_of(self, trial: int) -> dict[str, Any]:
        """A trial's trained tensors, as its model's `state_dict` holds them."""
        return self.stacked.member(self.active.index(trial))
