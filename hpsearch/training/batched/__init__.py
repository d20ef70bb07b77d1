"""Many trials in one step: a batch of trials that share an optimizer, a model shape and a batch
size trained as one stacked model (`stacked`), by vectorised optimizers with one value per trial
for every hyperparameter (`vector_optimizers`), in a loop that gives each trial its own
seed, data order, schedule, clipping and results (`fit`). Like `train`, it knows no Optuna."""
