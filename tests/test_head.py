"""The reference head (sklearn_taskrel._head): gradient penalty and its fit."""

import numpy as np
import pytest
import torch
from conftest import make_task
from numpy.testing import assert_allclose

from sklearn_taskrel._head import (
    fit_reference_head,
    gradient_norms_all_labels,
    mean_direction_start,
)
from sklearn_taskrel.transport import certified_lipschitz, empirical_lipschitz
from sklearn_taskrel.transport._losses import per_class_losses


def test_closed_form_gradient_norms_match_autograd():
    torch.manual_seed(0)
    W = torch.randn(4, 6, dtype=torch.float64)
    c = torch.randn(4, dtype=torch.float64)
    Z = torch.randn(9, 6, dtype=torch.float64, requires_grad=True)
    logits = Z @ W.T + c
    closed = gradient_norms_all_labels(logits, W)
    for k in range(4):
        loss = torch.nn.functional.cross_entropy(logits, torch.full((9,), k), reduction="sum")
        (g,) = torch.autograd.grad(loss, Z, retain_graph=True)
        assert_allclose(closed[:, k].detach().numpy(), (g ** 2).sum(1).numpy(), rtol=1e-10)


@pytest.mark.parametrize("cap", [0.05, 0.5])
def test_head_respects_the_cap_and_is_deterministic(cap):
    X, y, _ = make_task(n_per_class=40, n_classes=3, n_features=6, random_state=0)
    W1, c1, net = fit_reference_head(X, y, 3, lipschitz_cap=cap)
    W2, c2, _ = fit_reference_head(X, y, 3, lipschitz_cap=cap)
    assert np.array_equal(W1, W2) and np.array_equal(c1, c2)
    emp = empirical_lipschitz(X, W1, c1)
    assert emp <= 1.1 * cap                          # the penalty holds the gradients
    assert emp <= certified_lipschitz(W1) + 1e-12
    losses, counts = per_class_losses(X, y, W1, c1, 3)
    assert losses.shape == (3,) and np.all(counts == 40)
    assert len(net.history) >= 1


def test_larger_cap_fits_better():
    X, y, _ = make_task(n_per_class=40, n_classes=3, n_features=6, random_state=1)
    tight = per_class_losses(X, y, *fit_reference_head(X, y, 3, lipschitz_cap=0.02)[:2], 3)[0]
    loose = per_class_losses(X, y, *fit_reference_head(X, y, 3, lipschitz_cap=1.0)[:2], 3)[0]
    assert loose.mean() < tight.mean() <= np.log(3) + 1e-6


def test_mean_direction_start_has_norm_cap():
    X, y, _ = make_task(n_per_class=10, n_classes=3, n_features=4, random_state=2)
    W0, c0 = mean_direction_start(X, y, 3, 0.3)
    assert_allclose(np.linalg.norm(W0, axis=1), 0.3)
    assert_allclose(c0.sum(), 0.0, atol=1e-12)
