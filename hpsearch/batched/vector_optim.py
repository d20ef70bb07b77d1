"""Optimizers over a batch of trials trained as one stacked model: every parameter carries a leading
trial dimension B, every hyperparameter is one value per trial. Each update is torch's own
single-tensor update (and pytorch_optimizer's, for Lion), written over the trial dimension, so that a
trial trains in a batch as it trains alone: the same operations in the same order, with its own
learning rate, momentum, betas, eps, alpha, rho and weight decay (decoupled or not).

This module holds the common part and the SGD family, Adagrad, RMSprop and Adadelta; `vector_adam`
the Adam family, Lion and Muon. torch is imported by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ParamRole:
    """How the optimizer treats one parameter, as `optimizers.build` groups it: weight decay on it
    or not, its learning rate divided by µP's width multiplier or not, and whether Muon takes it."""

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
        """The weight decay on this parameter; None where no trial decays it."""
        return self.weight_decay if role.decayed and self.decaying else None

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
