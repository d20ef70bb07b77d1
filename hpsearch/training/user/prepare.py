"""The user's training as a run's task: no data of hpsearch's, a metric and direction the user
names, and what a resumed study must share with this run. The function is imported here once, so
that a name that does not import is refused before any study is touched."""

from __future__ import annotations

from hpsearch.tasks.base import Task
from hpsearch.tasks.prepare import PreparedTask
from hpsearch.training.user.definition import UserTraining
from hpsearch.training.user.function import load_function

READ_BY = {"regex": "lines of its output matching --metric-regex",
           "client": "hpsearch.client.report (JSON lines in HPSEARCH_REPORT)",
           "file": "the file it writes at its end, --metric-file"}


def prepare_user(training: UserTraining) -> PreparedTask:
    if training.function is not None:
        load_function(training)
        read = "report(step, value), called by the function"
    else:
        read = READ_BY[training.reporting]
    task = Task(training.kind, training.describe(), training.problem(), None, batch_size=0)
    notes = (f"trial: {training.describe()}",
             f"points: {read}; {training.metric}, {training.direction}d")
    return PreparedTask(task=task, data=None, notes=notes,  # type: ignore[arg-type]
                        identity=training.identity(), record={})
