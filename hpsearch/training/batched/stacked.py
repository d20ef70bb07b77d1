"""B models of one shape as one: their parameters stacked along a leading trial dimension
(`torch.func.stack_module_state`) and one forward call for the whole batch (`vmap` over
`functional_call`), each trial on its own rows. torch is imported by the caller."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

Loss = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]


@contextlib.contextmanager
def quiet_fallbacks() -> Iterator[None]:
    """vmap warns on every call where it loops over the batch for want of a batching rule (CPU
    attention): the numbers are right, and the speed is what `--batch-trials auto` measures."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="There is a performance drop")
        yield


class NotBatchable(Exception):
    """These trials cannot train as one stacked model; the message says why, in one line."""


class StackedModel:
    """`params[name]` is [B, *shape]: trial i's tensor is `params[name][i]`."""

    def __init__(self, models: Sequence[torch.nn.Module]) -> None:
        from torch.func import stack_module_state

        shapes = {tuple((n, tuple(p.shape)) for n, p in m.named_parameters()) for m in models}
        if len(shapes) != 1:
            raise NotBatchable("the trials' models differ in shape")
        self.base = models[0]  # its forward, run with each trial's tensors in turn by vmap
        params, buffers = stack_module_state(list(models))  # type: ignore[arg-type]
        self.params: dict[str, torch.Tensor] = dict(params)
        self.buffers: dict[str, torch.Tensor] = dict(buffers)

    def __len__(self) -> int:
        return len(next(iter(self.params.values())))

    def tensors(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def losses(self, x: torch.Tensor, y: torch.Tensor, loss: Loss) -> torch.Tensor:
        """Each trial's loss on its own rows (`x[i]`, `y[i]`): one forward call, [B]."""
        from torch.func import functional_call, vmap

        def member(params: dict[str, Any], buffers: dict[str, Any], xb: Any, yb: Any) -> Any:
            return loss(functional_call(self.base, (params, buffers), (xb,)), yb)

        with quiet_fallbacks():
            return vmap(member)(self.params, self.buffers, x, y)  # type: ignore[no-any-return]

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """Every trial's outputs on the same rows: [B, rows, ...]."""
        from torch.func import functional_call, vmap

        def member(params: dict[str, Any], buffers: dict[str, Any]) -> Any:
            return functional_call(self.base, (params, buffers), (x,))

        with quiet_fallbacks():
            return vmap(member)(self.params, self.buffers)  # type: ignore[no-any-return]

    def check(self, x: torch.Tensor, y: torch.Tensor, loss: Loss) -> None:
        """A forward and backward pass on a few rows, or NotBatchable saying why (in-place changes
        of buffers, such as BatchNorm's running statistics, and what else vmap cannot trace)."""
        saved = {name: b.clone() for name, b in self.buffers.items()}  # running statistics
        try:
            self.losses(x, y, loss).sum().backward()
        except Exception as error:
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise NotBatchable(f"the model cannot be traced by torch.func.vmap: {first}") from None
        finally:
            for tensor in self.tensors():
                tensor.grad = None
            for name, b in self.buffers.items():
                b.copy_(saved[name])

    def keep(self, index: torch.Tensor) -> None:
        """Only the trials at `index` go on (new leaf tensors, compacted)."""
        self.params = {name: p.detach()[index].requires_grad_(p.requires_grad)
                       for name, p in self.params.items()}
        self.buffers = {name: b[index] for name, b in self.buffers.items()}

    def member(self, position: int) -> dict[str, torch.Tensor]:
        """One trial's tensors, as its model's `state_dict` holds them."""
        return {**{n: p.detach()[position].clone() for n, p in self.params.items()},
                **{n: b[position].clone() for n, b in self.buffers.items()}}
