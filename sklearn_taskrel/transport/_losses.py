"""Per-class cross-entropy of a linear head (numpy): the reference losses ``L_r``."""

import numpy as np


def head_logits(Z, W, c):
    """``Z @ W.T + c`` (numpy)."""
    return Z @ W.T + c


def per_class_losses(Z, y, W, c, n_classes):
    """Mean cross-entropy of the head on each class (``nan``-free: empty -> 0)."""
    return (per_class_losses_from_logits(head_logits(Z, W, c), y, n_classes),
            np.bincount(y, minlength=n_classes))


def per_class_losses_from_logits(S, y, n_classes):
    """Mean cross-entropy of logits ``S`` on each class (empty class -> 0)."""
    S = S - S.max(axis=1, keepdims=True)
    logp = S - np.log(np.exp(S).sum(axis=1, keepdims=True))
    nll = -logp[np.arange(len(y)), y]
    sums = np.bincount(y, weights=nll, minlength=n_classes)
    counts = np.bincount(y, minlength=n_classes)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
