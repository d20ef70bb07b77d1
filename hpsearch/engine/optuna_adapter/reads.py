"""Reads of a study on the trial's path: served from what this process already read, once per kind
within a block, and the TPE sampler and median pruner that read that way."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from hpsearch.engine.optuna_adapter.local_copy import local_copy

if TYPE_CHECKING:
    import optuna


Memo = dict[tuple[Any, ...], list["optuna.trial.FrozenTrial"]]


@contextlib.contextmanager
def served(study: optuna.Study, memo: Memo | None = None) -> Iterator[None]:
    """Within the block, the study's trials are read as this process already has them: from its
    local copy, where the storage keeps one (`LocalCopy`: no round trip at all), else from the
    storage once per kind of read (`trials_read_once`)."""
    storage = local_copy(study)
    with (storage.served() if storage is not None else contextlib.nullcontext(),
          trials_read_once(study, memo)):
        yield


@contextlib.contextmanager
def trials_read_once(study: optuna.Study, memo: Memo | None = None) -> Iterator[None]:
    """Within the block, each kind of read of the study's trials goes to the storage once (or
    never, if `memo`, kept from an earlier block, holds it). The storage's read is the one
    wrapped, so that the per-bracket views Optuna's Hyperband pruner builds of the study share it."""
    storage = study._storage
    read = storage.get_all_trials
    outer = vars(storage).get("get_all_trials")  # an enclosing block's reader, restored on exit
    memo = {} if memo is None else memo

    def once(study_id: int, deepcopy: bool = True,
             states: Any = None) -> list[optuna.trial.FrozenTrial]:
        key = (study_id, deepcopy, None if states is None else tuple(states))
        if key not in memo:
            memo[key] = read(study_id, deepcopy=deepcopy, states=states)
        return memo[key]

    storage.get_all_trials = once  # type: ignore[method-assign]
    try:
        yield
    finally:
        if outer is None:
            del storage.get_all_trials  # the class's own method again
        else:
            storage.get_all_trials = outer  # type: ignore[method-assign]


def tpe_sampler(**kwargs: Any) -> optuna.samplers.BaseSampler:
    """Optuna's TPE sampler, reading the study once per sampling (see above): same draws."""
    from optuna.samplers import TPESampler

    class OneReadTPESampler(TPESampler):
        def sample_relative(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                            search_space: dict[str, Any]) -> dict[str, Any]:
            with trials_read_once(study):
                return super().sample_relative(study, trial, search_space)

    return OneReadTPESampler(**kwargs)


def median_pruner(**kwargs: Any) -> optuna.pruners.BasePruner:
    """Optuna's median pruner, reading the study's trials once per trial (see above)."""
    from optuna.pruners import MedianPruner

    class OneReadMedianPruner(MedianPruner):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.trial_number: int | None = None
            self.memo: Memo = {}

        def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
            if trial.number != self.trial_number:
                self.trial_number, self.memo = trial.number, {}
            with trials_read_once(study, self.memo):
                return bool(super().prune(study, trial))

    return OneReadMedianPruner(**kwargs)


class StudyView:
    """The part of a study Optuna's TPE reads: its directions and some of its trials."""

    def __init__(self, study: optuna.Study, trials: list[optuna.trial.FrozenTrial]) -> None:
        self.directions = study.directions
        self.direction = study.directions[0]
        self.trials = trials
        self._storage = NoWrites()  # the constant liar's copy of a relative draw: kept here

    def _get_trials(self, deepcopy: bool = False, states: Sequence[Any] | None = None,
                    use_cache: bool = False) -> list[optuna.trial.FrozenTrial]:
        return [t for t in self.trials if states is None or t.state in states]

    def get_trials(self, deepcopy: bool = False,
                   states: Sequence[Any] | None = None) -> list[optuna.trial.FrozenTrial]:
        return self._get_trials(deepcopy, states)

    def _is_multi_objective(self) -> bool:
        return len(self.directions) > 1


class NoWrites:
    def set_trial_system_attr(self, *args: Any) -> None:
        """Optuna's TPE shares a relative draw with other processes through the storage; every
        parameter this sampler draws is written as the trial's own when it is asked for."""
