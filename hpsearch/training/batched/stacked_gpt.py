"""The built-in GPT (`tasks.gpt`) of B trials as one model without vmap: every weight carries the
trial dimension ([B, out, in], bias [B, out]) and each linear layer is one batched matmul over the
trials' activations ([B, tokens, in]); token embeddings are gathered per trial, LayerNorm runs without
affine and applies each trial's weight and bias after it. Attention has no weights: the trials fold
into its batch dimension ([trials x windows, heads, T, head dim]) and `scaled_dot_product_attention`
runs as each model runs it, on the CPU and on a GPU.

Each trial keeps what its own model does: its attention scale (µP's 1 / head dim beside the standard
1 / sqrt(head dim): where a batch holds both, the kernel's scale is the standard one and µP's queries
are scaled by the ratio first) and µP's logit multiplier (`mup.parametrize`'s hook). The parameters
are `StackedModel`'s (`params[name]` is [B, *shape], keyed by the model's names), so the optimizers
and the loop see no difference. torch is imported by the caller."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hpsearch.tasks.gpt import gpt_class
from hpsearch.training.batched.stacked import Loss, NotBatchable, StackedModel

if TYPE_CHECKING:
    import torch

# Trials go through the layers a chunk at a time, so that no activation outgrows this: small
# tensors stay in the caches and in the allocator's reused memory (a fresh tensor of tens of MB is
# faulted in page by page at every step).
CHUNK_BYTES = 4 << 20
MUP_HOOK = "parametrize.<locals>.scale_logits"


def closure_value(function: Any, name: str) -> Any:
    code, cells = getattr(function, "__code__", None), getattr(function, "__closure__", None) or ()
    if code is None or name not in code.co_freevars:
        return None
    return cells[code.co_freevars.index(name)].cell_contents


def logit_divisor(model: torch.nn.Module) -> float | None:
    """What µP's hook divides the logits by (None: no hook); NotBatchable for any other hook,
    which only the model's own forward call would run."""
    hooks = [getattr(model, kind, {}) for kind in ("_forward_pre_hooks", "_backward_hooks",
                                                   "_backward_pre_hooks")]
    hooks += [getattr(m, kind, {}) for m in model.modules() if m is not model
              for kind in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                           "_backward_pre_hooks")]
    forward = list(getattr(model, "_forward_hooks", {}).values())
    if any(hooks) or any(getattr(h, "__qualname__", "") != MUP_HOOK for h in forward) or len(forward) > 1:
        raise NotBatchable("the GPT carries hooks other than µP's logit multiplier")
    return float(closure_value(forward[0], "multiplier")) if forward else None


def is_builtin_gpt(models: Sequence[torch.nn.Module]) -> bool:
    return all(type(m) is gpt_class() and len(getattr(m, "blocks", ())) > 0 for m in models)


def stack(models: Sequence[torch.nn.Module]) -> StackedModel:
    """The built-in GPT stacked natively (`StackedGPT`); any other model through vmap, whose trials
    must then share the forward call of the first (µP's multiplier included)."""
    if any(getattr(m, "hpsearch_depth_multiplier", None) is not None for m in models):
        raise NotBatchable("CompleteP's models (their branches' multiplier, their epsilon) train "
                           "one at a time")
    if is_builtin_gpt(models):
        try:
            return StackedGPT(models)
        except NotBatchable:
            pass
    multipliers = {float(getattr(m, "hpsearch_width_multiplier", None) or 1.0) for m in models}
    if len(multipliers) > 1:
        raise NotBatchable("the trials' models differ in µP's width multiplier")
    return StackedModel(models)


class StackedGPT(StackedModel):
    """`StackedModel` for the built-in GPT, with its forward written over the trial dimension."""

    def __init__(self, models: Sequence[torch.nn.Module]) -> None:
        import torch

        self.divisors = [logit_divisor(m) for m in models]
        super().__init__(models)
        base: Any = self.base
        first = base.blocks[0]
        self.depth, self.heads, self.width = len(base.blocks), first.heads, base.width
        self.eps = first.norm1.eps
        self.gelu = first.mlp[1].approximate
        gpts: list[Any] = list(models)
        self.scales = [m.blocks[0].scale if len(m.blocks) else None for m in gpts]
        if not all(isinstance(b.mlp[1], torch.nn.GELU) and b.norm1.eps == b.norm2.eps == self.eps
                   and b.mlp[1].approximate == self.gelu and b.scale == m.blocks[0].scale
                   for m in gpts for b in m.blocks):
            raise NotBatchable("the GPTs differ in their layers")

    def keep(self, index: torch.Tensor) -> None:
        super().keep(index)
        kept = index.tolist()
        self.divisors = [self.divisors[i] for i in kept]
        self.scales = [self.scales[i] for i in kept]

    def chunk(self, tokens: int) -> int:
        """Trials per chunk: the widest activation of a chunk (the MLP's, or the logits) within
        CHUNK_BYTES."""
        vocab = self.params["head.weight"].shape[1]
        size = self.params["head.weight"].element_size()
        return max(1, CHUNK_BYTES // max(1, tokens * max(4 * self.width, vocab) * size))

    def losses(self, x: torch.Tensor, y: torch.Tensor, loss: Loss) -> torch.Tensor:
        """Each trial's loss on its own windows (`x[i]`, `y[i]`, [B, windows, T]): [B]."""
        import torch

        every = self.chunk(x.shape[1] * x.shape[2])
        pieces = {name: p.split(every) for name, p in self.params.items()}
        out = []
        for c, start in enumerate(range(0, len(self), every)):
            logits = self.run({name: s[c] for name, s in pieces.items()}, x[start:start + every],
                              start)
            # unbind: one stack of the trials' gradients in the backward pass, not a zero-filled
            # copy of the chunk's logits per trial
            out += [loss(out_i, y_i) for out_i, y_i in zip(logits.unbind(0),
                                                           y[start:start + every].unbind(0), strict=True)]
        return torch.stack(out)

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """Every trial's logits on the same windows (`x`, [windows, T]): [B, windows, T, vocab]."""
        import torch

        every = self.chunk(x.numel())
        return torch.cat([self.run({name: p[start:start + every] for name, p in self.params.items()},
                                   x.expand(min(every, len(self) - start), *x.shape), start)
                          for start in range(0, len(self), every)])

    def run(self, p: dict[str, torch.Tensor], x: torch.Tensor, start: int) -> torch.Tensor:
        """The logits of trials start .. start + len(x) - 1 ([G, windows, T]): [G, windows, T, vocab]."""
        import torch
        import torch.nn.functional as F

        trials, windows, t = x.shape
        token = p["token.weight"]
        offsets = torch.arange(trials, device=x.device).view(-1, 1, 1) * token.shape[1]
        h = F.embedding(x + offsets, token.reshape(-1, token.shape[2]))
        h = (h + p["position.weight"][:, :t].unsqueeze(1)).reshape(trials, windows * t, -1)
        for i in range(self.depth):
            h = self.block(p, f"blocks.{i}.", h, windows, start)
        logits = torch.bmm(self.norm(p, "norm", h), p["head.weight"].transpose(1, 2))
        return self.divided(logits, start).view(trials, windows, t, -1)

    def block(self, p: dict[str, torch.Tensor], name: str, h: torch.Tensor, windows: int,
              start: int) -> torch.Tensor:
        import torch.nn.functional as F

        trials, tokens, width = h.shape
        t, hd = tokens // windows, width // self.heads
        q, k, v = (z.reshape(trials * windows, t, self.heads, hd).transpose(1, 2) for z in
                   self.linear(p, name + "qkv", self.norm(p, name + "norm1", h)).split(width, dim=2))
        q, scale = self.scaled_queries(q, trials, windows, start, hd)
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)
        h = h + self.linear(p, name + "proj", attended.transpose(1, 2).reshape(trials, tokens, width))
        hidden = F.gelu(self.linear(p, name + "mlp.0", self.norm(p, name + "norm2", h)),
                        approximate=self.gelu)
        return h + self.linear(p, name + "mlp.2", hidden)

    def scaled_queries(self, q: torch.Tensor, trials: int, windows: int, start: int, hd: int
                       ) -> tuple[torch.Tensor, float | None]:
        """(the queries, the kernel's scale): each model's own scale where the chunk's trials share
        it; else the standard scale, each trial's queries multiplied by its scale over it."""
        import torch

        scales = self.scales[start:start + trials]
        if len(set(scales)) == 1:
            return q, scales[0]
        standard = 1.0 / math.sqrt(hd)
        ratios = torch.tensor([(s or standard) / standard for s in scales], dtype=torch.float64,
                              device=q.device)
        return q * ratios.repeat_interleave(windows).to(q.dtype).view(-1, 1, 1, 1), standard

    def divided(self, logits: torch.Tensor, start: int) -> torch.Tensor:
        """µP's logits over its multiplier, as its hook divides them."""
        import torch

        divisors = self.divisors[start:start + len(logits)]
        if len(set(divisors)) == 1:
            return logits if divisors[0] is None else logits / divisors[0]
        values = torch.tensor([d or 1.0 for d in divisors], dtype=torch.float64, device=logits.device)
        return logits / values.to(logits.dtype).view(-1, 1, 1)

    def linear(self, p: dict[str, torch.Tensor], name: str, x: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.baddbmm(p[name + ".bias"].unsqueeze(1), x, p[name + ".weight"].transpose(1, 2))

    def norm(self, p: dict[str, torch.Tensor], name: str, x: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        normed = F.layer_norm(x, x.shape[-1:], eps=self.eps)
        return normed * p[name + ".weight"].unsqueeze(1) + p[name + ".bias"].unsqueeze(1)
