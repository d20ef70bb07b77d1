"""What `hpsearch tune --command` costs per trial beyond the user's program itself.

The program is a standard-library script that does about 1 s of real CPU work (an arithmetic loop,
calibrated on this machine) and prints `step N: train loss X, val loss Y` at 5 points. Arms:
  alone     the script run by `subprocess.run` (this interpreter, a trial's arguments, output
            captured, OMP_NUM_THREADS=1, PYTHONUNBUFFERED=1): its wall seconds per run;
  hpsearch  `python -m hpsearch tune --command ... --pruner none --sampler random` (one worker, its
            own SQLite file in a temporary folder): the wall of the whole command.
Random sampling: every trial costs the sampler the same, so the figure is hpsearch's cost per trial,
not TPE's growth with the trials stored.

Method (fixed start-up): each round runs the script 5 times alone and two fresh studies under
hpsearch, one of 1 trial and one of N = 5. Everything that does not grow with the trials (imports,
config, study creation, the first trial's lazy imports, the table at the end, exit) cancels out of
the difference: per trial = (wall(N) - wall(1)) / (N - 1), and start-up = wall(1) - per trial, so
that (wall(N) - start-up) / N is per trial too. `--n-trials 0` would not do: it returns before the
sampler and the objective are made. Overhead per trial = per trial - the script's seconds alone;
target <= 0.3 s. Also shown: the engine's own view, the median of the trials' `record.seconds`.

Both arms start a Python interpreter per run, so its start counts on both sides; a trial's extra
process (the supervisor, see hpsearch/training/user/process.py) counts as overhead.

Run: `python tests/benchmarks/bench_command.py [--rounds 4]` (about a minute). The arms alternate
(alone, hpsearch; then hpsearch, alone) so that machine noise hits them alike.
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
from optuna.trial import TrialState

from hpsearch.engine import storage as storages
from hpsearch.record import trial_attrs

TARGET_S = 0.3  # overhead per trial
WORK_S = 1.0  # the script's own seconds, roughly
N = 5  # trials of the longer study in each round (and alone runs per round)
STEPS, EVAL_EVERY = 200, 50
PATTERN = r"step (?P<step>\d+): .*val loss (?P<value>[0-9.]+)"
SCRIPT = """import math, sys
args = dict(a.split("=", 1) for a in sys.argv[1:])
lr, steps = float(args["--lr"]), int(args["--max_iters"])
x = 0.0
for step in range(steps + 1):
    if step % {every} == 0 or step == steps:
        loss = abs(math.log10(lr) + 2.0) + 1.0 / (1 + step) + x * 1e-12
        print(f"step {{step}}: train loss {{loss:.4f}}, val loss {{loss:.4f}}")
    for i in range({per_step} if step < steps else 0):  # the training: real work
        x = (x * 0.999 + i) % 1000.0
"""
ALONE_ARGS = ["--lr=0.001", f"--max_iters={STEPS}"]  # what a trial's command line looks like
ALONE_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def write_script(folder: Path, per_step: int) -> None:
    (folder / "train.py").write_text(SCRIPT.format(every=EVAL_EVERY, per_step=per_step))


def alone(folder: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "train.py", *ALONE_ARGS], cwd=folder,
                          capture_output=True, text=True, env=ALONE_ENV)
    seconds = time.perf_counter() - start
    if done.returncode != 0 or f"step {STEPS}:" not in done.stdout:
        raise SystemExit(f"the script failed alone:\n{done.stderr[-2000:]}")
    return seconds


def calibrate(folder: Path) -> int:
    """Loop iterations per step for about WORK_S seconds a run; prints the machine's speed."""
    per_step = 20_000
    write_script(folder, per_step)
    seconds = statistics.median(alone(folder) for _ in range(3))  # a VM's runs vary by 20 %
    print(f"loop speed: {per_step * STEPS / seconds / 1e6:.1f} M iterations/s (one core)")
    return max(1, round(per_step * WORK_S / seconds))


def tune(folder: Path, study: str, n_trials: int) -> float:
    url = f"sqlite:///{folder / 'bench.db'}"
    command = [sys.executable, "-m", "hpsearch", "tune", "--command",
               f"{sys.executable} train.py --lr={{lr}} --max_iters={{steps}}",
               "--metric-regex", PATTERN, "--optimizers", "adamw", "--steps", str(STEPS),
               "--eval-every", str(EVAL_EVERY), "--n-trials", str(n_trials), "--study", study,
               "--storage", url, "--pruner", "none", "--sampler", "random", "--seed", "0",
               "--quiet"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"tune failed: exit {done.returncode}\n{done.stderr[-2000:]}")
    trials = optuna.load_study(study_name=study, storage=storages.resolve(url)).trials
    if len(trials) != n_trials or any(t.state != TrialState.COMPLETE for t in trials):
        raise SystemExit(f"{study}: {[t.state.name for t in trials]}, expected {n_trials} COMPLETE")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help=f"rounds of {N} trials each way")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Timings mean little on a busy machine: say how busy it was.
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_script(folder, calibrate(folder))
        alone_s: list[float] = []
        walls: dict[int, list[float]] = {1: [], N: []}
        for round_ in range(args.rounds):
            arms = ["alone", "hpsearch"][::-1 if round_ % 2 else 1]
            for arm in arms:
                if arm == "alone":
                    alone_s += [alone(folder) for _ in range(N)]
                else:
                    for n in (1, N):
                        walls[n].append(tune(folder, f"bench-{round_}-{n}", n))
            mine = (walls[N][-1] - walls[1][-1]) / (N - 1) - statistics.mean(alone_s[-N:])
            print(f"  round {round_ + 1} ({' then '.join(arms)}): alone "
                  f"{statistics.mean(alone_s[-N:]):.3f} s/run, tune 1 trial {walls[1][-1]:.2f} s, "
                  f"{N} trials {walls[N][-1]:.2f} s (overhead {mine:+.3f} s/trial)  "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
        storage = storages.resolve(f"sqlite:///{folder / 'bench.db'}")
        studies = [optuna.load_study(study_name=name, storage=storage).trials
                   for name in optuna.get_all_study_names(storage)]
    recorded = [float(trial_attrs(t)["seconds"]) for trials in studies for t in trials]
    # Outside the trials' own timers, from the first trial's start to the last one's end:
    # sampling, storage, the runner's bookkeeping between trials.
    between = [((trials[-1].datetime_complete - trials[0].datetime_start).total_seconds()
                - sum(float(trial_attrs(t)["seconds"]) for t in trials)) / len(trials)
               for trials in studies if len(trials) == N]
    own = statistics.mean(alone_s)
    per_trial = (sum(walls[N]) - sum(walls[1])) / (len(walls[N]) * (N - 1))
    startup = statistics.mean(walls[1]) - per_trial
    overhead = (statistics.mean(walls[N]) - startup) / N - own
    print(f"== {args.rounds * N} trials in {args.rounds} studies of {N} (+ {args.rounds} of 1), "
          f"sampler random, pruner none, 1 worker; {args.rounds * N} runs alone")
    print(f"  script alone:        {own:.3f} s/run (median {statistics.median(alone_s):.3f})")
    print(f"  under hpsearch:      {statistics.mean(walls[N]) / N:.3f} s/trial wall "
          f"(start-up included); start-up {startup:.2f} s; {per_trial:.3f} s/trial without it")
    print(f"  engine's own view:   median record.seconds {statistics.median(recorded):.3f} s "
          f"({len(recorded)} trials), {statistics.median(recorded) - statistics.median(alone_s):+.3f}"
          f" s vs alone's median; outside them {statistics.mean(between):.3f} s/trial")
    verdict = "PASS" if overhead <= TARGET_S else "FAIL"
    print(f"overhead per trial = {overhead:.3f} s  (target <= {TARGET_S} s)  {verdict}")
    if verdict == "FAIL":
        sys.exit(1)


if __name__ == "__main__":
    main()
