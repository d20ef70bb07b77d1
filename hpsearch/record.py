"""The record of what hpsearch stores: every attribute name it writes to a study or a trial, and
how a stored trial reads back (its outcome, its attributes, the best of each optimizer).

Optuna's storages hold the data; this module holds the schema, so that no other module agrees on a
key by convention. A trial's measurements are written at its end as one attribute (`record`), one
storage transaction; studies written before that kept each measurement as its own attribute, and
`trial_attrs` reads both layouts alike. Nothing here imports torch, and optuna only for typing.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hpsearch.errors import ConfigError

if TYPE_CHECKING:
    import optuna

# Study attributes: what the study is (its identity is compared on every resume) and its runs.
TASK = "task"
METRIC = "metric"
DIRECTION = "direction"
SPACE = "space"
SPACE_FINGERPRINT = "space_fingerprint"
EPOCHS = "epochs"
BATCH_SIZE = "batch_size"
SPLIT_SEED = "split_seed"
CLASSES = "classes"
DATA_SOURCE = "data_source"
UNIGRAM_ENTROPY = "unigram_entropy"  # a corpus's validation split: the floor a context-free model meets
STEPS = "steps"  # a step-budgeted study's steps per trial and its evaluation interval
EVAL_EVERY = "eval_every"
PROTOCOL = "protocol"  # {"kind": "compare", ...}: a comparison; absent for `tune`
COMPARE = "compare"  # the kind of protocol `hpsearch compare` stores
SCALE = "scale"  # the kind `hpsearch scale` stores
# A comparison's protocol also says which of its repeated studies a study is (`study`, from 1) and
# of which comparison (`group`: the name of its study 1), and the steps between evaluations.
STUDY_INDEX, STUDY_GROUP, STEPS_PER_POINT = "study", "group", "steps_per_point"
TEST_ROWS = "test_rows"  # a comparison's test split, in rows: one row's worth of accuracy
RANGE_TEST = "range_test"  # the lr ranges a range test narrowed, kept for resumed sweeps
RUN_PREFIX = "run:"  # one attribute per run: `run:<moment>:<host>:<pid>:<random>`

VAL_LOSS = "loss"  # a classification trial's validation loss, beside its accuracy
# Trial attributes set when a trial is enqueued: its role in a protocol. A retry carries them.
PHASE = "phase"  # a comparison's trials: default, search or rerun
OPTIMIZER = "optimizer"  # also the name of the first parameter every trial draws
SEED = "seed"  # the seed a trial trains with: set when enqueued (re-runs) or in its record
SEED_INDEX = "seed_index"
RERUN_OF = "rerun_of"
WARM_START = "warm_start"  # {"study": name, "trial": number} it was enqueued from
RETRY_OF = "retry_of"
RECOVERED_FROM = "recovered_from"  # a trial failed under its running owner, stored again by it
# A scale sweep's trial: the model's width and parametrisation, the run's length (a multiple of
# the base steps) and the learning rate, as enqueued; its depth where depths are swept.
WIDTH, PARAMETRIZATION, LENGTH, LR, DEPTH = "width", "parametrization", "length", "lr", "depth"
CARRIED = (PHASE, OPTIMIZER, SEED_INDEX, RERUN_OF, SEED, WARM_START, WIDTH, PARAMETRIZATION, LENGTH,
           LR, DEPTH)

# Trial attributes written while it runs.
WORKER = "worker"  # {"host", "pid", "started", "machine", "pid_namespace"}: written first, so
# that a killed run is found by it
CONFIG = "config"  # the exported configuration (`hpsearch.suggest_optimizer` writes it alone)
REASON = "reason"  # why it was pruned, diverged or failed
RECLAIMED = "reclaimed"  # why another process failed it: its reason only if it did end FAIL
RECORD = "record"  # everything measured, written once at the end: the keys below
DIVERGED = "diverged"
# Evaluation points (1-based) are stored under the keys they had when every point was an epoch:
# programs and exported configurations read these names.
DIVERGED_POINT = "diverged_epoch"
POINTS_RUN = "epochs_run"
SECONDS = "seconds"
CLOSURE_EVALUATIONS = "closure_evaluations"
UPDATES = "updates"
TOTAL_STEPS = "total_steps"  # the optimizer steps the full run takes: what its schedule is shaped on
# A step-budgeted run's measurements (the language model), at its last evaluation.
TOKENS = "tokens"
TOKENS_PER_SECOND = "tokens_per_second"
SECONDS_PER_STEP = "seconds_per_step"
FLOPS_PER_TOKEN = "flops_per_token"
GRAD_NORMS = "grad_norms"  # at each evaluation, before clipping
COMPILE_SECONDS = "compile_seconds"  # the first, compiling step with --compile
POINT_SECONDS = "point_seconds"  # seconds since the trial began, at each evaluation point
# A trial trained in a batch of trials (one stacked model): the batch (its first trial's number),
# how many trials it started with, and that `seconds` is the trial's even share of the batch's time.
# Records written before this name called the count `batch_size`, the word for a mini-batch's rows.
BATCH_ID, TRIALS_IN_BATCH, SECONDS_SHARED = "batch_id", "trials_in_batch", "seconds_shared"
OLD_TRIALS_IN_BATCH = "batch_size"
BEST_VALUE = "best_value"
BEST_POINT = "best_epoch"
TEST_VALUE = "test_value"
DEVICE = "device"
MODEL = "model"
PARAMETERS = "parameters"
# A trial of the user's own training: its folder and host, the command as run (its arguments and
# working directory), its exit code, the git state of that directory, the program's own step at
# each evaluation point, and the other metrics of its last point.
TRIAL_DIR, HOST, COMMAND, WORKDIR, EXIT_CODE = "trial_dir", "host", "command", "workdir", "exit_code"
GIT, POINT_STEPS, METRICS = "git", "point_steps", "metrics"
USER_TASKS = ("command", "function")  # the task a study of the user's own training is stored as

OUTCOMES = ("complete", "pruned", "diverged", "failed", "running", "waiting")
FINISHED = ("complete", "pruned", "diverged")  # what counts towards a study's total


def sign(direction: str) -> float:
    """+1 for maximize, -1 for minimize: multiplying by it makes every comparison 'higher wins'."""
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"unknown direction {direction!r}; valid choices: maximize, minimize")
    return 1.0 if direction == "maximize" else -1.0


def direction_of(study: optuna.Study) -> str:
    return study.direction.name.lower()


def why_foreign(study: optuna.Study) -> str | None:
    """Why hpsearch cannot read a study that another program stored beside its own; None when it
    can. A study of several objectives has no one direction, best value or best trial."""
    return "multi-objective: not an hpsearch study" if len(study.directions) > 1 else None


def check_readable(study: optuna.Study) -> optuna.Study:
    """The study, or one line saying why hpsearch cannot read it."""
    why = why_foreign(study)
    if why is not None:
        raise ConfigError(f"study '{study.study_name}' cannot be read: {why}")
    return study


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def trial_attrs(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """A trial's attributes with its record unpacked: the same keys whichever layout stored them."""
    attrs = dict(trial.user_attrs)
    packed = attrs.pop(RECORD, None)
    if isinstance(packed, Mapping):
        attrs.update(packed)
    if BATCH_ID in attrs and OLD_TRIALS_IN_BATCH in attrs:  # a batched trial's record of before
        attrs.setdefault(TRIALS_IN_BATCH, attrs.pop(OLD_TRIALS_IN_BATCH))
    # A reclaim writes its reason before it fails the trial; an owner that finished in between
    # keeps its own outcome, and the reclaim's reason is not one.
    reclaimed = attrs.pop(RECLAIMED, None)
    if reclaimed is not None and trial.state.name == "FAIL":
        attrs[REASON] = reclaimed
    return attrs


def outcome(trial: optuna.trial.FrozenTrial) -> str:
    """complete, pruned, diverged (pruned because training diverged), failed, running or waiting."""
    name = trial.state.name.lower()
    if name == "pruned" and trial_attrs(trial).get(DIVERGED):
        return "diverged"
    return "failed" if name == "fail" else name


def tally(trials: Iterable[optuna.trial.FrozenTrial]) -> Counter[str]:
    """How many trials ended each way, every outcome present (0 where none)."""
    counts = Counter(dict.fromkeys(OUTCOMES, 0))
    counts.update(outcome(t) for t in trials)
    return counts


def counted(trials: Iterable[optuna.trial.FrozenTrial]) -> int:
    """Trials that count towards a study's total: finished ones, complete or pruned."""
    return sum(t.state.name in ("COMPLETE", "PRUNED") for t in trials)


def optimizer_of(trial: optuna.trial.FrozenTrial) -> str | None:
    """Its optimizer; a trial just started has drawn no parameter yet, but was enqueued with one."""
    value = trial.params.get(OPTIMIZER, trial.user_attrs.get(OPTIMIZER))
    return None if value is None else str(value)


def validation_loss(trial: optuna.trial.FrozenTrial) -> float:
    """The validation loss a classification trial recorded (inf where none was: older studies,
    and tasks whose metric is itself a loss)."""
    value = trial_attrs(trial).get(VAL_LOSS)
    return float(value) if isinstance(value, int | float) and finite(value) is not None else math.inf


def best_trial(trials: Sequence[optuna.trial.FrozenTrial], direction: str, by_loss: bool = False
               ) -> optuna.trial.FrozenTrial | None:
    """The complete trial with the best finite value, the earliest on a tie (as Optuna's own);
    with `by_loss`, a tie goes to the lower validation loss first (a saturated metric, such as
    accuracy 1.000 on a small split, does not tell the configurations apart)."""
    better = sign(direction)
    complete = [t for t in trials if t.state.name == "COMPLETE" and finite(t.value) is not None]
    if not complete:
        return None
    return min(complete, key=lambda t: (-better * float(t.value),  # type: ignore[arg-type]
                                        validation_loss(t) if by_loss else 0.0, t.number))


def tied_at_top(trials: Sequence[optuna.trial.FrozenTrial], direction: str) -> int:
    """How many complete trials share the best value."""
    best = best_trial(trials, direction)
    return 0 if best is None else sum(
        t.state.name == "COMPLETE" and t.value == best.value for t in trials)


def best_per_optimizer(trials: Sequence[optuna.trial.FrozenTrial], direction: str
                       ) -> list[optuna.trial.FrozenTrial]:
    """Each optimizer's best complete trial, best first; a tie goes to the one that got there first."""
    groups: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for trial in trials:
        if OPTIMIZER in trial.params:
            groups.setdefault(str(trial.params[OPTIMIZER]), []).append(trial)
    bests = [b for group in groups.values() if (b := best_trial(group, direction)) is not None]
    better = sign(direction)
    return sorted(bests, key=lambda t: (-better * float(t.value), t.number,  # type: ignore[arg-type]
                                        str(t.params[OPTIMIZER])))


def run_key(moment: str, host: str, pid: int, suffix: str) -> str:
    return f"{RUN_PREFIX}{moment}:{host}:{pid}:{suffix}"


def runs_of(attrs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """How each run of a study went (sampler, seed, device, workers, versions), oldest first."""
    return [attrs[k] for k in sorted(attrs) if k.startswith(RUN_PREFIX)]


# A run record of the conditional TPE says so (`"tpe": "conditional"`): runs that recorded `tpe`
# before it was were Optuna's own TPE, now named `optuna-tpe`.
CONDITIONAL_TPE = {"tpe": "conditional"}


def sampler_of(run: Mapping[str, Any]) -> str:
    """The sampler a run drew with, by today's names."""
    name = str(run.get("sampler", "unknown"))
    return "optuna-tpe" if name == "tpe" and run.get("tpe") != "conditional" else name


def resumed_sampler(attrs: Mapping[str, Any], asked: str) -> str:
    """The sampler a study continues with: one whose runs drew with Optuna's TPE under the name
    `tpe` keeps it, so that a study never changes algorithm under the same name."""
    if asked == "tpe" and any(sampler_of(run) == "optuna-tpe" and run.get("sampler") == "tpe"
                              for run in runs_of(attrs)):
        return "optuna-tpe"
    return asked


def protocol_of(attrs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The protocol a study was made by, when it is not `tune`'s."""
    protocol = attrs.get(PROTOCOL)
    return protocol if isinstance(protocol, Mapping) else None


def is_comparison(attrs: Mapping[str, Any]) -> bool:
    protocol = protocol_of(attrs)
    return protocol is not None and protocol.get("kind") == COMPARE


def is_scale_sweep(attrs: Mapping[str, Any]) -> bool:
    protocol = protocol_of(attrs)
    return protocol is not None and protocol.get("kind") == SCALE


def warm_source(attrs: Mapping[str, Any]) -> str | None:
    """`classification#12` for a trial enqueued from trial 12 of study `classification`."""
    warm = attrs.get(WARM_START)
    if not warm:
        return None
    if isinstance(warm, Mapping):
        return f"{warm.get('study', '?')}#{warm.get('trial', '?')}"
    return str(warm)


def learning_rate(trial: optuna.trial.FrozenTrial) -> float | None:
    """The learning rate a trial trained with: its configuration's, else its drawn `<optimizer>_lr`;
    None where it has none (a finite, positive number otherwise)."""
    lr = ((trial_attrs(trial).get(CONFIG) or {}).get("hyperparameters") or {}).get("lr")
    if lr is None and OPTIMIZER in trial.params:
        lr = trial.params.get(f"{trial.params[OPTIMIZER]}_lr")
    valid = isinstance(lr, int | float) and not isinstance(lr, bool) and math.isfinite(lr) and lr > 0
    return float(lr) if valid else None  # type: ignore[arg-type]


def seconds_of(trial: optuna.trial.FrozenTrial) -> float:
    """A trial's training seconds (0 where none were recorded)."""
    return float(trial_attrs(trial).get(SECONDS, 0.0))


def worst(values: Iterable[float], direction: str) -> float | None:
    """The worst of `values` for `direction` (None for none): where a draw without a value counts."""
    values = list(values)
    if not values:
        return None
    return min(values) if sign(direction) > 0 else max(values)
