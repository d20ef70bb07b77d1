"""The user's own table (CSV, an Excel workbook's sheet, or Parquet where a reader is installed; read
by `tasks.spreadsheet`) as a task.

Preprocessing is scikit-learn's, fitted on the training rows only: numeric columns imputed with the
median and standardised; string columns imputed with the most frequent value and one-hot encoded;
class labels encoded (and named in the exported result); a regression target standardised for
training while metrics stay in its own units.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hpsearch.errors import ConfigError, choices
from hpsearch.tasks.base import CLASSIFICATION, REGRESSION, Task
from hpsearch.tasks.files import regular_file
from hpsearch.tasks.spreadsheet import ReadTable, TableReading, read_table

if TYPE_CHECKING:
    import pandas as pd

MIN_ROWS_PER_CLASS = 3  # train, validation and test each need one for a stratified split
MAX_CATEGORY_SHARE = 0.5  # a string column with more distinct values than this share of rows
#                           (names, ids) carries no generalisable signal and is dropped


@dataclass(frozen=True)
class TableData:
    """A read and checked table: the feature columns, the target and what was done to them."""

    features: pd.DataFrame
    target: np.ndarray
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    notes: tuple[str, ...]  # what happened to the data, said once at the start of a run
    fingerprint: dict[str, Any]


def fingerprint(path: Path, table: ReadTable) -> dict[str, Any]:
    """What the study stores of its data. `sha256` is the file's bytes' (as studies stored before
    have it) where a plain read_csv reads it alike, else that of the bytes and how they were read
    (recorded in `read`): a study resumes only with its data read its own way."""
    digest = hashlib.sha256(path.read_bytes())
    if not table.plain:
        digest.update(json.dumps(table.read, sort_keys=True).encode())
    return {"file": path.name, "sha256": digest.hexdigest()[:16], "rows": int(len(table.frame)),
            "columns": [str(c) for c in table.frame.columns],
            **({} if table.plain else {"read": table.read})}


def prepare(path: Path, target: str, kind: str, reading: TableReading | None = None) -> TableData:
    """Read and check the table; decide which columns are features and how each is encoded."""
    read = read_table(regular_file(path), reading)
    frame = read.frame
    if frame.empty:
        raise ConfigError(f"data file '{path}' has no rows")
    if target not in frame.columns:
        raise ConfigError(f"target column '{target}' is not in '{path.name}'; "
                          f"valid choices: {choices(frame.columns)}")
    notes = [f"{path.name}: {len(frame)} rows, {len(frame.columns)} columns; target '{target}'"
             + (f"; {read.description}" if read.description else "")]
    labelled = frame[frame[target].notna()]
    if labelled.empty:
        raise ConfigError(f"target column '{target}' of '{path.name}' has no values")
    if len(labelled) < len(frame):
        notes.append(f"dropped {len(frame) - len(labelled)} rows without a target")
    if kind == "regression" and _is_numeric(labelled[target]):
        _check_finite(labelled[target].to_numpy(dtype=float), f"regression target '{target}'",
                      path.name)
    y = _target(labelled[target], target, kind, notes)
    numeric, categorical, dropped = [], [], []
    for column in labelled.columns.drop(target):
        values = labelled[column]
        if values.isna().all():
            dropped.append(f"{column} (empty)")
        elif values.nunique(dropna=True) < 2:
            dropped.append(f"{column} (constant)")
        elif _is_numeric(values):
            numeric.append(str(column))
        elif values.nunique(dropna=True) > MAX_CATEGORY_SHARE * len(labelled):
            dropped.append(f"{column} (text or id: {values.nunique()} distinct values)")
        else:
            categorical.append(str(column))
    if not numeric and not categorical:
        raise ConfigError(f"'{path.name}' has no usable feature column besides '{target}'"
                          + (f"; dropped: {', '.join(dropped)}" if dropped else ""))
    notes.append(f"features: {len(numeric)} numeric (median-imputed, standardised)"
                 + (f", {len(categorical)} categorical (imputed, one-hot: "
                    + ", ".join(f"{c} {labelled[c].nunique()}" for c in categorical) + ")"
                    if categorical else ""))
    missing = int(labelled[numeric + categorical].isna().sum().sum())
    if missing:
        notes.append(f"{missing} missing feature values will be imputed (statistics of the "
                     "training rows only)")
    if dropped:
        notes.append("dropped columns: " + ", ".join(dropped))
    features = labelled[numeric + categorical].copy()
    features[numeric] = features[numeric].apply(_to_number)
    for column in numeric:
        _check_finite(features[column].to_numpy(), f"feature column '{column}'", path.name)
    for column in numeric + categorical:
        if _repeats(features[column], y, kind):
            raise ConfigError(f"column '{column}' of '{path.name}' repeats the target '{target}' "
                              "(the answer would leak into the features); drop it from the table")
    return TableData(features.reset_index(drop=True), y, tuple(numeric), tuple(categorical),
                     tuple(notes), fingerprint(path, read))


def _check_finite(values: np.ndarray, what: str, file: str) -> None:
    """Missing values are imputed; an infinite one is an error in the data."""
    infinite = np.flatnonzero(np.isinf(values))
    if len(infinite):
        rows = ", ".join(str(int(i) + 1) for i in infinite[:3])
        values_word = "value" if len(infinite) == 1 else "values"
        raise ConfigError(f"{what} of '{file}' has {len(infinite)} infinite {values_word} (data rows "
                          f"{rows}{', ...' if len(infinite) > 3 else ''}); fix or drop them")


def _repeats(values: pd.Series, y: np.ndarray, kind: str) -> bool:
    """Whether a feature column carries the target itself: for classes, the same labels under other
    names (one value per class and one class per value, in every row); for a number, the target up
    to units (an exact linear relation)."""
    import pandas as pd

    if values.isna().any():
        return False
    if kind == "classification":
        pairs = pd.DataFrame({"feature": values.astype(str).to_numpy(), "target": y})
        return bool(pairs.groupby("feature")["target"].nunique().max() == 1
                    and pairs.groupby("target")["feature"].nunique().max() == 1)
    if not _is_numeric(values) or np.std(values.to_numpy(dtype=float)) == 0 or np.std(y) == 0:
        return False
    return bool(abs(np.corrcoef(values.to_numpy(dtype=float), y)[0, 1]) > 1 - 1e-9)


def _is_numeric(values: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(values)) and not pd.api.types.is_bool_dtype(values)


def _to_number(values: pd.Series) -> pd.Series:
    import pandas as pd

    return pd.to_numeric(values, errors="coerce").astype(float)


def _target(values: pd.Series, name: str, kind: str, notes: list[str]) -> np.ndarray:
    if kind == "regression":
        if not _is_numeric(values):
            raise ConfigError(f"regression target '{name}' must be numeric; got values like "
                              f"{values.iloc[0]!r}")
        y = values.to_numpy(dtype=float)
        notes.append(f"target: mean {y.mean():.4g}, std {y.std():.4g}; trained standardised, "
                     "RMSE reported in its own units")
        return y
    counts = values.astype(str).value_counts()
    if len(counts) < 2:
        raise ConfigError(f"target '{name}' has a single class '{counts.index[0]}'; "
                          "classification needs at least two")
    rare = counts[counts < MIN_ROWS_PER_CLASS]
    if len(rare):
        raise ConfigError(f"class '{rare.index[0]}' of target '{name}' has {rare.iloc[0]} rows; "
                          f"each class needs at least {MIN_ROWS_PER_CLASS} for a stratified split")
    balance = ", ".join(f"{label} {count / counts.sum():.0%}" for label, count in counts.items())
    notes.append(f"classes ({len(counts)}): {balance}")
    return values.astype(str).to_numpy()


def preprocessor(numeric: tuple[str, ...], categorical: tuple[str, ...]) -> Callable[[], Any]:
    def build() -> Any:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        return ColumnTransformer([
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
             list(numeric)),
            ("categorical", make_pipeline(
                SimpleImputer(strategy="most_frequent"),
                OneHotEncoder(handle_unknown="ignore", sparse_output=False)), list(categorical)),
        ])

    return build


def table_task(path: Path, target: str, kind: str,
               reading: TableReading | None = None) -> tuple[Task, TableData]:
    """A task over the user's table, read as `reading` says (else as detected); `kind` is
    `classification` or `regression`."""
    if kind not in ("classification", "regression"):
        raise ConfigError(f"--data needs --task classification or regression; got '{kind}'")
    table = prepare(path, target, kind, reading)
    task = Task(
        name=kind, description=f"user table {path.name}, target {target}",
        problem=CLASSIFICATION if kind == "classification" else REGRESSION,
        load_arrays=lambda: (table.features, table.target), batch_size=64,
        source=str(path), preprocessor=preprocessor(table.numeric, table.categorical),
    )
    return task, table
