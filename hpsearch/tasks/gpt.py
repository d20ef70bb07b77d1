"""A decoder-only transformer language model of nanoGPT's kind: token and position embeddings,
pre-norm blocks of causal self-attention (`scaled_dot_product_attention`) and an MLP, a final norm
and an untied head. torch is imported when a model is built."""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

from hpsearch.errors import ConfigError

if TYPE_CHECKING:
    import torch

HEAD_DIM = 16  # heads = width / 16, as µP-style width scaling keeps the head dimension fixed
ATTENTION_SCALES = ("sqrt", "linear")


def check_width(width: int, name: str = "--width") -> int:
    """A width of the built-in GPT: a multiple of the head dimension, so that every head keeps it
    (another width would change the head size, and break µP's fixed head)."""
    if width < HEAD_DIM or width % HEAD_DIM:
        raise ConfigError(f"{name} {width} is not a multiple of the head dimension {HEAD_DIM} "
                          f"(heads = width / {HEAD_DIM}); valid: {HEAD_DIM}, {2 * HEAD_DIM}, "
                          f"{3 * HEAD_DIM}, ...")
    return width


def gpt(vocab_size: int, context: int, width: int = 64, depth: int = 2,
        attention: str = "sqrt") -> torch.nn.Module:
    """A GPT of `depth` blocks of `width` over `context` tokens of a `vocab_size` vocabulary.
    Attention scores are scaled by 1 / sqrt(head dimension) (`"sqrt"`), or by µP's
    sqrt(HEAD_DIM) / head dimension (`"linear"`: 1 / head dimension with the attention multiplier
    that makes it the standard scale at the base head dimension, as the `mup` package's GPT
    examples do). The head dimension stays `HEAD_DIM` at every width, so the two are the same
    here: µP's 1 / d rule matters only where a model's heads widen. Its hidden matrices are listed
    in `hpsearch_width_scaled`."""
    if attention not in ATTENTION_SCALES:
        raise ValueError(f"unknown attention scale '{attention}'; valid: {', '.join(ATTENTION_SCALES)}")
    check_width(width, "width")
    return gpt_class()(vocab_size, context, width, depth, attention == "linear")


def flops_per_token(model: torch.nn.Module, context: int) -> int:
    """Training FLOPs per token: 6 x the non-embedding parameters, plus attention's
    (6 x layers x context x width: the scores and the weighted sum, forward and backward)."""
    import torch

    embeddings = sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding)
                     for p in m.parameters())
    parameters = sum(p.numel() for p in model.parameters()) - embeddings
    blocks = getattr(model, "blocks", ())
    width = getattr(model, "width", 0)
    return 6 * parameters + 6 * len(blocks) * context * width


@functools.cache
def gpt_class() -> type[Any]:
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Block(nn.Module):
        def __init__(self, width: int, heads: int, linear_attention: bool) -> None:
            super().__init__()
            self.heads = heads
            # None: 1/sqrt(d); µP's 1/d times its multiplier sqrt(HEAD_DIM), the same at d = 16
            self.scale = math.sqrt(HEAD_DIM) / (width // heads) if linear_attention else None
            self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
            self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
            self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(),
                                     nn.Linear(4 * width, width))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, t, c = x.shape
            q, k, v = self.qkv(self.norm1(x)).split(c, dim=2)
            q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
            attended = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
            x = x + self.proj(attended.transpose(1, 2).reshape(b, t, c))
            return x + self.mlp(self.norm2(x))

    class GPT(nn.Module):
        def __init__(self, vocab_size: int, context: int, width: int, depth: int,
                     linear_attention: bool = False) -> None:
            super().__init__()
            self.context, self.width = context, width
            self.token = nn.Embedding(vocab_size, width)
            self.position = nn.Embedding(context, width)
            self.blocks = nn.ModuleList(Block(width, width // HEAD_DIM, linear_attention)
                                        for _ in range(depth))
            self.norm = nn.LayerNorm(width)
            self.head = nn.Linear(width, vocab_size, bias=False)
            for name, parameter in self.named_parameters():  # GPT-2's initialisation
                if parameter.ndim == 2:
                    std = 0.02 / math.sqrt(2 * depth) if name.endswith(("proj.weight",
                                                                        "mlp.2.weight")) else 0.02
                    nn.init.normal_(parameter, 0.0, std)
                elif name.endswith("bias"):
                    nn.init.zeros_(parameter)
            # The hidden matrices, whose fan-in grows with the width (what µP rescales), and the
            # residual branches' last layers (what CompleteP scales by base depth / depth).
            self.hpsearch_width_scaled = [m for block in self.blocks for m in (
                block.qkv, block.proj, block.mlp[0], block.mlp[2])]  # type: ignore[index]
            self.hpsearch_residual_branches = [m for block in self.blocks for m in (
                block.proj, block.mlp[2])]  # type: ignore[index]

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            positions = torch.arange(tokens.shape[1], device=tokens.device)
            x = self.token(tokens) + self.position(positions)
            for block in self.blocks:
                x = block(x)
            return self.head(self.norm(x))  # type: ignore[no-any-return]

    return GPT
