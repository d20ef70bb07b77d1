"""Optimizers over a batch of trials trained as one stacked model: every parameter carries a leading
trial dimension B, every hyperparameter is one value per trial. Each update is torch's own
single-tensor update (and pytorch_optimizer's, for Lion), written over the trial dimension, so that a
trial trains in a batch as it trains alone: the same operations in the same order, with its own
learning rate, momentum, betas, eps, alpha, rho and weight decay (decoupled or not).

This module holds, in order: the common part (`ParamRole`, `VectorOptimizer`); the SGD family,
Adagrad, RMSprop and Adadelta; the Adam family, Adam and AdamW (torch.optim, weight decay as L2 or
decoupled) and NAdam (torch's, momentum decay 4e-3); Lion (pytorch_optimizer's, decoupled weight
decay); Muon (torch's, Newton–Schulz in bfloat16 batched over the trials with `baddbmm`; AdamW for
the parameters Muon does not take); and at the end `VECTORISED`, the registry entries that train
batched and the class that trains each. torch is imported by the caller.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ParamRole:
    """How the optimizer treats one parameter, as `optimizers.build` groups it: weight decay on it
    or not, its learning rate divided (and its decay multiplied) by µP's width multiplier or not,
    and whether Muon takes it."""

    decayed: bool = True
    lr_divisor: float = 1.0
    muon: bool = False


def gradient(param: torch.Tensor) -> torch.Tensor:
    if param.grad is None:
        raise ValueError("a stacked parameter has no gradient: call backward before step")
    return param.grad


class VectorOptimizer:
    """The common part: per-trial hyperparameters as float64 tensors of shape [B], per-parameter
    state with the leading trial dimension, and compaction when trials leave the batch."""

    def __init__(self, params: Sequence[torch.Tensor], hyperparameters: Sequence[Mapping[str, Any]],
                 roles: Sequence[ParamRole]) -> None:
        self.params = list(params)
        self.roles = list(roles)
        self.hyperparameters = [dict(h) for h in hyperparameters]
        self.state: list[dict[str, Any]] = [{} for _ in self.params]
        self.steps = 0
        self.reread()

    def per_trial(self, name: str, default: float = 0.0) -> torch.Tensor:
        """One value per trial (torch's 0 where a trial leaves an optional value off)."""
        import torch

        values = [default if h.get(name) is None else float(h[name]) for h in self.hyperparameters]
        return torch.tensor(values, dtype=torch.float64, device=self.params[0].device)

    def pair(self, name: str, index: int) -> torch.Tensor:
        """One element of a pair per trial (`betas`)."""
        import torch

        return torch.tensor([float(h[name][index]) for h in self.hyperparameters],
                            dtype=torch.float64, device=self.params[0].device)

    def shared(self, name: str, default: Any) -> Any:
        """A setting every trial of the batch has alike (`nesterov`, Muon's `adjust_lr_fn`)."""
        values = {repr(h.get(name, default)) for h in self.hyperparameters}
        if len(values) > 1:
            raise ValueError(f"trials of one batch differ in '{name}': {sorted(values)}")
        return self.hyperparameters[0].get(name, default) if self.hyperparameters else default

    @staticmethod
    def shaped(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Per-trial values broadcast over a stacked tensor, in its dtype (torch rounds its double
        scalars to the tensor's type as well)."""
        return values.to(like.dtype).view(-1, *([1] * (like.ndim - 1)))

    weight_decay: torch.Tensor

    def decay(self, role: ParamRole) -> torch.Tensor | None:
        """The weight decay on this parameter; None where no trial decays it. µP's hidden matrices
        decay by the width multiplier more, as their rate is divided by it (`optimizers.build`)."""
        if not (role.decayed and self.decaying):
            return None
        return self.weight_decay * role.lr_divisor if role.lr_divisor != 1.0 else self.weight_decay

    def step(self, factor: torch.Tensor) -> None:
        """One update of every trial, at its learning rate times `factor` (its schedule's, [B])."""
        raise NotImplementedError

    def keep(self, index: torch.Tensor, params: Sequence[torch.Tensor]) -> None:
        """Only the trials at `index` go on, over their compacted parameters."""
        import torch

        kept = index.tolist()
        self.hyperparameters = [self.hyperparameters[i] for i in kept]
        self.params = list(params)
        for state in self.state:
            for key, value in state.items():
                if isinstance(value, torch.Tensor) and value.ndim >= 1:
                    state[key] = value[index.to(value.device)]
        self.reread()

    def reread(self) -> None:
        """`rebuild`, and whether any trial decays: read from the device once here, not at every
        step (on a GPU each read waits for the device)."""
        self.rebuild()
        self.decaying = bool((self.weight_decay != 0).any())

    def rebuild(self) -> None:
        """Read the per-trial hyperparameters (again, after `keep`)."""

    def l2_gradient(self, param: torch.Tensor, role: ParamRole) -> torch.Tensor:
        """The gradient with weight decay added as L2 (torch's coupled weight decay)."""
        grad = gradient(param)
        decay = self.decay(role)
        return grad if decay is None else grad.add(param * self.shaped(decay, param))


class SGD(VectorOptimizer):
    """torch.optim.SGD: plain, heavy-ball momentum or Nesterov; dampening 0."""

    def rebuild(self) -> None:
        self.nesterov = bool(self.shared("nesterov", False))
        self.lr, self.momentum = self.per_trial("lr"), self.per_trial("momentum")
        self.weight_decay = self.per_trial("weight_decay")
        self.with_momentum = bool((self.momentum != 0).any())

    def step(self, factor: torch.Tensor) -> None:
        lr = self.lr * factor
        for param, role, state in zip(self.params, self.roles, self.state, strict=True):
            grad = self.l2_gradient(param, role)
            if self.with_momentum:
                momentum = self.shaped(self.momentum, param)
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = grad.detach().clone()
                else:
                    buf.mul_(momentum).add_(grad)
                grad = grad.add(buf * momentum) if self.nesterov else buf
            param.sub_(grad * self.shaped(lr / role.lr_divisor, param))
        self.steps += 1


class Adagrad(VectorOptimizer):
    """torch.optim.Adagrad with torch's defaults: no lr decay, eps 1e-10, accumulator from 0."""

    EPS = 1e-10

    def rebuild(self) -> None:
        self.lr, self.weight_decay = self.per_trial("lr"), self.per_trial("weight_decay")

    def step(self, factor: torch.Tensor) -> None:
        import torch

        lr = self.lr * factor
        for param, role, state in zip(self.params, self.roles, self.state, strict=True):
            grad = self.l2_gradient(param, role)
            total = state.setdefault("sum", torch.zeros_like(param))
            total.addcmul_(grad, grad)
            std = total.sqrt().add_(self.EPS)
            param.sub_(grad / std * self.shaped(lr / role.lr_divisor, param))
        self.steps += 1


class RMSprop(VectorOptimizer):
    """torch.optim.RMSprop, not centred, eps 1e-8; a trial without momentum takes the momentum
    path with 0, the same update."""

    EPS = 1e-8

    def rebuild(self) -> None:
        self.lr, self.alpha = self.per_trial("lr"), self.per_trial("alpha", 0.99)
        self.momentum, self.weight_decay = self.per_trial("momentum"), self.per_trial("weight_decay")
        self.with_momentum = bool((self.momentum > 0).any())

    def step(self, factor: torch.Tensor) -> None:
        import torch

        lr = self.lr * factor
        for param, role, state in zip(self.params, self.roles, self.state, strict=True):
            grad = self.l2_gradient(param, role)
            alpha = self.shaped(self.alpha, param)
            square_avg = state.setdefault("square_avg", torch.zeros_like(param))
            square_avg.mul_(alpha).addcmul_(grad, grad * (1 - alpha))
            avg = square_avg.sqrt().add_(self.EPS)
            rate = self.shaped(lr / role.lr_divisor, param)
            if self.with_momentum:
                buf = state.setdefault("momentum_buffer", torch.zeros_like(param))
                buf.mul_(self.shaped(self.momentum, param)).addcdiv_(grad, avg)
                param.sub_(buf * rate)
            else:
                param.sub_(grad / avg * rate)
        self.steps += 1


class Adadelta(VectorOptimizer):
    """torch.optim.Adadelta, eps 1e-6."""

    EPS = 1e-6

    def rebuild(self) -> None:
        self.lr, self.rho = self.per_trial("lr", 1.0), self.per_trial("rho", 0.9)
        self.weight_decay = self.per_trial("weight_decay")

    def step(self, factor: torch.Tensor) -> None:
        import torch

        lr = self.lr * factor
        for param, role, state in zip(self.params, self.roles, self.state, strict=True):
            grad = self.l2_gradient(param, role)
            rho = self.shaped(self.rho, param)
            square_avg = state.setdefault("square_avg", torch.zeros_like(param))
            acc_delta = state.setdefault("acc_delta", torch.zeros_like(param))
            square_avg.mul_(rho).addcmul_(grad, grad * (1 - rho))
            std = square_avg.add(self.EPS).sqrt_()
            delta = acc_delta.add(self.EPS).sqrt_()
            delta.div_(std).mul_(grad)
            acc_delta.mul_(rho).addcmul_(delta, delta * (1 - rho))
            param.sub_(delta * self.shaped(lr / role.lr_divisor, param))
        self.steps += 1


# The Adam family (Adam, AdamW, NAdam), Lion and Muon.
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
