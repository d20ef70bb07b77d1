"""`hpsearch best --format lightning|hf`: code that builds what the search trained, run here in a
plain loop (neither Lightning nor transformers needs to be installed)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner

from hpsearch.cli import cli


def exported(study: str, optimizer: str, fmt: str) -> str:
    result = CliRunner().invoke(cli, ["tune", "--task", "small", "--study", study, "--n-trials", "2",
                                      "--epochs", "1", "--optimizers", optimizer, "--seed", "3"])
    assert result.exit_code == 0, result.output
    best = CliRunner().invoke(cli, ["best", "--study", study, "--format", fmt])
    assert best.exit_code == 0, best.output
    return best.output


def test_lightning_configure_optimizers_trains_a_step(workdir: Path) -> None:
    code = exported("light", "adamw", "lightning")
    namespace: dict[str, object] = {}
    exec(compile(code, "configure_optimizers.py", "exec", dont_inherit=True), namespace)
    module = torch.nn.Sequential(torch.nn.Linear(30, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    module.trainer = SimpleNamespace(estimated_stepping_batches=10)  # what Lightning provides
    out = namespace["configure_optimizers"](module)  # type: ignore[operator]
    optimizer = out["optimizer"] if isinstance(out, dict) else out
    assert isinstance(optimizer, torch.optim.AdamW)
    group = optimizer.param_groups[0]  # a schedule keeps the searched rate as its initial one
    assert group.get("initial_lr", group["lr"]) == pytest.approx(
        namespace["CONFIG"]["hyperparameters"]["lr"])  # type: ignore[index]
    before = [p.detach().clone() for p in module.parameters()]
    loss = torch.nn.functional.cross_entropy(module(torch.randn(16, 30)), torch.randint(0, 2, (16,)))
    loss.backward()
    optimizer.step()
    if isinstance(out, dict):
        assert out["lr_scheduler"]["interval"] == "step"
        out["lr_scheduler"]["scheduler"].step()
    assert any(not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))


def test_hf_builds_its_pair_and_says_when_lbfgs_cannot_run(workdir: Path) -> None:
    code = exported("hf", "sgd", "hf")
    model = torch.nn.Linear(30, 2)
    namespace: dict[str, object] = {"model": model, "total_steps": 20}
    exec(compile(code, "hf.py", "exec", dont_inherit=True), namespace)
    assert isinstance(namespace["optimizer"], torch.optim.SGD)
    assert isinstance(namespace["scheduler"], torch.optim.lr_scheduler.LRScheduler)
    clip = namespace["CONFIG"]["clip_grad_norm"]  # type: ignore[index]
    assert namespace["max_grad_norm"] == (0.0 if clip is None else clip)
    assert "L-BFGS cannot run" not in code
    assert "L-BFGS cannot run in transformers.Trainer" in exported("hf-lbfgs", "lbfgs", "hf")
