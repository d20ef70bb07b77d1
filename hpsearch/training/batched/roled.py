"""`MixedOptimizer` whose runs are also cut where trials treat their parameters differently: in a
batch of a scale sweep, a µP trial's hidden matrices learn at its rate over the width multiplier
beside a standard trial's at its own rate, each as `optimizers.build` groups its own model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hpsearch.training.batched.mixed import Kind, MixedOptimizer, Segment, views
from hpsearch.training.batched.vector_optimizers import VECTORISED, ParamRole

if TYPE_CHECKING:
    import torch


class RoledOptimizer(MixedOptimizer):
    """One `VectorOptimizer` per run of trials alike in kind and in `roles` (each trial's, one per
    parameter: `fit.param_roles` of its own model), each over its slice of the stack."""

    def __init__(self, params: Sequence[torch.Tensor], kinds: Sequence[Kind],
                 hyperparameters: Sequence[Mapping[str, Any]],
                 roles: Sequence[Sequence[ParamRole]]) -> None:
        self.params = list(params)
        self.segments: list[Segment] = []
        keys = [(k, tuple(r)) for k, r in zip(kinds, roles, strict=True)]
        start = 0
        while start < len(keys):
            count = next((i for i, k in enumerate(keys[start:]) if k != keys[start]),
                         len(keys) - start)
            optimizer = VECTORISED[kinds[start][0]](views(self.params, start, count),
                                                    hyperparameters[start:start + count],
                                                    roles[start])
            self.segments.append(Segment(start, count, optimizer))
            start += count
