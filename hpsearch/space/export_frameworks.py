"""The winner for the training frameworks most people use: a `configure_optimizers` for PyTorch
Lightning and the `optimizers=(optimizer, scheduler)` pair for Hugging Face's `Trainer`. Both build
through `hpsearch.build_optimizer` and `build_scheduler` from the configuration written into the
code, so they train exactly what the search trained (schedules stepped every optimizer step)."""

from __future__ import annotations

import pprint
from collections.abc import Mapping
from typing import Any

from hpsearch.space.optimizers import OPTIMIZERS


def _config_literal(config: Mapping[str, Any]) -> str:
    return "CONFIG = " + pprint.pformat(dict(config), width=100, sort_dicts=True)


def to_lightning(config: Mapping[str, Any]) -> str:
    spec = OPTIMIZERS[config["optimizer"]]
    clip = config.get("clip_grad_norm")
    lines = ["import hpsearch", "", _config_literal(config), "", "",
             "def configure_optimizers(self):",
             '    """Paste into your LightningModule: the searched optimizer, its schedule stepped '
             'every step."""',
             "    optimizer = hpsearch.build_optimizer(CONFIG, self)",
             "    scheduler = hpsearch.build_scheduler(",
             "        CONFIG, optimizer, total_steps=int(self.trainer.estimated_stepping_batches))",
             "    if scheduler is None:",
             "        return optimizer",
             '    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, '
             '"interval": "step"}}', ""]
    if clip is not None:
        lines.append(f"# Trainer(gradient_clip_val={clip!r}, gradient_clip_algorithm=\"norm\")")
    if spec.needs_closure:
        lines.append("# L-BFGS steps through a closure: Lightning's automatic optimization passes one;"
                     " train on full batches as the search did")
    if spec.train_eval_modes:
        lines.append("# schedule-free: call optimizer.train() in on_train_epoch_start and "
                     "optimizer.eval() in on_validation_epoch_start")
    return "\n".join(lines) + "\n"


def to_hf(config: Mapping[str, Any]) -> str:
    spec = OPTIMIZERS[config["optimizer"]]
    clip = config.get("clip_grad_norm")
    lines = []
    if spec.needs_closure:
        lines.append("# NOTE: L-BFGS cannot run in transformers.Trainer: it steps through a closure "
                     "that re-evaluates the loss, which Trainer never passes. Use a plain loop.")
    lines += ["import hpsearch", "import torch", "", _config_literal(config), "",
              "# `model` is your model; `total_steps` the optimizer steps of the run "
              "(TrainingArguments.max_steps, or batches per epoch x epochs)",
              "optimizer = hpsearch.build_optimizer(CONFIG, model)",
              "scheduler = hpsearch.build_scheduler(CONFIG, optimizer, total_steps=total_steps)",
              "if scheduler is None:  # a constant rate: without one, Trainer would decay it linearly",
              "    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)",
              f"max_grad_norm = {float(clip) if clip is not None else 0.0!r}  "
              "# TrainingArguments(max_grad_norm=...): 0 turns off Trainer's default clipping at 1.0",
              "# transformers.Trainer(model=model, args=TrainingArguments(..., max_grad_norm="
              "max_grad_norm), optimizers=(optimizer, scheduler))"]
    return "\n".join(lines) + "\n"
