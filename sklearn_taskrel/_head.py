"""The reference classifier: a linear head trained with a gradient penalty (skorch).

The authors train a new linear head on the (standardised) reference embeddings with
cross-entropy plus ``mean(relu(||grad_z loss|| - cap)^2)`` on the true labels and on
uniformly random labels (Mehra et al., NeurIPS 2024, Sec. 4 of METHOD.md). For a
linear head the input gradient is closed-form, ``grad_z CE(z, y) = W^T (p - e_y)``,
so its squared norm for *every* label ``k`` is

.. math:: \\|W^T (p - e_k)\\|^2 = p^T G p - 2 (G p)_k + G_{kk}, \\quad G = W W^T ,

which gives the penalty without double back-propagation and the expectation over
uniformly random labels exactly, without drawing them. The head starts at zero and is
fitted full-batch with L-BFGS, so the fit is deterministic.
"""

import numpy as np
import torch
from skorch import NeuralNet
from torch import nn


class LinearHead(nn.Module):
    """``s = W z + c`` with a deterministic start (zeros, or given arrays; no RNG)."""

    def __init__(self, n_features=1, n_classes=2, init_weight=None, init_bias=None,
                 dtype=torch.float32):
        super().__init__()
        self.linear = nn.Linear(n_features, n_classes, dtype=dtype)
        with torch.no_grad():
            self.linear.weight.copy_(torch.zeros(n_classes, n_features) if init_weight is None
                                     else torch.as_tensor(init_weight))
            self.linear.bias.copy_(torch.zeros(n_classes) if init_bias is None
                                   else torch.as_tensor(init_bias))

    def forward(self, X):
        return self.linear(X)


def gradient_norms_all_labels(logits, weight):
    """Squared input-gradient norms of the CE for every label: shape (n, K)."""
    p = torch.softmax(logits, dim=1)
    G = weight @ weight.T
    Gp = p @ G
    quad = (Gp * p).sum(dim=1, keepdim=True)
    return (quad - 2.0 * Gp + torch.diagonal(G)[None, :]).clamp_min(0.0)


def gradient_penalty(logits, y, weight, cap):
    """Penalty on true labels plus its exact expectation over uniform random labels."""
    g2 = gradient_norms_all_labels(logits, weight)
    g = torch.sqrt(g2 + 1e-30)
    excess = torch.relu(g - cap) ** 2
    true_part = excess.gather(1, y.view(-1, 1)).mean()
    random_part = excess.mean()
    return true_part + random_part


class FullBatchIterator:
    """skorch iterator that yields the whole dataset as one batch of tensors.

    skorch's default ``DataLoader`` collates a full batch item by item; for a
    full-batch L-BFGS fit one conversion is enough.
    """

    def __init__(self, dataset, **kwargs):
        self.dataset = dataset

    def __iter__(self):
        X, y = self.dataset.X, self.dataset.y
        yield (torch.as_tensor(X), None if y is None else torch.as_tensor(y))

    def __len__(self):
        return 1


class GradientPenaltyHead(NeuralNet):
    """skorch net for the reference head; the loss adds the gradient penalty.

    Parameters
    ----------
    lipschitz_cap : float
        The ``cap`` (the authors' ``TAU``) on per-sample input-gradient norms.
    penalty : float
        Weight of the penalty (the authors use 1e4).
    **kwargs
        Passed to :class:`skorch.NeuralNet`.
    """

    def __init__(self, *args, lipschitz_cap=0.02, penalty=1e4, **kwargs):
        super().__init__(*args, **kwargs)
        self.lipschitz_cap = lipschitz_cap
        self.penalty = penalty

    def get_loss(self, y_pred, y_true, X=None, training=False):
        ce = super().get_loss(y_pred, y_true, X=X, training=training)
        if not self.penalty:
            return ce
        weight = self.module_.linear.weight
        return ce + self.penalty * gradient_penalty(
            y_pred, y_true.long().to(y_pred.device), weight, self.lipschitz_cap)


def mean_direction_start(Z, y, n_classes, cap):
    """Closed-form start: ``w_k = cap * (mu_k - mu) / ||mu_k - mu||``, ``c = log prior``.

    For a small cap the penalised optimum is close to it: to first order in ``W`` the
    cross-entropy is ``log K - sum_k prior_k (w_k - w_bar) . mu_k`` and the penalty
    bounds ``||w_k - w_bar||`` by the cap, so each ``w_k`` points along its centred
    class mean.
    """
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    onehot = np.zeros((n_classes, len(y)), dtype=Z.dtype)
    onehot[y, np.arange(len(y))] = 1.0
    means = (onehot @ Z).astype(np.float64) / np.maximum(counts, 1)[:, None]
    means -= means.mean(axis=0)
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    W0 = cap * means / np.maximum(norms, 1e-12)
    logp = np.log(np.maximum(counts / counts.sum(), 1e-12))
    return W0, logp - logp.mean()


def fit_reference_head(Z, y, n_classes, *, lipschitz_cap=0.02, penalty=1e4,
                       max_iter=300, tol=1e-6, device="cpu", verbose=0):
    """Fit the gradient-penalised linear head; return ``(W, c, net)``.

    Parameters
    ----------
    Z : ndarray of shape (n, d)
        Standardised reference embeddings.
    y : ndarray of shape (n,)
        Reference class codes ``0..n_classes-1``.
    n_classes : int
        Number of reference classes (rows of ``W``).
    lipschitz_cap : float, default=0.02
        Cap on the per-sample input-gradient norm of the loss (the authors' ``TAU``).
    penalty : float, default=1e4
        Weight of the squared excess of the gradient norms over the cap.
    max_iter : int, default=300
        Maximum L-BFGS iterations (one skorch epoch; L-BFGS stops earlier when
        the loss or the step stalls).
    tol : float, default=1e-6
        L-BFGS stops when the loss or the parameters change by less than ``tol``
        between iterations (the optimisation runs in float32, whose resolution at a
        loss of 2 is 2.4e-7; on the anchor task 1e-6 and 1e-9 give the same head).
    device : str or torch.device, default="cpu"
        Where the head is fitted.
    verbose : int, default=0
        Positive: skorch prints its table of the (single) epoch's loss and time.

    Returns
    -------
    W : ndarray of shape (n_classes, d)
    c : ndarray of shape (n_classes,)
    net : GradientPenaltyHead
        The fitted skorch net (its ``history`` holds the loss per epoch).
    """
    Z = np.asarray(Z, dtype=np.float32)
    W0, c0 = mean_direction_start(Z, y, n_classes, lipschitz_cap)
    net = GradientPenaltyHead(
        LinearHead,
        module__n_features=Z.shape[1],
        module__n_classes=n_classes,
        module__init_weight=W0.astype(np.float32),
        module__init_bias=c0.astype(np.float32),
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.LBFGS,
        optimizer__lr=1.0,
        # One epoch of up to ``max_iter`` L-BFGS iterations: on the anchor task it
        # converges in about 30 (a second epoch changed no per-class loss digit).
        optimizer__max_iter=int(max_iter),
        optimizer__max_eval=int(max_iter * 5 // 4) + 1,
        optimizer__line_search_fn="strong_wolfe",
        optimizer__tolerance_grad=1e-10,
        optimizer__tolerance_change=tol,
        batch_size=-1,
        max_epochs=1,
        train_split=None,
        iterator_train=FullBatchIterator,
        iterator_valid=FullBatchIterator,
        device=str(device),
        lipschitz_cap=lipschitz_cap,
        penalty=penalty,
        verbose=int(verbose),
    )
    net.fit(Z, np.asarray(y, dtype=np.int64))
    lin = net.module_.linear
    return (lin.weight.detach().cpu().numpy().astype(np.float64),
            lin.bias.detach().cpu().numpy().astype(np.float64), net)
