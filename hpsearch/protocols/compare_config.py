"""What one `hpsearch compare` is: its tasks, budgets and repeated studies, and the study
definition (name, seeds, data split) of every study it runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hpsearch import record
from hpsearch.definition.config import StudyConfig, check_positive, check_seed, load_config
from hpsearch.definition.study_file import BatchTrials, check_batch_trials
from hpsearch.errors import ConfigError, StudyMismatchError, choices
from hpsearch.space.optimizers import CLASSIC
from hpsearch.statistics.basic import derive_seed
from hpsearch.tasks import TASKS, get_task
from hpsearch.tasks.spreadsheet import READING_KEYS
from hpsearch.training.user.definition import UserTraining

DEFAULT_BUDGET = 20
DEFAULT_SEEDS = 5
DEFAULT_STUDIES = 3
STUDY_STREAM = 2  # a repeated study's seeds come from their own stream of --seed


@dataclass(frozen=True)
class CompareConfig:
    """A comparison: per task, `studies` whole repetitions of the protocol (each its own Optuna
    study with its own data split, search draws and seeds), each giving every optimizer `budget`
    search trials and `seeds` re-runs of its best."""

    tasks: tuple[str, ...]
    budget: int = DEFAULT_BUDGET
    seeds: int = DEFAULT_SEEDS
    optimizers: tuple[str, ...] = CLASSIC
    epochs: int | None = None  # None: each task's own, from studies/<task>.toml
    steps: int | None = None  # the language model's, likewise
    seed: int = 0
    storage: str | None = None
    device: str = "auto"
    prefix: str = "compare"
    studies: int = DEFAULT_STUDIES
    data: str | None = None  # the user's table (or corpus) instead of the task's data
    target: str | None = None
    model: str | None = None  # FILE.py:FUNCTION or package.module:FUNCTION
    sep: str | None = None  # how --data is read (tasks.spreadsheet): None is detected
    decimal: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    context: int | None = None  # the language model's window, instead of its study file's
    batch_trials: BatchTrials = 1  # consecutive slots of the plan taken together
    user: UserTraining | None = None  # the user's own command or function instead of a task
    # Per study, task after task within it: study 1 of every task first, so that a comparison
    # made before repeated studies existed is study 1 and keeps its names and seeds.
    study_configs: tuple[StudyConfig, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.user is not None:
            self.check_user(self.user)
        if not self.tasks:
            raise ConfigError(f"no task given; valid choices: {choices(TASKS)}")
        for name, value in (("budget", self.budget), ("seeds", self.seeds),
                            ("studies", self.studies)):
            check_positive(name, value)
        check_seed("seed", self.seed)
        check_batch_trials(self.batch_trials)
        if len(set(self.tasks)) != len(self.tasks):
            raise ConfigError(f"a task is given twice: {', '.join(self.tasks)}")
        if self.data is not None and len(self.tasks) != 1:
            raise ConfigError(f"--data is one dataset: give one --task with it, not "
                              f"{len(self.tasks)} ({', '.join(self.tasks)})")
        object.__setattr__(self, "study_configs", tuple(
            self.study_config(task, index) for index in range(1, self.studies + 1)
            for task in self.tasks))

    def check_user(self, user: UserTraining) -> None:
        """A comparison of the user's training: one "task", and a way to score the re-runs on a
        held-out split (a command whose points are matched lines needs --test-regex)."""
        if self.tasks and self.tasks != (user.kind,):
            raise ConfigError(f"--task does not apply to --{'command' if user.command else 'train'}"
                              ": your own training is the task")
        object.__setattr__(self, "tasks", (user.kind,))
        if user.reporting == "regex" and user.test_regex is None:
            raise ConfigError("compare scores each re-run on a held-out split: give --test-regex "
                              "(a line with the held-out value as (?P<value>...)), or report it "
                              "with hpsearch.client.report(step, value, test=...)")

    def study_config(self, task: str, index: int) -> StudyConfig:
        """The definition of study `index` of `task`: the task's study file, overlaid by this
        comparison's budget, then this study's own name, seeds and split."""
        config = load_config(task, None, {
            "study": self.study_name(task, index), "optimizers": self.optimizers,
            "sampler": "random", "pruner": "none", "epochs": self.epochs,
            "seed": self.study_seed(index), "steps": self.steps,
            "eval_every": about_ten_evaluations(self.steps), "storage": self.storage,
            "device": self.device, "data": self.data, "target": self.target, "model": self.model,
            "context": self.context, "user": self.user,
            "n_trials": (self.budget + 1 + self.seeds) * len(self.optimizers),
            **{key: getattr(self, key) for key in READING_KEYS}})
        return replace(config, split_seed=self.split_seed(config, index))

    def study_name(self, task: str, index: int) -> str:
        """`compare-small` for study 1 (the name comparisons always had), `compare-small-study2`..."""
        label = Path(self.data).stem if self.data else task
        return f"{self.prefix}-{label}" + (f"-study{index}" if index > 1 else "")

    def study_seed(self, index: int) -> int:
        """Study 1 draws from --seed itself; each later study from its own stream of it."""
        return self.seed if index == 1 else derive_seed(self.seed, STUDY_STREAM, index)

    def split_seed(self, study: StudyConfig, index: int) -> int:
        """Each study splits a table its own way; a corpus keeps its validation and test text (its
        studies differ in training order and seeds)."""
        if index == 1 or study.user is not None or get_task(study.task).problem.kind == "lm":
            return study.split_seed
        return derive_seed(study.split_seed, self.seed, STUDY_STREAM, index)

    def study_index(self, position: int) -> int:
        """The study (1, 2, ...) that `study_configs[position]` belongs to."""
        return 1 + position // len(self.tasks)

    def protocol(self, study: StudyConfig, index: int) -> dict[str, Any]:
        """Stored with each study: what the report needs to read it as a comparison, and which
        repeated study of which comparison it is (`group`: the name of study 1)."""
        steps = {"steps": study.steps, "eval_every": study.eval_every} if study.steps else {}
        return {"kind": record.COMPARE, "budget": self.budget, "seeds": self.seeds,
                "sampler": "random", "epochs": study.epochs, **steps,
                "optimizers": list(study.space.optimizers), "seed": study.seed,
                record.STUDY_INDEX: index, record.STUDY_GROUP: self.study_name(study.task, 1)}

    def check_stored(self, stored: Mapping[str, Any], study: StudyConfig, index: int) -> None:
        """Refuse settings that would make the protocol stored with a study lie once this run
        rewrites it: a smaller budget or fewer seeds than it holds, other optimizers, steps,
        epochs or seed. A larger budget, or more seeds, continue it. Stores nothing."""
        mine, name = self.protocol(study, index), study.study_name
        for key in ("budget", "seeds"):
            was = stored.get(key)
            if isinstance(was, int) and mine[key] < was:
                raise StudyMismatchError(f"study '{name}' was made with --{key} {was}, not --{key} "
                                         f"{mine[key]}: a comparison's --{key} can only grow; give "
                                         f"--{key} {was} or more, or another --prefix")
        for key in ("optimizers", "steps", "epochs"):  # no steps stored: a budget in epochs
            if (key in stored or key == "steps") and stored.get(key) != mine.get(key):
                raise StudyMismatchError(f"study '{name}' was made with {flagged(key, stored.get(key))}, "
                                         f"not {flagged(key, mine.get(key))}; give the original "
                                         f"--{key} or another --prefix")
        if "seed" in stored and stored["seed"] != mine["seed"]:
            was = (f"--seed {stored['seed']}" if index == 1 else  # a later study's is derived
                   f"another --seed (its study seed is {stored['seed']}, not {mine['seed']})")
            raise StudyMismatchError(f"study '{name}' was made with {was}, not --seed {self.seed}; "
                                     "give the original --seed or another --prefix")


def flagged(key: str, value: Any) -> str:
    """A stored setting as the flag that gives it: `--optimizers adam,sgd`, `no --steps`."""
    if value is None:
        return f"no --{key}"
    return f"--{key} {','.join(map(str, value)) if isinstance(value, list) else value}"


def about_ten_evaluations(steps: int | None) -> int | None:
    """An evaluation interval that divides `steps` into about ten (no pruner reads them here)."""
    if steps is None:
        return None
    steps = check_positive("steps", steps)
    return next(d for d in range(max(1, steps // 10), 0, -1) if steps % d == 0)
