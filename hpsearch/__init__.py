"""hpsearch: which optimizer, with which hyperparameters, should this model train with?

The public API. Importing it does not import torch: builders import it when called. From a
notebook: `hpsearch.tune(...)`, `hpsearch.compare(...)`, `hpsearch.scale(...)` and
`hpsearch.load(...)` (see `api`). hpsearch logs to the `hpsearch` logger, silent until the program
configures logging.
"""

import logging

from hpsearch.api import Result, compare, load, scale, tune
from hpsearch.errors import ConfigError, HpsearchError, StudyMismatchError
from hpsearch.optimizers import OPTIMIZERS, build_optimizer
from hpsearch.schedules import build_scheduler
from hpsearch.space import SearchSpace, TrialConfig, suggest, suggest_optimizer
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
