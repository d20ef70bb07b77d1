"""What `hpsearch best` hands over: everything needed to train the winner again, and code that is
safe to paste whatever the storage holds."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import torch

from hpsearch import build_optimizer, record
from hpsearch.tasks.base import mlp
from tests.cli.test_cli import TINY, invoke

HOSTILE = "acc'\"\nraise SystemExit('injected')\n#"


def test_best_as_json_goes_straight_to_build_optimizer(workdir: Path) -> None:
    assert invoke("tune", "--task", "classification", *TINY, "--pruner", "none")[0] == 0
    code, output = invoke("best", "--study", "classification", "--format", "json")
    assert code == 0, output
    best = json.loads(output)
    optimizer = build_optimizer(best, mlp(64, 10, (8,)))
    assert isinstance(optimizer, torch.optim.Optimizer)
    assert set(best["trial"]) == {"number", "seed", "best_epoch", "best_value", "params"}
    assert best["trial"]["params"]["optimizer"] == best["optimizer"]
    assert isinstance(best["trial"]["seed"], int) and 1 <= best["trial"]["best_epoch"] <= 2


def test_exported_python_quotes_every_stored_string(workdir: Path) -> None:
    assert invoke("tune", "--task", "classification", *TINY, "--pruner", "none",
                  "--study", "it's \"quoted\"\nimport os")[0] == 0
    study = optuna.load_study(study_name="it's \"quoted\"\nimport os",
                              storage="sqlite:///studies/hpsearch.db")
    study.set_user_attr(record.METRIC, HOSTILE)  # as a tampered or hand-edited storage would hold
    study.set_user_attr(record.EPOCHS, HOSTILE)
    code, pasted = invoke("best", "--study", study.study_name, "--format", "python")
    assert code == 0, pasted
    namespace: dict = {"model": mlp(64, 10, (8,))}
    # raises SystemExit if a stored string became code; compiled as a pasted script is, without
    # this module's `from __future__` flags
    exec(compile(pasted, "pasted.py", "exec", dont_inherit=True), namespace)
    assert isinstance(namespace["optimizer"], torch.optim.Optimizer)
