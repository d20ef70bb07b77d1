"""Does the language model's pruning throw away the eventual winner?

Runs the `lm` study (studies/lm.toml) with no pruning, so that every trial's whole validation curve
is known, then replays Optuna's median pruner, exactly as a sweep asks it (the same pruner object,
the trials added in order, a trial kept only if it was never pruned), over many random orders of the
same trials, under three policies:

- none: nothing is pruned (what the unpruned sweep did);
- default: the median pruner, asked only once a trial's decay has begun (hpsearch's rule for `lm`);
- plain: the median pruner at every evaluation after its warm-up steps (the table tasks' rule).

For each it prints how often the eventual winner (the trial with the lowest final loss) and a top-3
trial are pruned, the best loss the policy keeps, and the evaluations it saves.

Run: `python tests/benchmarks/bench_lm_pruning.py [--trials N] [--orders M]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState, create_trial

from hpsearch.definition.config import load_config
from hpsearch.engine.studies import make_pruner
from hpsearch.protocols.tune import run
from hpsearch.record import CONFIG, trial_attrs
from hpsearch.space.schedules import decay_start

REPO_ROOT = Path(__file__).resolve().parents[2]


def replay(curves: list[list[float]], starts: list[float], order: list[int], policy: str,
           evaluations: int) -> tuple[set[int], int]:
    """The trials `policy` prunes when they arrive in `order`, and the evaluations it runs."""
    study = optuna.create_study(direction="minimize")
    pruner = make_pruner("median", evaluations)
    pruned, run_evaluations = set(), 0
    for position, index in enumerate(order):
        curve = curves[index]
        stop = None
        for step in range(len(curve)):
            if policy == "none" or (policy == "default" and (step + 1) / evaluations
                                    <= starts[index]):
                continue
            frozen = create_trial(state=TrialState.RUNNING, params={}, distributions={},
                                  intermediate_values=dict(enumerate(curve[:step + 1])))
            frozen.number = position  # as the study numbers it (the pruner reads once per trial)
            if pruner.prune(study, frozen):
                stop = step
                break
        kept = curve if stop is None else curve[:stop + 1]
        run_evaluations += len(kept)
        if stop is None:
            study.add_trial(create_trial(value=curve[-1], intermediate_values=dict(enumerate(kept))))
        else:
            pruned.add(index)
            study.add_trial(create_trial(state=TrialState.PRUNED,
                                         intermediate_values=dict(enumerate(kept))))
    return pruned, run_evaluations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--orders", type=int, default=200)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.chdir(REPO_ROOT)  # studies/lm.toml
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config("lm", None, {"storage": f"sqlite:///{tmp}/lm.db", "pruner": "none",
                                          "n_trials": args.trials})
        study = run(config).study
        trials = [t for t in study.trials if t.state == TrialState.COMPLETE]
    curves = [[t.intermediate_values[s] for s in sorted(t.intermediate_values)] for t in trials]
    starts = [decay_start(trial_attrs(t)[CONFIG]["schedule"]) for t in trials]
    finals = np.array([c[-1] for c in curves])
    ranking = list(np.argsort(finals))
    winner, top3 = ranking[0], set(ranking[:3])
    print(f"== {len(trials)} unpruned trials of studies/lm.toml ({config.steps} steps, evaluated "
          f"every {config.eval_every}); winner #{trials[winner].number} at {finals[winner]:.4f}; "
          f"{args.orders} random orders")
    rng = np.random.default_rng(0)
    orders = [list(rng.permutation(len(trials))) for _ in range(args.orders)]
    full = len(trials) * config.epochs
    for policy in ("none", "default", "plain"):
        outcomes = [replay(curves, starts, order, policy, config.epochs) for order in orders]
        winner_pruned = sum(winner in pruned for pruned, _ in outcomes) / len(outcomes)
        top3_pruned = statistics.mean(len(top3 & pruned) for pruned, _ in outcomes)
        kept_best = statistics.median(min(finals[i] for i in range(len(trials)) if i not in pruned)
                                      for pruned, _ in outcomes)
        saved = 1 - statistics.mean(evaluations for _, evaluations in outcomes) / full
        print(f"  {policy:<8} winner pruned in {winner_pruned:6.1%} of orders; top-3 pruned "
              f"{top3_pruned:.2f} of 3 on average; median best kept {kept_best:.4f}; "
              f"evaluations saved {saved:.1%}")


if __name__ == "__main__":
    main()
