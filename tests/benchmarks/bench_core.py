"""Core benchmarks on the built-in `classification` task (digits, MLP 64-256-256-10, batch 64, CPU).

(a) `hpsearch.training.tables.fit` vs a bare hand-written loop doing the same work: per-epoch time ratio.
(b) the same epoch in the style of Optuna's PyTorch example (DataLoader, per-batch `.item()`).
(c) studies with the median (default) and hyperband pruners vs `--pruner none`: epochs trained,
    best value, wall time, and the share of wall time outside the trials' own training time
    (sampling, storage, study bookkeeping; target at most 10 %), and that share counting the
    reports and pruning inside a trial's timer as bookkeeping too. A warm-up run first, so that
    no arm pays the process's imports and the task's data loading.

Run: `python tests/benchmarks/bench_core.py [--quick]` (also `make bench`). The arms of (a) and (b)
run in one process, interleaved epoch by epoch, so that machine noise hits them alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from hpsearch.definition.config import load_config
from hpsearch.engine.ledger import TrialLedger
from hpsearch.protocols.tune import run
from hpsearch.record import trial_attrs
from hpsearch.space.optimizers import implementation_for
from hpsearch.tasks import get_task
from hpsearch.training.tables import DeviceData, fit

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGET_RATIO = 1.05
OUTSIDE_TARGET = 0.10  # share of a sweep's wall time outside the trials' own training time
SEED = 0
BATCH_SIZE = 64
DEVICE = torch.device("cpu")
TASK = get_task("classification")
ADAM_ARGS: dict[str, Any] = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}
# What the objective records in each trial's config on this device (fused Adam on CPU and CUDA).
IMPLEMENTATION: dict[str, Any] = implementation_for("adam", DEVICE.type)

EpochTiming = tuple[float, float]  # seconds the epoch took, validation accuracy after it
Arm = Callable[[DeviceData, int], Iterator[EpochTiming]]


def fresh_model(data: DeviceData) -> torch.nn.Module:
    torch.manual_seed(SEED)  # every arm starts from the same weights
    return TASK.build_model(int(data.x_train.shape[1]), data.n_outputs).to(DEVICE)


def hpsearch_arm(data: DeviceData, epochs: int) -> Iterator[EpochTiming]:
    config = {
        "optimizer": "adam",
        "hyperparameters": {**ADAM_ARGS, "betas": list(ADAM_ARGS["betas"])},  # as exported
        "schedule": {"name": "none"},
        "clip_grad_norm": None,
        "implementation": IMPLEMENTATION,
    }
    results = fit(data, fresh_model(data), config, TASK.problem, epochs, BATCH_SIZE, SEED)
    for _ in range(epochs):
        start = time.perf_counter()
        result = next(results)  # one epoch: train, evaluate, read back
        yield time.perf_counter() - start, result.val_metric


def bare_arm(data: DeviceData, epochs: int) -> Iterator[EpochTiming]:
    model = fresh_model(data)
    optimizer = torch.optim.Adam(model.parameters(), **ADAM_ARGS, **IMPLEMENTATION)
    generator = torch.Generator(device=DEVICE).manual_seed(SEED)
    n = len(data.x_train)
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        total = torch.zeros((), device=DEVICE)
        order = torch.randperm(n, device=DEVICE, generator=generator)
        for first in range(0, n, BATCH_SIZE):
            index = order[first:first + BATCH_SIZE]
            xb, yb = data.x_train[index], data.y_train[index]
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(index)
        model.eval()
        with torch.no_grad():
            accuracy = (model(data.x_val).argmax(dim=-1) == data.y_val).float().mean()
        _, val_accuracy = torch.stack([total / n, accuracy]).tolist()  # one sync per epoch
        yield time.perf_counter() - start, val_accuracy


def dataloader_arm(data: DeviceData, epochs: int) -> Iterator[EpochTiming]:
    # As in Optuna's examples/pytorch/pytorch_simple.py, but with the same model and optimizer.
    model = fresh_model(data)
    optimizer = torch.optim.Adam(model.parameters(), **ADAM_ARGS, **IMPLEMENTATION)
    cpu = torch.device("cpu")  # a DataLoader serves CPU tensors; each batch is moved on its own
    train_loader = DataLoader(TensorDataset(data.x_train.to(cpu), data.y_train.to(cpu)),
                              batch_size=BATCH_SIZE, shuffle=True,
                              generator=torch.Generator().manual_seed(SEED))
    valid_loader = DataLoader(TensorDataset(data.x_val.to(cpu), data.y_val.to(cpu)),
                              batch_size=BATCH_SIZE)
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        total = 0.0
        for xb, yb in train_loader:
            xb, yb = xb.to(DEVICE), yb.to(DEVICE)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(xb)
        model.eval()
        correct = 0
        with torch.no_grad():
            for xb, yb in valid_loader:
                xb, yb = xb.to(DEVICE), yb.to(DEVICE)
                pred = model(xb).argmax(dim=1, keepdim=True)
                correct += int(pred.eq(yb.view_as(pred)).sum().item())
        yield time.perf_counter() - start, correct / len(data.y_val)


def compare_loops(rounds: int, epochs: int) -> None:
    data = DeviceData.from_task_data(TASK.load(), DEVICE)
    arms: dict[str, Arm] = {"hpsearch": hpsearch_arm, "bare": bare_arm,
                            "dataloader": dataloader_arm}
    for arm in arms.values():  # warm-up: allocator, kernels, lazy imports
        for _ in arm(data, 2):
            pass
    epoch_times: dict[str, list[float]] = {name: [] for name in arms}
    accuracies: dict[str, float] = {}
    names = list(arms)
    for _ in range(rounds):
        runs = {name: arm(data, epochs) for name, arm in arms.items()}  # fresh model each round
        # The arms advance in lockstep, one epoch each in turn (the order rotating), so a burst
        # of load from other processes lands on all of them rather than on one arm's whole run.
        for epoch in range(epochs):
            for name in names[epoch % len(names):] + names[:epoch % len(names)]:
                seconds, accuracies[name] = next(runs[name])
                if epoch > 0:  # epoch 0 carries one-off lazy initialisation
                    epoch_times[name].append(seconds)
    median_ms = {name: 1e3 * statistics.median(t) for name, t in epoch_times.items()}
    print(f"== (a)/(b) per-epoch time, {rounds} rounds x {epochs} epochs per arm, interleaved "
          f"(median of {len(epoch_times['bare'])} epochs; torch threads {torch.get_num_threads()})")
    for name, ms in median_ms.items():
        print(f"  {name:<11} {ms:8.2f} ms/epoch   final val accuracy {accuracies[name]:.4f}")
    ratio = median_ms["hpsearch"] / median_ms["bare"]
    verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    print(f"(a) hpsearch / bare = {ratio:.3f}  (target <= {TARGET_RATIO})  {verdict}")
    same = accuracies["hpsearch"] == accuracies["bare"]
    print(f"    same final accuracy as bare (same work, same seed): {'yes' if same else 'NO'}")
    print(f"(b) speed-up over the DataLoader loop = "
          f"{median_ms['dataloader'] / median_ms['hpsearch']:.2f}x")


class BookkeepingClock:
    """Seconds spent storing reports and asking the pruner, which a trial's own timer counts as its
    training: timed here so that the share outside training can be told with them too."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __enter__(self) -> BookkeepingClock:
        self.saved = {name: getattr(TrialLedger, name) for name in ("report", "should_prune")}
        for name, method in self.saved.items():
            setattr(TrialLedger, name, self.timed(method))
        return self

    def __exit__(self, *exc: object) -> None:
        for name, method in self.saved.items():
            setattr(TrialLedger, name, method)

    def timed(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args)
            finally:
                self.seconds += time.perf_counter() - start
        return call


def compare_pruners(trials: int, epochs: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.chdir(REPO_ROOT)  # load_config reads studies/<task>.toml relative to the cwd
    print(f"== (c) study: {trials} trials x {epochs} epochs, seed {SEED}, sampler tpe, cpu")
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{Path(tmp) / 'bench.db'}"

        def config(pruner: str, n_trials: int, n_epochs: int) -> Any:
            return load_config("classification", None, {
                "study": f"bench-{pruner}-{n_trials}", "storage": storage, "n_trials": n_trials,
                "epochs": n_epochs, "pruner": pruner, "seed": SEED, "sampler": "tpe",
                "device": DEVICE.type})

        # The process's first imports and the task's data, once, before any arm: not a sweep's.
        start = time.perf_counter()
        run(config("none", 1, 1))
        print(f"  warm-up (imports, data, one trial of one epoch): {time.perf_counter() - start:.1f} s")
        for pruner in ("median", "hyperband", "none"):
            settings = config(pruner, trials, epochs)
            start = time.perf_counter()
            with BookkeepingClock() as inside:
                study = run(settings).study
            wall = time.perf_counter() - start
            finished = study.get_trials(deepcopy=False)
            epochs_run = sum(int(trial_attrs(t).get("epochs_run", 0)) for t in finished)
            fraction = epochs_run / (settings.n_trials * settings.epochs)
            # Training seconds (the trials' own timers) beside wall time: the rest is sampler and
            # storage, and a busy machine shows up as training seconds out of line with epochs.
            training = sum(float(trial_attrs(t).get("seconds", 0.0)) for t in finished)
            outside = 1 - training / wall
            strict = 1 - (training - inside.seconds) / wall
            print(f"  pruner {pruner:<9}  epochs trained {fraction:6.1%}  "
                  f"best value {study.best_value:.4f}  wall {wall:6.1f} s "
                  f"(training {training:.1f} s; outside training {outside:.1%}, target <= "
                  f"{OUTSIDE_TARGET:.0%}: {'PASS' if outside <= OUTSIDE_TARGET else 'MISS'}; "
                  f"with the reports and pruning the trials' timers count, {strict:.1%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few reps and trials: a smoke check")
    args = parser.parse_args()
    torch.set_flush_denormal(True)  # as the objective does; applies to every arm alike
    # Timings mean little on a busy machine: say how busy it was.
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if args.quick:
        compare_loops(rounds=2, epochs=4)
        compare_pruners(trials=10, epochs=6)
    else:
        compare_loops(rounds=5, epochs=20)
        compare_pruners(trials=40, epochs=20)


if __name__ == "__main__":
    main()
