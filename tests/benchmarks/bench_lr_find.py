"""Does narrowing the learning-rate ranges by a range test first help a TPE sweep?

On three built-in tasks (digits `classification`, breast-cancer `small`, diabetes `regression`), three
seeds per arm:
  A  a normal sweep: `hpsearch.protocols.tune.run` with the study file's space (TPE, median pruner);
  B  the same sweep after `hpsearch.protocols.lr_find.narrow_space` narrowed every optimizer's lr range
     (one 300-step range test per optimizer, with the sweep's seed; its time is counted and shown).
For each run: the trials until the best value so far reaches a target, and the seconds until then
(B's including its range tests). The target of a task is the best value any run of either arm
reached, give or take a fixed fraction of it (TOLERANCES: within 0.5 %, 1 % and 2 %: accuracy at
least 0.99 x the best, RMSE at most 1.01 x the best); a run that never reaches it counts as
n_trials + 1 (printed ">N"). Medians over seeds, and the ratio B / A of the medians.

Run: `python tests/benchmarks/bench_lr_find.py [--quick]`. One torch thread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import optuna
import torch
from optuna.trial import TrialState

from hpsearch.definition.config import StudyConfig, load_config
from hpsearch.protocols.lr_find import narrow_space
from hpsearch.protocols.tune import run
from hpsearch.tasks import get_task
from hpsearch.tasks.prepare import prepare_task
from hpsearch.training.device import resolve_device

REPO_ROOT = Path(__file__).resolve().parents[2]
TASKS = {"classification": 10, "small": 15, "regression": 15}  # task -> epochs per trial
SEEDS = (0, 1, 2)
TOLERANCES = (0.005, 0.01, 0.02)


@dataclass(frozen=True)
class Run:
    arm: str
    seed: int
    best: list[float]  # best value so far after each finished trial
    elapsed: list[float]  # seconds from the run's start (B: its range tests first) to each trial's end
    narrowing_s: float
    sweep_s: float

    def to_target(self, target: float, sign: float) -> tuple[int | None, float | None]:
        """(trials, seconds) until the best value first reached `target`; None if it never did."""
        for i, value in enumerate(self.best):
            if sign * value >= sign * target:
                return i + 1, self.elapsed[i]
        return None, None


def sweep(config: StudyConfig, arm: str, seed: int, sign: float) -> Run:
    narrowing = 0.0
    if arm == "B":
        started = time.perf_counter()
        prepared = prepare_task(config.task, split_seed=config.split_seed, val_fraction=config.val_fraction)
        space, notes = narrow_space(config.space, prepared, resolve_device(config.device), seed=seed)
        narrowing = time.perf_counter() - started
        config = replace(config, space=space)
        if seed == SEEDS[0]:
            print(f"  narrowed ranges ({config.task}, seed {seed}, {narrowing:.1f} s):")
            for note in notes:
                print(f"    {note}")
    started = time.perf_counter()
    study = run(config).study
    sweep_s = time.perf_counter() - started
    times = [(t, t.datetime_start, t.datetime_complete) for t in study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))]
    first = min(start for _, start, _ in times if start is not None)
    best, elapsed, so_far = [], [], -sign * float("inf")
    for t, _, end in sorted(times, key=lambda item: item[2] or first):
        if t.state == TrialState.COMPLETE and t.value is not None and sign * t.value > sign * so_far:
            so_far = t.value
        best.append(so_far)
        elapsed.append(narrowing + ((end or first) - first).total_seconds())
    return Run(arm, seed, best, elapsed, narrowing, sweep_s)


def median_text(values: list[int | None], limit: int) -> tuple[float, str]:
    counted = [limit + 1 if v is None else v for v in values]
    middle = statistics.median(counted)
    text = f"{middle:g}" if middle <= limit else f">{limit}"
    return middle, text


def summarise(runs: list[Run], n_trials: int, sign: float) -> None:
    best_any = max((r.best[-1] for r in runs), key=lambda v: sign * v)
    for arm in ("A", "B"):
        mine = [r for r in runs if r.arm == arm]
        bests = ", ".join(f"{r.best[-1]:.4f}" for r in mine)
        cost = statistics.mean(r.narrowing_s for r in mine)
        sweep_s = statistics.mean(r.sweep_s for r in mine)
        print(f"  arm {arm}: best values {bests} (median {statistics.median(r.best[-1] for r in mine):.4f});"
              f" sweep {sweep_s:.1f} s mean" + (f" + range tests {cost:.1f} s" if arm == "B" else ""))
    for tolerance in TOLERANCES:
        target = best_any * (1 - sign * tolerance)
        line = [f"  within {tolerance:.1%} of {best_any:.4f} ({target:.4f}):"]
        medians = {}
        for arm in ("A", "B"):
            reached = [r.to_target(target, sign) for r in runs if r.arm == arm]
            trials = [t for t, _ in reached]
            medians[arm], text = median_text(trials, n_trials)
            seconds = [s for _, s in reached if s is not None]
            per_run = " ".join(">" + str(n_trials) if t is None else str(t) for t in trials)
            line.append(f"{arm} trials [{per_run}] median {text}, "
                        f"{statistics.median(seconds) if seconds else float('nan'):.1f} s;")
        line.append(f"B/A {medians['B'] / medians['A']:.2f}")
        print(" ".join(line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few trials: a smoke check")
    parser.add_argument("--trials", type=int, default=40)
    args = parser.parse_args()
    n_trials = 8 if args.quick else args.trials
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.chdir(REPO_ROOT)  # load_config reads studies/<task>.toml relative to the cwd
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; torch threads 1")
    total = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{Path(tmp) / 'bench.db'}"
        for task, epochs in TASKS.items():
            print(f"== {task} ({get_task(task).problem.metric}): {n_trials} trials x {epochs} epochs, TPE, "
                  f"median pruner, seeds {SEEDS}")
            sign = 1.0 if get_task(task).problem.direction == "maximize" else -1.0
            runs = []
            for seed in SEEDS:
                for arm in ("A", "B"):
                    config = load_config(task, None, {
                        "study": f"{task}-{arm}-{seed}", "storage": storage, "n_trials": n_trials,
                        "epochs": epochs, "seed": seed, "sampler": "tpe", "device": "cpu"})
                    runs.append(sweep(config, arm, seed, sign))
            summarise(runs, n_trials, sign)
    print(f"total {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    main()
