"""Trials of different optimizers in one batch: the stack is ordered so that each optimizer's trials
sit side by side, and each optimizer updates its own slice of every stacked tensor in place (a view:
no copy). The forward and backward pass is shared by all; each trial's update is its optimizer's,
exactly as in a batch of that optimizer alone. A search over many optimizers then fills batches that
one optimizer alone would leave small.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpsearch.training.batched.vector_optimizers import VECTORISED, ParamRole, VectorOptimizer, gradient

if TYPE_CHECKING:
    import torch


@dataclass
class Segment:
    """One optimizer's trials: positions start .. start + count - 1 of the stack."""

    start: int
    count: int
    optimizer: VectorOptimizer


def views(params: Sequence[torch.Tensor], start: int, count: int) -> list[torch.Tensor]:
    """Positions start .. start + count - 1 of each stacked tensor; updated in place, the stack is."""
    return [p.detach().narrow(0, start, count) for p in params]


Kind = tuple[str, str]  # an optimizer's registry key and the parameters it decays


class MixedOptimizer:
    """One `VectorOptimizer` per run of equal kinds in `kinds` (the stack's order), each over its
    slice. `roles(kind)`: how that optimizer treats each parameter (`fit.param_roles`)."""

    def __init__(self, params: Sequence[torch.Tensor], kinds: Sequence[Kind],
                 hyperparameters: Sequence[Mapping[str, Any]],
                 roles: Callable[[Kind], Sequence[ParamRole]]) -> None:
        self.params = list(params)
        self.segments: list[Segment] = []
        start = 0
        while start < len(kinds):
            kind = kinds[start]
            count = next((i for i, k in enumerate(kinds[start:]) if k != kind), len(kinds) - start)
            optimizer = VECTORISED[kind[0]](views(self.params, start, count),
                                            hyperparameters[start:start + count], roles(kind))
            self.segments.append(Segment(start, count, optimizer))
            start += count

    def step(self, factor: torch.Tensor) -> None:
        """Every trial's update by its own optimizer, at its learning rate times `factor` ([B])."""
        for segment in self.segments:
            for view, param in zip(segment.optimizer.params, self.params, strict=True):
                view.grad = gradient(param).narrow(0, segment.start, segment.count)
            segment.optimizer.step(factor.narrow(0, segment.start, segment.count))

    def keep(self, index: torch.Tensor, params: Sequence[torch.Tensor]) -> None:
        """Only the trials at positions `index` (ascending) go on, over the compacted `params`."""
        self.params = list(params)
        kept = index.tolist()
        segments, start = [], 0
        for segment in self.segments:
            local = [i - segment.start for i in kept
                     if segment.start <= i < segment.start + segment.count]
            if not local:
                continue
            segment.start, segment.count = start, len(local)
            segment.optimizer.keep(index.new_tensor(local),
                                   views(self.params, segment.start, segment.count))
            segments.append(segment)
            start += len(local)
        self.segments = segments
