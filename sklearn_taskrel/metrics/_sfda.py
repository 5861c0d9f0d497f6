"""SFDA: self-challenging Fisher discriminant analysis."""

import warnings

import numpy as np
from scipy import linalg
from scipy.sparse.linalg import eigsh

from sklearn_taskrel.exceptions import DegenerateTaskWarning
from sklearn_taskrel.metrics._common import (
    check_features_and_labels,
    class_means,
    softmax,
)


def sfda_score(X, y, *, shrinkage="auto"):
    """SFDA: accuracy-like score of a regularised Fisher classifier after ConfMix.

    SFDA [1]_ fits a regularised Fisher discriminant to the features, moves
    every sample towards the other classes' mean in proportion to its softened
    misclassification probability ("ConfMix", the self-challenge), fits the
    discriminant again and returns the mean probability of the true class.

    With class priors :math:`\\pi_c`, means :math:`\\mu_c`, within-class
    covariance :math:`S_w = \\sum_c \\pi_c \\operatorname{cov}(X_c)` and
    shrinkage :math:`\\lambda = \\max(e^{-5 \\lambda_{\\max}(S_w)}, 10^{-10})`:

    .. math::

        S_\\lambda = (1 - \\lambda) S_w + \\lambda \\frac{\\operatorname{tr} S_w}{d} I,
        \\qquad
        p(c \\mid x) = \\operatorname{softmax}_c\\big(x^\\top S_\\lambda^{-1}\\mu_c
            - \\tfrac{1}{2}\\mu_c^\\top S_\\lambda^{-1}\\mu_c + \\log\\pi_c\\big),

    .. math::

        q_i = \\operatorname{softmax}\\big(p(\\cdot \\mid x_i)\\big)_{y_i},\\qquad
        \\tilde x_i = q_i\\, x_i + (1 - q_i)\\, \\frac{1}{K-1}\\sum_{c \\ne y_i} \\mu_c,

    .. math::

        \\mathrm{SFDA} = \\frac{1}{n}\\sum_i \\tilde p(y_i \\mid \\tilde x_i),

    where :math:`\\tilde p` is the discriminant refitted on :math:`\\tilde x`
    with the same :math:`\\lambda`. Greater is better.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        Features of the target samples.
    y : array-like of shape (n_samples,)
        Target labels (at least 2 classes).
    shrinkage : "auto" or float in [0, 1], default="auto"
        :math:`\\lambda`; ``"auto"`` is the authors' rule above, with the exact
        largest eigenvalue.

    Returns
    -------
    score : float
        SFDA, in :math:`(0, 1]`.

    Warns
    -----
    DegenerateTaskWarning
        When ``n_samples - n_classes`` is smaller than the number of
        non-constant features: the within-class covariance is singular, the
        classes are linearly separable in the sample and the score saturates
        near 1 (the reference implementation returns 1.0 there as well).

    Notes
    -----
    The authors' code projects onto all generalised eigenvectors :math:`V` of
    :math:`(S_t - S_\\lambda, S_\\lambda)` and uses :math:`V V^\\top`, which equals
    :math:`S_\\lambda^{-1}`; here :math:`S_\\lambda^{-1}` is applied through a
    Cholesky factorisation (:math:`O(d^3/3)` instead of a generalised eigenproblem).
    Their code approximates :math:`\\lambda_{\\max}(S_w)` with three power
    iterations, and it overwrites the caller's feature array with the mixed
    features; this function does neither. Like the authors, it omits the
    logarithm of the probabilities.

    References
    ----------
    .. [1] W. Shao, X. Zhao, Y. Ge, Z. Zhang, L. Yang, X. Wang, Y. Shan and P. Luo.
       "Not All Models Are Equal: Predicting Model Transferability in a
       Self-challenging Fisher Space". ECCV 2022.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.metrics import sfda_score
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1, 2], 20)
    >>> X = rng.normal(size=(60, 5)) + 2 * np.eye(5)[y]
    >>> round(sfda_score(X, y), 4)
    0.5858
    """
    if not (shrinkage == "auto" or (np.isscalar(shrinkage) and not isinstance(shrinkage, str)
                                     and 0 <= shrinkage <= 1)):
        raise ValueError(f"shrinkage must be 'auto' or a float in [0, 1]; got {shrinkage!r}.")
    X, codes, n_classes = check_features_and_labels(X, y, min_classes=2)
    n, d = X.shape
    n_varying = int(np.count_nonzero(np.ptp(X, axis=0) > 0))
    if n - n_classes < n_varying:
        warnings.warn(
            f"SFDA on {n} samples of {n_classes} classes with {n_varying} non-constant "
            "features: the within-class covariance is singular, the classes are "
            "separable in the sample and the score saturates near 1.",
            DegenerateTaskWarning, stacklevel=2)
    proba, lam = _fisher_proba(X, codes, n_classes, shrinkage)
    soft = softmax(proba)[np.arange(n), codes][:, None]
    means, _ = class_means(X, codes, n_classes)
    others = (means.sum(axis=0) - means) / (n_classes - 1)
    mixed = soft * X + (1 - soft) * others[codes]
    proba, _ = _fisher_proba(mixed, codes, n_classes, lam)
    return float(np.mean(proba[np.arange(n), codes]))


def _fisher_proba(X, codes, n_classes, shrinkage):
    """Posterior of the shrunk linear discriminant and the shrinkage used."""
    n, d = X.shape
    means, counts = class_means(X, codes, n_classes)
    centred = X - means[codes]
    Sw = centred.T @ centred / n
    if shrinkage == "auto":
        shrinkage = max(np.exp(-5.0 * _largest_eigenvalue(Sw)), 1e-10)
    S = (1.0 - shrinkage) * Sw
    S.flat[:: d + 1] += shrinkage * np.trace(Sw) / d
    try:
        factor = linalg.cho_factor(S, lower=True, check_finite=False)
        coef = linalg.cho_solve(factor, means.T, check_finite=False).T  # (K, d)
    except linalg.LinAlgError:  # S singular: no variance at all, or shrinkage 0
        coef = linalg.lstsq(S, means.T, check_finite=False)[0].T
    logits = X @ coef.T - 0.5 * np.sum(means * coef, axis=1) + np.log(counts / n)
    return softmax(logits), shrinkage


def _largest_eigenvalue(S):
    """Largest eigenvalue of a symmetric positive semi-definite matrix."""
    d = S.shape[0]
    if d <= 300:
        return float(linalg.eigh(S, eigvals_only=True, subset_by_index=[d - 1, d - 1])[0])
    # Lanczos: a few dozen products with S instead of a full tridiagonalisation;
    # a fixed start vector keeps the result deterministic.
    start = np.full(d, 1.0 / np.sqrt(d)) + np.linspace(0.0, 1e-3, d)
    return float(eigsh(S, k=1, which="LA", v0=start, tol=1e-12,
                       return_eigenvectors=False)[0])
