"""A running trial's writes as single statements on Optuna's schema (`optuna.storages._rdb.models`).

Optuna's own writes go through its object mapper, reading the trial (and the step, or the
parameter's earlier distribution) before each: three statements and a transaction for each report.
These write the same rows: once the trials written are found still open, a transaction's
parameters in one statement, its reports in one, and its attributes in one per table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution


def not_running(trial_id: int, what: str) -> Exception:
    from optuna.exceptions import UpdateFinishedTrialError

    return UpdateFinishedTrialError(f"trial {trial_id} has finished; {what} not written")


def check_updatable(connection: Any, trial_ids: Iterable[int]) -> None:
    """UpdateFinishedTrialError, as Optuna raises it, unless every trial named is still running or
    waiting (another process may have failed it: a reclaim, a stale heartbeat)."""
    import sqlalchemy as sa
    from optuna.storages._rdb import models
    from optuna.trial import TrialState

    trials = models.TrialModel.__table__
    wanted = set(trial_ids)
    which = (trials.c.trial_id == next(iter(wanted)) if len(wanted) == 1  # a trial alone: cached
             else trials.c.trial_id.in_(wanted))
    open_ = set(connection.execute(sa.select(trials.c.trial_id).where(
        which, trials.c.state.in_((TrialState.RUNNING, TrialState.WAITING)))).scalars())
    for trial_id in sorted(wanted - open_):
        raise not_running(trial_id, "its writes are")


def stored_distribution(connection: Any, trial_id: int, name: str) -> BaseDistribution | None:
    """The distribution a parameter of this name was stored with in the trial's study, if any
    (Optuna refuses a parameter whose distribution is incompatible with it)."""
    import sqlalchemy as sa
    from optuna.distributions import json_to_distribution
    from optuna.storages._rdb import models

    params, trials = models.TrialParamModel.__table__, models.TrialModel.__table__
    study = sa.select(trials.c.study_id).where(trials.c.trial_id == trial_id).scalar_subquery()
    stored = connection.execute(sa.select(params.c.distribution_json).join(
        trials, trials.c.trial_id == params.c.trial_id).where(
        trials.c.study_id == study, params.c.param_name == name).limit(1)).scalar()
    return None if stored is None else json_to_distribution(stored)


def insert_params(connection: Any, rows: list[tuple[int, str, float, BaseDistribution]]) -> None:
    from optuna.distributions import distribution_to_json
    from optuna.storages._rdb import models

    if rows:
        connection.execute(models.TrialParamModel.__table__.insert(), [
            {"trial_id": trial_id, "param_name": name, "param_value": value,
             "distribution_json": distribution_to_json(distribution)}
            for trial_id, name, value, distribution in rows])


def insert_reports(connection: Any, rows: list[tuple[int, int, float]]) -> None:
    """Reports of trials found open (`check_updatable`), in one statement."""
    from optuna.storages._rdb import models

    if rows:
        stored = models.TrialIntermediateValueModel.intermediate_value_to_stored_repr
        connection.execute(models.TrialIntermediateValueModel.__table__.insert(), [
            dict(zip(("trial_id", "step", "intermediate_value", "intermediate_value_type"),
                     (trial_id, step, *stored(value)), strict=True))
            for trial_id, step, value in rows])


def set_attrs(connection: Any, user: bool, rows: list[tuple[int, str, Any]]) -> None:
    """User (or system) attributes, each replacing one of the same key, as Optuna's do."""
    from optuna.storages._rdb import models
    from sqlalchemy.dialects import postgresql, sqlite

    if not rows:
        return
    table = (models.TrialUserAttributeModel if user else models.TrialSystemAttributeModel).__table__
    dialect = {"sqlite": sqlite, "postgresql": postgresql}[connection.dialect.name]
    latest = {(trial_id, key): value for trial_id, key, value in rows}  # the last write of a key
    statement = dialect.insert(table)
    connection.execute(statement.on_conflict_do_update(
        index_elements=["trial_id", "key"], set_={"value_json": statement.excluded.value_json}), [
        {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
        for (trial_id, key), value in latest.items()])
