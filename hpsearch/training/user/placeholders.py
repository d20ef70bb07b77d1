"""A command's placeholders: `{name}` or `{name:default}` in its arguments, filled with a trial's
configuration. They also decide what a command's study searches: what no placeholder expresses is
never drawn, so that the sampler never learns from values the program did not see.

Names: `{optimizer}`; each hyperparameter by its torch name (`{lr}`, `{weight_decay}`,
`{momentum}`, `{eps}`, `{betas}`, and Adam's `{beta1}`, `{beta2}`); `{clip_grad_norm}` (0.0 when
off); the schedule (`{schedule}` and the names of `SCHEDULE_NAMES`, each shape's own); the run's
`{steps}`, `{eval_every}`, `{epochs}`, `{seed}`, `{trial_dir}`, `{device}`, `{gpus}`, and a scale
sweep's `{width}`, `{base_width}`, `{parametrization}`, `{depth}` (its depth where `--depths` are
swept, else `--depth`) and `{base_depth}`. `{{` and `}}` are literal braces."""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hpsearch.errors import ConfigError, choices
from hpsearch.space.conditional import SearchSpace, TrialConfig
from hpsearch.space.optimizers import OPTIMIZERS, get_spec
from hpsearch.space.schedules import SCHEDULES

RUN_NAMES = ("steps", "eval_every", "epochs", "seed", "trial_dir", "device", "gpus")
SCALE_NAMES = ("width", "base_width", "parametrization", "depth", "base_depth")
STEP_NAMES = ("warmup_steps", "step_every_steps", "decay_steps", "decay_start_step")
# Each shape's names: the step counts a script takes (shaped on `{steps}`), the rates derived
# from lr, and the stored fractions themselves.
SCHEDULE_NAMES: Mapping[str, tuple[str, ...]] = {
    "none": (),
    "constant": ("warmup_steps", "warmup_fraction"),
    "step": ("warmup_steps", "warmup_fraction", "step_every_steps", "every_fraction",
             "step_gamma", "gamma"),
    "exponential": ("warmup_steps", "warmup_fraction", "final_lr", "final_fraction"),
    "cosine": ("warmup_steps", "warmup_fraction", "min_lr", "floor", "decay_steps"),
    "linear": ("warmup_steps", "warmup_fraction", "min_lr", "floor", "decay_steps"),
    "wsd": ("warmup_steps", "warmup_fraction", "min_lr", "floor", "decay_start_step",
            "decay_fraction", "decay_shape", "shape"),
}
# A drawn value of a schedule, and the names that hand it to a program: a shape is searched only
# where each of its drawn values reaches the program.
EXPRESSED_BY = {"warmup_fraction": ("warmup_steps", "warmup_fraction"),
                "floor": ("min_lr", "floor"),
                "every_fraction": ("step_every_steps", "every_fraction"),
                "gamma": ("step_gamma", "gamma"),
                "final_fraction": ("final_lr", "final_fraction"),
                "decay_fraction": ("decay_start_step", "decay_fraction"),
                "shape": ("decay_shape", "shape")}
DRAWN = {"constant": ("warmup_fraction",),
         "step": ("warmup_fraction", "every_fraction", "gamma"),
         "exponential": ("warmup_fraction", "final_fraction"),
         "cosine": ("warmup_fraction", "floor"), "linear": ("warmup_fraction", "floor"),
         "wsd": ("warmup_fraction", "decay_fraction", "shape", "floor")}
# A sampled hyperparameter and the torch names that carry it (others carry their own name).
CARRIED_BY = {"one_minus_beta1": ("beta1", "betas"), "beta2": ("beta2", "betas"),
              "one_minus_momentum": ("momentum",)}


@dataclass(frozen=True)
class Placeholder:
    name: str
    default: str | None  # `{name:default}`: the text for a trial without a value of that name


def parsed(argv: Sequence[str]) -> list[list[tuple[str, Placeholder | None]]]:
    """Each argument as (literal text, placeholder or None) pieces."""
    pieces = []
    for argument in argv:
        try:
            parts = list(string.Formatter().parse(argument))
        except ValueError as error:
            raise ConfigError(f"argument {argument!r} of --command: {error} (write a literal "
                              "brace as {{ or }})") from None
        pieces.append([(text, None if name is None else Placeholder(name, spec or None))
                       for text, name, spec, _ in parts])
    return pieces


def placeholders(argv: Sequence[str]) -> list[Placeholder]:
    return [p for argument in parsed(argv) for _, p in argument if p is not None]


def written(value: Any) -> str:
    """A value as Python writes its type: a float zero is `0.0`, an integer never `10.0`; text as
    it is."""
    return value if isinstance(value, str) else repr(value)


def fill(argv: Sequence[str], values: Mapping[str, Any]) -> list[str]:
    """The arguments with every placeholder filled (its default where `values` has none)."""
    filled = []
    for argument in parsed(argv):
        text = ""
        for literal, placeholder in argument:
            text += literal
            if placeholder is not None:
                value = values.get(placeholder.name)
                if value is None and placeholder.default is None:
                    raise ConfigError(f"placeholder {{{placeholder.name}}} has no value for this "
                                      "trial and no default")
                text += written(value) if value is not None else str(placeholder.default)
        filled.append(text)
    return filled


def optimizer_names(key: str) -> set[str]:
    """The torch names a trial of optimizer `key` fills."""
    spec = get_spec(key)
    sampled = {hp.name: (hp.low if not hp.choices else hp.choices[0]) for hp in spec.hyperparameters}
    names = {"optimizer", *spec.to_torch(sampled), *spec.fixed}
    return names | ({"beta1", "beta2"} if "betas" in names else set())


def trial_values(config: TrialConfig, steps: int | None) -> dict[str, Any]:
    """The names a trial's configuration fills: the optimizer, its torch arguments, the schedule
    (its step counts on `steps`) and clipping."""
    values: dict[str, Any] = {"optimizer": config.optimizer, **config.hyperparameters,
                              "clip_grad_norm": float(config.clip_grad_norm or 0.0)}
    if "betas" in values:
        values["beta1"], values["beta2"] = values["betas"]
    schedule = dict(config.schedule)
    values["schedule"] = schedule["name"]
    for key, value in schedule.items():
        if key != "name":
            values.setdefault(key, value)
    lr = values.get("lr")
    if "floor" in schedule and lr is not None:
        values["min_lr"] = schedule["floor"] * lr
    if "final_fraction" in schedule and lr is not None:
        values["final_lr"] = schedule["final_fraction"] * lr
    if "gamma" in schedule:
        values["step_gamma"] = schedule["gamma"]
    if "shape" in schedule:
        values["decay_shape"] = schedule["shape"]
    if steps is not None and schedule["name"] != "none":
        warmup = schedule["warmup_fraction"]
        values.setdefault("warmup_steps", round(warmup * steps))
        if "every_fraction" in schedule:
            values["step_every_steps"] = max(1, round(schedule["every_fraction"] * (1 - warmup) * steps))
        if schedule["name"] in ("cosine", "linear"):
            values["decay_steps"] = steps
        if "decay_fraction" in schedule:
            values["decay_start_step"] = round((1 - schedule["decay_fraction"]) * steps)
    return values


def searched_space(space: SearchSpace, used: Iterable[str], schedules_given: bool,
                   reads_config: bool) -> SearchSpace:
    """The part of `space` a command can receive: an optimizer, hyperparameter or schedule shape
    that no placeholder expresses is not drawn (a hyperparameter stays at its optimizer's
    default, recorded as fixed). `schedules_given`: the user listed the shapes."""
    if reads_config:
        return space
    used = set(used)
    if "optimizer" not in used and len(space.optimizers) > 1:
        raise ConfigError(f"the command has no {{optimizer}} placeholder, so it trains with one "
                          f"optimizer: name it with --optimizers (one of: "
                          f"{choices(space.optimizers)}), or pass {{optimizer}}, or --reads-config")
    fixed = tuple(spec.param_name(hp) for spec in space.specs() for hp in spec.hyperparameters
                  if not used & set(CARRIED_BY.get(hp.name, (hp.name,))))
    return replace(space, fixed=fixed, schedules=expressed_schedules(space, used, schedules_given),
                   clip=space.clip and "clip_grad_norm" in used)


def expresses(argv: Sequence[str], shape: str) -> bool:
    """Whether a command hands its program every value that `shape` draws."""
    used = {p.name for p in placeholders(argv)}
    return all(used & set(EXPRESSED_BY[drawn]) for drawn in DRAWN.get(shape, ()))


def expressed_schedules(space: SearchSpace, used: set[str], given: bool) -> tuple[str, ...]:
    def missing(shape: str) -> str | None:
        for drawn in DRAWN.get(shape, ()):
            if not used & set(EXPRESSED_BY[drawn]):
                return "{" + EXPRESSED_BY[drawn][0] + "}"
        return None

    schedule_names = {n for names in SCHEDULE_NAMES.values() for n in names} | {"schedule"}
    if not used & schedule_names:
        if given and space.schedules != ("none",):
            raise ConfigError("the command has no schedule placeholder ({schedule}, "
                              "{warmup_steps}, {min_lr}, ...): --schedules can only be none")
        return ("none",)
    if "schedule" not in used and (not given or len(space.schedules) != 1):
        raise ConfigError("the command passes a schedule's values but not {schedule}: name "
                          "the one shape it applies with --schedules (one of: "
                          f"{choices(s for s in SCHEDULES if s != 'none')})")
    if given:
        for shape in space.schedules:
            if missing(shape):
                raise ConfigError(f"--schedules lists '{shape}', but the command has no "
                                  f"{missing(shape)} to receive it; valid choices: "
                                  f"{choices(s for s in space.schedules if not missing(s))}")
        return space.schedules
    return tuple(s for s in space.schedules if not missing(s))


def check_placeholders(argv: Sequence[str], space: SearchSpace, steps: int | None,
                       scale: bool = False) -> None:
    """Refuse a placeholder that some trial of `space` cannot fill (without a default) or that
    no trial can, naming it and the names available, before anything is stored."""
    run = set(RUN_NAMES) - ({"steps"} if steps is None else set()) | (set(SCALE_NAMES) if scale
                                                                      else set())
    by_optimizer = {key: optimizer_names(key) | {"clip_grad_norm"} for key in space.optimizers}
    by_shape = {shape: {"schedule", *SCHEDULE_NAMES[shape]} - (set(STEP_NAMES) if steps is None
                                                                else set())
                for shape in space.schedules}
    available = run | set().union(*by_optimizer.values()) | set().union(*by_shape.values())
    known = available | set().union(*(optimizer_names(key) for key in OPTIMIZERS)) | {
        "schedule", *(name for names in SCHEDULE_NAMES.values() for name in names)}
    for placeholder in placeholders(argv):
        name = placeholder.name
        if name in SCALE_NAMES and not scale:
            raise ConfigError(f"placeholder {{{name}}} is filled by `hpsearch scale` only; valid "
                              f"choices: {choices(sorted(available))}")
        if name not in known:
            raise ConfigError(f"unknown placeholder {{{name}}} in --command; valid choices: "
                              f"{choices(sorted(available))}")
        if placeholder.default is not None or name in run:
            continue
        for key, names in by_optimizer.items():
            schedule_free = get_spec(key).schedule_free
            shapes = ("none",) if schedule_free else space.schedules
            for shape in shapes:
                if name not in names | by_shape.get(shape, {"schedule"}):
                    who = f"optimizer '{key}'" + (f" with schedule '{shape}'" if shape in
                                                  space.schedules and name not in names else "")
                    raise ConfigError(f"placeholder {{{name}}} has no value for {who}; give it a "
                                      f"default as {{{name}:VALUE}} or leave that out of the "
                                      "search")
