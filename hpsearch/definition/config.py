"""A study's definition, read once at the edge: studies/<task>.toml, overlaid by flags, checked, and
frozen into a `StudyConfig` that every layer below receives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpsearch.definition.study_file import (
    BUDGET_KEYS,
    LANGUAGE_KEYS,
    USER_KEYS,
    BatchTrials,
    check_batch_trials,
    read_study_file,
)
from hpsearch.errors import ConfigError, choices
from hpsearch.space.conditional import SearchSpace
from hpsearch.tasks import get_task
from hpsearch.tasks.base import Problem
from hpsearch.tasks.gpt import check_width
from hpsearch.tasks.prepare import LanguageModel
from hpsearch.tasks.spreadsheet import TableReading
from hpsearch.training.device import PRECISIONS
from hpsearch.training.user.definition import UserTraining, split_command

SAMPLERS = ("tpe", "optuna-tpe", "random", "qmc")  # tpe: conditional_tpe; optuna-tpe: Optuna's
MAX_SEED = 2**32 - 1  # what every generator seeded from it accepts
PRUNERS = ("median", "hyperband", "sha", "none")
STUDIES_DIR = Path("studies")


@dataclass(frozen=True)
class StudyConfig:
    task: str
    study_name: str
    space: SearchSpace = field(default_factory=SearchSpace)
    n_trials: int = 100
    epochs: int = 20
    batch_size: int = 64
    timeout: float | None = None
    trial_timeout: float | None = None  # one trial's limit, checked at each epoch's end
    sampler: str = "tpe"
    pruner: str = "median"
    seed: int | None = 0
    device: str = "auto"
    storage: str | None = None
    split_seed: int = 0
    val_fraction: float = 0.2
    data: str | None = None  # the user's table replaces the task's data
    target: str | None = None
    model: str | None = None  # FILE.py:FUNCTION or package.module:FUNCTION
    sep: str | None = None  # how --data is read (tasks.spreadsheet): None is detected
    decimal: str | None = None
    encoding: str | None = None
    sheet: str | None = None  # a workbook's sheet, by name or position [default: its first]
    warm_start: tuple[str, ...] = ()  # studies whose best configurations run first
    lr_from_range_test: bool = False  # narrow each optimizer's lr range by a range test first
    # The language model's budget in optimizer steps, evaluated every `eval_every` steps (each
    # evaluation is what `epochs` counts for it), and its size.
    steps: int | None = None
    eval_every: int | None = None
    width: int | None = None
    depth: int | None = None
    context: int | None = None
    vocab_size: int | None = None
    tokens: int | None = None  # a budget in tokens instead of steps: steps = tokens / (batch x context)
    precision: str = "auto"  # the forward passes' autocast: bf16 on a GPU that has it, else fp32
    compile: bool = False  # the language model's training steps through torch.compile
    batch_trials: BatchTrials = 1  # trials taken together, one stacked model where they can
    user: UserTraining | None = None  # the user's own command or function trains each trial
    source: str = "built-in defaults"

    def __post_init__(self) -> None:
        if self.user is None:
            get_task(self.task)
        else:
            self.check_user(self.user)
        for name in ("n_trials", "epochs", "batch_size"):
            check_positive(name, getattr(self, name))
        for name in ("timeout", "trial_timeout"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and value > 0):
                raise ConfigError(f"{name} must be a positive number of seconds; got {value!r}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"unknown sampler '{self.sampler}'; valid choices: {choices(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            raise ConfigError(f"unknown pruner '{self.pruner}'; valid choices: {choices(PRUNERS)}")
        if not isinstance(self.study_name, str) or not self.study_name:
            raise ConfigError(f"the study name must be a non-empty string; got {self.study_name!r}")
        check_batch_trials(self.batch_trials)
        if self.seed is not None:
            check_seed("seed", self.seed)
        check_seed("split_seed", self.split_seed)
        if not 0 < self.val_fraction <= 0.5:
            raise ConfigError(f"val_fraction must be in (0, 0.5]; got {self.val_fraction!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision '{self.precision}'; valid choices: "
                              f"{choices(PRECISIONS)}")
        if self.user is not None:
            return
        self.check_language()
        if self.data is not None and self.task not in ("classification", "regression", "lm"):
            raise ConfigError(f"task '{self.task}' has built-in data; --data applies to "
                              "--task classification or regression only")
        self.reading().check(self.data, get_task(self.task).problem.kind != "lm")

    def check_language(self) -> None:
        from hpsearch.space.optimizers import get_spec

        for name in (*BUDGET_KEYS, *LANGUAGE_KEYS):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name))
        if self.steps is not None and (self.eval_every is None or self.steps % self.eval_every):
            raise ConfigError(f"steps ({self.steps}) must be a multiple of eval_every "
                              f"({self.eval_every})")
        if self.eval_every is not None and self.steps is None:
            raise ConfigError("--eval-every applies to a budget in steps: give --steps or --tokens")
        given = [name for name in LANGUAGE_KEYS if getattr(self, name) is not None]
        given += ["precision"] if self.precision != "auto" else []
        given += ["compile"] if self.compile else []
        if get_task(self.task).problem.kind != "lm":
            if given:
                raise ConfigError(f"--{given[0].replace('_', '-')} applies to --task lm")
            return
        if self.steps is None:
            raise ConfigError("--task lm counts its budget in steps: use --steps (and --eval-every)")
        if self.width is not None and self.model is None:  # a user's model is built its own way
            check_width(self.width)
        closure = [k for k in self.space.optimizers if get_spec(k).needs_closure]
        if closure:
            raise ConfigError(f"--task lm refuses '{closure[0]}': it needs full-batch steps, and "
                              "a language model trains on random windows; valid choices: "
                              + choices(k for k in self.space.optimizers if k not in closure))
        if self.lr_from_range_test:
            raise ConfigError("--lr-from-range-test applies to the table tasks")

    def check_user(self, user: UserTraining) -> None:
        """What a study of the user's training cannot have: hpsearch's data, model or sizes."""
        from hpsearch.training.user.placeholders import check_placeholders

        if self.task != user.kind:
            raise ConfigError(f"a study of a {user.kind} is stored as task '{user.kind}', not "
                              f"'{self.task}'")
        given = [name for name in ("data", "target", "model", *LANGUAGE_KEYS, "tokens")
                 if getattr(self, name) is not None]
        given += ["warm_start"] if self.warm_start else []
        given += ["lr_from_range_test"] if self.lr_from_range_test else []
        given += ["precision"] if self.precision != "auto" else []
        given += ["compile"] if self.compile else []
        given += ["batch_trials"] if self.batch_trials != 1 else []
        if given:
            raise ConfigError(f"--{given[0].replace('_', '-')} applies to hpsearch's own "
                              f"training, not to --{'command' if user.command else 'train'}")
        if user.command:
            check_placeholders(user.command, self.space, self.steps, user.sweeps_width)

    def problem(self) -> Problem:
        """The metric, its direction and the kind of problem the study's trials report."""
        if self.user is not None:
            return self.user.problem()
        return get_task(self.task).problem

    def reading(self) -> TableReading:
        return TableReading(self.sep, self.decimal, self.encoding, self.sheet)

    def language(self) -> LanguageModel:
        defaults = LanguageModel()
        return LanguageModel(self.width or defaults.width, self.depth or defaults.depth,
                             self.context or defaults.context, self.vocab_size)


STEP_BUDGET = {"steps": 500, "eval_every": 50}  # the language model's, without a study file


def budget_in_steps(values: dict[str, Any], flags: set[str], language: bool) -> None:
    """Turn a budget in steps or tokens into `steps`, `eval_every` and `epochs` (the evaluation
    points), in place. A flag wins over the study file's other kind of budget."""
    if {"steps", "tokens"} <= flags:
        raise ConfigError("give --steps or --tokens, not both")
    if "epochs" in flags and flags & {"steps", "tokens"}:
        raise ConfigError("give --epochs or a budget in --steps or --tokens, not both")
    if "steps" in flags:
        values.pop("tokens", None)
    if flags & {"steps", "tokens"}:
        values.pop("epochs", None)
    if "epochs" in flags:
        values.pop("steps", None)
        values.pop("tokens", None)
    if values.get("tokens") is not None:
        values["steps"] = steps_for_tokens(values, language)
    if language:
        if "epochs" in values:
            raise ConfigError("--task lm counts its budget in steps: use --steps (and --eval-every)")
        values.setdefault("steps", STEP_BUDGET["steps"])
    if values.get("steps") is None:
        return
    if "epochs" in values:
        raise ConfigError("give epochs or a budget in steps or tokens, not both")
    values.setdefault("eval_every", min(STEP_BUDGET["eval_every"], values["steps"]))
    steps, every = values["steps"], values["eval_every"]
    if flags & {"steps", "tokens"} and "eval_every" not in flags and isinstance(steps, int) and (
            isinstance(every, int) and every > 0 and steps > 0):
        # A flag's budget with a study file's interval that does not divide it: the largest that
        # does, no longer than the file's (a given --eval-every is taken as given).
        values["eval_every"] = next(d for d in range(min(every, steps), 0, -1) if steps % d == 0)
    values["epochs"] = max(1, values["steps"] // values["eval_every"])  # evaluation points


def steps_for_tokens(values: Mapping[str, Any], language: bool) -> int:
    """The steps a token budget buys: whole evaluation intervals of batch x context tokens (a
    table's token is a row: batch rows a step)."""
    tokens = check_positive("tokens", values["tokens"])
    context = (values.get("context") or LanguageModel().context) if language else 1
    per_step = values["batch_size"] * context
    every = values.get("eval_every") or STEP_BUDGET["eval_every"]
    steps = tokens // per_step // every * every
    if steps < every:
        raise ConfigError(f"tokens {tokens:,} buy fewer than one evaluation interval ({every} "
                          f"steps of {per_step:,} {'tokens' if language else 'rows'})")
    return steps


def check_positive(name: str, value: Any) -> int:
    """A count: a positive integer (a bool is not one), or a one-line error naming it."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer; got {value!r}")
    return value


def check_seed(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{name} must be an integer from 0 to {MAX_SEED}; got {value!r}")


def load_config(task: str | None, config_file: Path | None = None,
                overrides: Mapping[str, Any] | None = None) -> StudyConfig:
    """The study definition: `--config FILE`, else `studies/<task>.toml` if present, else the
    task's defaults; flags (`overrides`, None meaning "not given") win over the file."""
    if config_file is None and task and (STUDIES_DIR / f"{task}.toml").is_file():
        config_file = STUDIES_DIR / f"{task}.toml"
    values = read_study_file(config_file) if config_file else {}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    flags = {key for key, value in (overrides or {}).items() if value is not None}
    user = user_training(values)
    if user is not None:
        if (task or values.get("task", user.kind)) != user.kind:
            raise ConfigError(f"--task does not apply to --{'command' if user.command else 'train'}"
                              ": your own training is the task")
        task = user.kind
    task = task or values.pop("task", None)  # the --task flag wins over the file's
    values.pop("task", None)
    if not task:
        raise ConfigError("no task given; use --task (or --command, --train) or set `task` in the "
                          "config file")
    language = user is None and get_task(task).problem.kind == "lm"
    ranges = values.pop("ranges", {})
    space_args: dict[str, Any] = {"ranges": {k: tuple(v) for k, v in ranges.items()}}
    for key in ("optimizers", "schedules"):
        if key in values:
            space_args[key] = tuple(values.pop(key))
    for key in ("clip", "weight_decay_on"):
        if key in values:
            space_args[key] = values.pop(key)
    if user is None:
        values.setdefault("batch_size", get_task(task).batch_size)
    if language:
        space_args.setdefault("weight_decay_on", "matrices")  # as pre-training does
    budget_in_steps(values, flags, language)
    space = SearchSpace(**space_args)
    if user is not None and user.command:
        from hpsearch.training.user.placeholders import placeholders, searched_space

        space = searched_space(space, {p.name for p in placeholders(user.command)},
                               "schedules" in space_args, user.reads_config)
    default_name = Path(values["data"]).stem if values.get("data") else task
    return StudyConfig(
        task=task,
        study_name=values.pop("study", None) or default_name,
        space=space,
        source=str(config_file) if config_file else "built-in defaults",
        user=user,
        **values,
    )


def user_training(values: dict[str, Any]) -> UserTraining | None:
    """The user's command or function, taken out of `values`; None where neither is given (and
    then none of their options may be)."""
    defined = values.pop("user", None)  # a protocol's, defined once for all its studies
    if defined is not None:
        return defined  # type: ignore[no-any-return]
    given = {USER_KEYS[key]: values.pop(key) for key in list(values) if key in USER_KEYS}
    if "command" not in given and "function" not in given:
        if given:
            option = next(k for k, v in USER_KEYS.items() if v == next(iter(given)))
            raise ConfigError(f"--{option.replace('_', '-')} applies to --command or --train")
        return None
    if isinstance(given.get("command"), str):
        given["command"] = split_command(given["command"])
    if "command" in given:
        given["command"] = tuple(given["command"])
    return UserTraining(**given)
