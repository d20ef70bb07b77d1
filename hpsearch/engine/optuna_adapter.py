"""Every use of Optuna's private API, in one place.

Optuna offers no public call for these, so each is pinned here and exercised against the installed
Optuna by `tests/test_optuna_adapter.py`; `pyproject.toml` keeps Optuna below its next major version.
- the heartbeat thread Optuna's own `optimize` runs around a trial (`optuna.storages._heartbeat`);
- failing a RUNNING trial that another process left behind: `study.tell` refuses a trial this
  process did not ask for, so the storage is written directly (`study._storage`, `_trial_id`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna


def heartbeat(study: optuna.Study, trial: optuna.trial.Trial) -> AbstractContextManager[Any]:
    """Optuna's heartbeat around one trial (a no-op on storages without one)."""
    from optuna.storages._heartbeat import get_heartbeat_thread

    return get_heartbeat_thread(trial._trial_id, study._storage)  # type: ignore[return-value]


def fail_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial, attrs: dict[str, Any]) -> bool:
    """Write `attrs` on a RUNNING trial and fail it; False when it finished meanwhile (another
    process reclaimed it, or its owner told its end)."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage, trial_id = study._storage, trial._trial_id
    try:
        for key, value in attrs.items():
            storage.set_trial_user_attr(trial_id, key, value)
        return bool(storage.set_trial_state_values(trial_id, TrialState.FAIL))
    except UpdateFinishedTrialError:
        return False
