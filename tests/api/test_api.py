"""hpsearch from Python: `tune`, `compare` and `load` give what the CLI gives, exit nothing, and leave
the signal handlers as they found them."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

import hpsearch
from hpsearch.cli import cli

DB = "sqlite:///studies/hpsearch.db"
TINY = {"n_trials": 3, "epochs": 2, "seed": 0, "optimizers": "adam,sgd"}


def test_tune_from_python_gives_what_the_cli_gives(workdir: Path) -> None:
    result = CliRunner().invoke(cli, ["tune", "--task", "small", "--study", "cli", "--n-trials", "3",
                                      "--epochs", "2", "--seed", "0", "--optimizers", "adam,sgd"])
    assert result.exit_code == 0, result.output
    from_cli = optuna.load_study(study_name="cli", storage=DB)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    seen: list[int] = []
    run = hpsearch.tune("small", study="api", callbacks=[lambda study, trial: seen.append(trial.number)],
                        **TINY)  # type: ignore[arg-type]
    assert {s: signal.getsignal(s) for s in handlers} == handlers  # put back on return
    assert seen == [0, 1, 2]
    assert run.study.best_value == from_cli.best_value
    assert [t.params for t in run.study.trials] == [t.params for t in from_cli.trials]
    assert run.best_config == from_cli.best_trial.user_attrs["config"]
    frame = run.trials
    assert list(frame["number"]) == [0, 1, 2] and set(frame["study"]) == {"api"}
    shown = run._repr_html_()  # the summary table, one row per optimizer tried
    assert "<h4>api " in shown and shown.count("<tbody><tr>") == 1
    tried = {t.params["optimizer"] for t in run.study.trials}
    assert shown.count("</tr>") == 1 + len(tried) and all(f"</span>{k}</td>" in shown for k in tried)
    assert run.verdict in shown.replace("&#x27;", "'")
    assert hpsearch.load("api").best_config == run.best_config
    page = run.write_report("api.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "api" in page
    # Resumed, as the CLI resumes: the total is reached, nothing more runs.
    assert len(hpsearch.tune("small", study="api", **TINY).study.trials) == 3  # type: ignore[arg-type]


def test_tune_runs_off_the_main_thread_and_bad_options_raise(workdir: Path, capfd: pytest.CaptureFixture[str],
                                                            caplog: pytest.LogCaptureFixture) -> None:
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(
        hpsearch.tune("small", study="thread", n_trials=1, epochs=1, optimizers=["adam"])))
    thread.start()
    thread.join()
    assert isinstance(outcome[0], hpsearch.Result) and len(outcome[0].study.trials) == 1
    assert capfd.readouterr() == ("", "")  # quiet by default: nothing printed
    with caplog.at_level(logging.INFO, logger="hpsearch"):  # as logging.basicConfig(level=INFO)
        hpsearch.tune("small", study="logged", n_trials=2, epochs=1, optimizers=["adam"])
    lines = [r.getMessage() for r in caplog.records if r.name == "hpsearch"]
    assert lines[0].startswith("study 'logged' (small, 2 trials")
    assert [line.split()[:2] for line in lines[-2:]] == [["logged", "#0"], ["logged", "#1"]]
    with pytest.raises(hpsearch.ConfigError, match="unknown option 'epoch'; valid choices: .*epochs"):
        hpsearch.tune("small", epoch=3)
    with pytest.raises(hpsearch.ConfigError, match="unknown sampler 'tpx'"):
        hpsearch.tune("small", sampler="tpx")


def test_compare_from_python_after_the_cli_in_one_process(workdir: Path) -> None:
    args = ["--task", "small", "--optimizers", "adam,sgd", "--budget", "1", "--seeds", "2",
            "--epochs", "2", "--studies", "1"]
    assert CliRunner().invoke(cli, ["compare", *args]).exit_code == 0
    result = hpsearch.compare("small", optimizers="adam,sgd", budget=1, seeds=2, epochs=2, studies=2)
    assert [s.study_name for s in result.studies] == ["compare-small", "compare-small-study2"]
    assert result.verdict and "Over 2 independent studies" in result.verdict
    assert set(result.trials["study"]) == {"compare-small", "compare-small-study2"}


def test_callbacks_hear_the_trials_of_every_worker(workdir: Path) -> None:
    seen: list[int] = []

    def heard(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        seen.append(trial.number)
        deadline = time.monotonic() + 120
        # This process waits after its first trial until the other worker has begun one.
        while len(seen) == 1 and not any(t.user_attrs.get("worker", {}).get("pid") != os.getpid()
                                         for t in study.get_trials(deepcopy=False)):
            assert time.monotonic() < deadline, "the second worker never started a trial"
            time.sleep(0.05)

    run = hpsearch.tune("small", study="two", n_trials=4, epochs=2, optimizers="adam,sgd", workers=2,
                        callbacks=[heard])
    workers = {t.user_attrs["worker"]["pid"] for t in run.study.trials}
    assert len(workers) == 2 and len(run.study.trials) == 4
    assert sorted(seen) == [0, 1, 2, 3]  # each trial once, whichever process ran it


def test_scale_from_python_predicts_the_target_run(workdir: Path) -> None:
    seen: list[int] = []
    run = hpsearch.scale("adamw", parametrizations="mup", widths=(16, 32, 48), steps=10, context=8,
                         batch_size=4, target_width=64, callbacks=[lambda s, t: seen.append(t.number)])
    assert sorted(seen) == [t.number for t in run.study.trials]
    exported = CliRunner().invoke(cli, ["best", "--study", "scale-lm", "--for-width", "64"])
    assert run.best_config == json.loads(exported.output)
    assert run.config_for(128) is not None and run.config_for(128) != run.best_config
    assert run.verdict and "target (width 64" in run.verdict
    assert "<h4>scale-lm <small>scale sweep" in run._repr_html_()


SCRIPT = """
import hpsearch
try:
    hpsearch.tune("small", study="ctrl-c", n_trials=50, epochs=200, optimizers="adam")
except KeyboardInterrupt:
    print("KeyboardInterrupt raised")
"""


def test_ctrl_c_fails_the_trial_in_flight_then_raises_keyboard_interrupt(workdir: Path) -> None:
    import subprocess
    import sys

    from tests.waiting import wait_for_trials

    process = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True)
    try:  # polled through an existing file: opened by URL here would race the run creating its tables
        _, running = wait_for_trials(process, "ctrl-c")
    except BaseException:
        process.kill()
        raise
    process.send_signal(signal.SIGINT)  # what Jupyter's interrupt sends
    out, _ = process.communicate(timeout=60)
    assert "KeyboardInterrupt raised" in out
    stopped = optuna.load_study(study_name="ctrl-c", storage=DB).trials[running[0].number]
    assert stopped.state.name == "FAIL" and stopped.user_attrs["reason"] == "stopped by SIGINT"


def test_the_readme_notebook_example_runs_as_written(workdir: Path) -> None:
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    section = readme.split("## From a notebook", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md", "exec"), {})
    assert Path("studies/compare.html").is_file()
    assert len(optuna.load_study(study_name="nb", storage=DB).trials) == 4


def test_tune_takes_the_schedules_as_the_cli_does(workdir: Path) -> None:
    result = hpsearch.tune("small", schedules="none,cosine", n_trials=2, epochs=2)
    assert result.study.user_attrs["space"]["schedules"] == ["none", "cosine"]
    assert {t.params["schedule"] for t in result.study.trials} <= {"none", "cosine"}
    with pytest.raises(hpsearch.ConfigError, match="unknown schedule 'cosin'"):
        hpsearch.tune("small", schedules=["cosin"], n_trials=2, epochs=2, study="other")
