"""The language model's training step: hpsearch's loop against a bare loop of nanoGPT's kind.

Both train the same GPT (the `lm` task's: width 64, depth 2, context 64, batch 32, 137K parameters)
from the same initial weights on the built-in corpus, with AdamW (fused, betas (0.9, 0.99), weight
decay 0.1 on matrices), a 5 % warm-up and cosine decay to lr/10, clipping at 1.0, and an evaluation
on the same fixed validation windows every 50 steps with one host read. The bare loop is nanoGPT's
`train.py` reduced to that: random windows cut from a tensor on the device, `zero_grad(set_to_none
=True)`, the learning rate set by hand each step. The two arms alternate, five rounds each, and the
median ratio of seconds per step is printed with tokens and steps per second on this machine.

Run: `python tests/benchmarks/bench_lm.py [--quick]` (also `make bench`). With `--baseline STEPS`
it trains instead AdamW at nanoGPT's `shakespeare_char` settings (the configuration above) for that
many steps and prints its validation loss beside the corpus's unigram entropy: what the default
`hpsearch tune --task lm` must beat.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F

from hpsearch.space.param_groups import groups
from hpsearch.tasks.base import LANGUAGE
from hpsearch.tasks.corpus import builtin_corpus
from hpsearch.tasks.gpt import gpt
from hpsearch.training.lm import LMDeviceData, evaluate_lm, fit_lm

TARGET_RATIO = 1.05
WIDTH, DEPTH, CONTEXT, BATCH, EVAL_EVERY, SEED = 64, 2, 64, 32, 50, 0
LR, MIN_LR, WARMUP = 1e-3, 1e-4, 0.05
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
CONFIG = {"optimizer": "adamw", "hyperparameters": {"lr": LR, "betas": [0.9, 0.99],
                                                    "weight_decay": 0.1},
          "implementation": {"fused": True}, "weight_decay_on": "matrices",
          "schedule": {"name": "cosine", "warmup_fraction": WARMUP, "floor": MIN_LR / LR},
          "clip_grad_norm": 1.0}


def fresh_model() -> torch.nn.Module:
    torch.manual_seed(SEED)
    return gpt(256, CONTEXT, WIDTH, DEPTH).to(DEVICE)


def hpsearch_arm(data: LMDeviceData, steps: int) -> float:
    """Seconds per step of `fit_lm`."""
    started = time.perf_counter()
    for _ in fit_lm(data, fresh_model(), CONFIG, LANGUAGE, steps // EVAL_EVERY, BATCH, SEED,
                    EVAL_EVERY):
        pass
    return (time.perf_counter() - started) / steps


def bare_arm(data: LMDeviceData, steps: int) -> float:
    """Seconds per step of nanoGPT's loop, reduced to the same work."""
    started = time.perf_counter()
    model = fresh_model()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(groups(params, model, "matrices"), lr=LR, betas=(0.9, 0.99),
                                  weight_decay=0.1, fused=True)
    tokens = data.train
    generator = torch.Generator(device=DEVICE).manual_seed(SEED)
    warmup = round(WARMUP * (steps - 1))
    for it in range(steps):
        progress = it / (steps - 1)
        if it < warmup:
            lr = LR * (0.01 + 0.99 * progress / WARMUP)
        else:
            decay = (progress - WARMUP) / (1 - WARMUP)
            lr = MIN_LR + 0.5 * (1 + math.cos(math.pi * decay)) * (LR - MIN_LR)
        for group in optimizer.param_groups:
            group["lr"] = lr
        ix = torch.randint(len(tokens) - CONTEXT - 1, (BATCH,), generator=generator, device=DEVICE)
        x = torch.stack([tokens[i:i + CONTEXT] for i in ix]).long()
        y = torch.stack([tokens[i + 1:i + 1 + CONTEXT] for i in ix]).long()
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if (it + 1) % EVAL_EVERY == 0:
            evaluate_lm(model, data).tolist()  # the one host read of an evaluation
            model.train()
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two short rounds: a smoke check")
    parser.add_argument("--baseline", type=int, metavar="STEPS",
                        help="train nanoGPT's AdamW settings for STEPS steps; print the loss")
    args = parser.parse_args()
    if args.baseline:
        corpus = builtin_corpus()
        data = LMDeviceData.from_corpus(corpus, DEVICE, CONTEXT)
        *_, last = fit_lm(data, fresh_model(), CONFIG, LANGUAGE, args.baseline // EVAL_EVERY,
                          BATCH, SEED, EVAL_EVERY)
        print(f"AdamW at nanoGPT's shakespeare_char settings, {args.baseline} steps of batch "
              f"{BATCH}: validation loss {last.val_metric:.4f} nats/token "
              f"(unigram entropy {corpus.unigram_entropy():.4f})")
        return
    rounds, steps = (2, 100) if args.quick else (5, 300)
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; "
          f"device {DEVICE.type}, torch threads {torch.get_num_threads()}")
    data = LMDeviceData.from_corpus(builtin_corpus(), DEVICE, CONTEXT)
    hpsearch_arm(data, EVAL_EVERY)  # warm both paths up (allocator, kernels) before timing
    bare_arm(data, EVAL_EVERY)
    times: dict[str, list[float]] = {"hpsearch": [], "bare": []}
    for _ in range(rounds):
        times["hpsearch"].append(hpsearch_arm(data, steps))
        times["bare"].append(bare_arm(data, steps))
    ratios = [h / b for h, b in zip(times["hpsearch"], times["bare"], strict=True)]
    per_step = statistics.median(times["hpsearch"])
    print(f"== lm step: GPT {WIDTH}x{DEPTH}, context {CONTEXT}, batch {BATCH}, {rounds} rounds "
          f"x {steps} steps per arm, interleaved")
    for name, values in times.items():
        print(f"  {name:<9} {statistics.median(values) * 1e3:8.2f} ms/step")
    ratio = statistics.median(ratios)
    print(f"  hpsearch / bare = {ratio:.3f} (median of rounds; target <= {TARGET_RATIO}) "
          f"{'PASS' if ratio <= TARGET_RATIO else 'FAIL'}")
    print(f"  this machine: {1 / per_step:.1f} steps/s, {BATCH * CONTEXT / per_step:,.0f} tokens/s")


if __name__ == "__main__":
    main()
