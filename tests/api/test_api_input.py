"""The Python API's keywords, checked before anything runs: a wrong type or range is one
`hpsearch.ConfigError` naming the keyword, the value and what is valid, and nothing is stored. A
keyword that takes several values takes a list or, as on the command line, comma-separated text;
never a string's letters. `batch_trials` is a whole number in ASCII digits wherever it is given."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest

import hpsearch
from hpsearch import record
from tests.cli.test_cli import TINY, assert_one_line_error, invoke

DB = Path("studies/hpsearch.db")
SMALL: dict[str, Any] = {"n_trials": 1, "epochs": 1, "optimizers": "adam"}
COMPARE: dict[str, Any] = {"budget": 1, "seeds": 1, "studies": 1, "epochs": 1, "optimizers": "adam"}


def tune(**keywords: Any) -> object:
    return hpsearch.tune("small", **{**SMALL, **keywords})


def compare(tasks: Any = "small", **keywords: Any) -> object:
    return hpsearch.compare(tasks, **{**COMPARE, **keywords})


def scale(**keywords: Any) -> object:
    return hpsearch.scale("adamw", **keywords)


def load(**keywords: Any) -> object:
    return hpsearch.load(**keywords)


BAD: list[tuple[Callable[..., object], dict[str, Any], list[str]]] = [  # the fragments its error names
    (tune, {"optimizers": 5}, ["optimizers takes names", "got 5 (int)"]),
    (tune, {"optimizers": ["adam", 5]}, ["optimizers takes names", "got 5 (int)"]),
    (tune, {"workers": "2"}, ["workers must be a positive integer", "'2'"]),
    (tune, {"workers": 0}, ["workers must be a positive integer", "got 0"]),
    (tune, {"storage": 123}, ["storage must be a string or None", "got 123 (int)"]),
    (tune, {"callbacks": [1]}, ["callbacks takes functions", "got 1 (int)"]),
    (tune, {"config_file": 5}, ["config_file must be a string or a path or None", "got 5 (int)"]),
    (tune, {"val_fraction": "0.2"}, ["val_fraction must be a number", "'0.2' (str)"]),
    (tune, {"device": 5}, ["device must be a string", "got 5 (int)"]),
    (tune, {"seed": True}, ["seed must be an integer or None", "True (bool)"]),
    (compare, {"tasks": 5}, ["tasks takes names", "got 5 (int)"]),
    (compare, {"prefix": 5}, ["prefix must be a string", "got 5 (int)"]),
    (compare, {"workers": 0}, ["workers must be a positive integer", "got 0"]),
    (compare, {"budget": 1.5}, ["budget must be an integer", "1.5 (float)"]),
    (scale, {"widths": 64}, ["widths takes integers", "got 64 (int)"]),
    (scale, {"widths": [16.0, 32]}, ["widths takes integers", "got 16.0 (float)"]),
    (scale, {"lengths": "1,²"}, ["lengths takes integers", "got '²' (str)"]),
    (scale, {"seeds": "2"}, ["seeds must be an integer", "'2'"]),
    (scale, {"callbacks": [print, "x"]}, ["callbacks takes functions", "got 'x' (str)"]),
    (load, {"study": 5}, ["study must be a string or None", "got 5 (int)"]),
    (load, {"storage": 5}, ["storage must be a string or None", "got 5 (int)"]),
]


@pytest.mark.parametrize("call, keywords, fragments", BAD,
                         ids=[f"{call.__name__}-{next(iter(keywords))}" for call, keywords, _ in BAD])
def test_a_wrong_keyword_is_one_config_error_before_anything_is_stored(
        workdir: Path, call: Callable[..., object], keywords: dict[str, Any], fragments: list[str]) -> None:
    with pytest.raises(hpsearch.ConfigError) as raised:
        call(**keywords)
    message = str(raised.value)
    assert "\n" not in message and all(fragment in message for fragment in fragments), message
    assert [p.name for p in Path("studies").iterdir() if p.suffix != ".toml"] == []  # nothing stored


@pytest.mark.parametrize("call, fragments", [
    # split at the commas, as on the command line: each name checked on its own
    (lambda: compare("small,small"), ["a task is given twice: small, small"]),
    (lambda: compare("small, nope"), ["unknown task 'nope'"]),
    (lambda: scale(widths="16, 32,32"), ["widths holds a value twice: 16, 32, 32"]),
    (lambda: scale(parametrizations="sp,nope"), ["unknown parametrization 'nope'"]),
])
def test_comma_separated_text_is_a_list_never_letters(workdir: Path, call: Callable[[], object],
                                                       fragments: list[str]) -> None:
    with pytest.raises(hpsearch.ConfigError) as raised:
        call()
    assert all(fragment in str(raised.value) for fragment in fragments), str(raised.value)
    assert not DB.exists()


def test_warm_start_takes_studies_by_comma_as_the_cli_does(workdir: Path) -> None:
    for name in ("first", "second"):
        tune(study=name, seed=1 if name == "first" else 2)
    with pytest.raises(hpsearch.ConfigError, match="unknown study 'missing'"):
        tune(study="third", warm_start="first,missing")
    stored = optuna.get_all_study_names(f"sqlite:///{DB}")
    assert sorted(stored) == ["first", "second"]  # the refused run stored nothing
    # None leaves a flag unset, as before: the study file's or the built-in value
    run = hpsearch.tune("small", study="third", warm_start="first, second", batch_trials=None,
                        device=None, **{**SMALL, "n_trials": 2})
    assert isinstance(run, hpsearch.Result)
    sources = [record.trial_attrs(t).get(record.WARM_START) for t in run.study.trials]
    assert sorted(source["study"] for source in sources) == ["first", "second"]


def test_a_path_object_is_taken_where_a_file_name_is(workdir: Path) -> None:
    rows = "".join(f"{i % 7},{(i * 3) % 5},{i * 0.5 + (i % 3)}\n" for i in range(60))
    (workdir / "table.csv").write_text("x1,x2,y\n" + rows, encoding="utf-8")
    run = hpsearch.tune("regression", data=workdir / "table.csv", target="y", **SMALL)
    assert run.study.study_name == "table" and len(run.study.trials) == 1


@pytest.mark.parametrize("value", ["²", "٣", "1.5", "-1", "0"])
def test_batch_trials_takes_only_ascii_digits_on_the_cli_in_a_study_file_and_from_python(
        workdir: Path, value: str) -> None:
    code, output = invoke("tune", "--task", "small", *TINY, "--batch-trials", value)
    assert_one_line_error(code, output, 2, f"'{value}'", "positive whole number nor auto")
    Path("bad.toml").write_text(f'task = "small"\nbatch_trials = "{value}"\n', encoding="utf-8")
    code, output = invoke("tune", "--config", "bad.toml", *TINY)
    assert_one_line_error(code, output, 2, f"batch_trials '{value}' in 'bad.toml'", "nor auto")
    with pytest.raises(hpsearch.ConfigError, match=f"batch_trials '{value}' is neither"):
        tune(batch_trials=value)
    assert not DB.exists()
