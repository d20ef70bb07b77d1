"""Every export, pasted after a user's model in a fresh interpreter, runs: for a winner of every
optimizer and every schedule kind, with clipping on and off and weight decay on every parameter or
on the matrices only. Each snippet is its own file, run by `runpy` in one subprocess: compiled
without this module's `from __future__` flags, in a fresh namespace, as a pasted script is."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
import pytest

from hpsearch import record
from hpsearch.space.conditional import SearchSpace, suggest
from hpsearch.space.export import best_config, render
from hpsearch.space.optimizers import OPTIMIZERS, implementation_for
from hpsearch.space.schedules import SCHEDULES, WSD_SHAPES, lr_factor

STEPS = 8  # the optimizer steps each winner's run took: what its schedule is shaped on
KINDS = [(name, shape) for name in SCHEDULES for shape in (WSD_SHAPES if name == "wsd" else (None,))]
SETTINGS = list(itertools.product((False, True), ("all", "matrices")))  # clipping, weight decay on
MODEL = "torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()"
RUNNER = """
import runpy, sys
failed = []
for path in sys.argv[1:]:
    try:
        runpy.run_path(path, run_name="__main__")
    except BaseException as error:
        failed.append(f"{path}: {type(error).__name__}: {error}")
print("\\n".join(failed) or f"{len(sys.argv) - 1} snippets ran")
sys.exit(1 if failed else 0)
"""


def winner(storage: optuna.storages.BaseStorage, key: str, index: int, schedule: str,
           shape: str | None, clip: bool, decay: str) -> dict[str, Any]:
    """The configuration `hpsearch best` exports for a study whose one trial drew `key` with this
    schedule, as `hpsearch tune` stores it (the rest drawn at random, optional ones on or off)."""
    spec = OPTIMIZERS[key]
    fixed: dict[str, Any] = {"clip_grad": clip, **({"schedule_wsd_shape": shape} if shape else {})}
    fixed.update({f"{spec.param_name(hp)}_on": index % 3 != 2 for hp in spec.hyperparameters
                  if hp.optional})
    sampler = optuna.samplers.PartialFixedSampler(fixed, optuna.samplers.RandomSampler(seed=index))
    study = optuna.create_study(storage=storage, study_name=f"{key}-{index}", sampler=sampler,
                                direction="maximize")
    for name, value in ((record.METRIC, "accuracy"), (record.EPOCHS, 2), (record.BATCH_SIZE, 16)):
        study.set_user_attr(name, value)
    trial = study.ask()
    space = SearchSpace(optimizers=(key,), schedules=(schedule,), weight_decay_on=decay)
    drawn = suggest(trial, space, 2)
    config = replace(drawn, implementation=implementation_for(key, "cpu"))  # as the objective stores it
    trial.set_user_attr(record.CONFIG, config.to_dict())
    trial.set_user_attr(record.RECORD, {record.TOTAL_STEPS: STEPS, record.SEED: index,
                                        record.BEST_POINT: 2, record.BEST_VALUE: 0.5})
    study.tell(trial, 0.5)
    return best_config(study)


def winners() -> list[dict[str, Any]]:
    """Per optimizer, every schedule kind it can draw (none for a schedule-free one), and each
    setting of clipping and weight decay at least once."""
    storage = optuna.storages.InMemoryStorage()
    found = []
    for key, spec in OPTIMIZERS.items():
        kinds = [("none", None)] if spec.schedule_free else KINDS
        for index in range(max(len(kinds), len(SETTINGS))):
            found.append(winner(storage, key, index, *kinds[index % len(kinds)],
                                *SETTINGS[index % len(SETTINGS)]))
    return found


def one_step(config: dict[str, Any], model: str, clip: str, scheduled: bool) -> str:
    """A training step as each export's comments ask for it (clipping to `clip` if given), then the
    scheduler's if there is one; checks that the parameters moved and that the learning rate is
    the search's at the second step."""
    spec, schedule = OPTIMIZERS[config["optimizer"]], config["schedule"]
    factor = lr_factor(schedule, 1 / (STEPS - 1)) if schedule["name"] != "none" else 1.0
    lines = ["torch.manual_seed(0)",
             "x, y = torch.randn(16, 6, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)",
             f"before = [p.detach().clone() for p in {model}.parameters()]",
             *(["optimizer.train()"] if spec.train_eval_modes else []),
             "def closure():", "    optimizer.zero_grad()",
             f"    loss = torch.nn.functional.mse_loss({model}(x), y)", "    loss.backward()",
             *([f"    torch.nn.utils.clip_grad_norm_({model}.parameters(), {clip})"] if clip else []),
             "    return loss",
             "optimizer.step(closure)" if spec.needs_closure else "closure()\noptimizer.step()",
             f"assert any(not torch.equal(a, b) for a, b in zip(before, {model}.parameters()))"]
    if scheduled:
        lines += ["scheduler.step()", "for group in optimizer.param_groups:",
                  f"    assert abs(group['lr'] - group['initial_lr'] * {factor!r}) <= 1e-9 * group['lr'], "
                  "(group['lr'], group['initial_lr'])"]
    return "\n".join(lines) + "\n"


def python_file(config: dict[str, Any]) -> str:
    """The plain PyTorch export after `model = ...`; it builds the groups `build_optimizer` builds."""
    clip = config["clip_grad_norm"]
    check = ["import hpsearch", f"twin = hpsearch.build_optimizer({config!r}, model)",
             "def settings(o):",
             "    return [({**{k: v for k, v in g.items() if k not in ('params', 'initial_lr')},"
             " 'lr': g.get('initial_lr', g['lr'])}, [id(p) for p in g['params']]) for g in o.param_groups]",
             "assert settings(optimizer) == settings(twin), (settings(optimizer), settings(twin))",
             f"assert globals().get('max_grad_norm') == {clip!r}"]
    return (f"import torch\nmodel = {MODEL}\n" + render(config, "python") + "\n".join(check) + "\n"
            + one_step(config, "model", "max_grad_norm" if clip is not None else "",
                       config["schedule"]["name"] != "none"))


def lightning_file(config: dict[str, Any]) -> str:
    """`configure_optimizers` pasted into a LightningModule, called as Lightning calls it (Lightning
    clips from `Trainer(gradient_clip_val=...)` and steps the scheduler every step)."""
    clip = config["clip_grad_norm"]
    call = ["import torch", "import types", f"module = {MODEL}",
            f"module.trainer = types.SimpleNamespace(estimated_stepping_batches={STEPS})",
            "out = configure_optimizers(module)",
            "optimizer = out['optimizer'] if isinstance(out, dict) else out",
            "assert isinstance(out, dict) == (CONFIG['schedule']['name'] != 'none')",
            "if isinstance(out, dict):",
            "    assert out['lr_scheduler']['interval'] == 'step'",
            "    scheduler = out['lr_scheduler']['scheduler']"]
    return (render(config, "lightning") + "\n".join(call) + "\n"
            + one_step(config, "module", repr(clip) if clip is not None else "",
                       config["schedule"]["name"] != "none"))


def hf_file(config: dict[str, Any]) -> str:
    """The `optimizers=(optimizer, scheduler)` pair for transformers' Trainer, stepped as it steps
    them (a constant rate: a scheduler that keeps it)."""
    clip = config["clip_grad_norm"]
    return (f"import torch\nmodel = {MODEL}\ntotal_steps = {STEPS}\n" + render(config, "hf")
            + f"assert max_grad_norm == {float(clip or 0.0)!r}\n"
            + one_step(config, "model", "max_grad_norm" if clip is not None else "", True))


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # PartialFixedSampler
def test_every_export_runs_pasted_into_a_fresh_interpreter(tmp_path: Path) -> None:
    configs = winners()
    assert {c["optimizer"] for c in configs} == set(OPTIMIZERS)
    assert {(c["schedule"]["name"], c["schedule"].get("shape")) for c in configs} == set(KINDS)
    assert {(c["clip_grad_norm"] is not None, c.get("weight_decay_on", "all")) for c in configs} \
        == set(SETTINGS)
    paths = []
    for number, config in enumerate(configs):
        for fmt, make in (("python", python_file), ("lightning", lightning_file), ("hf", hf_file)):
            path = tmp_path / f"{number:03d}-{config['optimizer']}-{fmt}.py"
            path.write_text(make(config), encoding="utf-8")
            paths.append(str(path))
    ran = subprocess.run([sys.executable, "-c", RUNNER, *paths], capture_output=True, text=True,
                         cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.strip() == f"{len(paths)} snippets ran"
