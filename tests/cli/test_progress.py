"""Progress in a log: one line per finished trial (or range test), with the elapsed time (and the
time left once there is a pace to go by); `--quiet` prints none. `--debug` is taken after the
subcommand too."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from hpsearch.cli import cli
from hpsearch.cli.output import duration


def progress_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("[") and "elapsed" in line]


def test_tune_and_compare_print_a_line_per_trial_with_elapsed_time(workdir: Path) -> None:
    result = CliRunner().invoke(cli, ["tune", "--task", "small", "--n-trials", "3", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    lines = progress_lines(result.output)
    assert [line.split("]")[0] for line in lines] == ["[1/3", "[2/3", "[3/3"]
    assert "left" not in lines[0] and "left" in lines[1] and "left" not in lines[2]  # none at the end
    result = CliRunner().invoke(cli, ["compare", "--task", "small", "--optimizers", "adam,sgd",
                                      "--budget", "1", "--seeds", "1", "--studies", "1", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert len(progress_lines(result.output)) == 2 * (1 + 1 + 1)  # every trial of the plan
    quiet = CliRunner().invoke(cli, ["tune", "--task", "small", "--n-trials", "4", "--epochs", "1",
                                     "--quiet"])
    assert quiet.exit_code == 0 and progress_lines(quiet.output) == []


def test_lr_find_prints_a_line_per_range_test(workdir: Path) -> None:
    args = ["lr-find", "--task", "small", "--optimizer", "adam,sgd,momentum", "--steps", "20"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    lines = progress_lines(result.output)
    assert [line.split(" |")[0] for line in lines] == [f"[{n}/3] range tests" for n in (1, 2, 3)]
    assert "adam:" in lines[2] and "left" in lines[1]
    quiet = CliRunner().invoke(cli, [*args, "--quiet"])
    assert quiet.exit_code == 0 and progress_lines(quiet.output) == []


def test_durations_read_as_people_write_them() -> None:
    assert [duration(s) for s in (4.4, 59.6, 185, 3725)] == ["4s", "1m00s", "3m05s", "1h02m"]


def test_debug_is_taken_after_the_subcommand_too(workdir: Path) -> None:
    from hpsearch.errors import ConfigError

    plain = CliRunner().invoke(cli, ["tune", "--task", "small", "--sampler", "random", "--n-trials", "0"])
    assert plain.exit_code == 2 and len(plain.output.strip().splitlines()) == 1
    for args in (["--debug", "tune"], ["tune", "--debug"]):
        result = CliRunner().invoke(cli, [*args, "--task", "small", "--n-trials", "0"])
        assert isinstance(result.exception, ConfigError), result.output  # the traceback, not one line
