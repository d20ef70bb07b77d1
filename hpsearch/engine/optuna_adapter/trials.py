"""Trials as Optuna's public API does not offer them: taken with their first attributes, failed or
cancelled for a process that is gone, and kept alive by Optuna's heartbeat."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from hpsearch.engine.optuna_adapter.reads import served

if TYPE_CHECKING:
    import optuna


def ask(study: optuna.Study, attrs: dict[str, Any]) -> optuna.trial.Trial:
    """The study's next trial, as `study.ask` takes it (an enqueued trial first, else a new one),
    with `attrs` among its user attributes: a new trial is created holding them, in the
    transaction that creates it. The waiting trials are those this process read last (under the
    study's lock, by the caller)."""
    import optuna
    from optuna.trial import TrialState, create_trial

    with served(study):
        trial_id = study._pop_waiting_trial_id()
        if trial_id is None:
            template = create_trial(state=TrialState.RUNNING, user_attrs=attrs)
            trial_id = study._storage.create_new_trial(study._study_id, template_trial=template)
        else:
            for key, value in attrs.items():
                study._storage.set_trial_user_attr(trial_id, key, value)
        return optuna.Trial(study, trial_id)
def heartbeat(study: optuna.Study, trial: optuna.trial.Trial) -> AbstractContextManager[Any]:
    """Optuna's heartbeat around one trial (a no-op on storages without one)."""
    from optuna.storages._heartbeat import get_heartbeat_thread

    return get_heartbeat_thread(trial._trial_id, study._storage)  # type: ignore[return-value]


def heartbeat_interval(study: optuna.Study) -> int | None:
    """Seconds between a running trial's heartbeats; None where the storage keeps none."""
    from optuna.storages._heartbeat import is_heartbeat_enabled

    storage = study._storage
    return storage.get_heartbeat_interval() if is_heartbeat_enabled(storage) else None  # type: ignore[attr-defined, no-any-return]


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


def cancel_waiting(study: optuna.Study, trial: optuna.trial.FrozenTrial, attrs: dict[str, Any]
                   ) -> bool:
    """Take a WAITING trial, write `attrs` on it and fail it; False when another process took it."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage, trial_id = study._storage, trial._trial_id
    try:
        if not storage.set_trial_state_values(trial_id, TrialState.RUNNING):
            return False
    except UpdateFinishedTrialError:
        return False
    for key, value in attrs.items():
        storage.set_trial_user_attr(trial_id, key, value)
    return bool(storage.set_trial_state_values(trial_id, TrialState.FAIL))
