"""Nothing finished is lost: trials left RUNNING by a killed process are found, failed and retried.

Each trial records the process that runs it (host, process id and the process's start time, since
ids are reused). A run on the same host fails, at once, every RUNNING trial whose process is gone
and enqueues its configuration again, once. Trials of other hosts are left to the storage's
heartbeat (RDB storages: a trial whose heartbeat stops for the grace period is failed by the next
worker that starts a trial, and retried once the same way).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch import record
from hpsearch.engine.optuna_adapter import fail_trial

if TYPE_CHECKING:
    import optuna

HEARTBEAT_INTERVAL_S = 30
HEARTBEAT_GRACE_S = 120


def process_start(pid: int) -> str | None:
    """An identity of the process `pid` that a reused id does not share: the boot and the start
    time in clock ticks (Linux); None where /proc cannot tell."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22, counted after the command name, which may itself hold spaces and parentheses.
    return f"{boot}:{stat.rpartition(')')[2].split()[19]}"


def this_worker() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": process_start(os.getpid())}


def is_gone(worker: dict[str, Any]) -> bool:
    """True only when the worker ran on this host and its process is certainly not running."""
    if not isinstance(worker, dict) or worker.get("host") != socket.gethostname():
        return False
    pid = int(worker.get("pid", -1))
    if worker.get("started") is not None:
        return process_start(pid) != worker["started"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, under another user
        return False
    return False


def retry_once(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Enqueue a failed trial's configuration again, unless it already was a retry."""
    if record.RETRY_OF not in trial.user_attrs and trial.params:
        carried = {k: trial.user_attrs[k] for k in record.CARRIED if k in trial.user_attrs}
        study.enqueue_trial(trial.params, user_attrs={**carried, record.RETRY_OF: trial.number})


def reclaim_dead_trials(study: optuna.Study) -> list[int]:
    """Fail the RUNNING trials of processes of this host that are gone; retry each once."""
    from optuna.trial import TrialState

    reclaimed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get(record.WORKER)
        if not worker or not is_gone(worker):
            continue
        reason = f"its process {worker['pid']} on {worker['host']} ended while it ran"
        if not fail_trial(study, trial, {record.REASON: reason}):
            continue  # another process reclaimed it first
        retry_once(study, trial)
        reclaimed.append(trial.number)
    return reclaimed
