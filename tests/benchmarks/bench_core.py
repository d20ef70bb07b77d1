"""Core benchmarks on the built-in `classification` task (digits, MLP 64-256-256-10, batch 64, CPU).

(a) `hpsearch.train.fit` vs a bare hand-written loop doing the same work: per-epoch time ratio.
(b) the same epoch in the style of Optuna's PyTorch example (DataLoader, per-batch `.item()`).
(c) a study with the median pruner vs `--pruner none`: epochs trained, best value, wall time.

Run: `python tests/benchmarks/bench_core.py [--quick]` (also `make bench`). The arms of (a) and (b)
run in one process, interleaved round by round, so that machine noise hits them alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from hpsearch.optimizers import implementation_for
from hpsearch.study import load_config, run
from hpsearch.tasks import get_task
from hpsearch.train import DeviceData, fit

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGET_RATIO = 1.05
SEED = 0
BATCH_SIZE = 64
DEVICE = torch.device("cpu")
TASK = get_task("classification")
# Adam's torch arguments, plus the implementation the objective records on this device.
ADAM_ARGS: dict[str, Any] = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                             **implementation_for("adam", DEVICE.type)}

RunOutcome = tuple[list[float], float]  # seconds per epoch, final validation accuracy
Arm = Callable[[DeviceData, int], RunOutcome]


def fresh_model(data: DeviceData) -> torch.nn.Module:
    torch.manual_seed(SEED)  # every arm starts from the same weights
    return TASK.build_model(int(data.x_train.shape[1]), data.n_outputs).to(DEVICE)


def hpsearch_arm(data: DeviceData, epochs: int) -> RunOutcome:
    config = {
        "optimizer": "adam",
        "hyperparameters": {k: v for k, v in ADAM_ARGS.items() if k != "fused"},
        "schedule": {"name": "none"},
        "clip_grad_norm": None,
        "implementation": implementation_for("adam", DEVICE.type),
    }
    results = fit(data, fresh_model(data), config, TASK.problem, epochs, BATCH_SIZE, SEED)
    times: list[float] = []
    for _ in range(epochs):
        start = time.perf_counter()
        result = next(results)  # one epoch: train, evaluate, read back
        times.append(time.perf_counter() - start)
    return times, result.val_metric


def bare_arm(data: DeviceData, epochs: int) -> RunOutcome:
    model = fresh_model(data)
    optimizer = torch.optim.Adam(model.parameters(), **ADAM_ARGS)
    generator = torch.Generator(device=DEVICE).manual_seed(SEED)
    n = len(data.x_train)
    times: list[float] = []
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
        _, final_accuracy = torch.stack([total / n, accuracy]).tolist()  # one sync per epoch
        times.append(time.perf_counter() - start)
    return times, final_accuracy


def dataloader_arm(data: DeviceData, epochs: int) -> RunOutcome:
    # As in Optuna's examples/pytorch/pytorch_simple.py, but with the same model and optimizer.
    model = fresh_model(data)
    optimizer = torch.optim.Adam(model.parameters(), **ADAM_ARGS)
    cpu = torch.device("cpu")
    train_loader = DataLoader(TensorDataset(data.x_train.to(cpu), data.y_train.to(cpu)),
                              batch_size=BATCH_SIZE, shuffle=True,
                              generator=torch.Generator().manual_seed(SEED))
    valid_loader = DataLoader(TensorDataset(data.x_val.to(cpu), data.y_val.to(cpu)),
                              batch_size=BATCH_SIZE)
    times: list[float] = []
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
        accuracy = correct / len(valid_loader.dataset)  # type: ignore[arg-type]
        times.append(time.perf_counter() - start)
    return times, accuracy


def compare_loops(rounds: int, epochs: int) -> None:
    data = DeviceData.from_task_data(TASK.load(), DEVICE)
    arms: dict[str, Arm] = {"hpsearch": hpsearch_arm, "bare": bare_arm,
                            "dataloader": dataloader_arm}
    for arm in arms.values():  # warm-up: allocator, kernels, lazy imports
        arm(data, 2)
    epoch_times: dict[str, list[float]] = {name: [] for name in arms}
    accuracies: dict[str, float] = {}
    names = list(arms)
    for round_ in range(rounds):
        # Rotate the order each round so no arm always runs first (or right after another).
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            times, accuracies[name] = arms[name](data, epochs)
            epoch_times[name] += times[1:]  # epoch 0 carries one-off lazy initialisation
    median_ms = {name: 1e3 * statistics.median(t) for name, t in epoch_times.items()}
    print(f"== (a)/(b) per-epoch time, {rounds} rounds x {epochs} epochs per arm "
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


def compare_pruners(trials: int, epochs: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.chdir(REPO_ROOT)  # load_config reads studies/<task>.toml relative to the cwd
    print(f"== (c) study: {trials} trials x {epochs} epochs, seed {SEED}, sampler tpe, cpu")
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{Path(tmp) / 'bench.db'}"
        for pruner in ("median", "none"):
            config = load_config("classification", None, {
                "study": f"bench-{pruner}", "storage": storage, "n_trials": trials,
                "epochs": epochs, "pruner": pruner, "seed": SEED, "sampler": "tpe",
                "device": DEVICE.type,
            })
            start = time.perf_counter()
            study = run(config).study
            wall = time.perf_counter() - start
            epochs_run = sum(int(t.user_attrs.get("epochs_run", 0))
                             for t in study.get_trials(deepcopy=False))
            fraction = epochs_run / (config.n_trials * config.epochs)
            print(f"  pruner {pruner:<6}  epochs trained {fraction:6.1%}  "
                  f"best value {study.best_value:.4f}  wall {wall:6.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few reps and trials: a smoke check")
    args = parser.parse_args()
    torch.set_flush_denormal(True)  # as the objective does; applies to every arm alike
    if args.quick:
        compare_loops(rounds=2, epochs=4)
        compare_pruners(trials=6, epochs=4)
    else:
        compare_loops(rounds=5, epochs=20)
        compare_pruners(trials=40, epochs=20)


if __name__ == "__main__":
    main()
