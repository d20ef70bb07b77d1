"""The Python API (`hpsearch.tune`, `compare`, `scale`, `load`): the commands' work called from a
notebook or a program, returning a `Result`; `keywords` checks what it is given as the CLI does."""

from hpsearch.api.calls import Result, compare, load, scale, tune

__all__ = ["Result", "compare", "load", "scale", "tune"]
