"""Nothing finished is lost: trials left RUNNING by a killed process are found, failed and retried.

Each trial records the process that runs it: host, process id, the process's start time (ids are
reused), the machine's boot and the process's PID namespace. A run fails, at once, every RUNNING
trial whose process it can see is gone, and enqueues its configuration again, once: only trials of
its own boot and PID namespace, since another machine with the same host name, or another container
on this one, numbers its processes apart. Other trials are left to the storage's heartbeat (RDB
storages: a trial whose heartbeat stops for the grace period is failed by the next worker that
starts a trial, and retried once the same way). An owner still alive whose trial was failed under it
stores its result again (see `ledger`).
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


def boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def pid_namespace() -> str | None:
    """This process's PID namespace (`pid:[4026531836]`): unique on one boot of one machine."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


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
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": process_start(os.getpid()),
            "machine": boot_id(), "pid_namespace": pid_namespace()}


def is_gone(worker: dict[str, Any]) -> bool:
    """True only when the worker's process is certainly not running: it ran on this host, in this
    boot and this PID namespace (where its id means the same process), and no process with its id
    and start time is there. A worker recorded without all of these is left to the heartbeat."""
    if not isinstance(worker, dict):
        return False
    here = {"host": socket.gethostname(), "machine": boot_id(), "pid_namespace": pid_namespace()}
    if None in here.values() or any(worker.get(key) != value for key, value in here.items()):
        return False
    if not isinstance(worker.get("pid"), int) or worker.get("started") is None:
        return False
    return process_start(worker["pid"]) != worker["started"]


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
        if not fail_trial(study, trial, {record.RECLAIMED: reason}):
            continue  # another process reclaimed it first
        retry_once(study, trial)
        reclaimed.append(trial.number)
    return reclaimed
