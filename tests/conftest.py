import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

# Tests import transformers directly too; where the registry's torchvision (a CUDA
# build) sits beside the CPU torch, it must be imported through the package's guard
# first, or transformers' own import of it fails.
if importlib.util.find_spec("torchvision") is not None:
    from sklearn_taskrel.encoders._optional import import_torchvision

    import_torchvision("the test suite")

ANCHOR = Path(os.environ.get("SKLEARN_TASKREL_ANCHOR",
                             Path(__file__).resolve().parents[2] / "shared" / "anchor"
                             / "mnv2_fmnist_digits.npz"))


def make_task(n_per_class=40, n_classes=3, n_features=6, separation=4.0, *,
              random_state=0, means=None, noise=1.0):
    """Gaussian classes with well separated means; returns X, y, means."""
    rng = np.random.RandomState(random_state)
    if means is None:
        means = rng.normal(size=(n_classes, n_features))
        means *= separation / np.linalg.norm(means, axis=1, keepdims=True)
    y = np.repeat(np.arange(n_classes), n_per_class)
    X = means[y] + noise * rng.normal(size=(len(y), n_features))
    return X, y, means


def weight_differences(score_of_weights, n, eps=1e-4):
    """Central differences of a weighted score in each sample's weight at w = 1:
    the independent route for influence terms (``dT/dw_i``)."""
    g = np.empty(n)
    for i in range(n):
        up, down = np.ones(n), np.ones(n)
        up[i] += eps
        down[i] -= eps
        g[i] = (score_of_weights(up) - score_of_weights(down)) / (2 * eps)
    return g


@pytest.fixture
def task():
    X, y, _ = make_task()
    return X, y


@pytest.fixture(scope="session")
def anchor():
    if not ANCHOR.exists():
        pytest.skip(f"anchor embeddings not found at {ANCHOR}")
    return dict(np.load(ANCHOR))


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a test module: on a small shared CI box, OpenMP
    threads that wait on a busy core make tiny convolutions up to 100x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
