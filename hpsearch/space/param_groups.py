"""Which parameters weight decay touches. Pre-training decays the weight matrices only: never biases,
norms or embeddings (`"matrices"`, the language model's default); `"all"` decays every parameter,
as torch does when given a plain list. torch is imported by the caller."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

DECAY_CHOICES = ("all", "matrices")


def embedding_ids(model: torch.nn.Module) -> set[int]:
    import torch

    return {id(p) for m in model.modules()
            if isinstance(m, (torch.nn.Embedding, torch.nn.EmbeddingBag)) for p in m.parameters()}


def is_decayed(parameter: torch.Tensor, embeddings: set[int]) -> bool:
    """A weight matrix (or a convolution's kernel): two or more dimensions, not an embedding."""
    return parameter.ndim >= 2 and id(parameter) not in embeddings


def width_scaled_ids(model: torch.nn.Module) -> set[int]:
    """The weights of the modules a model lists in `hpsearch_width_scaled`: its hidden matrices,
    whose fan-in grows with the width."""
    return {id(m.weight) for m in getattr(model, "hpsearch_width_scaled", ())}


def groups(params: Sequence[torch.Tensor], model: torch.nn.Module, decay: str,
           hidden_lr: float | None = None, hidden_decay: float | None = None) -> list[Any]:
    """The parameters as torch takes them: a plain list, or groups by weight decay (a decayed group
    and one with `weight_decay=0`) and, with `hidden_lr`, the hidden matrices apart at that rate
    and, where they decay, `hidden_decay` (µP's rule for Adam-like optimizers)."""
    if decay == "all" and hidden_lr is None:
        return list(params)
    embeddings = embedding_ids(model)
    hidden = width_scaled_ids(model) if hidden_lr is not None else set()
    buckets: dict[tuple[bool, bool], list[torch.Tensor]] = {}  # (decayed, hidden): parameters
    for p in params:
        decayed = decay == "all" or is_decayed(p, embeddings)
        buckets.setdefault((decayed, id(p) in hidden), []).append(p)
    return [{"params": chosen, **({} if decayed else {"weight_decay": 0.0}),
             **({"lr": hidden_lr} if scaled else {}),
             **({"weight_decay": hidden_decay} if scaled and decayed and hidden_decay else {})}
            for (decayed, scaled), chosen in sorted(buckets.items(),
                                                    key=lambda item: (not item[0][0], item[0][1]))]
