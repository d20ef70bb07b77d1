"""The user's data files, checked before they are read: a regular file that this process can open.
A device, a FIFO or a socket would be read forever, block, or fail far from the flag that named it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hpsearch.errors import ConfigError

KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
         (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def regular_file(path: str | Path, what: str = "data file") -> Path:
    """`path` as a Path, if it names a regular file (or a link to one) that can be opened for
    reading; else a one-line ConfigError that says what it is, as `{what} '{path}' ...`."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ConfigError(f"{what} '{path}' does not exist") from None
    except OSError as error:  # a part of the path is a file, unsearchable, a link loop, ...
        raise ConfigError(f"{what} '{path}' cannot be reached: {error.strerror}") from None
    if stat.S_ISDIR(mode):
        raise ConfigError(f"{what} '{path}' is a directory, not a file")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in KINDS if test(mode)), "a special file")
        raise ConfigError(f"{what} '{path}' is {kind}, not a regular file")
    try:
        path.open("rb").close()
    except OSError as error:
        raise ConfigError(f"{what} '{path}' cannot be read: {error.strerror}") from None
    return path
