"""The engine every protocol runs on: storages and their locks, taking a trial under the study's
budget, running one (heartbeat, tell), reclaiming the trials of dead processes, and the worker pool.
Protocols say which trials to run; the engine runs them. It knows no protocol and no report."""
