"""Stored trials -> plain data: `points` (each trial as the report reads it), `study` (a tune
study's optimizers and verdict), `cost`, `comparison` (one study of a comparison), `repeated` (a
comparison over its studies), `across_tasks`, `scale` and `scale_target` (a scale sweep and what it
predicts), `collect` (every study of a storage)."""
