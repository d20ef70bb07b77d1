"""The GPU check (`make gpu-check`): a short `lm` sweep on the GPU in bf16, and what it costs.

Prints tokens per second on the GPU, model FLOPs utilisation against the GPU's dense bf16 peak
(where its name is known), and tokens per second of the same model on the same machine's CPU; then
a scale sweep, and `tune --command` on examples/train_gpt.py (the programs told `{device}` cuda).
Runs under the machine's own torch (2.4 or later) with optuna and the other pure-Python packages
from the folder `make gpu-wheels` fills; installs nothing from a registry. Under 5 minutes.

`python tests/gpu_check.py --smoke` runs the same script on the CPU with a tiny model: a check of
the script, not of a GPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

import optuna
import torch

from hpsearch.definition.config import load_config
from hpsearch.protocols.tune import run
from hpsearch.record import trial_attrs
from hpsearch.tasks.base import LANGUAGE
from hpsearch.tasks.corpus import builtin_corpus
from hpsearch.tasks.gpt import gpt
from hpsearch.training.lm import LMDeviceData, fit_lm

# Dense bf16 tensor-core peaks, TFLOP/s, by a part of the device's name.
PEAK_BF16_TFLOPS = {"H200": 989, "H100": 989, "GH200": 989, "A100": 312, "L40S": 362, "L4": 121,
                    "A10": 125, "RTX 4090": 165, "RTX 3090": 71}
SIZE = {"width": 256, "depth": 4, "context": 256, "batch_size": 32}
SMOKE = {"width": 32, "depth": 1, "context": 32, "batch_size": 8}


def peak(name: str) -> float | None:
    return next((tflops * 1e12 for key, tflops in PEAK_BF16_TFLOPS.items() if key in name), None)


def cpu_tokens_per_second(size: dict[str, int], steps: int) -> float:
    data = LMDeviceData.from_corpus(builtin_corpus(), torch.device("cpu"), size["context"])
    config = {"optimizer": "adamw", "hyperparameters": {"lr": 1e-3, "weight_decay": 0.1},
              "schedule": {"name": "none"}, "clip_grad_norm": 1.0}
    model = gpt(256, size["context"], size["width"], size["depth"])
    *_, last = fit_lm(data, model, config, LANGUAGE, 1, size["batch_size"], 0, steps)
    return float(last.extra["tokens_per_second"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="on the CPU, tiny: checks the script")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not args.smoke and not torch.cuda.is_available():
        sys.exit("no CUDA device here: make gpu-check needs a GPU (or use --smoke)")
    size = SMOKE if args.smoke else SIZE
    device = "cpu" if args.smoke else "cuda"
    name = "cpu (smoke)" if args.smoke else torch.cuda.get_device_name(0)
    print(f"torch {torch.__version__}, optuna {optuna.__version__}, device {name}")
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config("lm", None, {
            "storage": f"sqlite:///{tmp}/gpu.db", "study": "gpu-check", "n_trials": 2 if args.smoke
            else 6, "steps": 40 if args.smoke else 600, "eval_every": 20 if args.smoke else 100,
            "device": device, "precision": "fp32" if args.smoke else "bf16", "pruner": "none",
            "optimizers": ("adamw", "muon"), **size})
        started = time.perf_counter()
        study = run(config).study
        wall = time.perf_counter() - started
    records = [trial_attrs(t) for t in study.trials if t.state.is_finished()]
    tokens_per_second = statistics.median(r["tokens_per_second"] for r in records)
    flops = records[0]["flops_per_token"]
    print(f"lm sweep: {len(records)} trials x {config.steps} steps of {size['batch_size']} x "
          f"{size['context']} tokens, GPT {size['width']}x{size['depth']} "
          f"({records[0]['parameters']:,} parameters), {config.precision}: {wall:.0f} s")
    print(f"  {device}: {tokens_per_second:,.0f} tokens/s (median over trials), "
          f"{flops:,} FLOPs/token")
    top = peak(name)
    if top is not None:
        print(f"  model FLOPs utilisation: {flops * tokens_per_second / top:.1%} of "
              f"{top / 1e12:.0f} TFLOP/s (dense bf16)")
    else:
        print(f"  model FLOPs utilisation: the peak of '{name}' is not known here")
    cpu = cpu_tokens_per_second(size, 10 if args.smoke else 20)
    print(f"  this machine's CPU, same model, fp32: {cpu:,.0f} tokens/s "
          f"({tokens_per_second / cpu:.1f}x)")
    scale_sweep(args.smoke, device)
    command_sweep(args.smoke)


def scale_sweep(smoke: bool, device: str) -> None:
    """`hpsearch scale` for AdamW in sp and µP at widths 128 to 1024 (tiny under --smoke)."""
    from hpsearch.protocols.scale import ScaleConfig, run
    from hpsearch.report.summaries.scale import scale_lines, summarise_scale

    with tempfile.TemporaryDirectory() as tmp:
        config = ScaleConfig(
            optimizers=("adamw",), widths=(16, 32, 48, 64) if smoke else (128, 256, 512, 1024),
            steps=10 if smoke else 250, context=16 if smoke else 128, batch_size=8 if smoke else 32,
            device=device, precision="fp32" if smoke else "bf16", storage=f"sqlite:///{tmp}/scale.db",
            study="gpu-scale", target_width=64 if smoke else 8192)
        result = run(config)
        print(f"scale sweep: {result.trials_run} runs in {result.seconds:.0f} s, "
              f"{result.steps_per_second:.1f} steps/s")
        print("\n".join(scale_lines(summarise_scale(result.study))))


def command_sweep(smoke: bool) -> None:
    """`tune --command` on examples/train_gpt.py: each trial's program is told `{device}` (cuda
    where this machine has a GPU), and the sweep's cost per trial beside the program's own."""
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "examples" / "train_gpt.py"
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(None, None, {
            "command": f"{sys.executable} {example} --learning_rate={{lr}} --max_iters={{steps}} "
                       "--lr_decay_iters={steps} --warmup_iters={warmup_steps} --min_lr={min_lr} "
                       "--eval_interval={eval_every} --device={device} --out_dir={trial_dir}",
            "metric_regex": r"step (?P<step>\d+): .*val loss (?P<value>[0-9.]+|nan|inf)",
            "optimizers": ("adamw",), "schedules": ("cosine",), "pruner": "none",
            "steps": 40 if smoke else 400, "eval_every": 20 if smoke else 100,
            "n_trials": 2 if smoke else 4, "storage": f"sqlite:///{tmp}/command.db",
            "study": "gpu-command", "device": "cpu" if smoke else "auto"})
        started = time.perf_counter()
        study = run(config).study
        wall = time.perf_counter() - started
    records = [trial_attrs(t) for t in study.trials]
    seconds = ", ".join(f"{r['seconds']:.1f}" for r in records)
    print(f"command sweep: {len(records)} trials of examples/train_gpt.py, {config.steps} steps: "
          f"{wall:.0f} s, trial seconds {seconds}")
    print(f"  devices: {sorted({r['device'] for r in records})}; outcomes: "
          f"{sorted({t.state.name for t in study.trials})}")


if __name__ == "__main__":
    main()
