"""hpsearch's µP held against Microsoft's `mup` package, on the built-in GPT.

The same GPT (depth 2, context 64, the built-in corpus) is built once under hpsearch's µP
(`tasks.mup.build_at_width` and `optimizers.build`, as `hpsearch scale` builds it) and once under
the package: its head a `MuReadout`, `set_base_shapes` against the model at the base width, the
GPT-2 initialisation drawn through `mup.init.normal_` and `MuAdamW`. Both train with the same loop,
data, steps and seeds as the scale sweep's AdamW runs (beta2 0.95, weight decay 0.1 on the
matrices, 5 % warm-up and cosine to a tenth, clipping at 1.0), over a grid of learning rates at
each width. Printed per width: each one's best learning rate (`statistics.transfer.best_lr`) and
the mean final validation loss at its best grid point, and whether they agree (within 0.15 decades
and 0.03 nats). `--before` adds hpsearch's µP as it was before it followed the package (attention
scaled by 1 / 16, the hidden matrices' weight decay not scaled), to show what that difference cost.

Run: `pip install --no-deps mup` (its declared torchvision is for its examples), then
`python tests/benchmarks/bench_mup_reference.py [--widths 16,32,64,128] [--steps 250] [--seeds 3]
[--workers 2] [--before]` (also `make bench-mup`). Not in the default suite: 168 runs (7 learning
rates, two arms) took 3,459 s on one worker of a shared 2-core machine; `--before` adds half again.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial

import numpy as np

BASE, DEPTH, CONTEXT, BATCH = 16, 2, 64, 32
ADAMW = {"betas": (0.9, 0.95), "eps": 1e-8, "weight_decay": 0.1}
LR_AGREE, LOSS_AGREE = 0.15, 0.03  # decades, nats per token
ARMS = ("hpsearch", "mup")


def hpsearch_model(vocab: int, width: int, before: bool) -> tuple[object, object]:
    from hpsearch.space.optimizers import build
    from hpsearch.tasks.gpt import gpt
    from hpsearch.tasks.mup import build_at_width

    model = build_at_width(partial(gpt, depth=DEPTH), vocab, CONTEXT, width, "mup", BASE)
    return model, lambda lr: build_optimizer_before(model, lr) if before else build(
        "adamw", {"lr": lr, **ADAMW}, {}, model, "matrices")


def build_optimizer_before(model, lr: float):  # type: ignore[no-untyped-def]
    """hpsearch's first µP: attention by 1 / head dimension (1/16), hidden decay unscaled."""
    from hpsearch.space.optimizers import build

    for block in model.blocks:
        block.scale = 1.0 / 16
    optimizer = build("adamw", {"lr": lr, **ADAMW}, {}, model, "matrices")
    for group in optimizer.param_groups:
        if group["weight_decay"]:
            group["weight_decay"] = ADAMW["weight_decay"]
    return optimizer


def mup_model(vocab: int, width: int) -> tuple[object, object]:
    import mup
    import torch

    from hpsearch.tasks.gpt import gpt

    def readout(model: torch.nn.Module, at: int) -> torch.nn.Module:
        model.head = mup.MuReadout(at, vocab, bias=False)
        return model

    model = readout(gpt(vocab, CONTEXT, width, DEPTH), width)
    with torch.random.fork_rng(devices=[]):
        base = readout(gpt(vocab, CONTEXT, BASE, DEPTH), BASE)
    mup.set_base_shapes(model, base, rescale_params=False)
    for name, p in model.named_parameters():  # GPT-2's initialisation, through mup's initialisers
        if p.ndim == 2:
            residual = name.endswith(("proj.weight", "mlp.2.weight"))
            mup.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * DEPTH) if residual else 0.02)
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    decayed = [p for p in model.parameters() if p.ndim >= 2 and id(p) not in embeddings]
    rest = [p for p in model.parameters() if not (p.ndim >= 2 and id(p) not in embeddings)]
    groups = [{"params": decayed}, {"params": rest, "weight_decay": 0.0}]
    return model, lambda lr: mup.MuAdamW(groups, lr=lr, **ADAMW)


def run(arm: str, width: int, lr: float, seed: int, steps: int) -> tuple[str, int, float, int, float]:
    """One training run: (arm, width, lr, seed, final validation loss in nats per token)."""
    import torch
    import torch.nn.functional as F

    from hpsearch.protocols.scale_plan import CLIP_NORM, SCHEDULE_CONFIG
    from hpsearch.space.schedules import scheduler_for
    from hpsearch.tasks.corpus import load_corpus
    from hpsearch.training.lm import LMDeviceData, evaluate_lm

    torch.set_num_threads(1)
    data = LMDeviceData.from_corpus(load_corpus(None), torch.device("cpu"), CONTEXT)
    torch.manual_seed(seed)
    model, make = (mup_model(data.vocab_size, width) if arm == "mup"
                   else hpsearch_model(data.vocab_size, width, arm == "before"))
    optimizer = make(lr)
    scheduler = scheduler_for(SCHEDULE_CONFIG, optimizer, steps)
    generator = torch.Generator().manual_seed(1000 + seed)
    params = [p for p in model.parameters()]
    for _ in range(steps):
        x, y = data.batch(BATCH, generator, torch.device("cpu"))
        optimizer.zero_grad(set_to_none=True)
        logits = model(x)
        F.cross_entropy(logits.view(-1, logits.shape[-1]), y.reshape(-1)).backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP_NORM)
        optimizer.step()
        scheduler.step()
    model.eval()
    with torch.no_grad():
        loss = float(evaluate_lm(model, data)[0])  # nats per token (then bits per byte)
    return arm, width, lr, seed, loss if math.isfinite(loss) else math.nan


def speed() -> str:
    """The machine's speed beside the wall-clock figures: one 256 x 256 matmul loop, one thread."""
    import torch

    torch.set_num_threads(1)
    a = torch.randn(256, 256)
    start = time.perf_counter()
    for _ in range(200):
        a @ a
    return f"{200 * 2 * 256**3 / (time.perf_counter() - start) / 1e9:.1f} GFLOP/s (one thread)"


def read(results: Sequence[tuple[str, int, float, int, float]], arms: Sequence[str],
         widths: Sequence[int]) -> bool:
    from hpsearch.errors import HpsearchError
    from hpsearch.statistics.transfer import best_lr

    agree = True
    print(f"{'width':>5} | " + " | ".join(f"{a}: best lr [90 %], loss at it" for a in arms)
          + " | lr apart (decades) | loss apart (nats)")
    for width in widths:
        cells, found = [], {}
        for arm in arms:
            rows = [r for r in results if r[0] == arm and r[1] == width]
            try:
                best = best_lr([r[2] for r in rows], [r[4] for r in rows], [r[3] for r in rows])
            except HpsearchError as error:
                cells.append(f"{error}")
                continue
            by_lr: dict[float, list[float]] = {}
            for r in rows:
                by_lr.setdefault(r[2], []).append(r[4])
            at = min(by_lr, key=lambda lr: np.mean(by_lr[lr]) if all(map(math.isfinite, by_lr[lr]))
                     else math.inf)
            loss = float(np.mean(by_lr[at]))
            found[arm] = (best.log_lr, loss)
            edge = " (edge)" if best.at_edge else ""
            cells.append(f"{best.lr:.3g} [{10 ** best.low:.3g}, {10 ** best.high:.3g}]{edge}, "
                         f"{loss:.3f}")
        apart = ("-", "-")
        if "hpsearch" in found and "mup" in found:
            lr_apart = found["hpsearch"][0] - found["mup"][0]
            loss_apart = found["hpsearch"][1] - found["mup"][1]
            agree &= abs(lr_apart) <= LR_AGREE and abs(loss_apart) <= LOSS_AGREE
            apart = (f"{lr_apart:+.2f}", f"{loss_apart:+.3f}")
        print(f"{width:>5} | " + " | ".join(cells) + f" | {apart[0]} | {apart[1]}")
    print("mean final loss per learning rate (each arm's seeds):")
    for width in widths:
        for arm in arms:
            by_lr: dict[float, list[float]] = {}
            for r in results:
                if r[0] == arm and r[1] == width:
                    by_lr.setdefault(r[2], []).append(r[4])
            print(f"{width:>5} {arm:>9}: " + ", ".join(
                f"{lr:.3g} {np.mean(v):.3f}" for lr, v in sorted(by_lr.items())))
    return agree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="16,32,64,128")
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--lrs", default="-3.0,-1.0,0.25", help="log10 first,last,step")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--before", action="store_true", help="also hpsearch's µP before the fix")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    widths = [int(w) for w in args.widths.split(",")]
    first, last, step = (float(v) for v in args.lrs.split(","))
    lrs = [10 ** (first + step * i) for i in range(round((last - first) / step) + 1)]
    arms = [*ARMS, "before"] if args.before else list(ARMS)
    jobs = [(arm, w, lr, s, args.steps) for w in sorted(widths, reverse=True) for lr in lrs
            for s in range(args.seeds) for arm in arms]
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; {speed()}")
    print(f"{len(jobs)} runs: widths {widths}, {len(lrs)} learning rates 10^{first}..10^{last}, "
          f"{args.seeds} seeds, {args.steps} steps, {args.workers} workers")
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(run, *zip(*jobs, strict=True)))
    print(f"done in {time.perf_counter() - start:.0f} s")
    agree = read(results, arms, widths)
    print(f"hpsearch's µP and the mup package agree (within {LR_AGREE} decades and {LOSS_AGREE} "
          f"nats at every width): {'yes' if agree else 'NO'}")


if __name__ == "__main__":
    main()
