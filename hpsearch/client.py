"""The reporting client of a training script that hpsearch runs as a trial: standard library only.

    from hpsearch.client import report
    report(step, val_loss)                     # one evaluation point
    report(step, val_loss, train_loss=loss)    # with other metrics beside it

When hpsearch runs a command as a trial (`python train.py --learning_rate={lr} ...`), it sets these
environment variables for the program:

- `HPSEARCH_REPORT`: a file; `report()` appends one JSON line per call to it,
  `{"step": ..., "value": ..., <other metrics>..., "time": <time.time()>}`. hpsearch tails the file
  and reads each line as it comes (with `json.loads`, so `NaN` and `Infinity` are read too: a
  diverged run is seen as one).
- `HPSEARCH_CONFIG`: a JSON file with the trial's configuration, in the schema of
  `hpsearch best --format json` ("optimizer", "torch_class", "hyperparameters", "schedule",
  "clip_grad_norm", ...): `hpsearch.build_optimizer(config, model)` and
  `hpsearch.build_scheduler(config, optimizer, total_steps)` build it. `config()` reads it.
- `HPSEARCH_SEED`: the trial's seed, an integer.
- `HPSEARCH_TRIAL_DIR`: a folder of the trial's own, for its outputs (`trial_dir()`).
- `HPSEARCH_STUDY`: the study's name.
- `HPSEARCH_PREVIOUS_TRIAL_DIR`: where set, the folder of the trial this one continues from.

Without `HPSEARCH_REPORT` (the same script run alone) `report()` checks its arguments and does
nothing else: it writes no file and prints nothing. Under torchrun, DDP or any launcher that sets
`RANK`, only rank 0 reports: with `RANK` set to anything but "0", `report()` is silent (only `RANK`
is read, not `LOCAL_RANK` or `SLURM_PROCID`: a script launched otherwise reports from one process
itself). The report file is opened once per process, in append mode, line-buffered and flushed at
every call; a lock keeps the lines of threads whole.

Importing this module imports no numpy, Optuna or torch, so it costs a training script nothing.
"""

from __future__ import annotations

import json
import numbers
import os
import threading
import time
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

REPORT = "HPSEARCH_REPORT"
CONFIG = "HPSEARCH_CONFIG"
SEED = "HPSEARCH_SEED"
TRIAL_DIR = "HPSEARCH_TRIAL_DIR"
STUDY = "HPSEARCH_STUDY"
PREVIOUS_TRIAL_DIR = "HPSEARCH_PREVIOUS_TRIAL_DIR"
RESERVED = ("step", "value", "time")  # the keys of a line that are not the script's metrics

_lock = threading.Lock()
_open: dict[str, Any] = {"path": None, "pid": None, "file": None}  # this process's report file


def _number(name: str, given: object) -> float | int:
    """A metric as JSON writes it; a TypeError naming the argument for anything but a real number."""
    if isinstance(given, bool) or not isinstance(given, numbers.Real):
        hint = " (call .item() on a tensor)" if hasattr(given, "item") else ""
        raise TypeError(f"hpsearch.client.report: {name} must be a real number, got "
                        f"{type(given).__name__} {given!r:.60}{hint}")
    return int(given) if isinstance(given, numbers.Integral) else float(given)


def _line(step: object, value: object, metrics: Mapping[str, object]) -> str:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise TypeError(f"hpsearch.client.report: step must be an int, got "
                        f"{type(step).__name__} {step!r:.60}")
    record: dict[str, Any] = {"step": int(step), "value": float(_number("value", value))}
    for name, metric in metrics.items():
        if name in RESERVED:
            raise TypeError(f"hpsearch.client.report: metric name '{name}' is reserved "
                            f"({', '.join(RESERVED)}); give it another name")
        record[name] = _number(name, metric)
    record["time"] = time.time()
    return json.dumps(record, allow_nan=True) + "\n"


def _silent_rank() -> bool:
    rank = os.environ.get("RANK")
    return rank is not None and rank.strip() not in ("", "0")


def _file(path: str) -> IO[str]:
    """The report file, opened once per process (again after a fork or a new path); under `_lock`."""
    if _open["file"] is None or _open["path"] != path or _open["pid"] != os.getpid():
        _open.update(path=path, pid=os.getpid(),
                     file=open(path, "a", buffering=1, encoding="utf-8"))  # noqa: SIM115
    handle: IO[str] = _open["file"]
    return handle


def report(step: int, value: float, **metrics: float) -> None:
    """Hand hpsearch one evaluation point: `value` (the metric the study optimises) at `step`, and
    any other metrics by name. Checks its arguments always (TypeError); writes only when hpsearch
    runs the script (`HPSEARCH_REPORT` set) and only on rank 0."""
    line = _line(step, value, metrics)
    path = os.environ.get(REPORT)
    if not path or _silent_rank():
        return
    with _lock:
        handle = _file(path)
        handle.write(line)
        handle.flush()


def trial_dir() -> Path | None:
    """The trial's own folder (`HPSEARCH_TRIAL_DIR`), or None when hpsearch is not running it."""
    folder = os.environ.get(TRIAL_DIR)
    if not folder:
        return None
    from pathlib import Path

    return Path(folder)


def config() -> dict[str, Any] | None:
    """The trial's configuration (the JSON file `HPSEARCH_CONFIG` names), or None without one."""
    path = os.environ.get(CONFIG)
    if not path:
        return None
    with open(path, encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded
