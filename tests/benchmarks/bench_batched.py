"""Batched trials against one at a time: the training loop alone (no Optuna, no storage).

For each task and batch size B, B trials of one optimizer (drawn from its space, schedules and
clipping included) are trained for a few epochs one after another by `train.fit`, then together by
`batched.fit.BatchedFit`; the two arms alternate over rounds, so that machine noise hits both, and
the ratio of their medians is the gain in trials per minute.

Run: `python tests/benchmarks/bench_batched.py [--quick] [--threads N]` (also `make bench`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import optuna
import torch

from hpsearch.batched.fit import BatchedFit, Member
from hpsearch.space import SearchSpace, TrialConfig, suggest
from hpsearch.tasks import get_task
from hpsearch.train import DeviceData, fit

TARGET = {("small", 32): 5.0}  # the target: at least 5x more trials per minute


def draws(key: str, n: int, epochs: int) -> list[TrialConfig]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    return [suggest(study.ask(), SearchSpace(optimizers=(key,)), epochs) for _ in range(n)]


def one_at_a_time(data: DeviceData, task: object, configs: list[TrialConfig], epochs: int) -> float:
    started = time.perf_counter()
    for seed, config in enumerate(configs):
        torch.manual_seed(seed)
        model = task.build_model(*data.model_shape())  # type: ignore[attr-defined]
        for _ in fit(data, model, config, task.problem, epochs, task.batch_size, seed):  # type: ignore[attr-defined]
            pass
    return time.perf_counter() - started


def batched(data: DeviceData, task: object, configs: list[TrialConfig], epochs: int) -> float:
    started = time.perf_counter()
    members = []
    for seed, config in enumerate(configs):
        torch.manual_seed(seed)
        members.append(Member(config, task.build_model(*data.model_shape()), seed))  # type: ignore[attr-defined]
    for _ in BatchedFit(data, members, task.problem, epochs, task.batch_size):  # type: ignore[attr-defined]
        pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rounds, epochs = (1, 2) if args.quick else (3, 4)
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; torch threads "
          f"{args.threads}; {epochs} epochs per trial, median of {rounds} rounds")
    for name in ("small", "classification"):
        task = get_task(name)
        data = DeviceData.from_task_data(task.load(), torch.device("cpu"))
        for key in ("adam", "momentum"):
            for size in (8, 32):
                configs = draws(key, size, epochs)
                one_at_a_time(data, task, configs[:2], 1)  # warm-up: first calls, allocations
                batched(data, task, configs[:2], 1)
                alone, together = [], []
                for _ in range(rounds):
                    alone.append(one_at_a_time(data, task, configs, epochs))
                    together.append(batched(data, task, configs, epochs))
                a, b = statistics.median(alone), statistics.median(together)
                target = TARGET.get((name, size)) if key == "adam" else None
                verdict = (f" (target >= {target:g}x: {'PASS' if a / b >= target else 'MISS'})"
                           if target else "")
                print(f"  {name:<15} {key:<9} B={size:<3} one at a time {a:6.2f} s "
                      f"({size * 60 / a:7.0f} trials/min), batched {b:6.2f} s "
                      f"({size * 60 / b:7.0f} trials/min): {a / b:5.2f}x{verdict}")


if __name__ == "__main__":
    main()
