"""The study as this process last read it (`optuna_adapter.local_copy`): the trial's path reads it
without a round trip, sees its own writes, writes a trial's start in one transaction, and never
writes over what another process finished."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState
from sqlalchemy import event

from hpsearch.engine.optuna_adapter import LocalCopy, ask, fail_trial, served, together
from hpsearch.engine.storage import resolve
from tests.conftest import serve_postgres

optuna.logging.set_verbosity(optuna.logging.WARNING)
server = pytest.fixture(scope="module", name="server")(serve_postgres)
NAME = "s"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A storage holding no study named NAME: an SQLite file, or the module's PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'copy.db'}"
        return
    served_by = request.getfixturevalue("server").url
    yield served_by
    optuna.delete_study(study_name=NAME, storage=served_by)


def stored_reports(url: str) -> int:
    return sum(len(t.intermediate_values) for t in another_process(url).trials)


def transactions(storage: LocalCopy) -> list[int]:
    """A list that grows by one at each transaction the storage begins."""
    begun: list[int] = []
    event.listen(storage.engine, "begin", lambda connection: begun.append(1))
    return begun


def study_in(url: str) -> optuna.Study:
    storage = resolve(url)
    assert isinstance(storage, LocalCopy)
    return optuna.create_study(storage=storage, study_name=NAME, load_if_exists=True)


def another_process(url: str) -> optuna.Study:
    return optuna.load_study(study_name=NAME, storage=url)  # Optuna's own storage, not the copy


def finish_one(study: optuna.Study, value: float) -> None:
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    study.tell(trial, value)


def test_served_reads_make_no_round_trip_and_see_this_process_s_own_writes(url: str) -> None:
    here = study_in(url)
    finish_one(here, 0.5)
    there = another_process(url)
    mine = ask(here, {"worker": "here"})  # under the lock, after a read of the study
    begun = transactions(here._storage)  # type: ignore[arg-type]
    finish_one(there, 0.25)  # finished elsewhere after this process's last read
    with served(here):
        mine.suggest_float("x", 0, 1)
        mine.report(0.75, 0)
        seen = here.get_trials(deepcopy=False)
        complete = here.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert [t.number for t in complete] == [0]  # as last read: the other's trial not yet
    running = seen[-1]
    assert running.number == mine.number and running.intermediate_values == {0: 0.75}
    assert "x" in running.params and running.user_attrs == {"worker": "here"}
    assert len(begun) == 2  # the parameter and the report written; nothing read
    assert [t.number for t in here.get_trials(states=(TrialState.COMPLETE,))] == [0, 2]  # outside


def test_a_new_trial_names_its_worker_in_the_transaction_that_creates_it(url: str) -> None:
    study = study_in(url)
    begun = transactions(study._storage)  # type: ignore[arg-type]
    trial = ask(study, {"worker": {"pid": 1}})
    assert len(begun) == 1
    stored = another_process(url).trials[0]
    assert stored.state == TrialState.RUNNING and stored.user_attrs == {"worker": {"pid": 1}}
    assert trial.user_attrs == {"worker": {"pid": 1}}


def test_an_enqueued_trial_is_taken_first_and_names_its_worker(url: str) -> None:
    study = study_in(url)
    study.enqueue_trial({"x": 0.5}, user_attrs={"retry_of": 7})
    study.get_trials()  # the caller's read, under the lock
    trial = ask(study, {"worker": "here"})
    assert trial.number == 0 and trial.suggest_float("x", 0, 1) == 0.5
    stored = another_process(url).trials[0]
    assert stored.state == TrialState.RUNNING
    assert stored.user_attrs == {"retry_of": 7, "worker": "here"}


def test_a_trial_s_writes_together_are_one_transaction_and_refused_only_where_finished(
        url: str) -> None:
    study = study_in(url)
    first, second, gone = (ask(study, {}) for _ in range(3))
    fail_trial(study, study.trials[2], {"reason": "another process failed it"})
    begun = transactions(study._storage)  # type: ignore[arg-type]
    with together(study) as refused, served(study):  # as a trial's start is written
        first.suggest_float("x", 0, 1)
        first.set_user_attr("config", {"lr": 0.1})
        first.report(0.5, 0)
        second.report(0.25, 0)
        assert stored_reports(url) == 0  # nothing written yet
    assert len(begun) == 1 and refused == []
    stored = another_process(url).trials
    assert [t.intermediate_values for t in stored[:2]] == [{0: 0.5}, {0: 0.25}]
    assert stored[0].user_attrs == {"config": {"lr": 0.1}} and "x" in stored[0].params
    with together(study) as refused:  # one trial finished elsewhere: the others written
        first.report(0.4, 1)
        gone.report(0.1, 0)
    assert refused == [2]
    stored = another_process(url).trials
    assert stored[0].intermediate_values == {0: 0.5, 1: 0.4}
    assert stored[2].state == TrialState.FAIL and stored[2].intermediate_values == {}


def test_a_report_to_a_trial_another_process_finished_is_refused(url: str) -> None:
    study = study_in(url)
    trial = ask(study, {})
    trial.report(0.5, 0)
    fail_trial(study, study.trials[0], {"reason": "reclaimed"})
    with pytest.raises(UpdateFinishedTrialError):
        trial.report(0.25, 1)
    assert another_process(url).trials[0].intermediate_values == {0: 0.5}


def test_reads_outside_a_served_block_are_optuna_s_own(url: str) -> None:
    here = study_in(url)
    there = another_process(url)
    finish_one(there, 0.5)
    assert [t.state for t in here.get_trials()] == [TrialState.COMPLETE]
    finish_one(there, 0.25)
    assert len(here.get_trials()) == 2



@pytest.mark.parametrize("pruner", ["median", "none"])
def test_a_trial_of_twenty_points_costs_at_most_eight_transactions_beyond_its_reports(
        workdir: Path, pruner: str) -> None:
    """What the engine writes for a trial (taking it, its parameters, worker and configuration,
    its reports, its record and its end) and what its sampler and pruner read: counted from the
    storage's own transactions, per trial, in a sweep of one process on SQLite."""
    import sqlalchemy

    from hpsearch.definition.config import load_config
    from hpsearch.protocols.tune import run

    begun: list[int] = []
    per_trial: list[tuple[int, int]] = []  # (transactions, reports) of each trial, as it ended

    def count(connection: object) -> None:
        begun.append(1)

    def trial_ended(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        per_trial.append((len(begun), len(trial.intermediate_values)))
        begun.clear()

    config = load_config("small", None, {"study": "count", "n_trials": 5, "epochs": 20,
                                         "pruner": pruner, "seed": 0, "device": "cpu"})
    event.listen(sqlalchemy.engine.Engine, "begin", count)
    try:
        run(config, callbacks=[trial_ended], on_start=lambda *_: begun.clear())
    finally:
        event.remove(sqlalchemy.engine.Engine, "begin", count)
    assert len(per_trial) == 5 and any(reports == 20 for _, reports in per_trial)
    beyond = [spent - reports for spent, reports in per_trial]
    assert max(beyond) <= 8, per_trial
