"""One table, three renderings: typed cells written once and rendered as plain text (the terminal),
Markdown and HTML, so that the CLI, the report's page and a notebook say the same thing with the
same precision. A rendering may show fewer columns (the terminal's width), never other words."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MISSING = "-"


@dataclass(frozen=True)
class Cell:
    text: str
    numeric: bool = False  # right-aligned on a page
    optimizer: bool = False  # drawn with the optimizer's colour on a page
    code: bool = False  # a configuration: set as code in Markdown and on a page


def value(x: float | None, spec: str = ".4f") -> Cell:
    """A measured number (a metric, a probability, a window) in the precision every table shows."""
    return Cell(MISSING if x is None else f"{x:{spec}}", numeric=True)


def signed(x: float | None) -> Cell:
    return value(x, "+.4f")


def span(bounds: tuple[float, float] | None) -> Cell:
    """An interval, low .. high."""
    return Cell(MISSING if bounds is None else f"{bounds[0]:.4f} .. {bounds[1]:.4f}")


def count(n: int) -> Cell:
    return Cell(str(n), numeric=True)


def time_to(x: float | None, reached: bool | None, spec: str) -> Cell:
    """Time to a target: never where it was not reached at all, marked beyond 4x the fastest."""
    if x is None:
        return Cell(MISSING, numeric=True)
    if math.isinf(x):
        return Cell("never", numeric=True)
    return Cell(f"{x:{spec}}" + ("" if reached else " (beyond 4x)"), numeric=True)


def text(words: str) -> Cell:
    return Cell(words)


def optimizer(name: str) -> Cell:
    return Cell(name, optimizer=True)


def code(source: str) -> Cell:
    return Cell(source, code=True)


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]

    def only(self, columns: Sequence[str]) -> Table:
        """The same rows with fewer columns (a terminal's width)."""
        keep = [self.columns.index(name) for name in columns]
        return Table(tuple(columns), tuple(tuple(row[i] for i in keep) for row in self.rows))

    def text(self) -> str:
        """Plain text, every column as wide as its widest cell, numbers right-aligned."""
        widths = [max(len(name), *(len(row[i].text) for row in self.rows))
                  for i, name in enumerate(self.columns)]
        lines = ["  ".join(name.ljust(w) for name, w in zip(self.columns, widths, strict=True))]
        lines += ["  ".join(c.text.rjust(w) if c.numeric else c.text.ljust(w)
                            for c, w in zip(row, widths, strict=True)) for row in self.rows]
        return "\n".join(line.rstrip() for line in lines)

    def markdown(self) -> list[str]:
        return ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns),
                *("| " + " | ".join(markdown_cell(c) for c in row) + " |" for row in self.rows)]

    def html(self, palette: Mapping[str, str]) -> str:
        """A page's table; every cell escaped, an optimizer's with its colour swatch."""
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.columns)
        body = "".join("<tr>" + "".join(html_cell(c, palette) for c in row) + "</tr>"
                       for row in self.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def markdown_text(words: str) -> str:
    return words.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def markdown_cell(cell: Cell) -> str:
    if cell.code:  # inside backticks Markdown takes the text as it is, but for the table's bar
        escaped = cell.text.replace("|", "\\|")
        return f"`{escaped}`" if cell.text else ""
    return markdown_text(cell.text)


def html_cell(cell: Cell, palette: Mapping[str, str]) -> str:
    shown = html.escape(cell.text)
    if cell.code:
        shown = f"<code>{shown}</code>"
    if cell.optimizer:
        colour = html.escape(palette.get(cell.text, "#999"))
        shown = f'<span class="swatch" style="background:{colour}"></span>{shown}'
    return f'<td class="num">{shown}</td>' if cell.numeric else f"<td>{shown}</td>"
