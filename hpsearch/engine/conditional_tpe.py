"""TPE for a conditional space: the optimizer first, then only that optimizer's own hyperparameters,
modelled jointly on the trials that drew the same optimizer; a schedule shape's parameters likewise
on the trials that drew that shape; clipping's norm on the trials that clipped.

Optuna's TPE with `group=True` draws every group of the decomposed space on every trial (a trial of
one optimizer pays for all ten), and counts its random start-up per group. Here a parameter is
drawn only when the trial asks for it: the first parameter a trial asks of a branch draws the
branch's parameters together (Optuna's multivariate TPE on that branch's trials alone), and the
others are served from that draw; the choices every trial makes (the optimizer, the schedule shape,
whether to clip) are drawn together likewise, on all the study's trials. The random start-up is
counted over the whole study. Running trials count as bad values where other processes or a batch
run at the same time (the constant liar). Built on Optuna's public sampler API; the branch's
trials are handed to Optuna's TPE as a view of the study that holds only them
(`optuna_adapter.StudyView`: what Optuna's TPE reads of a study is not public).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hpsearch import record
from hpsearch.engine.optuna_adapter import StudyView

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

N_STARTUP = 10  # random trials at the start of a study (Optuna's TPE default), over all branches


@functools.cache
def branch_of(name: str, optimizers: tuple[str, ...]) -> tuple[str, str] | None:
    """The condition a parameter is drawn under: ("optimizer", key) for an optimizer's own,
    ("schedule", shape) for a shape's, ("clip_grad", True) for the clipping norm; None for the
    choices every trial makes (the optimizer, the schedule shape, whether to clip)."""
    if name == "clip_grad_max_norm":
        return ("clip_grad", "True")
    if name.startswith("schedule_"):
        shape = name.removeprefix("schedule_").split("_", 1)[0]
        return ("schedule", shape)
    owner = max((key for key in optimizers if name.startswith(f"{key}_")), key=len, default=None)
    return None if owner is None else (record.OPTIMIZER, owner)


def within(distribution: BaseDistribution, value: Any) -> bool:
    """Whether a value drawn from the branch's past trials lies in the distribution asked for now
    (a range narrowed since, an older study's trials)."""
    from optuna.distributions import CategoricalDistribution

    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    low, high = getattr(distribution, "low", None), getattr(distribution, "high", None)
    return low is not None and high is not None and low <= value <= high


class ConditionalTPESampler:
    """See the module. `make` builds Optuna's samplers (TPE and random) with a seed of their own."""

    def __init__(self, seed: int | None = None, constant_liar: bool = False,
                 n_startup_trials: int = N_STARTUP) -> None:
        import numpy as np
        from optuna.samplers import RandomSampler

        self.rng = np.random.default_rng(seed)
        self.random = RandomSampler(seed=None if seed is None else int(self.rng.integers(2**31)))
        self.constant_liar = constant_liar
        self.n_startup_trials = n_startup_trials
        self.drawn: dict[int, dict[str, Any]] = {}  # per running trial: its branches' draws
        self.spaces: dict[Any, tuple[set[int], dict[str, BaseDistribution] | None]] = {}
        self.joint, self.single = self.tpe(multivariate=True), self.tpe(multivariate=False)

    def tpe(self, multivariate: bool) -> optuna.samplers.TPESampler:
        from optuna.samplers import TPESampler

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant_liar is experimental in name only
            return TPESampler(n_startup_trials=0, multivariate=multivariate,
                              constant_liar=self.constant_liar,
                              seed=int(self.rng.integers(2**31)), warn_independent_sampling=False)

    def sample(self, study: optuna.Study, trial: FrozenTrial, name: str,
               distribution: BaseDistribution) -> Any:
        from optuna.trial import TrialState

        states = (TrialState.COMPLETE, TrialState.PRUNED)
        finished = study.get_trials(deepcopy=False, states=states)
        if len(finished) < self.n_startup_trials:
            return self.random.sample_independent(study, trial, name, distribution)
        ready = self.drawn.get(trial.number, {})
        if name in ready and within(distribution, ready[name]):
            return ready.pop(name)
        optimizers = tuple(str(c) for c in getattr(
            finished[-1].distributions.get(record.OPTIMIZER), "choices", ()))
        branch = branch_of(name, optimizers)
        seen = study.get_trials(deepcopy=False, states=(*states, TrialState.RUNNING)
                                if self.constant_liar else states)
        mine = [t for t in seen if t.number != trial.number and (
            branch is None or str(t.params.get(branch[0])) == branch[1])]
        if not any(t.state in states for t in mine):
            return self.random.sample_independent(study, trial, name, distribution)
        view = StudyView(study, mine)
        joint = self.joint_space(mine, name, branch, trial, optimizers)
        if name in joint:
            drawn = self.joint.sample_relative(view, trial, joint)  # type: ignore[arg-type]
            self.drawn[trial.number] = {**ready, **drawn}
            self.forget(study)
            return self.drawn[trial.number].pop(name)
        return self.single.sample_independent(view, trial, name,  # type: ignore[arg-type]
                                              distribution)

    def joint_space(self, trials: list[FrozenTrial], name: str, branch: tuple[str, str] | None,
                    trial: FrozenTrial, optimizers: tuple[str, ...]) -> dict[str, BaseDistribution]:
        """The branch's parameters (for None, the choices every trial makes: the optimizer, the
        schedule shape, whether to clip) that every finished trial of it drew alike and this trial
        has not drawn yet: those are drawn together."""
        common = self.branch_space(trials, branch, optimizers)
        space = {k: d for k, d in common.items() if k not in trial.params and not d.single()}
        return space if name in space else {}

    def branch_space(self, trials: list[FrozenTrial], branch: tuple[str, str] | None,
                     optimizers: tuple[str, ...]) -> dict[str, BaseDistribution]:
        """The parameters every finished trial of the branch drew with the same distribution;
        kept from one draw to the next, since a finished trial does not change."""
        seen, common = self.spaces.get((branch, optimizers), (set(), None))
        for t in trials:
            if t.number in seen or not t.state.is_finished():
                continue
            own = {k: d for k, d in t.distributions.items() if branch_of(k, optimizers) == branch}
            common = own if common is None else {
                k: d for k, d in common.items() if own.get(k) == d}
            seen.add(t.number)
        self.spaces[(branch, optimizers)] = (seen, common)
        return common or {}

    def forget(self, study: optuna.Study) -> None:
        """Draws of trials that ended are not asked for again."""
        if len(self.drawn) > 64:
            running = {t.number for t in study.get_trials(deepcopy=False)
                       if not t.state.is_finished()}
            self.drawn = {k: v for k, v in self.drawn.items() if k in running}


def conditional_tpe(seed: int | None = None, constant_liar: bool = False
                    ) -> optuna.samplers.BaseSampler:
    """The sampler, as Optuna's public `BaseSampler`: every parameter is drawn when it is asked
    for (nothing relative at a trial's start)."""
    from optuna.samplers import BaseSampler

    drawing = ConditionalTPESampler(seed, constant_liar)

    class Sampler(BaseSampler):
        def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial
                                        ) -> dict[str, BaseDistribution]:
            return {}

        def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                            search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
            return {}

        def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                               param_distribution: BaseDistribution) -> Any:
            return drawing.sample(study, trial, param_name, param_distribution)

        def reseed_rng(self) -> None:
            for sampler in (drawing.random, drawing.joint, drawing.single):
                sampler.reseed_rng()

    sampler: Callable[[], BaseSampler] = Sampler
    return sampler()
