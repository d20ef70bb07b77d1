"""The shipped default study, end to end on its full budget (`make test-slow`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hpsearch.cli import cli
from hpsearch.definition.config import load_config
from hpsearch.engine.studies import open_study
from hpsearch.space.export import best_config


@pytest.mark.slow
def test_default_classification_study_reaches_097_on_digits(workdir: Path) -> None:
    result = CliRunner().invoke(cli, ["tune", "--task", "classification"])
    assert result.exit_code == 0, result.output
    study = open_study(load_config("classification"))
    best = best_config(study)
    assert best["metric"]["value"] >= 0.97
    assert len(study.trials) == load_config("classification").n_trials
