"""Accuracy of simple classifiers on the frozen features: k-NN and linear probes."""

import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_taskrel.exceptions import DegenerateTaskWarning
from sklearn_taskrel.metrics._common import (
    canonical_order,
    check_features_and_labels,
    relabel_by_first_appearance,
)
from sklearn_taskrel.utils._validation import check_positive_int


def knn_accuracy_score(X, y, *, n_neighbors=5, metric="euclidean"):
    """Leave-one-out accuracy of a k-nearest-neighbour classifier on the features.

    Each sample is classified by the majority label of its ``n_neighbors``
    nearest other samples (ties go to the smallest label, as in
    :class:`~sklearn.neighbors.KNeighborsClassifier`):

    .. math::

        \\mathrm{acc}_{k\\text{-NN}} = \\frac{1}{n}\\sum_{i=1}^n
            \\Big[\\, y_i = \\arg\\max_c \\#\\{j \\in N_k(x_i) : y_j = c\\} \\Big],

    where :math:`N_k(x_i)` are the :math:`k` nearest neighbours of :math:`x_i`
    among the other samples. Greater is better.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        Features of the target samples.
    y : array-like of shape (n_samples,)
        Target labels.
    n_neighbors : int, default=5
        :math:`k`. Capped at ``n_samples - 1`` (with a warning).
    metric : str, default="euclidean"
        Any metric of :class:`~sklearn.neighbors.NearestNeighbors`, e.g.
        ``"cosine"``.

    Returns
    -------
    score : float
        Leave-one-out accuracy in :math:`[0, 1]`.

    Notes
    -----
    Equal to ``cross_val_score(KNeighborsClassifier(n_neighbors), X, y,
    cv=LeaveOneOut()).mean()`` when no two distances tie, with one neighbour
    search instead of :math:`n` fits. A sample with duplicates may have a
    duplicate returned in place of itself; one copy of it is then dropped.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.metrics import knn_accuracy_score
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    >>> knn_accuracy_score(X, [0, 0, 0, 1, 1, 1], n_neighbors=2)
    1.0
    """
    X, codes, n_classes = check_features_and_labels(X, y, min_samples=2)
    n_neighbors = check_positive_int(n_neighbors, "n_neighbors")
    n = X.shape[0]
    if n_neighbors > n - 1:
        warnings.warn(
            f"n_neighbors={n_neighbors} is larger than n_samples - 1 = {n - 1}; using "
            f"{n - 1}.", DegenerateTaskWarning, stacklevel=2)
        n_neighbors = n - 1
    nn = NearestNeighbors(n_neighbors=n_neighbors + 1, metric=metric).fit(X)
    idx = nn.kneighbors(X, return_distance=False)
    is_self = idx == np.arange(n)[:, None]
    # drop self, or the farthest neighbour when a duplicate displaced self
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), n_neighbors)
    keep = np.ones_like(idx, dtype=bool)
    keep[np.arange(n), drop] = False
    neighbours = idx[keep].reshape(n, n_neighbors)
    votes = np.zeros((n, n_classes))
    np.add.at(votes, (np.repeat(np.arange(n), n_neighbors), codes[neighbours].ravel()), 1.0)
    return float(np.mean(np.argmax(votes, axis=1) == codes))


def linear_probe_score(X, y, *, C=1.0, cv=5, max_iter=1000, standardize=True,
                       random_state=None):
    """Cross-validated accuracy of a logistic-regression probe on the features.

    .. math::

        \\mathrm{acc}_{\\mathrm{probe}} = \\frac{1}{F}\\sum_{f=1}^{F}
            \\mathrm{acc}\\big(h_f, \\mathcal{D}_f^{\\mathrm{test}}\\big),\\qquad
        h_f = \\arg\\min_{W, b} \\sum_{i \\in \\mathcal{D}_f^{\\mathrm{train}}}
            \\ell_{\\mathrm{CE}}(W x_i + b, y_i) + \\frac{1}{2C}\\lVert W\\rVert^2,

    with :math:`F` stratified folds and features standardised on each training
    fold. Greater is better.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        Features of the target samples.
    y : array-like of shape (n_samples,)
        Target labels (at least 2 classes, each with at least 2 samples).
    C : float, default=1.0
        Inverse L2 strength of :class:`~sklearn.linear_model.LogisticRegression`.
    cv : int, default=5
        Number of stratified folds; reduced to the size of the smallest class
        (with a warning) when that is smaller.
    max_iter : int, default=1000
        L-BFGS iterations of each fit.
    standardize : bool, default=True
        Put a :class:`~sklearn.preprocessing.StandardScaler` before the probe.
    random_state : int, RandomState instance or None, default=None
        Shuffles the folds. Pass an int for a reproducible score.

    Returns
    -------
    score : float
        Mean test accuracy over the folds, in :math:`[0, 1]`.

    Notes
    -----
    Samples are put in a canonical order (sorted by feature values, classes
    numbered by first appearance) before the folds are drawn, so that the score
    depends on the set of samples and ``random_state`` only, not on the order of
    the rows or the names of the labels.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.metrics import linear_probe_score
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1], 20)
    >>> X = rng.normal(size=(40, 3)) + 4 * y[:, None]
    >>> linear_probe_score(X, y, random_state=0)
    1.0
    """
    return _linear_probe(X, y, C=C, cv=cv, max_iter=max_iter, standardize=standardize,
                         random_state=random_state)[0]


def _linear_probe(X, y, *, C=1.0, cv=5, max_iter=1000, standardize=True,
                  random_state=None):
    """Probe accuracy and the most L-BFGS iterations over the folds."""
    X, codes, n_classes = check_features_and_labels(X, y, min_classes=2)
    cv = check_positive_int(cv, "cv", minimum=2)
    max_iter = check_positive_int(max_iter, "max_iter")
    if not (np.isscalar(C) and C > 0):
        raise ValueError(f"C must be a positive float; got {C!r}.")
    smallest = int(np.bincount(codes).min())
    if smallest < 2:
        raise ValueError(
            "y must have at least 2 samples in every class for a cross-validated probe; "
            f"the smallest class has {smallest}.")
    if smallest < cv:
        warnings.warn(
            f"the smallest class has {smallest} samples, fewer than cv={cv}; using "
            f"{smallest} folds.", DegenerateTaskWarning, stacklevel=2)
        cv = smallest
    order = canonical_order(X)
    X, codes = X[order], relabel_by_first_appearance(codes[order])
    probe = LogisticRegression(C=C, max_iter=max_iter)
    model = make_pipeline(StandardScaler(), probe) if standardize else probe
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
    result = cross_validate(model, X, codes, cv=folds, return_estimator=True)
    fitted = [est[-1] if standardize else est for est in result["estimator"]]
    n_iter = int(max(np.max(est.n_iter_) for est in fitted))
    return float(np.mean(result["test_score"])), n_iter
