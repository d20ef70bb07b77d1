"""A study's trials as this process last read them, kept current by its own writes.

Optuna's cache over an RDB storage (`_CachedStorage`) reads every unfinished trial back from the
database at each read of the study: the sampler's and the pruner's reads, at every evaluation
point, cost a round trip each. `LocalCopy` is that cache with two additions:

- inside `served(study)`, reads are answered from the copy without going to the database: the
  study as this process read it when it last took a trial (under the study's lock), plus what it
  wrote since. Outside, every read is Optuna's own.
- every write this process makes is applied to the copy too, once the database has taken it; inside
  `together(study)` a trial's parameters, attributes and reports are written in one transaction
  when the block ends (a trial another process failed meanwhile refuses its writes, and the others
  are written one at a time, each refusal noted).

What another process must see is written before this process goes on: a report is in the
database before this process asks its own pruner, and a trial's end before it takes the next.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from optuna.storages import RDBStorage
from optuna.storages._cached_storage import _CachedStorage

from hpsearch.engine.optuna_adapter import statements

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial, TrialState

Write = tuple[str, int, tuple[Any, ...]]  # (what, trial id, its arguments)


class LocalCopy(_CachedStorage):
    """Optuna's cached RDB storage, serving reads from its copy inside `served` and batching a
    trial's writes inside `together` (see the module's text)."""

    def __init__(self, backend: RDBStorage) -> None:
        super().__init__(backend)
        self.local = threading.local()  # per thread: a heartbeat thread writes on its own
        self.study_ids: dict[str, int] = {}

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state.pop("local", None)
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self.local = threading.local()

    @property
    def engine(self) -> Any:
        return self._backend.engine

    @property
    def serving(self) -> bool:
        return getattr(self.local, "serving", 0) > 0

    @contextlib.contextmanager
    def served(self) -> Iterator[None]:
        self.local.serving = getattr(self.local, "serving", 0) + 1
        try:
            yield
        finally:
            self.local.serving -= 1

    # Reads

    def _read_trials_from_remote_storage(self, study_id: int) -> None:
        if self.serving and study_id in self._studies:
            return
        super()._read_trials_from_remote_storage(study_id)

    def get_study_id_from_name(self, study_name: str) -> int:
        """Hyperband's pruner builds a view of the study, looked up by name, at every suggestion
        and every question: served from the last lookup (a study's id stays while it runs)."""
        if not self.serving or study_name not in self.study_ids:
            self.study_ids[study_name] = self._backend.get_study_id_from_name(study_name)
        return self.study_ids[study_name]

    def get_trial(self, trial_id: int) -> FrozenTrial:
        if self.serving:
            with self._lock:
                known = self.copy_of(trial_id)
                if known is not None:
                    return copy.deepcopy(known)
        return super().get_trial(trial_id)

    def copy_of(self, trial_id: int) -> FrozenTrial | None:
        place = self._trial_id_to_study_id_and_number.get(trial_id)
        return None if place is None else self._studies[place[0]].trials.get(place[1])

    # Writes: to the database (or held until `together` ends), then to the copy

    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                        distribution: BaseDistribution) -> None:
        self.write(("param", trial_id, (param_name, param_value_internal, distribution)))

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.write(("user_attr", trial_id, (key, value)))

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.write(("system_attr", trial_id, (key, value)))

    def set_trial_intermediate_value(self, trial_id: int, step: int,
                                     intermediate_value: float) -> None:
        self.write(("report", trial_id, (step, intermediate_value)))

    def set_trial_state_values(self, trial_id: int, state: TrialState,
                               values: Any = None) -> bool:
        changed = bool(self._backend.set_trial_state_values(trial_id, state=state, values=values))
        if changed:
            with self._lock:
                known = self.copy_of(trial_id)
                if known is not None:
                    apply_state(known, state, values)
        return changed

    def write(self, change: Write) -> None:
        pending = getattr(self.local, "pending", None)
        if pending is not None:
            pending.append(change)
            return
        self.write_now(change)

    def write_now(self, change: Write) -> None:
        with self._backend.engine.begin() as connection:
            self.write_all(connection, [change])
        self.apply(change)

    def apply(self, change: Write) -> None:
        what, trial_id, args = change
        with self._lock:
            known = self.copy_of(trial_id)
            if known is None:
                return
            if what == "param":
                name, internal, distribution = args
                known.params[name] = distribution.to_external_repr(internal)
                known.distributions[name] = distribution
                place = self._trial_id_to_study_id_and_number[trial_id]
                self._studies[place[0]].param_distribution.setdefault(name, distribution)
            elif what == "report":
                known.intermediate_values[args[0]] = args[1]
            elif what == "user_attr":
                known.user_attrs[args[0]] = args[1]
            else:
                known.system_attrs[args[0]] = args[1]

    @contextlib.contextmanager
    def together(self) -> Iterator[list[int]]:
        """Hold this thread's writes until the block ends, then write them in one transaction;
        the list yielded is filled with the numbers of the trials that refused theirs (finished
        by another process meanwhile)."""
        outer = getattr(self.local, "pending", None)
        refused: list[int] = []
        if outer is not None:  # an enclosing block writes them
            yield refused
            return
        pending: list[Write] = []
        self.local.pending = pending
        try:
            yield refused
        finally:
            self.local.pending = None
            self.flush(pending, refused)

    def flush(self, pending: list[Write], refused: list[int]) -> None:
        from optuna.exceptions import UpdateFinishedTrialError

        if not pending:
            return
        try:
            with self._backend.engine.begin() as connection:
                self.write_all(connection, pending)
        except UpdateFinishedTrialError:  # rolled back: one at a time, each refusal noted
            for change in pending:
                try:
                    self.write_now(change)
                except UpdateFinishedTrialError:
                    number = self._backend.get_trial_number_from_id(change[1])
                    if number not in refused:
                        refused.append(number)
            return
        for change in pending:
            self.apply(change)

    def write_all(self, connection: Any, pending: list[Write]) -> None:
        """Every write in one transaction, a statement per table, once no trial written is found
        finished (else UpdateFinishedTrialError, as Optuna's, and nothing is written)."""
        from optuna.distributions import check_distribution_compatibility

        statements.check_updatable(connection, {trial_id for _, trial_id, _ in pending})
        params, reports, attrs = [], [], {"user_attr": [], "system_attr": []}  # type: ignore[var-annotated]
        for what, trial_id, args in pending:
            if what == "param":
                place = self._trial_id_to_study_id_and_number.get(trial_id)
                known = place and self._studies[place[0]].param_distribution.get(args[0])
                known = known or statements.stored_distribution(connection, trial_id, args[0])
                if known is not None:
                    check_distribution_compatibility(known, args[2])
                params.append((trial_id, *args))
            elif what == "report":
                reports.append((trial_id, *args))
            else:
                attrs[what].append((trial_id, *args))
        statements.insert_params(connection, params)
        statements.insert_reports(connection, reports)
        for what, rows in attrs.items():
            statements.set_attrs(connection, what == "user_attr", rows)


def apply_state(trial: FrozenTrial, state: TrialState, values: Any) -> None:
    from datetime import datetime

    trial.state = state
    if values is not None:
        trial.values = list(values)
    if state.is_finished():
        trial.datetime_complete = datetime.now()


def local_copy(study: optuna.Study) -> LocalCopy | None:
    storage = study._storage
    return storage if isinstance(storage, LocalCopy) else None


@contextlib.contextmanager
def together(study: optuna.Study) -> Iterator[list[int]]:
    """The study's writes in this block in one transaction, where its storage is a `LocalCopy`
    (others write each as it comes); the list yielded names the trials that refused theirs."""
    storage = local_copy(study)
    if storage is None:
        yield []
        return
    with storage.together() as refused:
        yield refused
