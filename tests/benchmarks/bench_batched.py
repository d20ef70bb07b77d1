"""Batched trials against one at a time.

(a) The training loop alone (no Optuna, no storage): for `small`, `classification` and `lm`, B trials
    of one optimizer (drawn from its space, schedules and clipping included) trained one after
    another by `train.fit` / `fit_lm`, then together by `BatchedFit` / `BatchedLMFit`; the arms
    alternate over rounds so that machine noise hits both; the ratio of medians is the gain in trials
    per minute (target on `small` at B = 32: at least 5x).
(b) End to end, each a fresh `hpsearch` process on its own SQLite file: `tune --task small`
    batched against not (target: at least 2.5x); and, without a target, `compare --task small --task
    sparse --studies 1` with and without batching, L-BFGS's share of its training time, and
    `--workers 2` against `--batch-trials` against both.
(c) A trial leaving a batch (pruned, diverged): compacted out of the stacked tensors, as BatchedFit
    does, against the cost of leaving it in, masked.

Run: `python tests/benchmarks/bench_batched.py [--quick] [--part a|b|c] [--device cuda]`
(also `make bench`, and `make gpu-check` on a machine with a GPU).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import torch

from hpsearch.space.conditional import SearchSpace, TrialConfig, suggest
from hpsearch.tasks.prepare import LanguageModel, prepare_task
from hpsearch.training.batched.fit import BatchedFit, Member
from hpsearch.training.batched.lm import BatchedLMFit
from hpsearch.training.lm import LMDeviceData, device_data, fit_lm
from hpsearch.training.tables import fit

LOOP_TARGET = {("small", 32): 5.0, ("lm", 32): 1.2}
TUNE_TARGET = 2.5
REPO = Path(__file__).resolve().parents[2]


# A batch of several optimizers: the vectorised ones of studies/small.toml, each on its own slice.
MIXED = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "nadam")


def draws(key: str, n: int, points: int) -> list[TrialConfig]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    space = SearchSpace(optimizers=MIXED if key == "mixed" else (key,))
    return [suggest(study.ask(), space, points) for _ in range(n)]


class Loop:
    """One task's training loop, alone and batched, for `points` evaluation points."""

    def __init__(self, name: str, device: torch.device, points: int) -> None:
        self.prepared = prepare_task(name, language=LanguageModel(width=64, depth=2, context=64))
        self.data = device_data(self.prepared.data, device, 64)
        self.device, self.points = device, points
        self.lm = isinstance(self.data, LMDeviceData)
        self.batch = self.prepared.task.batch_size
        self.every = 25 if self.lm else None

    def model(self, seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return self.prepared.task.build_model(*self.data.model_shape()).to(self.device)

    def alone(self, configs: list[TrialConfig]) -> float:
        started = time.perf_counter()
        problem = self.prepared.task.problem
        for seed, config in enumerate(configs):
            run = (fit_lm(self.data, self.model(seed), config, problem, self.points, self.batch,  # type: ignore[arg-type]
                          seed, self.every or 1) if self.lm else
                   fit(self.data, self.model(seed), config, problem, self.points, self.batch, seed))  # type: ignore[arg-type]
            for _ in run:
                pass
        self.sync()
        return time.perf_counter() - started

    def together(self, configs: list[TrialConfig]) -> float:
        started = time.perf_counter()
        members = [Member(c, self.model(seed), seed) for seed, c in enumerate(configs)]
        problem = self.prepared.task.problem
        run = (BatchedLMFit(self.data, members, problem, self.points, self.batch, self.every or 1)  # type: ignore[arg-type]
               if self.lm else BatchedFit(self.data, members, problem, self.points, self.batch))
        for _ in run:
            pass
        self.sync()
        return time.perf_counter() - started

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()


def part_a(device: torch.device, quick: bool, tasks: list[str], lm_trials: int = 32,
           keys: tuple[str, ...] = ("adam", "momentum", "mixed")) -> None:
    rounds, points = (1, 2) if quick else (3, 4)
    print(f"== (a) the training loop: {points} evaluation points per trial, median of {rounds} "
          f"rounds, one at a time against batched")
    for name in tasks:
        loop = Loop(name, device, points)
        for key in keys:
            for size in (lm_trials,) if loop.lm and device.type == "cpu" else (8, 32):  # lm: minutes a round
                configs = draws(key, size, points)
                loop.alone(configs[:2]), loop.together(configs[:2])  # warm-up
                alone, together = [], []
                for _ in range(rounds):
                    alone.append(loop.alone(configs))
                    together.append(loop.together(configs))
                a, b = statistics.median(alone), statistics.median(together)
                target = LOOP_TARGET.get((name, size)) if key == "adam" else None
                verdict = (f" (target >= {target:g}x: {'PASS' if a / b >= target else 'MISS'})"
                           if target else "")
                print(f"  {name:<15} {key:<9} B={size:<3} one at a time {a:6.2f} s "
                      f"({size * 60 / a:7.0f} trials/min), batched {b:6.2f} s "
                      f"({size * 60 / b:7.0f} trials/min): {a / b:5.2f}x{verdict}", flush=True)


def hpsearch(args: list[str], folder: Path) -> tuple[float, Path]:
    """Run `hpsearch ARGS` in `folder` on a fresh SQLite file; (wall seconds, the file)."""
    database = folder / f"run-{time.monotonic_ns()}.db"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hpsearch", *args, "--storage", f"sqlite:///{database}",
                    "--quiet"], cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started, database


def training_seconds(database: Path) -> tuple[float, float]:
    """(every trial's training seconds, L-BFGS's) over the studies of the file."""
    storage = f"sqlite:///{database}"
    total = lbfgs = 0.0
    for summary in optuna.get_all_study_summaries(storage):
        for trial in optuna.load_study(study_name=summary.study_name, storage=storage).trials:
            seconds = float(trial.user_attrs.get("record", {}).get("seconds", 0.0))
            total += seconds
            lbfgs += seconds if trial.params.get("optimizer") == "lbfgs" else 0.0
    return total, lbfgs


def epochs_trained(database: Path) -> int:
    storage = f"sqlite:///{database}"
    return sum(int(trial.user_attrs.get("record", {}).get("epochs_run", 0))
               for summary in optuna.get_all_study_summaries(storage)
               for trial in optuna.load_study(study_name=summary.study_name, storage=storage).trials)


def part_b(device: torch.device, quick: bool) -> None:
    budget = ["--n-trials", "32", "--epochs", "10"] if quick else []  # else studies/small.toml's
    tune = ["tune", "--task", "small", *budget, "--seed", "0", "--device", device.type]
    compare = ["compare", "--task", "small", "--task", "sparse", "--studies", "1", "--seed", "0",
               "--device", device.type] + (["--budget", "4", "--seeds", "2"] if quick else [])
    print("== (b) end to end, each a fresh process on its own SQLite file")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        one, alone_db = hpsearch([*tune, "--study", "one"], folder)
        many, many_db = hpsearch([*tune, "--study", "many", "--batch-trials", "32"], folder)
        # A batch's trials are pruned only against trials finished before it began, so the
        # batched run trains more epochs: the target is its throughput in epochs per wall-second.
        a, b = epochs_trained(alone_db), epochs_trained(many_db)
        gain = b / many / (a / one)
        print(f"  tune --task small {' '.join(budget)}: epochs trained per wall-second, one at a "
              f"time {a / one:.0f} ({a} in {one:.1f} s), --batch-trials 32 {b / many:.0f} ({b} in "
              f"{many:.1f} s): {gain:.2f}x (target >= {TUNE_TARGET:g}x: "
              f"{'PASS' if gain >= TUNE_TARGET else 'MISS'}); wall {one / many:.2f}x", flush=True)
        # Amdahl's bound: batching speeds up training only; the rest of a run (start-up, drawing
        # and storing configurations, reports, pruning) stays.
        for label, wall, database in (("one at a time", one, alone_db),
                                      ("batched", many, many_db)):
            trained, lbfgs = training_seconds(database)
            print(f"    {label}: training {trained:.1f} s (L-BFGS, never batched, {lbfgs:.1f} s) "
                  f"of {wall:.1f} s, outside training {1 - trained / wall:.0%}", flush=True)
        arms = {"one at a time": [], "--batch-trials 8": ["--batch-trials", "8"],
                "--workers 2": ["--workers", "2"],
                "--workers 2 --batch-trials 8": ["--workers", "2", "--batch-trials", "8"]}
        base = None
        for label, extra in arms.items():
            wall, database = hpsearch([*compare, "--prefix", f"c{len(label)}", *extra], folder)
            total, lbfgs = training_seconds(database)
            base = base or wall
            print(f"  compare small+sparse, {label:<28} {wall:6.1f} s ({base / wall:4.2f}x); "
                  f"training {total:.1f} s, of which L-BFGS {lbfgs / total:.0%}", flush=True)


def part_c(device: torch.device) -> None:
    """A trial leaving a batch: compacted out (what BatchedFit does) against masked (left in,
    computed and ignored). Compaction costs once; a masked trial costs about 1/B of every step left."""
    print("== (c) a trial leaving a batch of 32: compacted against masked")
    for name in ("small", "classification"):
        loop = Loop(name, device, 40)
        members = [Member(c, loop.model(seed), seed) for seed, c in enumerate(draws("adam", 32, 40))]
        run = BatchedFit(loop.data, members, loop.prepared.task.problem, 40, loop.batch)  # type: ignore[arg-type]
        points = iter(run)
        next(points)  # warm
        started = time.perf_counter()
        next(points)
        step = (time.perf_counter() - started) / (run.due[1] - run.due[0])
        drops = []
        for _ in range(8):
            started = time.perf_counter()
            run.drop([run.active[0]])
            drops.append(time.perf_counter() - started)
        drop = statistics.median(drops)
        print(f"  {name:<15} step {step * 1e3:.2f} ms; compacting one trial out {drop * 1e3:.2f} ms; "
              f"masked, it would cost about {step / 32 * 1e3:.3f} ms a step: compaction is faster "
              f"once {drop / (step / 32):.0f} steps are left", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--part", choices=("a", "b", "c", "all"), default="all")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tasks", default="small,classification,lm",
                        help="part (a)'s tasks (a GPU machine without scikit-learn: lm)")
    parser.add_argument("--lm-trials", type=int, default=32,
                        help="part (a)'s batch for lm on the CPU (one size: minutes a round)")
    parser.add_argument("--keys", default="adam,momentum,mixed", help="part (a)'s optimizers")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; device "
          f"{name}; torch threads {args.threads}")
    if args.part in ("a", "all"):
        part_a(device, args.quick, args.tasks.split(","), args.lm_trials, tuple(args.keys.split(",")))
    if args.part in ("b", "all"):
        part_b(device, args.quick)
    if args.part in ("c", "all"):
        part_c(device)


if __name__ == "__main__":
    main()
