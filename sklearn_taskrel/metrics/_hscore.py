"""H-score and its Ledoit-Wolf regularised form."""

import warnings

import numpy as np

from sklearn_taskrel.exceptions import DegenerateTaskWarning
from sklearn_taskrel.metrics._common import (
    check_features_and_labels,
    class_means,
    one_hot,
)


def h_score(X, y, *, rcond=None):
    """H-score: how much of the feature covariance the class means explain.

    With :math:`f` the centred features and :math:`g(x) = \\mathbb{E}[f \\mid y]`
    their class mean [1]_:

    .. math::

        \\mathcal{H}(f) = \\operatorname{tr}\\big(\\operatorname{cov}(f)^{+}
            \\operatorname{cov}(g)\\big)
          = \\sum_{c} \\frac{n_c}{n} (\\mu_c - \\mu)^\\top
            \\operatorname{cov}(f)^{+} (\\mu_c - \\mu),

    the Fisher criterion of the labels in whitened feature space, between 0
    and :math:`K - 1` for :math:`K` classes. Greater is better.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        Features of the target samples.
    y : array-like of shape (n_samples,)
        Target labels.
    rcond : float or None, default=None
        Eigenvalues of the feature covariance below ``rcond`` times the largest
        are treated as zero in the pseudo-inverse. ``None`` uses
        ``max(n_samples, n_features) * eps``, numpy's default for ``pinv``.

    Returns
    -------
    score : float
        H-score, in :math:`[0, K-1]`.

    Warns
    -----
    DegenerateTaskWarning
        When the centred features have rank ``n_samples - 1`` (in practice
        ``n_samples <= n_features``): the H-score then equals :math:`K - 1` for
        every labelling and says nothing about the features. Use
        :func:`regularized_h_score` there.

    Notes
    -----
    Covariances are normalised by :math:`n` (the ratio does not depend on the
    normalisation). The pseudo-inverse is applied through the eigenvectors of the
    smaller Gram matrix, so the cost is :math:`O(n d \\min(n, d))`. The
    reference implementations use ``pinv`` with a fixed ``rcond`` (``1e-10`` in
    the authors' code, ``1e-15`` in ``tllib``), which only matters for
    ill-conditioned features.

    References
    ----------
    .. [1] Y. Bao, Y. Li, S.-L. Huang, L. Zhang, L. Zheng, A. Zamir and L. Guibas.
       "An Information-Theoretic Approach to Transferability in Task Transfer
       Learning". ICIP 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.metrics import h_score
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1, 2], 20)
    >>> X = rng.normal(size=(60, 5)) + 2 * np.eye(5)[y]
    >>> round(h_score(X, y), 4)
    1.1971
    """
    X, codes, n_classes = check_features_and_labels(X, y)
    Xc = X - X.mean(axis=0)
    n, d = Xc.shape
    counts = np.bincount(codes, minlength=n_classes).astype(np.float64)
    rtol = max(n, d) * np.finfo(np.float64).eps if rcond is None else float(rcond)
    if n <= d:
        lam, U = np.linalg.eigh(Xc @ Xc.T)
        keep = lam > rtol * lam.max(initial=0.0)
        sums = one_hot(codes, n_classes).T @ U[:, keep]  # (K, r): U_i^T 1_c
        score = float(np.sum(sums**2 / counts[:, None]))
        rank = int(keep.sum())
    else:
        lam, V = np.linalg.eigh(Xc.T @ Xc / n)
        keep = lam > rtol * lam.max(initial=0.0)
        deltas = class_means(Xc, codes, n_classes)[0] @ V[:, keep]
        score = float(np.sum(counts[:, None] / n * deltas**2 / lam[keep]))
        rank = int(keep.sum())
    if n_classes > 1 and rank >= n - 1:
        warnings.warn(
            f"the centred features have rank {rank} = n_samples - 1 (n_samples={n}, "
            f"n_features={d}): the H-score equals n_classes - 1 = {n_classes - 1} for "
            "any labelling. Use regularized_h_score for small samples.",
            DegenerateTaskWarning, stacklevel=2)
    return score


def regularized_h_score(X, y):
    """Regularised H-score, with a Ledoit-Wolf shrunk feature covariance.

    Ibrahim et al. [1]_ replace :math:`\\operatorname{cov}(f)` by the
    Ledoit-Wolf estimate
    :math:`\\Sigma_\\alpha = (1 - \\alpha)\\operatorname{cov}(f) + \\alpha\\,
    \\frac{\\operatorname{tr}\\operatorname{cov}(f)}{d} I` with the Ledoit-Wolf
    shrinkage :math:`\\alpha` [2]_, and shrink :math:`\\operatorname{cov}(g)`
    by the same factor:

    .. math::

        \\mathcal{H}_\\alpha(f) = \\operatorname{tr}\\big(\\Sigma_\\alpha^{-1}
            (1 - \\alpha) \\operatorname{cov}(g)\\big).

    Greater is better. Unlike the H-score it stays informative when
    ``n_samples <= n_features``.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        Features of the target samples.
    y : array-like of shape (n_samples,)
        Target labels.

    Returns
    -------
    score : float
        Regularised H-score, in :math:`[0, K-1]`.

    Notes
    -----
    Both covariances are normalised by :math:`n`, as the Ledoit-Wolf estimator
    is. The ``tllib`` implementation (thuml/Transfer-Learning-Library) takes
    :math:`\\operatorname{cov}(g)` with :math:`n - 1`, so its values are
    :math:`n / (n - 1)` times these. The shrinkage is
    :func:`sklearn.covariance.ledoit_wolf_shrinkage`'s formula evaluated
    through the smaller Gram matrix (:math:`O(n d \\min(n, d))`).

    References
    ----------
    .. [1] S. Ibrahim, N. Ponomareva and R. Mazumder. "Newer is not always better:
       Rethinking transferability metrics, their peculiarities, stability and
       performance". ECML PKDD 2022.
    .. [2] O. Ledoit and M. Wolf. "A well-conditioned estimator for
       large-dimensional covariance matrices". J. Multivariate Anal. 2004.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.metrics import regularized_h_score
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1, 2], 20)
    >>> X = rng.normal(size=(60, 5)) + 2 * np.eye(5)[y]
    >>> round(regularized_h_score(X, y), 4)
    0.7735
    """
    X, codes, n_classes = check_features_and_labels(X, y)
    Xc = X - X.mean(axis=0)
    n, d = Xc.shape
    counts = np.bincount(codes, minlength=n_classes).astype(np.float64)
    gram_small = Xc @ Xc.T if n <= d else Xc.T @ Xc
    alpha = ledoit_wolf_shrinkage_gram(Xc, gram_small)
    mu = np.sum(Xc**2) / n / d
    lam, vecs = np.linalg.eigh(gram_small)
    lam = np.clip(lam, 0.0, None)
    denom = (1 - alpha) * lam / n + alpha * mu
    safe = denom > 0
    if n <= d:
        sums = one_hot(codes, n_classes).T @ vecs  # U_i^T 1_c
        # V_i^T delta_c = sqrt(lam_i) U_i^T 1_c / n_c
        quad = lam[safe] * sums[:, safe] ** 2 / counts[:, None] ** 2 / denom[safe]
    else:
        deltas = class_means(Xc, codes, n_classes)[0] @ vecs
        quad = deltas[:, safe] ** 2 / denom[safe]
    return float((1 - alpha) * np.sum(counts / n * quad.sum(axis=1)))


def ledoit_wolf_shrinkage_gram(Xc, gram_small):
    """Ledoit-Wolf shrinkage of centred ``Xc`` (scikit-learn's formula).

    ``gram_small`` is ``Xc Xc^T`` or ``Xc^T Xc``, whichever is smaller: both have
    the same Frobenius norm.
    """
    n, d = Xc.shape
    if d == 1:
        return 0.0
    row_sq = np.sum(Xc**2, axis=1)
    trace = row_sq.sum() / n  # tr(S)
    mu = trace / d
    beta_ = np.sum(row_sq**2)  # sum of <X2^T, X2>
    delta_ = np.sum(gram_small**2) / n**2  # ||S||_F^2
    beta = (beta_ / n - delta_) / (d * n)
    delta = (delta_ - 2.0 * mu * trace + d * mu**2) / d
    beta = min(beta, delta)
    return 0.0 if beta == 0 else float(beta / delta)
