"""Muon as one optimizer: Muon updates only 2-D weight matrices, so the other parameters (biases,
norms, conv kernels, embeddings, the output layer) are trained by AdamW, and the two are seen by the
training loop and the learning-rate schedulers as one `torch.optim.Optimizer`. torch is imported
only when one is built."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hpsearch.space.param_groups import embedding_ids, groups

if TYPE_CHECKING:
    import torch


def split_for_muon(model: torch.nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(Muon's parameters, AdamW's): Muon takes the hidden weight matrices; AdamW the biases, norms,
    conv kernels, embeddings and the output layer, taken to be the last 2-D parameter."""
    params = [p for p in model.parameters() if p.requires_grad]
    embeddings = embedding_ids(model)
    hidden = {id(p) for p in [p for p in params if p.ndim == 2 and id(p) not in embeddings][:-1]}
    return [p for p in params if id(p) in hidden], [p for p in params if id(p) not in hidden]


def build_muon(model: torch.nn.Module, kwargs: dict[str, Any], decay: str = "all"
               ) -> torch.optim.Optimizer:
    """One optimizer over the model: torch's Muon for the hidden matrices, AdamW for the rest, at its
    own rate (`adamw_lr`) and the same decoupled weight decay (with `decay="matrices"`, AdamW's
    biases, norms and embeddings are not decayed; its output layer is)."""
    import torch

    kwargs = dict(kwargs)
    adamw_lr = kwargs.pop("adamw_lr")
    muon_params, adamw_params = split_for_muon(model)
    parts: list[torch.optim.Optimizer] = []
    if muon_params:
        parts.append(torch.optim.Muon(muon_params, **kwargs))
    if adamw_params:
        parts.append(torch.optim.AdamW(groups(adamw_params, model, decay), lr=adamw_lr,
                                       weight_decay=kwargs["weight_decay"]))
    return combined_optimizer_class()(parts)


@functools.cache
def combined_optimizer_class() -> type[Any]:
    """`CombinedOptimizer(optimizers)`: optimizers over disjoint parameters, seen as one, so that
    learning-rate schedulers and the training loop need not know. Defined on first use (torch)."""
    import torch

    class CombinedOptimizer(torch.optim.Optimizer):
        """Its `param_groups` are the inner optimizers' own group dicts (a scheduler's change of `lr`
        reaches them); `step(closure)` evaluates the closure once, then steps every inner optimizer."""

        def __init__(self, optimizers: Sequence[torch.optim.Optimizer]) -> None:
            self.optimizers = tuple(optimizers)
            super().__init__([group for o in self.optimizers for group in o.param_groups], {})

        def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            for optimizer in self.optimizers:
                optimizer.step()
            return loss

        def zero_grad(self, set_to_none: bool = True) -> None:
            for optimizer in self.optimizers:
                optimizer.zero_grad(set_to_none=set_to_none)

        def state_dict(self) -> dict[str, Any]:
            return {"optimizers": [o.state_dict() for o in self.optimizers]}

        def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:  # type: ignore[override]
            for optimizer, state in zip(self.optimizers, state_dict["optimizers"], strict=True):
                optimizer.load_state_dict(state)

    return CombinedOptimizer
