"""hpsearch: which optimizer, with which hyperparameters, should this model train with?

The public API. Importing it does not import torch: builders import it when called. From a
notebook: `hpsearch.tune(...)`, `hpsearch.compare(...)`, `hpsearch.scale(...)` and
`hpsearch.load(...)` (see `api`). hpsearch logs to the `hpsearch` logger, silent until the program
configures logging.

The public names are imported on first use (PEP 562), so that `import hpsearch.client` in a
training script stays cheap: the standard library only, no numpy, Optuna or torch.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and editors see; at run time `__getattr__` imports them
    from hpsearch.api import Result, compare, load, scale, tune
    from hpsearch.errors import ConfigError, HpsearchError, StudyMismatchError
    from hpsearch.space.conditional import SearchSpace, TrialConfig, suggest, suggest_optimizer
    from hpsearch.space.optimizers import OPTIMIZERS, build_optimizer
    from hpsearch.space.schedules import build_scheduler
    from hpsearch.tasks import TASKS

logging.getLogger("hpsearch").addHandler(logging.NullHandler())  # the library convention

__version__ = "0.1.0"

__all__ = [
    "OPTIMIZERS",
    "TASKS",
    "ConfigError",
    "HpsearchError",
    "Result",
    "SearchSpace",
    "StudyMismatchError",
    "TrialConfig",
    "build_optimizer",
    "build_scheduler",
    "compare",
    "load",
    "scale",
    "suggest",
    "suggest_optimizer",
    "tune",
]

# Each public name and the module it lives in.
_HOMES = {
    "Result": "hpsearch.api", "compare": "hpsearch.api", "load": "hpsearch.api",
    "scale": "hpsearch.api", "tune": "hpsearch.api",
    "ConfigError": "hpsearch.errors", "HpsearchError": "hpsearch.errors",
    "StudyMismatchError": "hpsearch.errors",
    "OPTIMIZERS": "hpsearch.space.optimizers", "build_optimizer": "hpsearch.space.optimizers",
    "build_scheduler": "hpsearch.space.schedules",
    "SearchSpace": "hpsearch.space.conditional", "TrialConfig": "hpsearch.space.conditional",
    "suggest": "hpsearch.space.conditional", "suggest_optimizer": "hpsearch.space.conditional",
    "TASKS": "hpsearch.tasks",
}


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use and kept here after."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'hpsearch' has no attribute '{name}'")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
