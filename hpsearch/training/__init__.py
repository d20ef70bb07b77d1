"""Training: the loops and the device (tables by epoch, the language model by steps, many trials
as one stacked model in `batched/`), one interface over them (`trainer`), and the user's own
training script or function run and read (`user/`). Knows no Optuna."""
