"""The reporting client a training script imports (`hpsearch.client`) costs no import time and
writes one JSON line per evaluation point, only where hpsearch runs the script and only on rank 0;
the package face still gives every public name though it imports them on first use; and
examples/train_gpt.py, the nanoGPT-style script of the README, trains alone and from a configuration.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

IMPORT_BUDGET_MS = 50.0
STEP_LINE = re.compile(r"step (?P<step>\d+): .*val loss (?P<value>[0-9.]+)")
MOMENTUM = {"optimizer": "momentum", "torch_class": "torch.optim.SGD",
            "hyperparameters": {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.0},
            "schedule": {"name": "cosine", "warmup_fraction": 0.1, "floor": 0.1},
            "clip_grad_norm": 1.0}


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without hpsearch's trial variables or a launcher's rank, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPSEARCH_") and k != "RANK"}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=clean_env(**env),
                          capture_output=True, text=True, timeout=60)


def client_import_ms() -> float:
    """`hpsearch.client`'s cumulative import time (the package face included), in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "from hpsearch.client import report"],
                          env=clean_env(), capture_output=True, text=True, timeout=60, check=True)
    for line in done.stderr.splitlines():
        fields = [field.strip() for field in line.removeprefix("import time:").split("|")]
        if len(fields) == 3 and fields[2] == "hpsearch.client":
            return int(fields[1]) / 1000
    raise AssertionError(f"no hpsearch.client line in:\n{done.stderr}")


def test_the_client_imports_in_a_few_milliseconds() -> None:
    best = min(client_import_ms() for _ in range(3))  # the least disturbed of three
    assert best < IMPORT_BUDGET_MS, f"hpsearch.client takes {best:.1f} ms to import"


def test_the_client_imports_no_numpy_optuna_or_torch(tmp_path: Path) -> None:
    done = python("import sys; from hpsearch.client import report, config, trial_dir; "
                  "print(sorted(m for m in ('numpy', 'optuna', 'torch', 'pandas') if m in sys.modules))",
                  tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_report_writes_one_json_line_per_call_nan_included(tmp_path: Path) -> None:
    path = tmp_path / "report.jsonl"
    done = python("from hpsearch.client import report\n"
                  "report(0, 2.5)\n"
                  "report(10, 1.25, train_loss=1.5, tokens=640)\n"
                  "report(20, float('nan'), train_loss=float('inf'))\n", tmp_path,
                  HPSEARCH_REPORT=str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout == done.stderr == ""
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["step"] for line in lines] == [0, 10, 20]
    assert lines[0]["value"] == 2.5 and set(lines[0]) == {"step", "value", "time"}
    assert lines[1]["train_loss"] == 1.5 and lines[1]["tokens"] == 640
    assert math.isnan(lines[2]["value"]) and lines[2]["train_loss"] == math.inf
    assert all(isinstance(line["time"], float) for line in lines)


def test_report_appends_to_a_file_that_exists(tmp_path: Path) -> None:
    path = tmp_path / "report.jsonl"
    path.write_text('{"step": 0, "value": 3.0, "time": 0.0}\n', encoding="utf-8")
    done = python("from hpsearch.client import report; report(1, 2.0)", tmp_path,
                  HPSEARCH_REPORT=str(path))
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["step"] for line in path.read_text(encoding="utf-8").splitlines()] == [0, 1]


def test_report_is_silent_alone(tmp_path: Path) -> None:
    done = python("from hpsearch.client import report, config, trial_dir\n"
                  "report(0, 1.0, train_loss=2.0)\n"
                  "assert config() is None and trial_dir() is None\n", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == done.stderr == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("rank", ["1", "3"])
def test_report_is_silent_on_every_rank_but_0(tmp_path: Path, rank: str) -> None:
    path = tmp_path / "report.jsonl"
    done = python("from hpsearch.client import report; report(0, 1.0)", tmp_path,
                  HPSEARCH_REPORT=str(path), RANK=rank)
    assert done.returncode == 0, done.stderr
    assert done.stdout == done.stderr == ""
    assert not path.exists()
    done = python("from hpsearch.client import report; report(0, 1.0)", tmp_path,
                  HPSEARCH_REPORT=str(path), RANK="0")
    assert done.returncode == 0 and path.exists()


@pytest.mark.parametrize(("call", "named"), [("report(True, 1.0)", "step"), ("report(1.5, 1.0)", "step"),
                                             ("report('1', 1.0)", "step"), ("report(1, '0.5')", "value"),
                                             ("report(1, None)", "value"), ("report(1, True)", "value"),
                                             ("report(1, 1.0, acc='x')", "acc")])
def test_a_bad_step_or_value_is_a_type_error_naming_it(call: str, named: str) -> None:
    from hpsearch.client import report

    with pytest.raises(TypeError, match=rf"^hpsearch\.client\.report: {named} must be ") as info:
        eval(call, {"report": report})
    assert "\n" not in str(info.value)


def test_config_and_trial_dir_read_their_variables(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(MOMENTUM), encoding="utf-8")
    done = python("from hpsearch.client import config, trial_dir\n"
                  "print(config()['optimizer'], trial_dir().name)\n", tmp_path,
                  HPSEARCH_CONFIG=str(tmp_path / "config.json"), HPSEARCH_TRIAL_DIR=str(tmp_path / "t3"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["momentum", "t3"]


def test_the_package_face_gives_every_public_name_on_first_use(tmp_path: Path) -> None:
    done = python("import sys, hpsearch\n"
                  "assert 'numpy' not in sys.modules and 'hpsearch.api' not in sys.modules\n"
                  "assert all(name in dir(hpsearch) for name in hpsearch.__all__)\n"
                  "assert 'build_optimizer' in dir(hpsearch) and 'client' not in hpsearch.__all__\n"
                  "from hpsearch import SearchSpace, tune\n"
                  "from hpsearch.space.optimizers import build_optimizer\n"
                  "assert hpsearch.build_optimizer is build_optimizer and callable(tune)\n"
                  "assert 'classification' in hpsearch.TASKS and SearchSpace().optimizers\n"
                  "assert all(getattr(hpsearch, name) is not None for name in hpsearch.__all__)\n"
                  "from hpsearch import *\n"
                  "print(hpsearch.__version__, OPTIMIZERS is hpsearch.OPTIMIZERS)\n"
                  "try:\n    hpsearch.no_such_name\nexcept AttributeError as e:\n    print(e)\n",
                  tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["0.1.0 True", "module 'hpsearch' has no attribute 'no_such_name'"]


def train_gpt(tmp_path: Path, *flags: str, **env: str) -> list[tuple[int, float]]:
    done = subprocess.run([sys.executable, str(REPO / "examples" / "train_gpt.py"), "--max_iters", "20",
                           "--eval_interval", "10", *flags], cwd=tmp_path, env=clean_env(**env),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    points = [(int(m["step"]), float(m["value"])) for m in map(STEP_LINE.match, done.stdout.splitlines())
              if m]
    assert [step for step, _ in points] == [0, 10, 20], done.stdout
    assert points[-1][1] < points[0][1], done.stdout
    return points


def test_the_example_trains_alone_and_prints_nanogpts_lines(tmp_path: Path) -> None:
    points = train_gpt(tmp_path, "--out_dir", str(tmp_path / "out"))
    result = json.loads((tmp_path / "out" / "result.json").read_text(encoding="utf-8"))
    assert result == {"value": pytest.approx(points[-1][1], abs=1e-4), "step": 20}


def test_the_example_trains_with_the_configuration_hpsearch_hands_it(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(MOMENTUM), encoding="utf-8")
    alone = train_gpt(tmp_path)
    configured = train_gpt(tmp_path, HPSEARCH_CONFIG=str(path))
    assert configured[0] == alone[0]  # the same model and data at step 0
    assert configured[-1] != alone[-1]  # trained by SGD with momentum, not its own AdamW
