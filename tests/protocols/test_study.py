from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.definition.config import load_config
from hpsearch.errors import ConfigError, StudyMismatchError
from hpsearch.protocols.tune import run
from hpsearch.record import counted, runs_of, trial_attrs
from hpsearch.space.export import best_config

TINY = {"n_trials": 3, "epochs": 2, "optimizers": ("adam", "sgd", "lbfgs")}


def tiny(storage_url: str, **overrides: object):  # type: ignore[no-untyped-def]
    return load_config("classification", None, {**TINY, "storage": storage_url, **overrides})


def test_n_trials_is_a_total_across_runs(workdir: Path, storage_url: str) -> None:
    first = run(tiny(storage_url))
    assert (first.trials_before, first.trials_after) == (0, 3)
    second = run(tiny(storage_url, n_trials=5))
    assert (second.trials_before, second.trials_after) == (3, 5)
    third = run(tiny(storage_url, n_trials=5))
    assert third.already_done and third.trials_after == 5
    study = optuna.load_study(study_name="classification", storage=storage_url)
    assert len(study.trials) == 5
    assert len(runs_of(study.user_attrs)) == 2  # the run with nothing to do records nothing


def test_same_seed_same_trials(workdir: Path, tmp_path: Path) -> None:
    histories = []
    for name in ("a", "b"):
        result = run(tiny(f"sqlite:///{tmp_path / name}.db", n_trials=4, seed=7))
        histories.append([(t.params, t.value, t.state) for t in result.study.trials])
    assert histories[0] == histories[1]
    other = run(tiny(f"sqlite:///{tmp_path / 'c'}.db", n_trials=4, seed=8))
    assert [t.params for t in other.study.trials] != [h[0] for h in histories[0]]


def test_study_records_how_the_sweep_ran(workdir: Path, storage_url: str) -> None:
    study = run(tiny(storage_url, pruner="hyperband", sampler="random")).study
    attrs = study.user_attrs
    assert attrs["task"] == "classification"
    assert (attrs["metric"], attrs["direction"]) == ("accuracy", "maximize")
    assert attrs["epochs"] == 2 and attrs["batch_size"] == 64
    assert (attrs["sampler"], attrs["pruner"], attrs["seed"]) == ("random", "hyperband", 0)
    assert attrs["device"] == "cpu"
    assert set(attrs["versions"]) == {"hpsearch", "optuna", "torch"}
    assert set(attrs["space"]["optimizers"]) == {"adam", "sgd", "lbfgs"}
    assert len(attrs["space_fingerprint"]) == 16


@pytest.mark.parametrize("change", [{"optimizers": ("adam",)}, {"epochs": 3},
                                    {"batch_size": 32}])
def test_reusing_a_study_for_another_space_or_budget_is_refused(
    workdir: Path, storage_url: str, change: dict
) -> None:
    run(tiny(storage_url, n_trials=2))
    before = optuna.load_study(study_name="classification", storage=storage_url)
    snapshot = (len(before.trials), before.user_attrs)
    with pytest.raises(StudyMismatchError, match="study 'classification' was made with"):
        run(tiny(storage_url, n_trials=4, **change))
    after = optuna.load_study(study_name="classification", storage=storage_url)
    assert (len(after.trials), after.user_attrs) == snapshot


def test_another_task_under_the_same_name_is_refused(workdir: Path, storage_url: str) -> None:
    run(tiny(storage_url, n_trials=1, study="shared"))
    regression = load_config("regression", None, {**TINY, "n_trials": 1, "study": "shared",
                                                   "storage": storage_url})
    with pytest.raises(StudyMismatchError, match="task='classification', not 'regression'"):
        run(regression)


def test_best_config_is_the_best_complete_trial(workdir: Path, storage_url: str) -> None:
    study = run(tiny(storage_url, n_trials=4, pruner="none")).study
    best = best_config(study)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert best["metric"] == {"name": "accuracy", "value": max(t.value for t in complete),
                              "direction": "maximize"}
    winner = study.best_trial
    assert best["trial"] == {"number": winner.number, "seed": trial_attrs(winner)["seed"],
                             "best_epoch": trial_attrs(winner)["best_epoch"],
                             "best_value": trial_attrs(winner)["best_value"],
                             "params": winner.params}
    assert best["optimizer"] == study.best_trial.params["optimizer"]
    assert (best["epochs"], best["batch_size"], best["study"]) == (2, 64, "classification")
    assert counted(study.get_trials()) == 4


def test_config_file_flags_and_defaults(workdir: Path) -> None:
    shipped = load_config("classification")
    assert shipped.source == "studies/classification.toml"
    assert shipped.n_trials == 100 and shipped.pruner == "median" and len(shipped.space.optimizers) == 10
    custom = workdir / "mine.toml"
    custom.write_text('task = "regression"\nepochs = 7\noptimizers = ["adam"]\n'
                      '[ranges]\nadam_lr = [1e-4, 1e-2]\n')
    config = load_config(None, custom, {"epochs": 9})
    assert (config.task, config.epochs, config.study_name) == ("regression", 9, "regression")
    assert config.space.optimizers == ("adam",) and config.batch_size == 32
    assert config.space.ranges == {"adam_lr": (1e-4, 1e-2)}


def test_bad_config_files_name_the_problem(workdir: Path) -> None:
    bad = workdir / "bad.toml"
    bad.write_text('task = "classification"\nn_trial = 5\n')
    with pytest.raises(ConfigError, match="unknown key 'n_trial' in .*valid choices: .*n_trials"):
        load_config(None, bad)
    bad.write_text("task = \n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(None, bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(None, workdir / "missing.toml")
    with pytest.raises(ConfigError, match="epochs must be a positive integer; got 0"):
        load_config("classification", None, {"epochs": 0})


def test_timeout_stops_starting_trials(workdir: Path, storage_url: str) -> None:
    result = run(tiny(storage_url, n_trials=10_000, timeout=1.0, epochs=1))
    assert 1 <= result.trials_after < 10_000
    assert all(t.state != TrialState.RUNNING for t in result.study.trials)


def test_a_study_whose_first_run_stopped_halfway_through_its_identity_is_completed(
    workdir: Path, storage_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first run stopped after a few of the identity's attributes (killed, or Ctrl-C): the next
    run completes the identity and runs, instead of refusing the study for ever."""
    written = []
    set_user_attr = optuna.Study.set_user_attr

    def stopped_after_five(study: optuna.Study, key: str, value: object) -> None:
        if len(written) == 5:
            raise KeyboardInterrupt
        written.append(key)
        set_user_attr(study, key, value)

    monkeypatch.setattr(optuna.Study, "set_user_attr", stopped_after_five)
    with pytest.raises(KeyboardInterrupt):
        run(tiny(storage_url))
    monkeypatch.undo()
    assert len(written) == 5
    result = run(tiny(storage_url))
    assert (result.trials_before, result.trials_after) == (0, 3)
    attrs = optuna.load_study(study_name="classification", storage=storage_url).user_attrs
    assert attrs["task"] == "classification" and attrs["space_fingerprint"]


def test_the_metric_is_named_on_the_study_for_optunas_dashboard(
    workdir: Path, storage_url: str
) -> None:
    run(tiny(storage_url, n_trials=1))
    assert optuna.load_study(study_name="classification",
                             storage=storage_url).metric_names == ["accuracy"]


def test_tune_refuses_a_comparisons_study(workdir: Path, storage_url: str) -> None:
    from hpsearch.protocols import compare

    compare.run(compare.CompareConfig(tasks=("small",), budget=1, seeds=1, optimizers=("adam",),
                                      epochs=1, storage=storage_url, studies=1))
    before = optuna.load_study(study_name="compare-small", storage=storage_url)
    snapshot = (len(before.trials), before.user_attrs)
    with pytest.raises(StudyMismatchError, match="made by `hpsearch compare`, not `tune`"):
        run(load_config("small", None, {"study": "compare-small", "storage": storage_url,
                                        "n_trials": 10, "epochs": 1}))
    after = optuna.load_study(study_name="compare-small", storage=storage_url)
    assert (len(after.trials), after.user_attrs) == snapshot
