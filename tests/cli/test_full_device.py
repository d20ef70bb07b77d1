"""A write to a full device is one line naming where it went (the file, or standard output) and the
system's reason, exit 1, no traceback: the real /dev/full, in-process for --out and in a process
of its own for standard output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import assert_one_line_error, invoke, tiny_sweep

FULL = Path("/dev/full")
NO_SPACE = "No space left on device"


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> str:
    return tiny_sweep(f"sqlite:///{tmp_path_factory.mktemp('full') / 'sweep.db'}")


@pytest.mark.parametrize("command", [
    ["trials", "--format", "csv"], ["trials", "--format", "json"], ["trials", "--format", "parquet"],
    ["report"],
])
def test_a_full_device_under_out_is_one_line_naming_it(stored: str, command: list[str]) -> None:
    code, output = invoke(*command, "--storage", stored, "--out", str(FULL))
    assert_one_line_error(code, output, 1, f"cannot write --out '{FULL}': ", NO_SPACE)


def test_a_full_standard_output_is_one_line_saying_so(stored: str) -> None:
    with FULL.open("w") as full:
        done = subprocess.run([sys.executable, "-m", "hpsearch", "best", "--storage", stored],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [f"Error: cannot write standard output: {NO_SPACE}"]
