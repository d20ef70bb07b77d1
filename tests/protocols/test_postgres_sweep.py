"""Many machines on one PostgreSQL study: here, processes started at once against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import serve_postgres
from tests.postgres import PostgresServer

server = pytest.fixture(scope="module", name="server")(serve_postgres)


def test_processes_started_at_once_share_one_study_on_an_empty_database(
    server: PostgresServer, workdir: Path
) -> None:
    command = [sys.executable, "-m", "hpsearch", "tune", "--task", "classification",
               "--epochs", "2", "--optimizers", "adam,sgd", "--n-trials", "12", "--storage",
               server.url]
    # Two machines and one with two workers, all at the same moment, on an empty database.
    processes = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
                 for args in (command, command, [*command, "--workers", "2"])]
    outputs = [p.communicate(timeout=300)[0] for p in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output
        assert "Traceback" not in output
        assert server.password not in output  # printed masked: postgresql://hpsearch:***@...
    assert any(f"postgresql://hpsearch:***@127.0.0.1:{server.port}/hpsearch" in o
               for o in outputs)
    study = optuna.load_study(study_name="classification", storage=server.url)
    trials = study.trials
    assert [t.state for t in trials].count(TrialState.FAIL) == 0
    assert len(trials) == 12 and all(t.state.is_finished() for t in trials)
    assert len({t.number for t in trials}) == 12  # every trial recorded once
    processes_seen = {t.user_attrs["worker"]["pid"] for t in trials}
    assert len(processes_seen) >= 2
    assert len([k for k in study.user_attrs if k.startswith("run:")]) == 3  # no run record lost


def test_a_scale_sweep_shared_by_two_workers_runs_each_run_once(server: PostgresServer,
                                                                 workdir: Path) -> None:
    from hpsearch.protocols.scale_plan import ScalePlan, next_trial

    command = [sys.executable, "-m", "hpsearch", "scale", "--optimizers", "adamw",
               "--parametrization", "mup", "--widths", "16,32,48,64", "--steps", "10",
               "--context", "8", "--batch-size", "4", "--storage", server.url, "--workers", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert "held out width 64" in result.stdout
    trials = optuna.load_study(study_name="scale-lm", storage=server.url).trials
    assert all(t.state.is_finished() and t.state != TrialState.FAIL for t in trials)
    runs = [(t.user_attrs["width"], t.user_attrs["lr"], t.user_attrs["seed_index"]) for t in trials]
    assert len(runs) == len(set(runs))  # no run twice
    assert len({t.user_attrs["worker"]["pid"] for t in trials}) == 2
    plan = ScalePlan(("adamw",), ("mup",), (16, 32, 48, 64), (1,), seeds=2, seed=0)
    assert next_trial(trials, plan) is None  # and none missing
