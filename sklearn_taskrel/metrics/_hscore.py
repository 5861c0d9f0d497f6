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
    return _h_score(X, y, rcond=rcond)[0]


def _h_score(X, y, *, rcond=None, influence=False):
    """The H-score and, with ``influence=True``, each sample's influence
    ``g_i = dH/dw_i`` at unit weights (else ``None``).

    With sample weights, every mean and covariance weighted and :math:`z_i` the
    whitened centred features (:math:`\\operatorname{cov}(z) = I` on the kept
    eigenvectors), :math:`e_c` the whitened class means and :math:`p_c = n_c/n`,
    :math:`H = \\sum_c p_c \\lVert e_c\\rVert^2` and

    .. math::

        g_i = \\frac{1}{n}\\Big(2 z_i^\\top e_{y_i} - \\lVert e_{y_i}\\rVert^2
            - \\sum_c p_c (z_i^\\top e_c)^2\\Big),

    from :math:`\\partial\\operatorname{cov}(f)/\\partial w_i =
    (\\tilde f_i \\tilde f_i^\\top - \\operatorname{cov}(f))/n` and the same for the
    class means (the pseudo-inverse acts on the span of the centred features, which
    positive weights do not change).
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
            DegenerateTaskWarning, stacklevel=3)
    if not influence:
        return score, None
    if n <= d:  # Xc = U S V^T: whitened z_i = sqrt(n) U_i, class means sqrt(n) sums / n_c
        z = np.sqrt(n) * U[:, keep]
        e = np.sqrt(n) * sums / counts[:, None]
    else:
        scale = np.sqrt(lam[keep])
        z = (Xc @ V[:, keep]) / scale
        e = deltas / scale
    proj = z @ e.T  # (n, K): z_i^T e_c
    own = proj[np.arange(n), codes]
    g = (2 * own - np.sum(e**2, axis=1)[codes] - (proj**2) @ (counts / n)) / n
    return score, g


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
    return _regularized_h_score(X, y)[0]


def _regularized_h_score(X, y, *, influence=False):
    """The regularised H-score and, with ``influence=True``, each sample's influence
    ``g_i = dH_alpha/dw_i`` at unit weights (else ``None``).

    With sample weights every mean, covariance and sum of the Ledoit-Wolf formula
    is weighted and its :math:`n` is :math:`\\sum_i w_i` (integer weights duplicate
    rows). The derivative runs through the covariance
    (:math:`\\partial S / \\partial w_i = (\\tilde f_i\\tilde f_i^\\top - S)/n`),
    the class means, the shrinkage target :math:`\\mu` and the shrinkage
    :math:`\\alpha = \\beta/\\delta` itself (zero where it is clipped at 1);
    :math:`\\Sigma_\\alpha` shares the eigenvectors of :math:`S`, so every term is a
    sum over the eigenvalues the score already computed.
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
    score = float((1 - alpha) * np.sum(counts / n * quad.sum(axis=1)))
    if not influence:
        return score, None
    if alpha >= 1.0:  # clipped: the score is 0 near these weights
        return score, np.zeros(n)
    # Coordinates on the eigenvectors of the covariance S (eigenvalues s = lam / n):
    # a_i of each centred sample, b_c of each class mean.
    a = (vecs * np.sqrt(lam) if n <= d else Xc @ vecs)[:, safe]
    b = (one_hot(codes, n_classes).T @ a) / counts[:, None]
    s, D, p = lam[safe] / n, denom[safe], counts / n
    row_sq = np.sum(Xc**2, axis=1)
    trace = row_sq.sum() / n
    # d(alpha)/dw_i through the Ledoit-Wolf formula (alpha = beta / delta, beta < delta)
    d_trace = (row_sq - trace) / n
    delta_ = np.sum(gram_small**2) / n**2  # ||S||_F^2
    d_delta_ = 2 * ((a**2) @ s - delta_) / n
    beta_ = np.sum(row_sq**2)
    d_beta_ = row_sq**2 - 4 / n * (a @ (a.T @ row_sq))
    beta = (beta_ / n - delta_) / (d * n)
    delta = (delta_ - trace**2 / d) / d
    if d == 1 or beta <= 0:
        d_alpha = np.zeros(n)
    else:
        d_beta = (d_beta_ / n - beta_ / n**2 - d_delta_) / (d * n) - beta / n
        d_delta = (d_delta_ - 2 * trace * d_trace / d) / d
        d_alpha = (d_beta - alpha * d_delta) / delta
    Q = np.sum(p[:, None] * b**2 / D)  # tr(Sigma_alpha^-1 S_B); score = (1 - alpha) Q
    Mb = b / D  # Sigma_alpha^-1 delta_c
    own = np.sum(a * Mb[codes], axis=1)  # f_i^T Sigma_alpha^-1 delta_{y_i}
    d_trace_MSB = (2 * own - np.sum(b * Mb, axis=1)[codes] - Q) / n
    Nb = b / D**2
    tr_SN = np.sum(p[:, None] * s * Nb * b)
    tr_N = np.sum(p[:, None] * Nb * b)
    fNf = ((a @ Mb.T) ** 2) @ p  # f_i^T Sigma^-1 S_B Sigma^-1 f_i
    d_trace_dSigma_N = (-d_alpha * tr_SN + (1 - alpha) * (fNf - tr_SN) / n
                        + (d_alpha * mu + alpha * d_trace / d) * tr_N)
    g = -d_alpha * Q + (1 - alpha) * (d_trace_MSB - d_trace_dSigma_N)
    return score, g


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
