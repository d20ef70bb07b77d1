"""The language model's training loop, budgeted in steps: random windows of the training tokens,
one optimizer step each, the schedule stepped every step, and an evaluation every `eval_every`
steps on a fixed set of validation windows that every trial sees. Like `train.fit` it knows nothing
of Optuna and reads the device once per evaluation point.

The built-in corpus and text files live on the device whole (a few MB of bytes); nanoGPT's memory
maps are sampled on the host, window by window, as nanoGPT does, and never read whole.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hpsearch import record
from hpsearch.errors import ConfigError
from hpsearch.space.conditional import TrialConfig
from hpsearch.space.optimizers import build, get_spec
from hpsearch.space.schedules import scheduler_for
from hpsearch.tasks.corpus import fixed_windows
from hpsearch.tasks.gpt import flops_per_token
from hpsearch.training.tables import DeviceData, Pace, PointResult

if TYPE_CHECKING:
    import torch

    from hpsearch.tasks import Problem, TaskData
    from hpsearch.tasks.corpus import Corpus

EVAL_CHUNK = 64


@dataclass(frozen=True)
class LMDeviceData:
    train: Any  # a device tensor of token ids, or the host memory map (sampled window by window)
    val: torch.Tensor  # fixed windows (n, context + 1) on the device
    vocab_size: int
    context: int
    byte_level: bool
    test: torch.Tensor | None = None  # scored only by a comparison's trials

    @classmethod
    def from_corpus(cls, corpus: Corpus, device: torch.device, context: int,
                    with_test: bool = False) -> LMDeviceData:
        import torch

        def windows(tokens: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(fixed_windows(tokens, context)).to(device)

        corpus.check_context(context)
        train = (torch.from_numpy(np.array(corpus.train)).to(device)
                 if not isinstance(corpus.train, np.memmap) else corpus.train)
        return cls(train, windows(corpus.val), corpus.vocab_size, context, corpus.byte_level,
                   windows(corpus.test) if with_test else None)

    def model_shape(self) -> tuple[int, int]:
        """What a model builder is called with: (vocabulary size, context)."""
        return self.vocab_size, self.context

    def batch(self, size: int, generator: Any, device: torch.device
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """`size` random windows: the inputs and, one token on, the targets."""
        import torch

        if isinstance(self.train, np.memmap):
            starts = generator.integers(0, len(self.train) - self.context - 1, size)
            rows = np.stack([self.train[s:s + self.context + 1] for s in starts]).astype(np.int64)
            chunk = torch.from_numpy(rows).to(device, non_blocking=True)
        else:
            starts = torch.randint(0, len(self.train) - self.context - 1, (size,),
                                   generator=generator, device=device)
            offsets = starts[:, None] + torch.arange(self.context + 1, device=device)
            chunk = self.train[offsets].long()
        return chunk[:, :-1], chunk[:, 1:]


def device_data(data: TaskData | Corpus, device: torch.device, context: int = 0,
                with_test: bool = False) -> DeviceData | LMDeviceData:
    """A prepared task's data on the training device: a table's splits, or a corpus's tokens."""
    from hpsearch.tasks.corpus import Corpus

    if isinstance(data, Corpus):
        return LMDeviceData.from_corpus(data, device, context, with_test)
    return DeviceData.from_task_data(data, device, with_test)


def autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    """bf16 autocast where asked (the device abstraction decides), else nothing."""
    import torch

    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def fit_lm(data: LMDeviceData, model: torch.nn.Module, config: TrialConfig | Mapping[str, Any],
           problem: Problem, evaluations: int, batch_size: int, seed: int, eval_every: int,
           precision: torch.dtype | None = None, compile_model: bool = False
           ) -> Iterator[PointResult]:
    """Train for `evaluations * eval_every` steps, yielding at each evaluation point (its index is
    the `epoch` the pruner sees). Stops after a result whose `diverged` is set. With
    `compile_model`, training steps run through `torch.compile`; the first step, which compiles, is
    timed apart (`compile_seconds`) and left out of the speeds; evaluations run the module as is."""
    import torch
    import torch.nn.functional as F

    if not isinstance(config, TrialConfig):
        config = TrialConfig.from_dict(config)
    spec = get_spec(config.optimizer)
    if spec.needs_closure:
        raise ConfigError(f"'{config.optimizer}' needs full-batch steps; a language model trains "
                          "on random windows")
    device = data.val.device
    optimizer = build(config.optimizer, config.hyperparameters, config.implementation, model,
                      config.decay)
    total_steps = evaluations * eval_every
    scheduler = scheduler_for(config.schedule, optimizer, total_steps)
    params = [p for p in model.parameters() if p.requires_grad]
    generator = (np.random.default_rng(seed) if isinstance(data.train, np.memmap)
                 else torch.Generator(device=device).manual_seed(seed))
    steps, pace = 0, Pace(flops_per_token(model, data.context))
    forward = torch.compile(model) if compile_model else model
    timing: dict[str, Any] = {}  # compile_seconds, once the first compiled step is done
    for evaluation in range(evaluations):
        model.train()
        if spec.train_eval_modes:
            optimizer.train()  # type: ignore[attr-defined]
        total = torch.zeros((), device=device)
        norm = torch.zeros((), device=device)
        for _ in range(eval_every):
            x, y = data.batch(batch_size, generator, device)
            optimizer.zero_grad(set_to_none=True)
            with autocast(device, precision):
                logits = forward(x)
            loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), y.reshape(-1))
            loss.backward()
            if config.clip_grad_norm is not None:
                norm = torch.nn.utils.clip_grad_norm_(params, config.clip_grad_norm)
            optimizer.step()
            total += loss.detach()
            steps += 1
            if scheduler is not None:
                scheduler.step()
            if compile_model and steps == 1:  # one host read, once: compilation ends here
                loss.item()
                timing[record.COMPILE_SECONDS] = round(time.perf_counter() - pace.started, 3)
                pace.restart()
        if spec.train_eval_modes:
            optimizer.eval()  # type: ignore[attr-defined]
        result = pace.point(
            evaluation, total / eval_every, params,
            norm if config.clip_grad_norm is not None else None, evaluate_lm(model, data, precision),
            steps=steps, tokens=steps * batch_size * data.context, evaluations=steps, updates=steps,
            total_steps=total_steps, timed_steps=steps - (1 if compile_model else 0),  # the
            extra=timing)  # compiling step is timed apart
        yield result
        if result.diverged:
            return


def evaluate_lm(model: torch.nn.Module, data: LMDeviceData, precision: torch.dtype | None = None,
                split: str = "val") -> torch.Tensor:
    """Mean loss in nats per token over the fixed windows (then bits per byte, for bytes), as a
    tensor on the device."""
    import torch
    import torch.nn.functional as F

    windows = data.val if split == "val" else data.test
    if windows is None:
        raise ValueError(f"no '{split}' windows on the device")
    model.eval()
    total = torch.zeros((), device=windows.device)
    with torch.no_grad():
        for chunk in windows.split(EVAL_CHUNK):
            with autocast(windows.device, precision):
                logits = model(chunk[:, :-1])
            total += F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                     chunk[:, 1:].reshape(-1), reduction="sum")
    loss = total / windows[:, 1:].numel()
    return torch.stack([loss, loss / math.log(2)]) if data.byte_level else loss.reshape(1)
