"""The Adam family, Lion and Muon over a batch of trials (see `vector_optim`): Adam and AdamW
(torch.optim, weight decay as L2 or decoupled), NAdam (torch's, momentum decay 4e-3), Lion
(pytorch_optimizer's, decoupled weight decay) and Muon (torch's, Newton–Schulz in bfloat16 batched
over the trials with `baddbmm`; AdamW for the parameters Muon does not take). torch is imported by
the caller."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from hpsearch.batched.vector_optim import SGD, Adadelta, Adagrad, RMSprop, VectorOptimizer, gradient

if TYPE_CHECKING:
    import torch

NADAM_MOMENTUM_DECAY = 4e-3
# torch.optim.Muon's defaults (torch/optim/_muon.py)
MUON_NS = (3.4445, -4.7750, 2.0315)
MUON_NS_STEPS = 5
MUON_EPS = 1e-7


def scalar_dtype() -> Any:
    """The dtype torch keeps an optimizer's scalar state in (NAdam's running product of mu)."""
    import torch

    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def adam_update(param: torch.Tensor, state: dict[str, Any], step: int, lr: torch.Tensor,
                betas: tuple[torch.Tensor, torch.Tensor], eps: torch.Tensor,
                decay: torch.Tensor | None, decoupled: bool) -> None:
    """torch's single-tensor Adam (AdamW when `decoupled`) update of one stacked parameter."""
    import torch

    shaped = VectorOptimizer.shaped
    grad, (beta1, beta2) = gradient(param), betas
    if decay is not None:
        if decoupled:
            param.mul_(shaped(1 - lr * decay, param))
        else:
            grad = grad.add(param * shaped(decay, param))
    exp_avg = state.setdefault("exp_avg", torch.zeros_like(param))
    exp_avg_sq = state.setdefault("exp_avg_sq", torch.zeros_like(param))
    exp_avg.lerp_(grad, shaped(1 - beta1, param))
    exp_avg_sq.mul_(shaped(beta2, param)).addcmul_(grad, grad * shaped(1 - beta2, param))
    step_size = lr / (1 - beta1 ** step)
    denom = (exp_avg_sq.sqrt() / shaped((1 - beta2 ** step).sqrt(), param)).add_(shaped(eps, param))
    param.sub_(exp_avg / denom * shaped(step_size, param))


class Adam(VectorOptimizer):
    """torch.optim.Adam (L2 weight decay) or, `decoupled`, torch.optim.AdamW; no amsgrad."""

    decoupled = False

    def rebuild(self) -> None:
        self.lr, self.weight_decay = self.per_trial("lr", 1e-3), self.per_trial("weight_decay")
        self.betas = (self.pair("betas", 0), self.pair("betas", 1))
        self.eps = self.per_trial("eps", 1e-8)

    def step(self, factor: torch.Tensor) -> None:
        lr = self.lr * factor
        for param, role, state in zip(self.params, self.roles, self.state, strict=True):
            adam_update(param, state, self.steps + 1, lr / role.lr_divisor, self.betas, self.eps,
                        self.decay(role), self.decoupled)
        self.steps += 1


class AdamW(Adam):
    decoupled = True


class NAdam(Adam):
    """torch.optim.NAdam: L2 weight decay, momentum decay 4e-3, mu's running product per trial."""

    def step(self, factor: torch.Tensor) -> None:
        import torch

        lr = self.lr * factor
        step = self.steps + 1
        beta1, beta2 = self.betas
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * NADAM_MOMENTUM_DECAY))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * NADAM_MOMENTUM_DECAY))
        # torch keeps the product in its scalar dtype (float32 unless the default is float64)
        product = self.state[0].get("mu_product") if self.state else None
        if product is None:
            product = torch.ones(len(lr), dtype=scalar_dtype(), device=lr.device)
        product = product * mu.to(product.dtype)
        for state in self.state:
            state["mu_product"] = product
        product_now = product.double()
        product_next = product_now * mu_next
        bias_correction2 = 1 - beta2 ** step
        for param, role, state in zip(self.params, self.roles, self.state, strict=True):
            grad, rate = self.l2_gradient(param, role), lr / role.lr_divisor
            exp_avg = state.setdefault("exp_avg", torch.zeros_like(param))
            exp_avg_sq = state.setdefault("exp_avg_sq", torch.zeros_like(param))
            exp_avg.lerp_(grad, self.shaped(1 - beta1, param))
            exp_avg_sq.mul_(self.shaped(beta2, param)).addcmul_(grad, grad * self.shaped(1 - beta2, param))
            denom = exp_avg_sq.div(self.shaped(bias_correction2, param)).sqrt().add_(
                self.shaped(self.eps, param))
            param.add_(grad / denom * self.shaped(-rate * (1.0 - mu) / (1.0 - product_now), param))
            param.add_(exp_avg / denom * self.shaped(-rate * mu_next / (1.0 - product_next), param))
        self.steps += 1


class Lion(VectorOptimizer):
    """pytorch_optimizer's Lion: decoupled weight decay, the sign of the interpolated momentum."""

    def rebuild(self) -> None:
        self.lr, self.weight_decay = self.per_trial("lr", 1e-4), self.per_trial("weight_decay")
        self.beta1, self.beta2 = self.pair("betas", 0), self.pair("betas", 1)

    def step(self, factor: torch.Tensor) -> None:
        import torch

        lr = self.lr * factor
        for param, role, state in zip(self.params, self.roles, self.state, strict=True):
            grad, rate = gradient(param), lr / role.lr_divisor
            decay = self.decay(role)
            if decay is not None:
                param.mul_(self.shaped(1.0 - decay * rate, param))
            exp_avg = state.setdefault("exp_avg", torch.zeros_like(param))
            update = exp_avg.lerp(grad, self.shaped(1.0 - self.beta1, param)).sign_()
            exp_avg.lerp_(grad, self.shaped(1.0 - self.beta2, param))
            param.sub_(update * self.shaped(rate, param))
        self.steps += 1


def newton_schulz(grad: torch.Tensor) -> torch.Tensor:
    """torch's Muon orthogonalisation, each trial's matrix on its own: [B, rows, cols] in bfloat16."""
    import torch

    a, b, c = MUON_NS
    ortho = grad.bfloat16()
    tall = grad.size(1) > grad.size(2)
    if tall:
        ortho = ortho.transpose(1, 2)
    norms = torch.linalg.vector_norm(ortho, dim=(1, 2), keepdim=True)
    ortho = ortho / norms.clamp(min=MUON_EPS)
    for _ in range(MUON_NS_STEPS):
        gram = torch.bmm(ortho, ortho.transpose(1, 2))
        update = torch.baddbmm(gram, gram, gram, beta=b, alpha=c)
        ortho = torch.baddbmm(ortho, update, ortho, beta=a)
    return ortho.transpose(1, 2) if tall else ortho


class Muon(VectorOptimizer):
    """hpsearch's Muon: torch's Muon (Nesterov, "original" lr adjustment) on the hidden matrices,
    AdamW (torch's betas and eps) at `adamw_lr` on the rest, one decoupled weight decay."""

    def rebuild(self) -> None:
        adjust = self.shared("adjust_lr_fn", "original")
        if adjust not in (None, "original") or not self.shared("nesterov", True):
            raise ValueError(f"batched Muon runs the 'original' Nesterov update, not {adjust!r}")
        self.lr, self.adamw_lr = self.per_trial("lr", 1e-3), self.per_trial("adamw_lr", 1e-3)
        self.momentum, self.weight_decay = self.per_trial("momentum", 0.95), self.per_trial("weight_decay")
        ones = self.lr.new_ones(len(self.lr))  # the AdamW part runs at torch's betas and eps
        self.adamw_betas, self.adamw_eps = (ones * 0.9, ones * 0.999), ones * 1e-8

    def step(self, factor: torch.Tensor) -> None:
        import torch

        lr, adamw_lr = self.lr * factor, self.adamw_lr * factor
        for param, role, state in zip(self.params, self.roles, self.state, strict=True):
            decay = self.decay(role)
            if not role.muon:
                adam_update(param, state, self.steps + 1, adamw_lr, self.adamw_betas, self.adamw_eps,
                            decay, decoupled=True)
                continue
            grad = gradient(param)
            momentum = self.shaped(self.momentum, param)
            buf = state.setdefault("momentum_buffer", torch.zeros_like(param))
            buf.lerp_(grad, 1 - momentum)
            update = newton_schulz(grad.lerp(buf, momentum))
            rows, cols = param.shape[1:3]
            if decay is not None:
                param.mul_(self.shaped(1 - lr * decay, param))
            param.sub_(update * self.shaped(lr * math.sqrt(max(1, rows / cols)), param))
        self.steps += 1


# The registry entries that train batched, and how.
VECTORISED: dict[str, type[VectorOptimizer]] = {
    "sgd": SGD, "momentum": SGD, "nesterov": SGD, "adagrad": Adagrad, "rmsprop": RMSprop,
    "adadelta": Adadelta, "adam": Adam, "adamw": AdamW, "nadam": NAdam, "lion": Lion, "muon": Muon}
