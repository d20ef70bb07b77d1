"""A table file read as it was written: a CSV as a spreadsheet saves it, a sheet of an Excel workbook,
or a Parquet file.

A CSV's text is UTF-8 (with or without a byte-order mark; UTF-16 where its byte-order mark says so),
else cp1252. Its separator is the one among `,`, `;`, tab and `|` that splits every record at the
file's start into the same number of fields, the most of them. With `;` as separator, a text column
whose every value is a number written with a decimal comma is read as numbers. `TableReading` gives
any of these instead of detecting it, and a workbook's sheet (its first without).
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hpsearch.errors import ConfigError, choices

if TYPE_CHECKING:
    import pandas as pd

READING_KEYS = ("sep", "decimal", "encoding", "sheet")  # the flags and study-file keys
SEPARATORS = {",": ",", ";": ";", "tab": "\t", "\t": "\t", "\\t": "\t", "|": "|"}
SHOWN = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}  # in detection's order of preference
DECIMALS = (".", ",")
COMMON_ENCODINGS = ("utf-8", "cp1252", "latin-1", "utf-16")
BYTE_ORDER_MARKS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                    (codecs.BOM_UTF16_BE, "utf-16"))
PLAIN_ENCODINGS = ("utf-8", "utf-8-sig")  # with "," and ".": what a plain read_csv reads alike
PARQUET = (".parquet", ".pq")
WORKBOOKS = (".xlsx", ".xlsm")
SAMPLE_CHARS = 65_536  # the start of the file the separator is judged on


@dataclass(frozen=True)
class TableReading:
    """How --data is read where detection should not decide: each None is detected (a workbook's
    sheet: its first). `sheet` is a name, or a position from 0."""

    sep: str | None = None
    decimal: str | None = None
    encoding: str | None = None
    sheet: str | int | None = None

    def __post_init__(self) -> None:
        if self.sep is not None and self.sep not in SEPARATORS:
            raise ConfigError(f"unknown separator {self.sep!r}; valid choices: "
                              f"{choices(SHOWN.values())}")
        if self.decimal is not None and self.decimal not in DECIMALS:
            raise ConfigError(f"unknown decimal mark {self.decimal!r}; valid choices: "
                              f"{choices(repr(d) for d in DECIMALS)}")
        if self.encoding is not None:
            text_encoding(self.encoding)

    def given(self) -> list[str]:
        return [f"--{key}" for key in READING_KEYS if getattr(self, key) is not None]

    def check(self, data: str | None, table: bool) -> None:
        """Refuse a reading option without a table to read (no --data, or a corpus)."""
        given = self.given()
        if given and (data is None or not table):
            raise ConfigError(f"{given[0]} applies to a table given with --data "
                              "(--task classification or regression)")


@dataclass(frozen=True)
class ReadTable:
    frame: pd.DataFrame
    read: dict[str, str]  # how it was read (a CSV's encoding, separator and decimal mark; a sheet)
    description: str  # the same for a person: "read as cp1252, separator ';', decimal ','"

    @property
    def plain(self) -> bool:
        """Whether a plain `pandas.read_csv` (or `read_parquet`) reads the file alike."""
        return not self.read or (self.read.get("encoding") in PLAIN_ENCODINGS
                                 and self.read.get("sep") == "," and self.read.get("decimal") == ".")


def text_encoding(name: str) -> str:
    """The canonical name of a text encoding Python knows, or a one-line error."""
    try:
        "a".encode(name)  # a codec that is not a text encoding (base64, rot13) is refused here
        return codecs.lookup(name).name
    except LookupError:
        raise ConfigError(f"unknown encoding {name!r}; valid choices: {choices(COMMON_ENCODINGS)} "
                          "or another of Python's text encodings") from None


def read_table(path: Path, reading: TableReading | None = None) -> ReadTable:
    """The table in `path` (a CSV unless its suffix says Parquet or workbook), read as `reading`
    says and as detected where it says nothing."""
    import pandas as pd

    reading = reading or TableReading()
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise ConfigError(f"'{path.name}' is in the old Excel format, which is not read; save it "
                          "as .xlsx or CSV")
    given = reading.given()
    if suffix in PARQUET and given:
        raise ConfigError(f"{given[0]} applies to a CSV file or an Excel workbook, not the Parquet "
                          f"file '{path.name}'")
    if suffix in WORKBOOKS and [g for g in given if g != "--sheet"]:
        raise ConfigError(f"{given[0]} applies to a CSV file, not the workbook '{path.name}'")
    if suffix not in WORKBOOKS and reading.sheet is not None:
        raise ConfigError(f"--sheet applies to an Excel workbook (.xlsx), not '{path.name}'")
    try:
        if suffix in PARQUET:
            try:
                return ReadTable(pd.read_parquet(path), {}, "")
            except ImportError:
                raise ConfigError(
                    f"reading '{path.name}' needs a Parquet reader: pip install 'hpsearch[parquet]'"
                ) from None
        if suffix in WORKBOOKS:
            return read_workbook(path, reading.sheet)
        return read_csv(path, reading)
    except pd.errors.EmptyDataError:
        raise ConfigError(f"data file '{path}' is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, csv.Error) as error:
        raise ConfigError(f"data file '{path}' cannot be read: {str(error).splitlines()[0]}") from None


def read_csv(path: Path, reading: TableReading) -> ReadTable:
    import pandas as pd

    text, encoding = decoded(path, reading.encoding)
    sep = SEPARATORS[reading.sep] if reading.sep is not None else separator(text)
    frame = pd.read_csv(io.StringIO(text), sep=sep)
    decimal = reading.decimal or ("," if sep == ";" else ".")
    if decimal == "," and not decimal_commas(frame) and reading.decimal is None:
        decimal = "."  # nothing was written with a decimal comma
    shown = "utf-8 with byte-order mark" if encoding == "utf-8-sig" else encoding
    return ReadTable(frame, {"encoding": encoding, "sep": sep, "decimal": decimal},
                     f"read as {shown}, separator {SHOWN[sep]}, decimal '{decimal}'")


def decoded(path: Path, given: str | None) -> tuple[str, str]:
    """The file's text and the encoding it was read as: `given`, else the one its byte-order mark
    names, else UTF-8, else cp1252."""
    data = path.read_bytes()
    if given is not None:
        name = text_encoding(given)
        if name == "utf-8" and data.startswith(codecs.BOM_UTF8):
            name = "utf-8-sig"  # read as detection reads it: the mark is no data
        try:
            return data.decode(name), name
        except UnicodeDecodeError as error:
            raise ConfigError(f"data file '{path}' cannot be read as {name}: {error.reason} at "
                              f"byte {error.start} (0x{data[error.start]:02x}); give the "
                              "--encoding it is written in") from None
    marked = next((c for mark, c in BYTE_ORDER_MARKS if data.startswith(mark)), None)
    tried = (marked,) if marked else ("utf-8", "cp1252")
    for name in tried:
        try:
            text = data.decode(name)
        except UnicodeDecodeError as error:
            where = error.start
            continue
        if "\0" in text:
            raise ConfigError(f"data file '{path}' cannot be read: it holds NUL bytes, as binary "
                              "files do, not text")
        return text, name
    what = ("neither " if len(tried) > 1 else "not ") + " nor ".join(tried)
    raise ConfigError(f"data file '{path}' cannot be read: it is {what} text (byte {where}: "
                      f"0x{data[where]:02x}); give the --encoding it is written in")


def separator(text: str) -> str:
    """The separator that splits every record of the file's start into the same number of fields,
    the most of them (a tie: the first in `SHOWN`); where none does, the one that splits the header
    into most fields; a single column is read as comma-separated."""
    sample = text[:SAMPLE_CHARS]
    cut = len(text) > SAMPLE_CHARS
    best, score = ",", (False, 1)
    for sep in SHOWN:
        fields = [len(record) for record in csv.reader(io.StringIO(sample), delimiter=sep) if record]
        fields = fields[:-1] if cut and len(fields) > 1 else fields  # the last may be cut short
        if fields and (all(n == fields[0] for n in fields), fields[0]) > score:
            best, score = sep, (all(n == fields[0] for n in fields), fields[0])
    return best


def decimal_commas(frame: pd.DataFrame) -> list[str]:
    """Read as numbers, in place, the text columns whose every value is a number written with a
    decimal comma (some of them with one); returns their names."""
    import pandas as pd

    converted = []
    for column in frame.columns:
        values = frame[column]
        if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
            continue
        text = values.dropna().astype(str).str.strip()
        if text.empty or not text.str.contains(",", regex=False).any():
            continue
        numbers = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
        if numbers.notna().all():
            frame[column] = numbers.reindex(frame.index).astype(float)
            converted.append(str(column))
    return converted


def read_workbook(path: Path, sheet: str | int | None) -> ReadTable:
    """A sheet of an .xlsx workbook (openpyxl, the `excel` extra): its first row names the columns."""
    import pandas as pd

    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except ImportError:
        raise ConfigError(f"reading '{path.name}' needs openpyxl: pip install 'hpsearch[excel]'"
                          ) from None
    except (zipfile.BadZipFile, KeyError, OSError) as error:
        raise ConfigError(f"data file '{path}' cannot be read: not an Excel workbook ({error})"
                          ) from None
    with book:
        names = [str(name) for name in book.sheet_names]
        name = sheet_named(path, names, sheet)
        frame = pd.read_excel(book, sheet_name=name)
    frame.columns = [str(column) for column in frame.columns]
    of = f" of {len(names)} ({choices(names)})" if len(names) > 1 else ""
    return ReadTable(frame, {"sheet": name}, f"read from sheet '{name}'{of}")


def sheet_named(path: Path, names: list[str], sheet: str | int | None) -> str:
    """The sheet asked for, by name or by position from 0; the first when none is."""
    if sheet is None:
        return names[0]
    if str(sheet) in names:
        return str(sheet)
    position = str(sheet).strip()
    if position.isdigit() and int(position) < len(names):
        return names[int(position)]
    raise ConfigError(f"sheet '{sheet}' is not in '{path.name}'; valid choices: {choices(names)} "
                      f"(or a position from 0 to {len(names) - 1})")
