"""How many trials a batch holds, as users give it (`--batch-trials N|auto`, a study file's
`batch_trials`, the keyword) and as every protocol's definition keeps it. Imports nothing heavy:
the CLI's --help reads it."""

from __future__ import annotations

from hpsearch.errors import ConfigError

AUTO_BATCH = 0  # `--batch-trials auto`: the batch size is measured on the device


def parse_batch_trials(value: object, where: str = "") -> int:
    """`batch_trials` as a user gives it: a positive whole number, or "auto" (`AUTO_BATCH`);
    `where` names the file it came from in the error."""
    if value == "auto":
        return AUTO_BATCH
    # ASCII digits only: `str.isdigit` also takes "²", which `int` refuses.
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isascii() \
            or not str(value).isdigit() or int(value) < 1:
        raise ConfigError(f"batch_trials '{value}'{where} is neither a positive whole number nor auto")
    return int(value)


def check_batch_trials(value: object) -> None:
    """What a definition holds: a positive number, or `AUTO_BATCH` still to be measured."""
    if not isinstance(value, int) or isinstance(value, bool) or value < AUTO_BATCH:
        raise ConfigError(f"batch_trials must be a positive whole number or auto; got {value!r}")
