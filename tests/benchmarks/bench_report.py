"""Report benchmark: "rendering 1,000 trials across 3 studies takes under 10 s".

Builds 3 realistic studies (real search space, synthetic 20-epoch curves, ~60% pruned, a few
diverged) in a temporary SQLite file, then times `summarise` (storage + summaries + fANOVA) and
`render_page` (figures + HTML) in one process. Run 1 also pays first-use imports (plotly).

Run: `python tests/benchmarks/bench_report.py [--quick]` (also `make bench`).
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpsearch.definition.config import StudyConfig
from hpsearch.engine.storage import load_studies, resolve
from hpsearch.engine.studies import store_run
from hpsearch.report.documents.page import render_page
from hpsearch.report.summaries.collect import summarise as summarise_studies
from hpsearch.space.conditional import SearchSpace, suggest
from hpsearch.space.optimizers import get_spec, implementation_for
from hpsearch.tasks import get_task
from hpsearch.tasks.prepare import prepare_task

TARGET_S = 10.0
EPOCHS = 20
REPEATS = 3
# (study, task, optimizers searched or None for all, share of the trials)
STUDIES = (("classification", "classification", None, 0.4),
           ("regression", "regression", None, 0.3),
           ("classification-sgd-family", "classification", ("sgd", "momentum", "nesterov", "adamw"), 0.3))


def curve(lr: float, low: float, high: float, kind: str, rng: random.Random) -> list[float]:
    """A learning curve that is best at the log-middle of the optimizer's lr range."""
    centre = (math.log10(low) + math.log10(high)) / 2
    quality = math.exp(-((math.log10(lr) - centre) ** 2) / (2 * 0.8**2))  # 1 at the sweet spot
    speed = 0.08 + 0.4 * quality
    values = []
    for epoch in range(EPOCHS):
        progress = 1 - math.exp(-speed * (epoch + 1))
        if kind == "classification":
            value = 0.1 + (0.55 + 0.43 * quality - 0.1) * progress + rng.gauss(0, 0.01)
            values.append(min(1.0, max(0.0, value)))
        else:  # rmse on diabetes: ~160 untrained, ~53 at best
            values.append(160 - (107 - 40 * (1 - quality)) * progress + abs(rng.gauss(0, 1.5)))
    return values


def make_trials(config: StudyConfig, n: int, seed: int) -> list[FrozenTrial]:
    rng = random.Random(seed)
    sampler_study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))  # in memory
    lanes = [datetime.datetime(2026, 1, 1)] * 2  # two workers
    sign = 1.0 if config.task == "classification" else -1.0
    trials = []
    for _ in range(n):
        ask = sampler_study.ask()
        trial_config = suggest(ask, config.space, EPOCHS).to_dict()
        trial_config["implementation"] = implementation_for(trial_config["optimizer"], "cpu")
        lr_hp = next(hp for hp in get_spec(trial_config["optimizer"]).hyperparameters if hp.name == "lr")
        lr = trial_config["hyperparameters"]["lr"]
        values = curve(lr, lr_hp.low, lr_hp.high, config.task, rng)
        # Divergence: a few trials at the top of their lr range blow up mid-run.
        diverged = lr > lr_hp.high / 3 and rng.random() < 0.5
        pruned = not diverged and rng.random() < 0.6
        epochs_run = rng.randint(2, 8) if diverged else rng.randint(4, 15) if pruned else EPOCHS
        reported = values[:epochs_run]
        finite = reported[:-1] if diverged else reported  # a diverged run's last epoch is NaN
        best = max(range(len(finite)), key=lambda i: sign * finite[i])
        attrs: dict[str, Any] = {"config": trial_config, "epochs_run": epochs_run,
                                 "seconds": round(epochs_run * rng.uniform(0.12, 0.2), 4),
                                 "best_value": reported[best], "best_epoch": best + 1, "device": "cpu",
                                 "seed": rng.getrandbits(32), "closure_evaluations": 0}
        if diverged:
            reported[-1] = float("nan")
            attrs.update(diverged=True, diverged_epoch=epochs_run, reason="non-finite loss")
        elif pruned:
            attrs["reason"] = f"pruned by the pruner after epoch {epochs_run}"
        lane = min(range(len(lanes)), key=lanes.__getitem__)
        attrs["worker"] = f"bench-host:{1000 + lane}"
        frozen = optuna.trial.create_trial(
            state=TrialState.PRUNED if diverged or pruned else TrialState.COMPLETE,
            value=None if diverged or pruned else reported[-1],
            params=ask.params, distributions=ask.distributions, user_attrs=attrs,
            intermediate_values=dict(enumerate(reported)))
        # Real start/end times: the report plots best-so-far against wall clock.
        frozen.datetime_start = lanes[lane] + datetime.timedelta(seconds=0.05)
        frozen.datetime_complete = frozen.datetime_start + datetime.timedelta(seconds=attrs["seconds"])
        lanes[lane] = frozen.datetime_complete
        trials.append(frozen)
    return trials


def build(url: str, total: int) -> None:
    storage = resolve(url)
    for i, (name, task, optimizers, share) in enumerate(STUDIES):
        space = SearchSpace(optimizers=optimizers) if optimizers else SearchSpace()
        config = StudyConfig(task=task, study_name=name, space=space, n_trials=round(total * share),
                             epochs=EPOCHS, batch_size=get_task(task).batch_size, storage=url,
                             device="cpu")
        direction = "maximize" if task == "classification" else "minimize"
        study = optuna.create_study(storage=storage, study_name=name, direction=direction)
        # The study attributes exactly as `hpsearch tune` writes them.
        store_run(study, config, prepare_task(task), sampler_seed=0, device="cpu")
        study.add_trials(make_trials(config, config.n_trials, seed=i))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 trials, one run: a smoke check")
    args = parser.parse_args()
    total, repeats = (100, 1) if args.quick else (1000, REPEATS)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        start = time.perf_counter()
        build(url, total)
        print(f"built {total} trials x {EPOCHS} epochs in {len(STUDIES)} studies "
              f"in {time.perf_counter() - start:.1f} s (not timed)")
        totals = []
        for run in range(1, repeats + 1):
            start = time.perf_counter()
            report = summarise_studies(load_studies(url), url)
            summarised = time.perf_counter()
            page = render_page(report)
            end = time.perf_counter()
            totals.append(end - start)
            print(f"  run {run}: summarise {summarised - start:6.2f} s  render_page "
                  f"{end - summarised:6.2f} s  total {end - start:6.2f} s  "
                  f"page {len(page.encode()) / 1e6:.2f} MB")
        # What a user waits for: a fresh process, imports included, writing the page to disk.
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hpsearch", "report", "--storage", url, "--out",
                        str(Path(tmp) / "report.html")], check=True, capture_output=True)
        command = time.perf_counter() - start
    median = statistics.median(totals)
    print(f"median total {median:.2f} s over {repeats} runs in one process")
    verdict = "PASS" if command < TARGET_S else "FAIL"
    print(f"`hpsearch report` in a fresh process: {command:.2f} s (target < {TARGET_S:.0f} s)  "
          f"{verdict}")


if __name__ == "__main__":
    main()
