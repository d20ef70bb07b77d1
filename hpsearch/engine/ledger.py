"""A trial's writes, kept in this process as well as in the storage, so that a trial failed under its
living owner is not lost.

Another process may fail a trial that is still training: a reclaim that judged its process gone, or
a heartbeat gone stale while the owner was suspended or its heartbeat thread had died. From then on
the storage refuses the owner's writes. The owner trains on (asking the pruner with what it
measured), then stores its result as a new trial with the same parameters, intermediate values and
attributes, `recovered_from` the failed one, and cancels the retry the reclaim enqueued, if no
process has taken it yet.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from hpsearch import record
from hpsearch.engine import signals
from hpsearch.engine.optuna_adapter import cancel_waiting, served, together

if TYPE_CHECKING:
    import optuna


class TrialLedger:
    """Writes one trial's attributes and intermediate values, and remembers them."""

    def __init__(self, trial: optuna.trial.Trial) -> None:
        self.trial = trial
        self.attrs: dict[str, Any] = {}
        self.intermediate: dict[int, float] = {}
        self.orphaned = False  # failed by another process while it ran here
        self.ended: tuple[str, float | None] | None = None  # how it ended, once its record is stored

    def set_attr(self, key: str, value: Any) -> None:
        self.attrs[key] = value
        self._write(self.trial.set_user_attr, key, value)

    def store_end(self, measured: dict[str, Any], state: str | None, value: float | None = None
                  ) -> None:
        """Write the trial's record; one whose training ended (`state`: COMPLETE, PRUNED or FAIL,
        not None) is from then on told as it ended, whatever stops this process before its end is
        told (see `end_stopped`)."""
        self.set_attr(record.RECORD, measured)
        if state is not None:
            self.ended = (state, value)

    def report(self, value: float, step: int) -> None:
        """Report a step's value; as Optuna, the first report of a step counts, and a later one
        is not written."""
        if step in self.intermediate:
            return
        self.intermediate[step] = value
        self._write(self.trial.report, value, step)

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """This trial's writes within the block in one transaction, as it ends."""
        with together(self.trial.study) as refused:
            yield
        self.orphaned |= self.trial.number in refused

    def should_prune(self) -> bool:
        """The pruner's answer, from the study as this process last read it (see `served`)."""
        study = self.trial.study
        with served(study):
            if not self.orphaned:
                return bool(self.trial.should_prune())
            return bool(study.pruner.prune(study, self.frozen("RUNNING")))

    def _write(self, write: Callable[..., None], *args: Any) -> None:
        from optuna.exceptions import UpdateFinishedTrialError

        if self.orphaned:
            return
        try:
            write(*args)
        except UpdateFinishedTrialError:
            self.orphaned = True

    def frozen(self, state: str, value: float | None = None) -> optuna.trial.FrozenTrial:
        from optuna.trial import TrialState, create_trial

        frozen = create_trial(state=TrialState[state], value=value, params=self.trial.params,
                              distributions=self.trial.distributions,
                              user_attrs={**self.trial.user_attrs, **self.attrs,
                                          record.RECOVERED_FROM: self.trial.number},
                              intermediate_values=self.intermediate)
        frozen.number = self.trial.number  # the pruner tells trials apart by it
        return frozen


def tell(study: optuna.Study, ledger: TrialLedger, state: str,
         value: float | None = None) -> optuna.trial.FrozenTrial:
    """Tell the trial's end (COMPLETE, PRUNED or FAIL); if it was failed under this process, store
    it again instead."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    if state == "COMPLETE" and (value is None or not math.isfinite(value)):
        state, value = "FAIL", None
    if not ledger.orphaned:
        try:
            with served(study):  # its end is written; what it reads first is this process's copy
                told = study.tell(ledger.trial, value if state == "COMPLETE" else None,
                                  state=TrialState[state], skip_if_finished=True)
            # A FAIL told over a reclaim's is the reclaim's: the result is stored again all the same.
            if told.state.name == state and not (state == "FAIL" and
                                                 record.RECLAIMED in told.user_attrs):
                return told
        except UpdateFinishedTrialError:  # failed between the check and the write
            pass
        ledger.orphaned = True
    return store_again(study, ledger, state, value)


def end_stopped(study: optuna.Study, ledger: TrialLedger, stop: BaseException) -> bool:
    """A trial a stop came to before its end was told (Ctrl-C, `signals.Stopped`, or an error of
    hpsearch's). One whose record says it ended (`store_end`: the stop came while its end was
    stored) is told as it ended. Any other was in flight: FAIL, with the signal as its reason when
    a stopping signal ended it, and True; a reclaim's retry, if there is one, runs it again. One
    another process failed meanwhile is left as it is."""
    from optuna.trial import TrialState

    if ledger.ended is not None:
        tell(study, ledger, *ledger.ended)
        return False
    if ledger.orphaned:
        return True
    if isinstance(stop, KeyboardInterrupt):
        ledger.set_attr(record.REASON, f"stopped by {stop.args[0] if stop.args else 'SIGINT'}")
    study.tell(ledger.trial, state=TrialState.FAIL, skip_if_finished=True)
    return True


def end_all_stopped(study: optuna.Study, ledgers: Iterable[TrialLedger], stop: BaseException) -> None:
    """End, with stopping signals held, every trial a stop came to before its end was told
    (`end_stopped`), and count on the stop those it found in flight. The caller raises the stop; a
    stopping signal that came while an error of hpsearch's was handled is raised here instead."""
    with signals.held(deliver=False) as handed:
        signals.stopped_in_flight(stop, sum(end_stopped(study, ledger, stop) for ledger in ledgers))
    if not isinstance(stop, KeyboardInterrupt):
        signals.deliver(handed)


def store_again(study: optuna.Study, ledger: TrialLedger, state: str,
                value: float | None) -> optuna.trial.FrozenTrial:
    """Store an orphaned trial's result as a new trial and cancel the retry of the failed one."""
    number = ledger.trial.number
    if state == "PRUNED":  # as `study.tell`: the last intermediate value, where it is finite
        last = ledger.intermediate.get(max(ledger.intermediate, default=-1))
        value = last if last is not None and math.isfinite(last) else None
    study.add_trial(ledger.frozen(state, value))
    stored = [t for t in study.get_trials(deepcopy=False)
              if t.user_attrs.get(record.RECOVERED_FROM) == number]
    again = stored[-1]
    for trial in study.get_trials(deepcopy=False):
        if trial.state.name == "WAITING" and trial.user_attrs.get(record.RETRY_OF) == number:
            cancel_waiting(study, trial, {record.REASON: (
                f"cancelled: the process that ran trial {number} was alive and stored its "
                f"result as trial {again.number}")})
    return again
