"""Scaling of `hpsearch tune --workers`: training epochs finished per second, 1 vs 2 workers.

Both arms run the same fixed set of configurations, drawn once and enqueued as WAITING trials in a
fresh SQLite study, so the optimizer mix is identical; the built-in `classification` task (digits
MLP, CPU), `--pruner none`, a fixed epoch budget (a diverged trial stops early: its `epochs_run`
counts). Each arm times the real command as a subprocess, from launch to exit: worker start-up and
shut-down included.

A control arm runs 1 worker with OMP_NUM_THREADS=1: `--workers 1` trains in one process with
torch's default of one thread per core, and on a busy machine those threads wait on each other, so
the command as shipped can be far slower than one thread; the ratio is given against both.

Run: `python tests/benchmarks/bench_workers.py [--quick]`. The arms alternate (1, 1t, 2, then
2, 1t, 1) so that machine noise hits them alike; a ratio is of summed epochs over summed wall time.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.trial import TrialState

from hpsearch.engine import storage as storages
from hpsearch.record import trial_attrs
from hpsearch.space.conditional import SearchSpace, suggest

TARGET_RATIO = 1.5
TASK = "classification"
SEED = 0


ARMS: dict[str, tuple[int, dict[str, str]]] = {  # label: workers, environment added
    "1 worker": (1, {}),
    "1 worker, 1 thread": (1, {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}),
    "2 workers": (2, {}),
}


@dataclass(frozen=True)
class Arm:
    label: str
    wall: float  # seconds of the whole command, start-up and shut-down included
    epochs: int  # epochs actually trained, summed over trials
    training: float  # seconds the trials' own timers report, summed
    startup: float  # seconds from launch to the first trial's start

    @property
    def rate(self) -> float:
        return self.epochs / self.wall


def draw_configurations(n: int, epochs: int) -> list[dict[str, Any]]:
    """`n` configurations of the full search space, drawn once at random (seed 0)."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=SEED))
    configurations = []
    for _ in range(n):
        trial = study.ask()
        suggest(trial, SearchSpace(), epochs)
        configurations.append(dict(trial.params))
        study.tell(trial, 0.0)
    return configurations


def run_arm(label: str, configurations: list[dict[str, Any]], epochs: int) -> Arm:
    workers, env = ARMS[label]
    with tempfile.TemporaryDirectory() as tmp:  # no studies/ here: built-in defaults apply
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        name = f"bench-workers-{workers}"
        study = optuna.create_study(storage=storages.resolve(url), study_name=name,
                                    direction="maximize")
        for params in configurations:
            study.enqueue_trial(params)
        command = [sys.executable, "-m", "hpsearch", "tune", "--task", TASK, "--study", name,
                   "--storage", url, "--n-trials", str(len(configurations)),
                   "--epochs", str(epochs), "--pruner", "none", "--sampler", "tpe",
                   "--seed", str(SEED), "--device", "cpu", "--workers", str(workers)]
        launched = datetime.datetime.now()  # naive local time, as Optuna stores it
        start = time.perf_counter()
        done = subprocess.run(command, cwd=tmp, capture_output=True, text=True,
                              env={**os.environ, **env})
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{label}: exit {done.returncode}\n{done.stderr[-2000:]}")
        trials = optuna.load_study(study_name=name, storage=storages.resolve(url)).trials
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    if len(finished) != len(trials) or len(trials) != len(configurations):
        raise SystemExit(f"{label}: {len(finished)} finished of {len(trials)} trials, "
                         f"expected {len(configurations)}")
    ran = sorted((t.params for t in finished), key=repr)
    if ran != sorted(configurations, key=repr):
        raise SystemExit(f"{label}: the trials' params differ from the enqueued ones")
    first = min(t.datetime_start for t in finished if t.datetime_start is not None)
    return Arm(label, wall, sum(int(trial_attrs(t).get("epochs_run", 0)) for t in finished),
               sum(float(trial_attrs(t).get("seconds", 0.0)) for t in finished),
               (first - launched).total_seconds())


def show(arm: Arm) -> None:
    print(f"  {arm.label:<18}  wall {arm.wall:6.1f} s  epochs {arm.epochs:5d}  "
          f"{arm.rate:6.1f} epochs/s  (start-up {arm.startup:4.1f} s, trials' own time "
          f"{arm.training:6.1f} s)  load {os.getloadavg()[0]:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 configurations x 3 epochs, once")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n, epochs, rounds = (12, 3, 1) if args.quick else (60, 10, 2)
    # Timings mean little on a busy machine: say how busy it was.
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; "
          f"torch threads by default {torch.get_num_threads()} (interop "
          f"{torch.get_num_interop_threads()}); OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}")
    configurations = draw_configurations(n, epochs)
    mix = sorted({str(c["optimizer"]) for c in configurations})
    print(f"== {n} enqueued configurations x {epochs} epochs, {TASK}, pruner none, cpu; "
          f"optimizers: {', '.join(mix)}")
    arms: dict[str, list[Arm]] = {label: [] for label in ARMS}
    for round_ in range(rounds):
        for label in list(ARMS)[::-1 if round_ % 2 else 1]:
            arms[label].append(run_arm(label, configurations, epochs))
            show(arms[label][-1])
    rate = {label: sum(a.epochs for a in runs) / sum(a.wall for a in runs)
            for label, runs in arms.items()}
    same = {sum(a.epochs for a in runs) / len(runs) for runs in arms.values()}
    print("epochs/s: " + ", ".join(f"{label} {r:.1f}" for label, r in rate.items())
          + f"; same epochs in every arm: {'yes' if len(same) == 1 else 'NO'}")
    ratio = rate["2 workers"] / rate["1 worker"]
    verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
    print(f"2 workers / 1 worker = {ratio:.2f}x  (target >= {TARGET_RATIO})  {verdict}")
    print(f"2 workers / 1 worker, 1 thread = {rate['2 workers'] / rate['1 worker, 1 thread']:.2f}x"
          "  (the scaling itself: at most 2x on 2 cores)")
    if ratio > 2:
        print("  note: above 2x on 2 cores, `--workers 1` is slowed by its own torch threads "
              "(see the 1-thread arm), not sped up by the second worker")


if __name__ == "__main__":
    main()
