"""`--help` of every command shows each option's default and one example that parses; the defaults
it says come from the classification study file are that file's; shell completion works as the
README says."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from hpsearch.cli import cli
from hpsearch.cli.options import built_in_default
from hpsearch.definition.config import read_study_file
from tests.conftest import REPO

COMMANDS = sorted(cli.commands)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_shows_its_default_and_the_example_parses(name: str) -> None:
    command = cli.commands[name]
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    example = result.output.rstrip().splitlines()[-1].strip()
    assert result.output.rstrip().splitlines()[-2].strip() == "Example:"
    assert example.startswith(f"hpsearch {name} ")
    command.make_context(name, shlex.split(example)[2:])  # a flag or value it lacks raises here
    ctx = click.Context(command, info_name=name)
    for option in command.params:
        if not isinstance(option, click.Option) or option.is_flag or option.required:
            continue
        record = option.get_help_record(ctx)
        assert record is not None and "default: " in record[1], (name, option.opts)


def test_the_study_file_defaults_the_help_names_are_the_classification_file_s() -> None:
    text = CliRunner().invoke(cli, ["tune", "--help"]).output
    said = " ".join(text.split())  # unwrapped
    shipped = read_study_file(REPO / "studies" / "classification.toml")
    keys = ["n_trials", "epochs", "batch_size", "sampler", "pruner", "seed", "optimizers"]
    for key in keys:
        shown = built_in_default(key)
        assert f"from studies/<task>.toml; classification: {shown}]" in said, key
        expected = shipped[key]
        if key == "optimizers":  # the file lists the group's members
            from hpsearch.space.optimizers import CLASSIC

            assert shown == "classic" and tuple(expected) == CLASSIC
        else:
            assert shown == expected, key


def test_shell_completion_completes_commands_and_choices(workdir: Path) -> None:
    hpsearch = str(Path(sys.executable).parent / "hpsearch")  # the installed command

    def complete(words: str) -> list[str]:
        env = {**os.environ, "_HPSEARCH_COMPLETE": "bash_complete", "COMP_WORDS": words,
               "COMP_CWORD": str(len(words.split()) - 1)}
        out = subprocess.run([hpsearch], env=env, capture_output=True, text=True, check=True).stdout
        return [line.split(",", 1)[1] for line in out.splitlines()]

    assert complete("hpsearch tu") == ["tune"]
    assert complete("hpsearch tune --task cl") == ["classification"]
    assert complete("hpsearch compare --task sm") == ["small"]
    source = subprocess.run([hpsearch], env={**os.environ, "_HPSEARCH_COMPLETE": "bash_source"},
                            capture_output=True, text=True, check=True).stdout
    assert "_hpsearch_completion" in source and "complete -o nosort -F" in source
