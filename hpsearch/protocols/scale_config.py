"""What a scale sweep is: its axes (optimizers, parametrisations, widths, lengths, depths), its seeds
and budget, the study definition its runs share, and the model at a width and depth."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from hpsearch import record
from hpsearch.definition.config import StudyConfig, check_positive, check_seed, load_config
from hpsearch.definition.study_file import BatchTrials, check_batch_trials
from hpsearch.errors import ConfigError
from hpsearch.protocols.scale_plan import ScalePlan
from hpsearch.tasks.completep import DepthBuilder
from hpsearch.tasks.gpt import check_width
from hpsearch.tasks.mup import DEFAULT_PARAMETRIZATIONS, MUP_RULES, check_parametrization
from hpsearch.training.user.definition import UserTraining

DEFAULT_STUDY = "scale-lm"
EVALUATIONS = 5  # per base length: a run's curve, read by the report (nothing is pruned)
# What must match for a stored sweep to be continued; the plan's axes may grow.
FIXED = ("base_width", "depth", "base_depth", "seeds", "seed", "steps")


@dataclass(frozen=True)
class ScaleConfig:
    optimizers: tuple[str, ...] = ("adamw", "muon", "lion")
    parametrizations: tuple[str, ...] = DEFAULT_PARAMETRIZATIONS
    widths: tuple[int, ...] = (16, 32, 64, 128)
    lengths: tuple[int, ...] = (1,)
    seeds: int = 2
    steps: int = 250
    base_width: int | None = None  # µP's base: the smallest width unless given
    depth: int = 2
    depths: tuple[int, ...] = ()  # swept depths (the built-in GPT's blocks); none: `depth` alone
    base_depth: int | None = None  # CompleteP's base: the smallest depth unless given
    target_depth: int | None = None
    context: int = 64
    batch_size: int = 32
    target_width: int | None = None
    target_steps: int | None = None
    data: str | None = None
    model: str | None = None  # FILE.py:FUNCTION called as FUNCTION(vocab_size, context, width)
    study: str = "scale-lm"  # DEFAULT_STUDY; scale-command or scale-function for the user's
    storage: str | None = None
    device: str = "auto"
    seed: int = 0
    precision: str = "auto"
    batch_trials: BatchTrials = 1  # runs taken together; those of one cell train as one
    user: UserTraining | None = None  # the user's own command or function trains each run
    study_config: StudyConfig = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("seeds", "steps", "depth", "context", "batch_size"):
            check_positive(name, getattr(self, name))
        for name in ("widths", "lengths", "depths"):
            values = getattr(self, name)
            if not values and name != "depths":
                raise ConfigError(f"no {name} given")
            for value in values:
                check_positive(name, value)
            if len(set(values)) != len(values):
                raise ConfigError(f"{name} holds a value twice: {', '.join(map(str, values))}")
        for name in ("target_width", "target_steps", "base_width", "base_depth", "target_depth"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name))
        if self.target_depth is not None and not self.depths:
            raise ConfigError(f"--target-depth {self.target_depth} needs --depths: the prediction "
                              "across depth is fitted over the depths swept")
        if self.target_steps is not None and self.target_width is None:
            raise ConfigError(f"--target-steps {self.target_steps} needs --target-width: the "
                              "prediction is for a run of that width; give both, or neither")
        if self.user is not None and (self.data or self.model):
            raise ConfigError(f"--{'data' if self.data else 'model'} applies to hpsearch's own "
                              f"model, not to --{'command' if self.user.command else 'train'}")
        if self.model is None and self.user is None:  # the built-in GPT at every width swept
            for width in self.widths:
                check_width(width, "--widths: width")
            if self.base_width is not None:
                check_width(self.base_width, "--base-width")
        for name in self.parametrizations:
            check_parametrization(name)
        check_seed("seed", self.seed)
        check_batch_trials(self.batch_trials)
        if self.steps % EVALUATIONS:
            raise ConfigError(f"steps ({self.steps}) must be a multiple of {EVALUATIONS}: each run "
                              f"evaluates {EVALUATIONS} times per base length")
        self.plan()  # refuses an optimizer without a recipe, or too few seeds
        if self.user is not None:
            if self.study == DEFAULT_STUDY:  # not the built-in language model's sweep
                object.__setattr__(self, "study", f"scale-{self.user.kind}")
            object.__setattr__(self, "study_config", self.user_study())
            return
        study = load_config("lm", None, {
            "study": self.study, "optimizers": self.optimizers, "schedules": ("cosine",),
            "sampler": "random", "pruner": "none", "steps": self.steps,
            "eval_every": self.steps // EVALUATIONS, "batch_size": self.batch_size,
            "context": self.context, "depth": self.first_depth, "width": self.first_width,
            "data": self.data, "model": self.model, "storage": self.storage,
            "device": self.device, "seed": self.seed, "precision": self.precision,
            "n_trials": 1, "clip": True})
        object.__setattr__(self, "study_config", study)

    def user_study(self) -> StudyConfig:
        """The study of a sweep of the user's training: the runs' cosine schedule where the
        command hands its values over (else the program's own), clipping where it takes it."""
        from hpsearch.training.user.placeholders import expresses

        user = self.user
        assert user is not None
        cosine = user.function is not None or user.reads_config or expresses(user.command, "cosine")
        return load_config(None, None, {
            "user": replace(user, sweeps_width=True), "study": self.study, "optimizers": self.optimizers,
            "schedules": ("cosine",) if cosine else ("none",), "sampler": "random",
            "pruner": "none", "steps": self.steps, "eval_every": self.steps // EVALUATIONS,
            "storage": self.storage, "device": self.device, "seed": self.seed, "n_trials": 1,
            "clip": True})

    @property
    def first_width(self) -> int:
        return self.base_width or min(self.widths)

    @property
    def first_depth(self) -> int:
        """CompleteP's base depth: given, or the smallest swept, or the one depth."""
        return self.base_depth or min(self.depths or (self.depth,))

    def plan(self) -> ScalePlan:
        return ScalePlan(tuple(self.optimizers), tuple(self.parametrizations),
                         tuple(sorted(self.widths)), tuple(sorted(self.lengths)), self.seeds,
                         self.seed, tuple(sorted(self.depths)))

    def protocol(self, stored: dict[str, Any] | None = None) -> dict[str, Any]:
        """Stored with the study: what the report needs to read it as a scale sweep; the axes
        are the union of every run's."""
        stored = stored or {}

        def union(name: str, values: tuple[Any, ...]) -> list[Any]:
            return sorted(set(stored.get(name, [])) | set(values))

        return {"kind": record.SCALE, "base_width": self.first_width, "depth": self.depth,
                "seeds": self.seeds, "seed": self.seed, "steps": self.steps,
                "optimizers": union("optimizers", self.optimizers),
                "parametrizations": union("parametrizations", self.parametrizations),
                "widths": union("widths", self.widths), "lengths": union("lengths", self.lengths),
                "mup_rules": MUP_RULES, "depths": union("depths", self.depths),
                "base_depth": self.first_depth if self.depths else None,
                "target_depth": self.target_depth,
                "target_width": self.target_width, "target_steps": self.target_steps}


def model_builder(config: ScaleConfig) -> DepthBuilder:
    """The model at a width and depth, `build(vocab_size, context, width, depth)`: the built-in GPT
    (one model under sp and µP: its head dimension stays fixed, so µP's attention scale is the
    standard one), or the user's `build(vocab_size, context, width)`, given the depth as a fourth
    argument where depths are swept."""
    from hpsearch.tasks.gpt import gpt
    from hpsearch.tasks.models import load_model_builder

    if not config.model:
        return gpt
    loaded: Any = load_model_builder(config.model)
    if config.depths:
        return loaded  # type: ignore[no-any-return]
    return lambda vocab_size, context, width, depth: loaded(vocab_size, context, width)


def model_at(config: ScaleConfig, parametrization: str, vocab_size: int, width: int,
             depth: int | None = None) -> Any:
    """The sweep's model at `width` (and `depth`, else the sweep's one depth) in `parametrization`."""
    from hpsearch.tasks.completep import build_at

    return build_at(model_builder(config), vocab_size, config.context, width, parametrization,
                    config.first_width, config.depth if depth is None else depth, config.first_depth)
