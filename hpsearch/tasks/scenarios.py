"""Data and models of the tasks behind the classic optimizer table's scenarios.

Each scenario is small enough for a CPU sweep: sparse bag-of-words features (Adagrad's home), a
small data set with a small model (full-batch L-BFGS), 8x8 images with a small CNN and MNIST-1D
sequences with a small 1-D CNN. The registry entries are in `hpsearch.tasks`; this module imports
torch, scikit-learn and mnist1d only inside functions, and every loader is deterministic and cached
for the process.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

# The generated corpus behind the `sparse` task.
SPARSE_SEED = 0
SPARSE_DOCUMENTS = 3000
SPARSE_VOCABULARY = 3000
SPARSE_CLASSES = 4
SPARSE_TOPIC_WORDS = 150  # distinct, class-specific words per class, none among the 100 commonest
SPARSE_TOPIC_SHARE = 0.12  # a document's mean share of tokens drawn from its class's topic
SPARSE_MEAN_LENGTH = 45  # tokens per document (Poisson): about 1% of the vocabulary is non-zero


@functools.lru_cache(maxsize=1)
def _corpus() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SPARSE_SEED)
    ranks = np.arange(1, SPARSE_VOCABULARY + 1)
    background = 1.0 / ranks**1.07  # Zipf's law over the vocabulary
    background /= background.sum()
    pool = rng.permutation(np.arange(100, SPARSE_VOCABULARY))
    topic_weights = 1.0 / np.arange(1, SPARSE_TOPIC_WORDS + 1)
    topics = np.zeros((SPARSE_CLASSES, SPARSE_VOCABULARY))
    for label in range(SPARSE_CLASSES):
        words = pool[label * SPARSE_TOPIC_WORDS:(label + 1) * SPARSE_TOPIC_WORDS]
        topics[label, words] = topic_weights / topic_weights.sum()
    labels = rng.integers(SPARSE_CLASSES, size=SPARSE_DOCUMENTS)
    lengths = np.maximum(5, rng.poisson(SPARSE_MEAN_LENGTH, size=SPARSE_DOCUMENTS))
    share = rng.beta(2.0, 2.0 / SPARSE_TOPIC_SHARE - 2.0, size=SPARSE_DOCUMENTS)
    counts = np.zeros((SPARSE_DOCUMENTS, SPARSE_VOCABULARY), dtype=np.float32)
    for doc in range(SPARSE_DOCUMENTS):
        mixture = (1.0 - share[doc]) * background + share[doc] * topics[labels[doc]]
        counts[doc] = rng.multinomial(lengths[doc], mixture / mixture.sum())
    counts.flags.writeable = False
    labels.flags.writeable = False
    return counts, labels


def sparse_documents() -> tuple[np.ndarray, np.ndarray]:
    """Term counts of generated documents (rows) over a Zipf-distributed vocabulary, and their
    topic labels: every document mixes common background words with words of its class's topic."""
    return _corpus()


def _dense(matrix: Any) -> np.ndarray:
    return np.asarray(matrix.toarray(), dtype=np.float32)


def tfidf() -> Any:
    """TF-IDF fitted on the training documents only (1 + log tf, smoothed idf, unit-length rows),
    returned dense: zeros stay zeros, no centering, so gradients stay sparse per feature."""
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    return make_pipeline(TfidfTransformer(sublinear_tf=True),
                         FunctionTransformer(_dense, accept_sparse=True))


def breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    return x, y


@functools.lru_cache(maxsize=1)
def _mnist1d() -> tuple[np.ndarray, np.ndarray]:
    import random

    from mnist1d.data import get_dataset_args, make_dataset

    # make_dataset reseeds the global `random` and NumPy generators; leave them as they were.
    state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        random.setstate(state[0])
        np.random.set_state(state[1])
    x = np.concatenate([data["x"], data["x_test"]]).astype(np.float32)
    y = np.concatenate([data["y"], data["y_test"]]).astype(np.int64)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def mnist1d() -> tuple[np.ndarray, np.ndarray]:
    """MNIST-1D generated locally (never downloaded): its train and test parts as one set; the
    project splits it like every task."""
    return _mnist1d()


def image_cnn(n_features: int, n_outputs: int) -> torch.nn.Module:
    """Flat square single-channel images -> two 3x3 conv layers (16, 32 channels), each followed
    by 2x2 max pooling -> linear. 8x8 digits: 8 -> 4 -> 2, so 32 * 2 * 2 = 128 features."""
    from torch import nn

    side = round(n_features**0.5)
    if side * side != n_features or side < 4:
        raise ValueError(f"image_cnn needs square images of side >= 4; got {n_features} features")
    return nn.Sequential(
        nn.Unflatten(1, (1, side, side)),
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * (side // 4) ** 2, n_outputs),
    )


def sequence_cnn(n_features: int, n_outputs: int) -> torch.nn.Module:
    """Flat single-channel sequences -> two 1-D conv layers (16, 32 channels, width 5), each
    followed by max pooling by 2 -> linear. MNIST-1D: 40 -> 20 -> 10, so 32 * 10 = 320 features."""
    from torch import nn

    if n_features < 4:
        raise ValueError(f"sequence_cnn needs sequences of length >= 4; got {n_features}")
    return nn.Sequential(
        nn.Unflatten(1, (1, n_features)),
        nn.Conv1d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
        nn.Flatten(),
        nn.Linear(32 * (n_features // 4), n_outputs),
    )
