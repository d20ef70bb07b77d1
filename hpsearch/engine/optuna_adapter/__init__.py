"""Every use of Optuna's private API, in one place.

Optuna offers no public call for these, so each is pinned here and exercised against the installed
Optuna by `tests/engine/test_optuna_adapter.py`; `pyproject.toml` keeps Optuna below its next major version.
- the heartbeat thread Optuna's own `optimize` runs around a trial (`optuna.storages._heartbeat`);
- taking a trial with its first attributes in the transaction that creates it (`study.ask` takes
  none: `study._pop_waiting_trial_id`, `_storage`, `_study_id`);
- failing a RUNNING trial that another process left behind: `study.tell` refuses a trial this
  process did not ask for, so the storage is written directly (`study._storage`, `_trial_id`);
  likewise cancelling a WAITING trial (taken first, as `study.ask` takes one, so that no other
  process starts it meanwhile);
- a local copy of the study (`local_copy`): Optuna's cache over an RDB storage
  (`optuna.storages._cached_storage._CachedStorage`, its `_studies`, `_lock`,
  `_trial_id_to_study_id_and_number` and `_read_trials_from_remote_storage`, and the backend it
  wraps, `_backend`) serving the sampler's and pruner's reads without a round trip;
- a running trial's writes as single statements on Optuna's tables (`statements`:
  `optuna.storages._rdb.models`), a trial's start in one transaction;
- TPE, the median pruner and Hyperband's per-bracket views reading the study once per kind within
  one block (`study._storage`);
- a view of a study holding some of its trials, for Optuna's TPE to draw one branch of the
  conditional space from (`conditional_tpe`): what TPE reads of a study, `_get_trials`,
  `_is_multi_objective` and the `_storage` its constant liar writes to, is not public;
- the operation codes a journal file's records may hold, to name a record Optuna cannot replay
  (`optuna.storages.journal._storage.JournalOperation`).
"""

from hpsearch.engine.optuna_adapter.local_copy import LocalCopy, together
from hpsearch.engine.optuna_adapter.reads import (
    NoWrites,
    StudyView,
    median_pruner,
    served,
    tpe_sampler,
    trials_read_once,
)
from hpsearch.engine.optuna_adapter.trials import (
    ask,
    cancel_waiting,
    fail_trial,
    heartbeat,
    heartbeat_interval,
)

__all__ = ["LocalCopy", "NoWrites", "StudyView", "ask", "cancel_waiting", "fail_trial", "heartbeat",
           "heartbeat_interval", "journal_op_codes", "median_pruner", "served", "together",
           "tpe_sampler", "trials_read_once"]


def journal_op_codes() -> set[int]:
    """The operation codes of the records Optuna writes to a journal file (and replays)."""
    from optuna.storages.journal._storage import JournalOperation

    return {int(operation) for operation in JournalOperation}
