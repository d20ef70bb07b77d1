"""The training loop. It knows nothing of Optuna: it yields one `PointResult` per evaluation point
(an epoch, or `eval_every` optimizer steps).

Data are tensors resident on the device, batched by index permutation; every optimizer steps through
a closure (so L-BFGS and SGD share one path); losses are summed on the device and read back once per
epoch, together with a finiteness check of the loss and parameters. An optimizer with train/eval modes
(schedule-free) is put in train mode for each epoch's steps and in eval mode before evaluating.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hpsearch import record
from hpsearch.space.conditional import TrialConfig
from hpsearch.space.optimizers import build, get_spec
from hpsearch.space.schedules import build_scheduler, is_fractional

if TYPE_CHECKING:
    import torch

    from hpsearch.tasks import Problem, TaskData

EVAL_CHUNK = 8192


@dataclass(frozen=True)
class DeviceData:
    """A task's splits as tensors on the training device; the test split only where it is scored
    (a comparison's trials), so that no tuning decision can see it otherwise."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    n_outputs: int
    target_scale: float
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None

    @classmethod
    def from_task_data(cls, data: TaskData, device: torch.device,
                       with_test: bool = False) -> DeviceData:
        import torch

        def put(array: Any) -> torch.Tensor:
            return torch.from_numpy(array).to(device)

        test = (put(data.test.x), put(data.test.y)) if with_test else (None, None)
        return cls(put(data.train.x), put(data.train.y), put(data.val.x), put(data.val.y),
                   data.n_outputs, data.target_scale, *test)

    def model_shape(self) -> tuple[int, int]:
        """What a model builder is called with: (input features, outputs)."""
        return int(self.x_train.shape[1]), self.n_outputs


@dataclass(frozen=True)
class PointResult:
    """One evaluation point of one trial, as a training loop yields it."""

    index: int  # 0-based, the step reported to the pruner
    train_loss: float  # mean over the epoch's batches, weighted by batch size
    metrics: tuple[float, ...]  # validation metric first, then the problem's extra metrics
    closure_evaluations: int  # cumulative over the run: forward and backward passes
    updates: int  # cumulative parameter updates: one per step; L-BFGS: its inner iterations
    diverged: str | None = None  # the reason, when the run cannot go on
    total_steps: int = 0  # the optimizer steps the whole run takes: what the schedule is shaped on
    extra: Mapping[str, Any] = field(default_factory=dict)  # a loop's own measurements, recorded

    @property
    def val_metric(self) -> float:
        return self.metrics[0]


def fit(
    data: DeviceData,
    model: torch.nn.Module,
    config: TrialConfig | Mapping[str, Any],
    problem: Problem,
    epochs: int,
    batch_size: int,
    seed: int,
    eval_every: int | None = None,
) -> Iterator[PointResult]:
    """Train `model` with the optimizer, schedule and clipping of `config`, yielding at each of
    `epochs` evaluation points: after every pass over the training rows (an epoch), or, with
    `eval_every`, after every `eval_every` optimizer steps (a budget in steps).

    The schedule steps after every optimizer step, shaped on the run's total steps (a configuration
    stored with an epoch-wise schedule steps it once per evaluation point, as it was trained).
    Stops after yielding a result whose `diverged` is set. L-BFGS (any optimizer that needs its
    closure) trains full batch, many loss evaluations inside each step; its budget is counted in
    rows seen, so that it sees the data the others see: one step per epoch.
    """
    import torch

    if not isinstance(config, TrialConfig):  # an exported configuration
        config = TrialConfig.from_dict(config)
    device = data.x_train.device
    optimizer = build(config.optimizer, config.hyperparameters, config.implementation, model,
                      config.decay)
    params = [p for p in model.parameters() if p.requires_grad]
    clip = config.clip_grad_norm
    n = len(data.x_train)
    spec = get_spec(config.optimizer)
    due = steps_due(n, batch_size, epochs, eval_every, spec.needs_closure)
    if spec.needs_closure:
        batch_size = n
    total_steps = due[-1]
    per_step = is_fractional(config.schedule)  # else stored epoch-wise: stepped once per point
    scheduler = build_scheduler({"schedule": config.schedule}, optimizer, total_steps)
    generator = torch.Generator(device=device).manual_seed(seed)
    batches = shuffled_batches(n, batch_size, generator, device)
    closure = StepClosure(model, optimizer, problem.loss, params, clip)
    steps = rows = 0
    pace = Pace(6 * sum(p.numel() for p in params))

    for epoch, until in enumerate(due):
        model.train()
        if spec.train_eval_modes:
            optimizer.train()  # type: ignore[attr-defined]
        total = torch.zeros((), device=device)
        rows_before = rows
        while steps < until:
            index = next(batches)
            loss = closure.step(data.x_train[index], data.y_train[index])
            total += loss.detach() * len(index)
            steps += 1
            rows += len(index)
            if per_step and scheduler is not None:
                scheduler.step()
        if not per_step and scheduler is not None:
            scheduler.step()
        if spec.train_eval_modes:
            optimizer.eval()  # type: ignore[attr-defined]  # the averaged weights, to evaluate and keep
        updates = spec.inner_iterations(optimizer) if spec.inner_iterations else steps
        result = pace.point(epoch, total / max(1, rows - rows_before), params, closure.norm,
                            evaluate(model, data, problem), steps=steps, tokens=rows,
                            evaluations=closure.evaluations, updates=updates,
                            total_steps=total_steps)
        yield result
        if result.diverged:
            return


class StepClosure:
    """What every optimizer steps through, one mini-batch at a time (L-BFGS calls it many times a
    step, so every optimizer shares one path): zero the gradients, the loss, its backward pass and
    the clipping to `clip`. It counts its calls and keeps the last clipped gradient norm."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 params: list[torch.nn.Parameter] | None = None, clip: float | None = None) -> None:
        self.model, self.optimizer, self.loss = model, optimizer, loss
        self.params, self.clip = params or [], clip
        self.evaluations = 0
        self.norm: torch.Tensor | None = None  # the last clipping's; None without clipping
        self.batch: tuple[torch.Tensor, torch.Tensor] | None = None

    def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One optimizer step on the batch; the loss of its first evaluation, on the device."""
        self.batch = (x, y)
        return self.optimizer.step(self)  # type: ignore[arg-type, return-value]  # returns the loss

    def __call__(self) -> torch.Tensor:
        import torch

        assert self.batch is not None, "called by optimizer.step, within step()"
        self.evaluations += 1
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(self.model(self.batch[0]), self.batch[1])
        loss.backward()
        if self.clip is not None:
            self.norm = torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        return loss


def steps_due(n: int, batch_size: int, points: int, eval_every: int | None,
              full_batch: bool) -> list[int]:
    """The optimizer steps done by each evaluation point. A full-batch optimizer is given the rows
    the others see (`points` epochs, or `eval_every` batches per point), in whole passes, and at
    least one step."""
    rows_per_point = eval_every * batch_size if eval_every else n
    if full_batch:
        due = [round(rows_per_point * (i + 1) / n) for i in range(points)]
        return [*due[:-1], max(1, due[-1])]
    per_point = eval_every or math.ceil(n / batch_size)
    return [per_point * (i + 1) for i in range(points)]


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator,
                     device: torch.device) -> Iterator[torch.Tensor]:
    """Row indices, `batch_size` at a time, reshuffled at every pass over the rows."""
    import torch

    while True:
        order = torch.randperm(n, device=device, generator=generator)
        for start in range(0, n, batch_size):
            yield order[start:start + batch_size]


def gradient_norm(params: list[torch.nn.Parameter], device: torch.device) -> torch.Tensor:
    """The global L2 norm of the gradients (zero before any backward pass), on the device."""
    import torch

    grads = [torch.linalg.vector_norm(p.grad) for p in params if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(grads)) if grads else torch.zeros((), device=device)


def speeds(steps: int, tokens: int, elapsed: float, flops_per_token: int,
           grad_norms: list[float], timed_steps: int | None = None) -> dict[str, Any]:
    """What a trial records at an evaluation point about its pace (a table's token is a row)."""
    timed = steps if timed_steps is None else timed_steps
    per_step = tokens / max(1, steps)
    return {record.STEPS: steps, record.TOKENS: tokens,
            record.TOKENS_PER_SECOND: round(timed * per_step / elapsed, 1) if elapsed > 0 else None,
            record.SECONDS_PER_STEP: round(elapsed / max(1, timed), 6),
            record.FLOPS_PER_TOKEN: flops_per_token, record.GRAD_NORMS: list(grad_norms)}


def evaluate(model: torch.nn.Module, data: DeviceData, problem: Problem,
             split: str = "val") -> torch.Tensor:
    """Validation (or test) metrics as a tensor on the device (no host sync here)."""
    import torch

    x, y = (data.x_val, data.y_val) if split == "val" else (data.x_test, data.y_test)
    if x is None or y is None:
        raise ValueError(f"no '{split}' split on the device")
    model.eval()
    with torch.no_grad():
        output = torch.cat([model(x[i:i + EVAL_CHUNK]) for i in range(0, len(x), EVAL_CHUNK)])
        return problem.evaluate(output, y, data.target_scale)


class Pace:
    """A run's pace over its evaluation points: its clock (restarted after a compiling step), the
    gradient norm at each point and its FLOPs per token (a table's token is a row)."""

    def __init__(self, flops_per_token: int) -> None:
        self.flops_per_token = flops_per_token
        self.grad_norms: list[float] = []
        self.started = time.perf_counter()

    def restart(self) -> None:
        self.started = time.perf_counter()

    def point(self, index: int, mean_loss: torch.Tensor, params: list[torch.nn.Parameter],
              clipped_norm: torch.Tensor | None, metrics: torch.Tensor, *, steps: int, tokens: int,
              evaluations: int, updates: int, total_steps: int, timed_steps: int | None = None,
              extra: Mapping[str, Any] | None = None) -> PointResult:
        """The end of evaluation point `index`, as every loop ends one: its numbers in one read
        from the device (`read_point`), the gradient norm kept, the speeds so far."""
        train_loss, grad_norm, values, reason = read_point(mean_loss, params, clipped_norm, metrics)
        self.grad_norms.append(round(grad_norm, 6))
        elapsed = time.perf_counter() - self.started
        pace = speeds(steps, tokens, elapsed, self.flops_per_token, self.grad_norms, timed_steps)
        return PointResult(index, train_loss, tuple(values), evaluations, updates, reason,
                           total_steps, {**pace, **(extra or {})})


def read_point(mean_loss: torch.Tensor, params: list[torch.nn.Parameter],
               clipped_norm: torch.Tensor | None, metrics: torch.Tensor
               ) -> tuple[float, float, list[float], str | None]:
    """An evaluation point's numbers in one read from the device (each read waits for it): the
    mean training loss, the last step's gradient norm (as clipping measured it, else measured
    here), the metrics, and why the run diverged (a non-finite loss, parameter or metric), if it
    did."""
    import torch

    norm = clipped_norm if clipped_norm is not None else gradient_norm(params, mean_loss.device)
    param_sum = torch.stack([p.detach().sum() for p in params]).sum()
    train_loss, param_check, grad_norm, *values = torch.cat(
        [torch.stack([mean_loss, param_sum, norm.float()]), metrics]).tolist()
    return train_loss, grad_norm, values, divergence(train_loss, param_check, values)


def divergence(train_loss: float, param_check: float, metrics: list[float]) -> str | None:
    if not math.isfinite(train_loss):
        return f"training loss is {train_loss}"
    if not math.isfinite(param_check):
        return "parameters are not finite"
    if not all(math.isfinite(v) for v in metrics):
        return f"validation metrics are not finite: {metrics}"
    return None
