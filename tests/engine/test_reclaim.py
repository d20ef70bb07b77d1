"""A trial is reclaimed only when its process is certainly gone, and an owner whose trial was failed
under it anyway stores its result again and carries on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
from optuna.trial import TrialState

from hpsearch import record
from hpsearch.engine.optuna_adapter import fail_trial
from hpsearch.engine.recovery import is_gone, process_start, reclaim_dead_trials, retry_once, this_worker
from hpsearch.engine.storage import resolve
from tests.conftest import require
from tests.waiting import poll, wait_for_trials

DB = "sqlite:///studies/hpsearch.db"
SWEEP = [sys.executable, "-m", "hpsearch", "tune", "--task", "classification", "--optimizers",
         "adam,sgd", "--pruner", "none", "--sampler", "random"]
LOG = Path("sweep.log")  # in the test's working directory


def load() -> optuna.Study | None:
    if not Path("studies/hpsearch.db").exists():
        return None
    try:
        return optuna.load_study(study_name="classification", storage=resolve(DB, create=False))
    except KeyError:  # still being created
        return None


def training_trial(process: subprocess.Popen[bytes]) -> tuple[optuna.Study, optuna.trial.FrozenTrial]:
    """A trial training, once it has reported an epoch."""
    study, training = wait_for_trials(process, epochs=1, log=LOG)
    return study, training[0]


def test_an_owner_whose_trial_was_failed_under_it_stores_its_result_again(workdir: Path) -> None:
    with open(LOG, "wb") as log:
        process = subprocess.Popen([*SWEEP, "--epochs", "60", "--n-trials", "3"], stdout=log,
                                   stderr=subprocess.STDOUT)

    def reclaim_a_living_trial() -> tuple[optuna.Study, optuna.trial.FrozenTrial] | None:
        """What a reclaim does, to a trial that is in fact still training (None: it had ended)."""
        study, victim = training_trial(process)
        if fail_trial(study, victim, {record.RECLAIMED: "its process ended while it ran"}):
            return study, victim
        return None

    try:
        study, victim = poll(reclaim_a_living_trial, "a training trial failed under its owner")
        retry_once(study, victim)
        assert process.wait(timeout=300) == 0, LOG.read_text()
    finally:
        process.kill()
    trials = load().trials  # type: ignore[union-attr]
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert record.counted(trials) == 3  # the study reaches its total, with the stored result
    failed = trials[victim.number]
    assert failed.state == TrialState.FAIL
    again = [t for t in trials if t.user_attrs.get(record.RECOVERED_FROM) == victim.number]
    assert len(again) == 1 and again[0].state == TrialState.COMPLETE
    assert again[0].params == failed.params
    assert len(again[0].intermediate_values) == 60  # every epoch, before and after the reclaim
    assert failed.intermediate_values.items() <= again[0].intermediate_values.items()
    assert record.trial_attrs(again[0])[record.POINTS_RUN] == 60
    retry = [t for t in trials if t.user_attrs.get(record.RETRY_OF) == victim.number]
    assert len(retry) == 1 and retry[0].state == TrialState.FAIL  # cancelled, never trained
    assert "cancelled" in record.trial_attrs(retry[0])[record.REASON]
    assert record.CONFIG not in retry[0].user_attrs


def test_a_trial_in_another_pid_namespace_is_not_reclaimed(workdir: Path) -> None:
    unshare = require("unshare")
    with open(LOG, "wb") as log:  # as a container on this machine would run it
        process = subprocess.Popen([unshare, "-pf", "--mount-proc", *SWEEP, "--epochs", "400",
                                    "--n-trials", "1"], stdout=log, stderr=subprocess.STDOUT)
    try:
        study, trial = training_trial(process)
        assert trial.user_attrs[record.WORKER]["pid"] == 1  # its id means another process here
        assert reclaim_dead_trials(study) == []
        assert study.trials[trial.number].state == TrialState.RUNNING
    finally:
        process.kill()
        process.wait()


def test_a_worker_is_gone_only_when_its_machine_namespace_and_process_say_so() -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    worker = {**this_worker(), "pid": sleeper.pid, "started": process_start(sleeper.pid)}
    assert not is_gone(worker)  # alive
    sleeper.kill()
    sleeper.wait()
    assert is_gone(worker)
    for key, other in (("host", "another-machine"), ("machine", "another-boot"),
                       ("pid_namespace", "pid:[1]")):
        assert not is_gone({**worker, key: other})  # its process id means nothing here
    old_layout = {k: worker[k] for k in ("host", "pid", "started")}
    assert not is_gone(old_layout)  # left to the heartbeat


def test_a_trial_that_finished_before_the_reclaim_failed_it_keeps_no_false_reason(
    tmp_path: Path,
) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'x.db'}")
    trial = study.ask()
    trial.set_user_attr(record.RECLAIMED, "its process ended while it ran")  # the reclaim's first write
    study.tell(trial, 1.0)  # the owner, still alive, finishes in between
    frozen = study.trials[0]
    assert not fail_trial(study, frozen, {record.RECLAIMED: "again"})
    assert record.REASON not in record.trial_attrs(study.trials[0])
