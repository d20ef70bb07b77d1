"""The command line: `main` parses, calls a protocol or a reader, and prints; `hpsearch.cli:main`
is the console script. Each command's options and output live beside it (`options`, `output`,
`listings`, `compare`, `scale`, `lr_find`)."""

from hpsearch.cli.main import cli, main

__all__ = ["cli", "main"]
