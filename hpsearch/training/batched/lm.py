"""A batch of language-model trials as one stacked model: `train_lm.fit_lm`'s loop over the batch,
each trial with its own random windows (a generator seeded with its seed), the forward passes under
the same autocast, evaluated on the fixed validation windows every trial sees."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hpsearch.space.optimizers import get_spec
from hpsearch.training.batched.fit import BatchedFit, Member
from hpsearch.training.batched.stacked import NotBatchable
from hpsearch.training.batched.stacked_gpt import StackedGPT
from hpsearch.training.lm import EVAL_CHUNK, LMDeviceData, autocast

if TYPE_CHECKING:
    import torch

    from hpsearch.tasks import Problem


class BatchedLMFit(BatchedFit):
    def __init__(self, data: LMDeviceData, members: Sequence[Member], problem: Problem,
                 evaluations: int, batch_size: int, eval_every: int,
                 precision: torch.dtype | None = None) -> None:
        if any(get_spec(m.config.optimizer).needs_closure for m in members):
            raise NotBatchable("a closure optimizer cannot train a language model")
        self.precision = precision
        super().__init__(data, members, problem, evaluations, batch_size, eval_every)

    @staticmethod
    def device_of(data: Any) -> torch.device:
        return data.val.device  # type: ignore[no-any-return]

    def sample(self, trials: int) -> tuple[torch.Tensor, torch.Tensor]:
        windows = self.data.val[:1].expand(trials, -1, -1)
        return windows[..., :-1], windows[..., 1:]

    def steps_due(self, points: int, eval_every: int | None) -> list[int]:
        return [(eval_every or 1) * (i + 1) for i in range(points)]

    def stream(self, seed: int) -> Any:
        import torch

        if isinstance(self.data.train, np.memmap):
            return np.random.default_rng(seed)
        return torch.Generator(device=self.device).manual_seed(seed)

    def draw(self) -> tuple[torch.Tensor, torch.Tensor, int]:
        import torch

        pairs = [self.data.batch(self.batch_size, generator, self.device) for generator in self.batches]
        return (torch.stack([x for x, _ in pairs]), torch.stack([y for _, y in pairs]),
                self.batch_size * self.data.context)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.cross_entropy(output.float().view(-1, output.shape[-1]), target.reshape(-1))

    @staticmethod
    def weighted(losses: torch.Tensor, rows: int) -> torch.Tensor:
        return losses  # every window batch is the same size: a plain mean over the steps

    @staticmethod
    def mean(total: torch.Tensor, rows: int, steps: int) -> torch.Tensor:
        return total / steps

    def forward(self) -> Any:
        return autocast(self.device, self.precision)

    def metrics(self, split: str = "val") -> torch.Tensor:
        """Every trial's loss in nats per token on the fixed windows (then bits per byte)."""
        import torch
        import torch.nn.functional as F

        windows = self.data.val if split == "val" else self.data.test
        if windows is None:
            raise ValueError(f"no '{split}' windows on the device")
        def summed(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(out.float().reshape(-1, out.shape[-1]), target.reshape(-1),
                                   reduction="sum")

        self.stacked.base.eval()
        total = torch.zeros(len(self.active), device=self.device)
        trials = len(self.active)
        with torch.no_grad():
            for chunk in windows.split(EVAL_CHUNK):
                x, y = chunk[:, :-1], chunk[:, 1:]
                with autocast(self.device, self.precision):
                    if isinstance(self.stacked, StackedGPT):  # a chunk of trials at a time
                        total += self.stacked.losses(x.expand(trials, *x.shape),
                                                     y.expand(trials, *y.shape), summed)
                        continue
                    logits = self.stacked.outputs(x)
                total += torch.stack([summed(out, y) for out in logits])
        loss = (total / windows[:, 1:].numel()).unsqueeze(1)
        return torch.cat([loss, loss / math.log(2)], dim=1) if self.data.byte_level else loss
