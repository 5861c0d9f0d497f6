"""OT-based NCE (the task term of OTCE)."""

import numpy as np
import ot
from scipy.special import xlogy
from sklearn.utils import check_random_state

from sklearn_taskrel.metrics._common import (
    canonical_order,
    check_features_and_labels,
    one_hot,
)
from sklearn_taskrel.transport._solvers import exact_transport
from sklearn_taskrel.utils._validation import check_positive_int, check_reference_width


def ot_nce_score(X, y, X_source, y_source, *, max_samples=None, max_iter=100_000,
                 random_state=None):
    """OT-NCE: negative conditional entropy of target labels given source labels under OT.

    The optimal coupling :math:`\\pi` between the source sample
    :math:`\\{(x^s_i, y^s_i)\\}` and the target sample :math:`\\{(x_j, y_j)\\}`
    (uniform weights, squared Euclidean cost) defines a joint distribution of
    source and target labels, and OT-NCE [1]_ is the negative conditional entropy
    of the target label given the source label under it:

    .. math::

        \\pi = \\arg\\min_{\\pi \\in \\Pi(\\frac{1}{m}\\mathbf{1}, \\frac{1}{n}\\mathbf{1})}
            \\sum_{i,j} \\pi_{ij} \\lVert x^s_i - x_j \\rVert^2, \\qquad
        \\hat P(y^s, y) = \\sum_{i: y^s_i = y^s} \\sum_{j: y_j = y} \\pi_{ij},

    .. math::

        \\mathrm{OT\\text{-}NCE} = \\sum_{y^s, y} \\hat P(y^s, y)
            \\log \\frac{\\hat P(y^s, y)}{\\hat P(y^s)} = -H(Y \\mid Y^s).

    Greater (closer to 0) is better. OTCE combines it with the transport cost,
    :math:`\\lambda_1 W + \\lambda_2 H(Y \\mid Y^s) + b`, with weights fitted on
    auxiliary tasks; :class:`~sklearn_taskrel.metrics.OTNCEScorer` stores both
    terms.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        Features of the target samples.
    y : array-like of shape (n_samples,)
        Target labels.
    X_source : array-like or torch.Tensor of shape (n_source_samples, n_features)
        Features of the source (reference) samples, from the same encoder.
    y_source : array-like of shape (n_source_samples,)
        Source labels.
    max_samples : int or None, default=None
        If set, at most this many samples of each side are drawn (uniformly,
        without replacement, from the rows in a canonical order so that the draw
        does not depend on their order) before solving the transport; the authors
        use 1000.
    max_iter : int, default=100_000
        Iterations of the network simplex (the authors' value); reaching it
        emits a :class:`~sklearn.exceptions.ConvergenceWarning`.
    random_state : int, RandomState instance or None, default=None
        Seeds the subsampling when ``max_samples`` is set.

    Returns
    -------
    score : float
        OT-NCE, in :math:`[-\\log K, 0]`.

    Notes
    -----
    The exact transport costs :math:`O(mn)` memory and roughly cubic time in
    :math:`\\max(m, n)`; use ``max_samples`` above a few thousand samples. When
    the optimal coupling is not unique (duplicated points) the value depends on
    the vertex returned by the solver.

    References
    ----------
    .. [1] Y. Tan, Y. Li and S.-L. Huang. "OTCE: A Transferability Metric for
       Cross-Domain Cross-Task Representations". CVPR 2021 (OT-based NCE in the
       appendix).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.metrics import ot_nce_score
    >>> X = np.array([[0.0], [1.0], [10.0], [11.0]])
    >>> round(ot_nce_score(X, [0, 0, 1, 1], X + 0.1, ["a", "a", "b", "b"]), 4)
    0.0
    """
    W, ce = ot_label_coupling_terms(X, y, X_source, y_source, max_samples=max_samples,
                                    max_iter=max_iter, random_state=random_state)
    return 0.0 - ce  # not -0.0 when ce is 0


def ot_label_coupling_terms(X, y, X_source, y_source, *, max_samples=None,
                            max_iter=100_000, random_state=None):
    """Transport cost ``W`` and conditional entropy ``H(Y | Y_source)`` under OT."""
    X, y_codes, n_classes = check_features_and_labels(X, y)
    Xs, ys_codes, n_source_classes = check_features_and_labels(
        X_source, y_source, x_name="X_source", y_name="y_source")
    check_reference_width(Xs.shape[1], X.shape[1])
    max_iter = check_positive_int(max_iter, "max_iter")
    max_samples = check_positive_int(max_samples, "max_samples", minimum=2, allow_none=True)
    if max_samples is not None:
        rng = check_random_state(random_state)
        order, order_s = canonical_order(X), canonical_order(Xs)
        X, y_codes, Xs, ys_codes = X[order], y_codes[order], Xs[order_s], ys_codes[order_s]
        if X.shape[0] > max_samples:
            keep = np.sort(rng.choice(X.shape[0], max_samples, replace=False))
            X, y_codes = X[keep], y_codes[keep]
        if Xs.shape[0] > max_samples:
            keep = np.sort(rng.choice(Xs.shape[0], max_samples, replace=False))
            Xs, ys_codes = Xs[keep], ys_codes[keep]
    cost = ot.dist(Xs, X, metric="sqeuclidean")
    plan, W = exact_transport(np.full(Xs.shape[0], 1.0 / Xs.shape[0]),
                              np.full(X.shape[0], 1.0 / X.shape[0]), cost, max_iter=max_iter)
    joint = one_hot(ys_codes, n_source_classes).T @ plan @ one_hot(y_codes, n_classes)
    p_source = joint.sum(axis=1)
    ce = float(np.sum(xlogy(p_source, p_source)) - np.sum(xlogy(joint, joint)))
    return W, ce
