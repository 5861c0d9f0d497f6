"""Helpers shared by the transferability scores (numpy and scikit-learn only)."""

import numpy as np
from scipy.special import logsumexp

from sklearn_taskrel.utils._validation import _describe, check_embeddings, check_labels


def check_features_and_labels(X, y, *, min_classes=1, min_samples=1, x_name="X",
                              y_name="y"):
    """Validate ``(X, y)`` and encode ``y`` as ``0..K-1``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    codes : ndarray of shape (n_samples,), int64
    n_classes : int
    """
    X = check_embeddings(X, name=x_name, min_samples=min_samples)
    classes, codes = check_labels(y, n_samples=X.shape[0], name=y_name)
    if len(classes) < min_classes:
        raise ValueError(
            f"{y_name} must hold at least {min_classes} classes for this score; got "
            f"{len(classes)} class(es): {list(classes)[:5]!r}."
        )
    return X, codes, len(classes)


def check_source_proba(source_proba, *, n_samples=None, name="source_proba"):
    """Validate a matrix of source-class probabilities (rows on the simplex).

    Rows must be non-negative and sum to 1 within ``1e-4`` (float32 softmax
    outputs pass); they are renormalised exactly. Logits are refused with a hint.
    """
    P = check_embeddings(source_proba, name=name)
    if n_samples is not None and P.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {P.shape[0]} rows but y has {n_samples} labels; they must "
            "have the same length."
        )
    row_sums = P.sum(axis=1)
    if np.any(P < 0) or not np.allclose(row_sums, 1.0, rtol=0, atol=1e-4):
        worst = int(np.argmax(np.abs(row_sums - 1.0) + (P < 0).any(axis=1)))
        raise ValueError(
            f"{name} must hold probabilities (non-negative rows that sum to 1); got "
            f"{_describe(source_proba)} whose row {worst} sums to {row_sums[worst]!r}"
            f"{' and has negative entries' if np.any(P[worst] < 0) else ''}. Pass "
            "scipy.special.softmax(logits, axis=1) for logits."
        )
    return P / row_sums[:, None]


def canonical_order(X):
    """A permutation that sorts the rows of ``X`` lexicographically.

    Randomised fits run on the rows in this order, so that a score depends on the
    set of samples and its seed only, not on the order in which rows are passed.
    """
    return np.lexsort(X.T[::-1])


def relabel_by_first_appearance(codes):
    """Class codes renumbered in order of first appearance (independent of label names)."""
    _, first = np.unique(codes, return_index=True)
    return np.argsort(np.argsort(first))[codes]


def softmax(logits):
    """Row-wise softmax in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    return np.exp(logits - logsumexp(logits, axis=1, keepdims=True))


def one_hot(codes, n_classes):
    """One-hot encoding of integer codes, float64."""
    out = np.zeros((codes.shape[0], n_classes))
    out[np.arange(codes.shape[0]), codes] = 1.0
    return out


def class_means(X, codes, n_classes):
    """Means of each class and the number of samples per class."""
    counts = np.bincount(codes, minlength=n_classes).astype(np.float64)
    sums = np.zeros((n_classes, X.shape[1]))
    np.add.at(sums, codes, X)
    return sums / counts[:, None], counts


def empirical_log_prediction(proba, codes, n_classes):
    """Per-sample ``log sum_z P(y_i | z) proba[i, z]`` (the LEEP predictor).

    ``P(y | z)`` is the empirical conditional of the target label given the
    source class, estimated from the soft joint ``sum_i proba[i, z] [y_i = y]``.
    Source classes with no mass are dropped: every row gives them probability 0,
    so they cannot contribute (the published code divides 0 by 0 there).
    """
    n = proba.shape[0]
    joint = one_hot(codes, n_classes).T @ proba / n  # (K_target, K_source)
    mass = joint.sum(axis=0)
    used = mass > 0
    cond = joint[:, used] / mass[used]  # P(y | z)
    pred = proba[:, used] @ cond.T  # (n, K_target): sum_z P(y|z) theta_z
    return np.log(pred[np.arange(n), codes])
