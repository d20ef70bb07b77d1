"""Is the search any worse? The default sampler (`tpe`, TPE for the conditional space) against
Optuna's own TPE (`optuna-tpe`) and `random`, on real sweeps.

`tune` on `classification` and `regression`, each at its study file's epochs and pruner, for
`--trials` trials (60), over `--seeds` seeds (20), with each sampler: the best value found after
20, 40 and 60 trials (median and interquartile range over seeds) and the seconds spent sampling
per trial (timed around the sampler's own calls, in the same processes).

Pass, per task, when:
- `optuna-tpe` beats `random` at the last count (a sign test over seeds, p < 0.05); otherwise the
  benchmark cannot tell samplers apart and says so (no verdict on the new one);
- the new sampler's median regret (distance to the best value any run found) lies within 25 % of
  the `optuna-tpe`-to-`random` gap of `optuna-tpe`'s;
- it samples at least 5x faster per trial than `optuna-tpe`.

Run: `python tests/benchmarks/bench_sampler.py [--seeds 20] [--trials 60] [--jobs 2]` (also
`make bench`). Jobs run side by side, one torch thread each; the machine's speed is printed.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

SAMPLERS = ("tpe", "optuna-tpe", "random")
TASKS = ("classification", "regression")
COUNTS = (20, 40, 60)


def timed(sampler: Any, spent: list[float]) -> Any:
    """The sampler, with the seconds of its own calls added to `spent`."""
    for name in ("infer_relative_search_space", "sample_relative", "sample_independent"):
        method = getattr(sampler, name)

        def call(*args: Any, method: Any = method, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - started

        setattr(sampler, name, call)
    return sampler


def one_sweep(task: str, sampler: str, seed: int, trials: int) -> dict[str, Any]:
    """One sweep in this process: the best value after each count, and seconds sampling."""
    import optuna
    import torch

    import hpsearch.protocols.tune as tune
    from hpsearch.definition.config import load_config
    from hpsearch.engine.studies import make_sampler

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    spent = [0.0]
    tune.make_sampler = lambda *a, **k: timed(make_sampler(*a, **k), spent)  # type: ignore
    with tempfile.TemporaryDirectory() as folder:
        config = load_config(task, None, {"sampler": sampler, "seed": seed, "n_trials": trials,
                                          "storage": f"sqlite:///{folder}/s.db",
                                          "study": f"{task}-{sampler}-{seed}"})
        study = tune.run(config).study
        done = sorted((t for t in study.trials if t.value is not None and t.state.name == "COMPLETE"),
                      key=lambda t: t.number)
    sign = 1.0 if study.direction.name == "MAXIMIZE" else -1.0
    best = {}
    for count in COUNTS:
        values = [sign * t.value for t in done if t.number < count]
        best[count] = sign * max(values) if values else math.nan
    return {"task": task, "sampler": sampler, "seed": seed, "best": best,
            "sampling": spent[0] / max(1, len(study.trials)), "sign": sign}


def sign_test(wins: int, losses: int) -> float:
    """One-sided p of at least `wins` wins in `wins + losses` fair coin tosses."""
    n = wins + losses
    return sum(math.comb(n, k) for k in range(wins, n + 1)) / 2 ** n if n else 1.0


def quartiles(values: list[float]) -> str:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return f"{q[1]:.4f} [{q[0]:.4f}, {q[2]:.4f}]"


def verdict(task: str, runs: list[dict[str, Any]], last: int) -> bool:
    by = {s: sorted((r for r in runs if r["sampler"] == s), key=lambda r: r["seed"]) for s in SAMPLERS}
    sign = runs[0]["sign"]
    best_known = sign * max(sign * r["best"][last] for r in runs)
    regret = {s: statistics.median(abs(best_known - r["best"][last]) for r in by[s]) for s in SAMPLERS}
    print(f"== {task}: best value after N trials, median [interquartile range] over "
          f"{len(by['tpe'])} seeds; seconds sampling per trial")
    for s in SAMPLERS:
        cells = "  ".join(f"{n}: {quartiles([r['best'][n] for r in by[s]])}" for n in COUNTS
                          if n <= last)
        seconds = statistics.mean(r["sampling"] for r in by[s])
        print(f"  {s:<10} {cells}  sampling {1000 * seconds:.1f} ms/trial  median regret "
              f"{regret[s]:.4f}")
    pairs = list(zip(by["optuna-tpe"], by["random"], strict=True))
    wins = sum(sign * a["best"][last] > sign * b["best"][last] for a, b in pairs)
    losses = sum(sign * a["best"][last] < sign * b["best"][last] for a, b in pairs)
    p = sign_test(wins, losses)
    if p >= 0.05:
        print(f"  optuna-tpe beat random in {wins} of {len(pairs)} seeds (p = {p:.3f}): these runs "
              "cannot tell samplers apart; no verdict on the new one")
        return True
    gap = regret["random"] - regret["optuna-tpe"]
    within = regret["tpe"] <= regret["optuna-tpe"] + 0.25 * gap
    faster = (statistics.mean(r["sampling"] for r in by["optuna-tpe"])
              / max(1e-9, statistics.mean(r["sampling"] for r in by["tpe"])))
    print(f"  optuna-tpe beat random in {wins} of {len(pairs)} seeds (p = {p:.4f}); tpe's median "
          f"regret {regret['tpe']:.4f} against optuna-tpe's {regret['optuna-tpe']:.4f} + 25 % of "
          f"the gap {gap:.4f}: {'PASS' if within else 'FAIL'}; sampling {faster:.1f}x faster "
          f"(target 5x): {'PASS' if faster >= 5 else 'FAIL'}")
    return within and faster >= 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--tasks", default=",".join(TASKS))
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    started = time.perf_counter()
    print(f"{args.jobs} jobs on {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; "
          f"{args.seeds} seeds x {args.trials} trials x {len(SAMPLERS)} samplers")
    jobs = [(task, s, seed, args.trials) for task in args.tasks.split(",") for seed in range(args.seeds)
            for s in SAMPLERS]
    with ProcessPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(one_sweep, *zip(*jobs, strict=True)))
    last = max(n for n in COUNTS if n <= args.trials) if args.trials >= COUNTS[0] else args.trials
    ok = all([verdict(task, [r for r in runs if r["task"] == task], last)
              for task in args.tasks.split(",")])
    print(f"{len(runs)} sweeps in {time.perf_counter() - started:.0f} s")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
