"""Every use of Optuna's private API, in one place.

Optuna offers no public call for these, so each is pinned here and exercised against the installed
Optuna by `tests/test_optuna_adapter.py`; `pyproject.toml` keeps Optuna below its next major version.
- the heartbeat thread Optuna's own `optimize` runs around a trial (`optuna.storages._heartbeat`);
- failing a RUNNING trial that another process left behind: `study.tell` refuses a trial this
  process did not ask for, so the storage is written directly (`study._storage`, `_trial_id`);
  likewise cancelling a WAITING trial (taken first, as `study.ask` takes one, so that no other
  process starts it meanwhile);
- TPE reading the study once per drawn configuration (relative and independent parameters
  alike, and Hyperband's per-bracket views of the study): with its constant liar (Optuna 5's
  default, which keeps parallel workers apart) it reads every trial from the storage again for
  each group of its decomposed space, about 16 reads per trial here; one read per kind within one
  drawing gives the same trials (`study._storage`);
- the median pruner reading the study's complete trials once per trial, not at every epoch: no
  trial of this process completes while one of its trials trains (`study._storage`);
- a read of finished trials only (the pruners') asking the RDB storage for the trials that finished
  since its cache last looked, not for every unfinished one again: a batch's running trials, their
  reports growing, would be read back whole at every evaluation point (`study._storage._backend`,
  its `_get_trials`, and the cache's `_studies`, `_lock`);
- a batch of trials writing its evaluation point's reports in one transaction of an RDB storage
  (`study._storage._backend`, its `_set_trial_intermediate_value_without_commit` and
  `optuna.storages._rdb.storage._create_scoped_session`);
- a view of a study holding some of its trials, for Optuna's TPE to draw one branch of the
  conditional space from (`conditional_tpe`): what TPE reads of a study, `_get_trials`,
  `_is_multi_objective` and the `_storage` its constant liar writes to, is not public;
- the operation codes a journal file's records may hold, to name a record Optuna cannot replay
  (`optuna.storages.journal._storage.JournalOperation`).
"""

from __future__ import annotations

import contextlib
import copy
import weakref
from collections.abc import Iterator, Sequence
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


Memo = dict[tuple[Any, ...], list["optuna.trial.FrozenTrial"]]


@contextlib.contextmanager
def trials_read_once(study: optuna.Study, memo: Memo | None = None) -> Iterator[None]:
    """Within the block, each kind of read of the study's trials goes to the storage once (or
    never, if `memo`, kept from an earlier block, holds it). The storage's read is the one
    wrapped, so that the per-bracket views Optuna's Hyperband pruner builds of the study share it."""
    storage = study._storage
    read = storage.get_all_trials
    outer = vars(storage).get("get_all_trials")  # an enclosing block's reader, restored on exit
    memo = {} if memo is None else memo

    def once(study_id: int, deepcopy: bool = True,
             states: Any = None) -> list[optuna.trial.FrozenTrial]:
        key = (study_id, deepcopy, None if states is None else tuple(states))
        if key not in memo:
            finished = (None if states is None or outer is not None  # else the outer block reads
                        else finished_trials(storage, study_id, states))
            memo[key] = read(study_id, deepcopy=deepcopy, states=states) if finished is None else (
                copy.deepcopy(finished) if deepcopy else finished)
        return memo[key]

    storage.get_all_trials = once  # type: ignore[method-assign]
    try:
        yield
    finally:
        if outer is None:
            del storage.get_all_trials  # the class's own method again
        else:
            storage.get_all_trials = outer  # type: ignore[method-assign]


# Finished trials `finished_trials` read past the cache, per storage and study: final, kept until
# the storage goes.
FINISHED_SEEN: weakref.WeakKeyDictionary[Any, dict[int, dict[int, Any]]] = weakref.WeakKeyDictionary()


def finished_trials(storage: Any, study_id: int, states: Any
                    ) -> list[optuna.trial.FrozenTrial] | None:
    """The study's trials in `states`, all of them finished states, as the cached storage's
    `get_all_trials` returns them, read without its refresh of every unfinished trial: the cache's
    finished trials and those read here before (both final) and, from the database, those that
    finished since. None where the storage is not Optuna's cache over an RDB storage, or `states`
    holds an unfinished one."""
    from optuna.storages import RDBStorage
    from optuna.storages._cached_storage import _CachedStorage
    from optuna.trial import TrialState

    wanted = tuple(states)
    if (not isinstance(storage, _CachedStorage) or not isinstance(storage._backend, RDBStorage)
            or not all(TrialState(s).is_finished() for s in wanted)):
        return None
    with storage._lock:
        cached = storage._studies.get(study_id)
        if cached is None:
            return None
        seen = FINISHED_SEEN.setdefault(storage, {}).setdefault(study_id, {})
        finished = {t._trial_id: t for t in cached.trials.values()
                    if t.state.is_finished() and t._trial_id not in cached.unfinished_trial_ids}
        last = cached.last_finished_trial_id
        unknown = set(cached.unfinished_trial_ids)
    finished.update(seen)
    newest = max([last, *seen])  # the trials after `last` up to it are asked for by id
    unknown = (unknown | set(range(last + 1, newest + 1))) - finished.keys()
    ended = [s for s in TrialState if s.is_finished()]  # the running ones stay in the database
    for trial in storage._backend._get_trials(study_id, states=ended, included_trial_ids=unknown,
                                              trial_id_greater_than=newest):
        seen[trial._trial_id] = finished[trial._trial_id] = trial
    return sorted((t for t in finished.values() if t.state in wanted), key=lambda t: t.number)


def tpe_sampler(**kwargs: Any) -> optuna.samplers.BaseSampler:
    """Optuna's TPE sampler, reading the study once per sampling (see above): same draws."""
    from optuna.samplers import TPESampler

    class OneReadTPESampler(TPESampler):
        def sample_relative(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                            search_space: dict[str, Any]) -> dict[str, Any]:
            with trials_read_once(study):
                return super().sample_relative(study, trial, search_space)

    return OneReadTPESampler(**kwargs)


def median_pruner(**kwargs: Any) -> optuna.pruners.BasePruner:
    """Optuna's median pruner, reading the study's trials once per trial (see above)."""
    from optuna.pruners import MedianPruner

    class OneReadMedianPruner(MedianPruner):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.trial_number: int | None = None
            self.memo: Memo = {}

        def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
            if trial.number != self.trial_number:
                self.trial_number, self.memo = trial.number, {}
            with trials_read_once(study, self.memo):
                return bool(super().prune(study, trial))

    return OneReadMedianPruner(**kwargs)


@contextlib.contextmanager
def reports_together(study: optuna.Study) -> Iterator[list[int]]:
    """Within the block, the intermediate values reported are written as it ends, in one
    transaction (an RDB storage; others write each as it comes). The list yielded is filled, on
    exit, with the numbers of the trials another process finished meanwhile, whose reports were
    refused (each of the others is written all the same)."""
    from optuna.storages import RDBStorage

    storage = study._storage
    backend = getattr(storage, "_backend", None)
    finished: list[int] = []
    if not isinstance(backend, RDBStorage):
        yield finished
        return
    pending: list[tuple[int, int, float]] = []

    def later(trial_id: int, step: int, value: float) -> None:
        pending.append((trial_id, step, value))

    storage.set_trial_intermediate_value = later  # type: ignore[method-assign,assignment]
    try:
        yield finished
    finally:
        del storage.set_trial_intermediate_value  # the class's own method again
        write_reports(backend, pending, finished)


def write_reports(backend: Any, pending: list[tuple[int, int, float]], finished: list[int]) -> None:
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.storages._rdb.storage import _create_scoped_session

    try:
        with _create_scoped_session(backend.scoped_session, True) as session:
            for trial_id, step, value in pending:
                backend._set_trial_intermediate_value_without_commit(session, trial_id, step, value)
    except UpdateFinishedTrialError:  # rolled back: one at a time, each refusal noted
        for trial_id, step, value in pending:
            try:
                backend.set_trial_intermediate_value(trial_id, step, value)
            except UpdateFinishedTrialError:
                finished.append(backend.get_trial_number_from_id(trial_id))


def journal_op_codes() -> set[int]:
    """The operation codes of the records Optuna writes to a journal file (and replays)."""
    from optuna.storages.journal._storage import JournalOperation

    return {int(operation) for operation in JournalOperation}


class StudyView:
    """The part of a study Optuna's TPE reads: its directions and some of its trials."""

    def __init__(self, study: optuna.Study, trials: list[optuna.trial.FrozenTrial]) -> None:
        self.directions = study.directions
        self.direction = study.directions[0]
        self.trials = trials
        self._storage = NoWrites()  # the constant liar's copy of a relative draw: kept here

    def _get_trials(self, deepcopy: bool = False, states: Sequence[Any] | None = None,
                    use_cache: bool = False) -> list[optuna.trial.FrozenTrial]:
        return [t for t in self.trials if states is None or t.state in states]

    def get_trials(self, deepcopy: bool = False,
                   states: Sequence[Any] | None = None) -> list[optuna.trial.FrozenTrial]:
        return self._get_trials(deepcopy, states)

    def _is_multi_objective(self) -> bool:
        return len(self.directions) > 1


class NoWrites:
    def set_trial_system_attr(self, *args: Any) -> None:
        """Optuna's TPE shares a relative draw with other processes through the storage; every
        parameter this sampler draws is written as the trial's own when it is asked for."""
