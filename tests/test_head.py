"""The reference head (sklearn_taskrel._head): gradient penalty and its fit."""

import numpy as np
import pytest
import torch
from conftest import make_task
from numpy.testing import assert_allclose

from sklearn_taskrel._head import (
    FullBatchIterator,
    GradientPenaltyHead,
    LinearHead,
    fit_reference_head,
    gradient_norms_all_labels,
    gradient_penalty,
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


def test_verbose_prints_skorchs_epoch_table_and_changes_nothing(capsys):
    X, y, _ = make_task(n_per_class=20, n_classes=3, n_features=4, random_state=3)
    W0, c0, _ = fit_reference_head(X, y, 3)
    assert capsys.readouterr().out == ""
    W1, c1, net = fit_reference_head(X, y, 3, verbose=1)
    out = capsys.readouterr().out
    assert "epoch" in out and "train_loss" in out
    assert f"{net.history[-1]['train_loss']:.4f}" in out
    assert np.array_equal(W0, W1) and np.array_equal(c0, c1)


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


# --- Independent recomputations (issue 19, mutation testing of _head) --------------
def _penalty_by_autograd(Z, W, c, y, cap):
    """Per-sample input-gradient norms of the CE for every label by autograd, then
    ``mean_i relu(g_i,y_i - cap)^2 + mean_ik relu(g_ik - cap)^2`` (float64)."""
    Z = torch.as_tensor(Z, dtype=torch.float64).requires_grad_(True)
    W, c = torch.as_tensor(W, dtype=torch.float64), torch.as_tensor(c, dtype=torch.float64)
    logits = Z @ W.T + c
    g = np.empty((len(Z), W.shape[0]))
    for k in range(W.shape[0]):
        loss = torch.nn.functional.cross_entropy(logits, torch.full((len(Z),), k),
                                                 reduction="sum")
        (grad,) = torch.autograd.grad(loss, Z, retain_graph=True)
        g[:, k] = np.sqrt((grad ** 2).sum(1).numpy())
    excess = np.maximum(g - cap, 0.0) ** 2
    return excess[np.arange(len(Z)), y].mean() + excess.mean()


def _start_by_hand(Z, y, K, cap):
    """The mean-direction start by loops: class means (an empty class's is zero),
    centred by their plain average, scaled to norm ``cap`` (norms floored at
    1e-12); intercept the centred log prior (an empty class's prior floored at 1e-12)."""
    Z = np.asarray(Z, dtype=np.float64)
    means = np.array([Z[y == k].mean(0) if np.any(y == k) else np.zeros(Z.shape[1])
                      for k in range(K)])
    means = means - means.mean(0)
    W = np.array([cap * v / max(np.linalg.norm(v), 1e-12) for v in means])
    logp = np.log([max(np.mean(y == k), 1e-12) for k in range(K)])
    return W, logp - logp.mean()


def test_gradient_penalty_equals_per_sample_autograd_norms():
    rng = np.random.RandomState(0)
    W, c = rng.normal(size=(4, 6)), rng.normal(size=4)
    Z, y = rng.normal(size=(9, 6)), rng.randint(0, 4, size=9)
    logits = torch.as_tensor(Z @ W.T + c)
    norms = np.sqrt(gradient_norms_all_labels(logits, torch.as_tensor(W)).numpy())
    for cap in (0.0, float(np.median(norms)), 10.0):  # all, half, none above the cap
        value = gradient_penalty(logits, torch.as_tensor(y), torch.as_tensor(W), cap)
        assert float(value) == pytest.approx(_penalty_by_autograd(Z, W, c, y, cap),
                                             rel=1e-10, abs=1e-300)


def test_gradient_penalty_of_a_zero_head_is_zero_with_a_finite_gradient():
    # Every gradient norm is exactly zero: the penalty and its gradient stay finite.
    W = torch.zeros(3, 4, dtype=torch.float64, requires_grad=True)
    logits = torch.zeros(5, 3, dtype=torch.float64, requires_grad=True)
    value = gradient_penalty(logits, torch.tensor([0, 1, 2, 0, 1]), W, 0.1)
    assert value.item() == 0.0
    gW, gl = torch.autograd.grad(value, (W, logits))
    assert torch.all(gW == 0) and torch.all(gl == 0)


def test_mean_direction_start_by_hand_with_unequal_and_empty_classes():
    rng = np.random.RandomState(3)
    y = np.array([0, 1, 1, 1, 2, 2, 2, 2, 2])  # counts 1, 3, 5; class 3 is empty
    Z = rng.normal(size=(9, 4)) + np.arange(4)
    W0, c0 = mean_direction_start(Z, y, 4, 0.3)
    W, c = _start_by_hand(Z, y, 4, 0.3)
    assert_allclose(W0, W, rtol=1e-12)
    assert_allclose(c0, c, rtol=1e-12)


def test_mean_direction_start_floors_tiny_norms():
    # Class means 1e-14 apart: the floor 1e-12 (not the norm) divides them.
    Z, y = np.array([[0.0], [1e-14], [1e-14]]), np.array([0, 1, 1])
    W0, _ = mean_direction_start(Z, y, 2, 0.5)
    assert_allclose(W0[:, 0], [-0.0025, 0.0025], rtol=1e-9)


def test_mean_direction_start_makes_no_float64_copy_of_float32_embeddings():
    # The class sums run in the embeddings' dtype: no (n, d) float64 copy.
    import tracemalloc

    Z = np.random.RandomState(4).normal(size=(20_000, 50)).astype(np.float32)
    y = np.arange(20_000) % 3
    tracemalloc.start()
    try:
        mean_direction_start(Z, y, 3, 0.1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < Z.nbytes  # a float64 copy alone would take 2 Z.nbytes


def test_linear_head_defaults_and_starts():
    head = LinearHead()
    assert head.linear.weight.shape == (2, 1) and head.linear.bias.shape == (2,)
    assert head.linear.weight.dtype == torch.float32
    head = LinearHead(3, 2)  # zeros: nn.Linear's random start is overwritten
    assert torch.all(head.linear.weight == 0) and torch.all(head.linear.bias == 0)
    assert head.linear.weight.shape == (2, 3)
    W, c = np.arange(6.0).reshape(2, 3), np.array([1.0, -1.0])
    head = LinearHead(3, 2, init_weight=W, init_bias=c, dtype=torch.float64)
    assert head.linear.weight.dtype == torch.float64
    assert_allclose(head.linear.weight.detach().numpy(), W, rtol=0)
    assert_allclose(head.linear.bias.detach().numpy(), c, rtol=0)
    assert_allclose(head(torch.ones(1, 3, dtype=torch.float64)).detach().numpy(),
                    [[4.0, 11.0]], rtol=0)


def test_full_batch_iterator_yields_one_batch_with_or_without_labels():
    from skorch.dataset import Dataset

    X = np.arange(6.0, dtype=np.float32).reshape(3, 2)
    for y in (None, np.array([0, 1, 0])):
        it = FullBatchIterator(Dataset(X, y), batch_size=1)
        batches = list(it)
        assert len(batches) == len(it) == 1
        Xb, yb = batches[0]
        assert torch.equal(Xb, torch.as_tensor(X))
        assert yb is None if y is None else torch.equal(yb, torch.as_tensor(y))


def test_penalty_head_defaults_are_the_authors():
    net = GradientPenaltyHead(LinearHead, criterion=torch.nn.CrossEntropyLoss)
    assert net.lipschitz_cap == 0.02 and net.penalty == 1e4


@pytest.mark.parametrize("kwargs, cap, penalty", [({}, 0.02, 1e4),
                                                  ({"lipschitz_cap": 0.3, "penalty": 50.0},
                                                   0.3, 50.0)])
def test_fit_starts_at_the_mean_direction_with_the_penalised_loss(kwargs, cap, penalty):
    """The first loss skorch records (L-BFGS's first evaluation) is the cross-entropy
    plus ``penalty`` times the autograd penalty at the mean-direction start, all
    recomputed here in float64; later losses are lower and the fitted head is
    returned in float64 and predicts ``softmax(Z W^T + c)``."""
    X, y, _ = make_task(n_per_class=15, n_classes=3, n_features=4, random_state=5)
    X, y = X[5:], y[5:]  # class sizes 10, 15, 15 (make_task lists class 0 first)
    assert np.bincount(y).tolist() == [10, 15, 15]
    W, c, net = fit_reference_head(X, y, 3, **kwargs)
    W0, c0 = _start_by_hand(X.astype(np.float32), y, 3, cap)
    logits = X @ W0.T + c0
    ce = np.mean(np.log(np.exp(logits).sum(1)) - logits[np.arange(len(y)), y])
    first = ce + penalty * _penalty_by_autograd(X, W0, c0, y, cap)
    assert net.history[0, "train_loss"] == pytest.approx(first, rel=1e-4)
    assert net.lipschitz_cap == cap and net.penalty == penalty
    assert W.dtype == np.float64 and c.dtype == np.float64
    final_logits = X @ W.T + c
    final_ce = np.mean(np.log(np.exp(final_logits).sum(1))
                       - final_logits[np.arange(len(y)), y])
    assert final_ce + penalty * _penalty_by_autograd(X, W, c, y, cap) < first
    proba = np.exp(final_logits) / np.exp(final_logits).sum(1, keepdims=True)
    assert_allclose(net.predict_proba(X.astype(np.float32)), proba, rtol=1e-4, atol=1e-6)


def test_fit_configuration_and_quiet_single_epoch(capsys):
    """One quiet full-batch epoch of L-BFGS with the documented settings: ``max_iter``
    iterations and ``max_iter * 5 // 4 + 1`` evaluations, strong-Wolfe line search,
    ``tol`` on the change of loss or parameters."""
    X, y, _ = make_task(n_per_class=10, n_classes=3, n_features=4, random_state=6)
    _, _, net = fit_reference_head(X, y, 3)
    expected = {"lr": 1.0, "max_iter": 300, "max_eval": 376, "tolerance_grad": 1e-10,
                "tolerance_change": 1e-6, "line_search_fn": "strong_wolfe"}
    assert {k: net.optimizer_.defaults[k] for k in expected} == expected
    assert len(net.history) == 1 and net.max_epochs == 1 and net.batch_size == -1
    assert net.iterator_train is FullBatchIterator and net.iterator_valid is FullBatchIterator
    assert net.device == "cpu" and net.verbose == 0
    _, _, net = fit_reference_head(X, y, 3, max_iter=7, tol=1e-3, device=torch.device("cpu"))
    opt = net.optimizer_.defaults
    assert (opt["max_iter"], opt["max_eval"], opt["tolerance_change"]) == (7, 9, 1e-3)
    assert net.device == "cpu"
    assert capsys.readouterr().out == ""


def test_lbfgs_iterations_lower_the_loss_and_stop_at_max_iter():
    """``max_iter = k`` stops one deterministic L-BFGS trajectory after k iterations or
    ``k * 5 // 4 + 1`` loss evaluations, whichever comes first (the loss recomputed in
    float64 never rises with k); a loose ``tol`` stops it after one iteration."""
    X, y, _ = make_task(n_per_class=15, n_classes=3, n_features=4, random_state=7)

    def loss(W, c):
        logits = X @ W.T + c
        ce = np.mean(np.log(np.exp(logits).sum(1)) - logits[np.arange(len(y)), y])
        return ce + 1e2 * _penalty_by_autograd(X, W, c, y, 0.2)

    values = []
    for k in (1, 2, 3, 4, 6, 8):
        W, c, net = fit_reference_head(X, y, 3, lipschitz_cap=0.2, penalty=1e2,
                                       max_iter=k, tol=1e-12)
        state = net.optimizer_.state[net.optimizer_._params[0]]
        assert 1 <= state["n_iter"] <= k
        assert state["n_iter"] == k or state["func_evals"] >= k * 5 // 4 + 1
        values.append(loss(W, c))
    assert np.all(np.diff(values) <= 1e-6) and values[-1] < values[0]
    _, _, net = fit_reference_head(X, y, 3, lipschitz_cap=0.2, penalty=1e2, tol=1e3)
    assert net.optimizer_.state[net.optimizer_._params[0]]["n_iter"] == 1


def test_fit_accepts_int32_labels():
    X, y, _ = make_task(n_per_class=10, n_classes=3, n_features=4, random_state=8)
    W64, c64, _ = fit_reference_head(X, y.astype(np.int64), 3, max_iter=5)
    W32, c32, _ = fit_reference_head(X, y.astype(np.int32), 3, max_iter=5)
    assert_allclose(W32, W64, rtol=0) and assert_allclose(c32, c64, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fit_on_a_cuda_device_matches_the_cpu_fit():
    """The head is fitted on the device asked for (labels arrive from the iterator on
    the CPU and follow the logits) and reaches the CPU fit's penalised loss."""
    X, y, _ = make_task(n_per_class=15, n_classes=3, n_features=4, random_state=9)

    def loss(W, c):
        logits = X @ W.T + c
        ce = np.mean(np.log(np.exp(logits).sum(1)) - logits[np.arange(len(y)), y])
        return ce + 1e2 * _penalty_by_autograd(X, W, c, y, 0.3)

    W_cpu, c_cpu, _ = fit_reference_head(X, y, 3, lipschitz_cap=0.3, penalty=1e2)
    W_gpu, c_gpu, net = fit_reference_head(X, y, 3, lipschitz_cap=0.3, penalty=1e2,
                                           device="cuda")
    assert net.module_.linear.weight.device.type == "cuda"
    assert loss(W_gpu, c_gpu) == pytest.approx(loss(W_cpu, c_cpu), rel=1e-4)
    value = net.get_loss(torch.zeros(4, 3, device="cuda"), torch.tensor([0, 1, 2, 0]))
    assert value.device.type == "cuda"
