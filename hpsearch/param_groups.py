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


def groups(params: Sequence[torch.Tensor], model: torch.nn.Module, decay: str) -> list[Any]:
    """The parameters as torch takes them: a plain list, or a decayed group and one with
    `weight_decay=0`."""
    if decay == "all":
        return list(params)
    embeddings = embedding_ids(model)
    decayed = [p for p in params if is_decayed(p, embeddings)]
    others = [p for p in params if not is_decayed(p, embeddings)]
    return [group for group in ({"params": decayed}, {"params": others, "weight_decay": 0.0})
            if group["params"]]
