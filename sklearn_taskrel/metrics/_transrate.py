"""TransRate: mutual information between features and labels by coding rate."""

import numpy as np

from sklearn_taskrel.metrics._common import check_features_and_labels


def transrate_score(X, y, *, eps=1e-4):
    """TransRate: coding rate of the features minus their coding rate given the label.

    With :math:`Z` the centred features, :math:`Z_c` the rows of class
    :math:`c` and the coding rate
    :math:`R(Z, \\epsilon) = \\frac{1}{2}\\log\\det\\big(I_d +
    \\frac{1}{n \\epsilon} Z^\\top Z\\big)` [1]_:

    .. math::

        \\mathrm{TrR} = R(Z, \\epsilon) - \\sum_{c} \\frac{n_c}{n} R(Z_c, \\epsilon),

    an estimate of the mutual information between features and labels. Greater
    is better.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        Features of the target samples.
    y : array-like of shape (n_samples,)
        Target labels.
    eps : float, default=1e-4
        Distortion :math:`\\epsilon` of the coding rate (the authors' default in
        their listing; their experiments tune it between ``1e-5`` and ``5e-3``).

    Returns
    -------
    score : float
        TransRate, in nats.

    Notes
    -----
    The class weights :math:`n_c / n` are those of the authors' repository [2]_
    (``process_transrate_logs``). The listing in the paper's appendix, and
    ``tllib`` which copies it, average the class coding rates uniformly
    (:math:`1/K`); both agree on balanced classes. Features are centred once over
    all samples, not per class, as in both references: each class is coded around
    the global mean, so TransRate rewards classes that occupy different subspaces
    (as in the rate reduction it builds on) more than classes that differ only by
    their means in a few dimensions. Each log-determinant is taken through the
    smaller of :math:`Z^\\top Z` and :math:`Z Z^\\top` (Sylvester's identity), so
    the cost is :math:`O(n d \\min(n, d))` in total.

    References
    ----------
    .. [1] L.-K. Huang, J. Huang, Y. Rong, Q. Yang and Y. Wei. "Frustratingly Easy
       Transferability Estimation". ICML 2022.
    .. [2] Long-Kai/TransRate, ``generate_transrate/transrate.py`` and
       ``extract_result_utils.py``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.metrics import transrate_score
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1, 2], 20)
    >>> X = rng.normal(size=(60, 5)) + 2 * np.eye(5)[y]
    >>> round(transrate_score(X, y), 4)
    0.4822
    """
    return _transrate(X, y, eps=eps)[0]


def _transrate(X, y, *, eps=1e-4, influence=False):
    """TransRate and, with ``influence=True``, each sample's influence
    ``g_i = dTransRate/dw_i`` at unit weights (else ``None``).

    With sample weights :math:`S = \\sum_i w_i z_i z_i^\\top / \\sum_i w_i` (the
    features centred on their weighted mean), :math:`S_c` the same over class
    :math:`c` (still about the overall mean) and :math:`R = \\frac12\\log\\det(I +
    S/\\epsilon)`, TransRate is :math:`R - \\sum_c p_c R_c`. With
    :math:`q_i = z_i^\\top (\\epsilon I + S)^{-1} z_i`, :math:`t` its mean, the same
    :math:`q^c_i, t_c` within the class of :math:`i`, and
    :math:`v_c = (\\epsilon I + S_c)^{-1} m_c` for the class mean :math:`m_c` of
    :math:`z`:

    .. math::

        g_i = \\frac{1}{n}\\Big(\\tfrac12 (q_i - t) - \\tfrac12 (q^c_i - t_c)
            - \\big(R_{y_i} - \\textstyle\\sum_c p_c R_c\\big)
            + \\sum_c p_c\\, z_i^\\top v_c\\Big),

    the last term from the overall mean, which every class's :math:`S_c` is taken
    about. The quadratic forms come from Cholesky solves with the smaller Gram
    matrix (:math:`Z (\\epsilon I + Z^\\top Z/m)^{-1} = (\\epsilon I + Z Z^\\top/m)^{-1}
    Z`).
    """
    if not (np.isscalar(eps) and eps > 0):
        raise ValueError(f"eps must be a positive float; got {eps!r}.")
    X, codes, n_classes = check_features_and_labels(X, y)
    Z = X - X.mean(axis=0)
    n = Z.shape[0]
    rate = _coding_rate(Z, eps)
    conditional = 0.0
    rates = np.zeros(n_classes)
    for c in range(n_classes):
        Zc = Z[codes == c]
        rates[c] = _coding_rate(Zc, eps)
        conditional += Zc.shape[0] / n * rates[c]
    score = float(rate - conditional)
    if not influence:
        return score, None
    counts = np.bincount(codes, minlength=n_classes).astype(np.float64)
    q, _ = _rate_quadratics(Z, eps)
    g = 0.5 * (q - q.mean()) - (rates[codes] - np.sum(counts / n * rates))
    for c in range(n_classes):
        rows = codes == c
        q_c, v_c = _rate_quadratics(Z[rows], eps)
        g[rows] -= 0.5 * (q_c - q_c.mean())
        g += counts[c] / n * (Z @ v_c)
    return score, g / n


def _rate_quadratics(Z, eps):
    """``q_i = z_i^T (eps I + S)^-1 z_i`` for the rows of ``Z`` (m, d), with
    ``S = Z^T Z / m``, and ``v = (eps I + S)^-1 mean(z)``."""
    from scipy.linalg import cho_factor, cho_solve

    m, d = Z.shape
    if m <= d:  # (eps I + Z^T Z / m)^-1 Z^T = Z^T (eps I + Z Z^T / m)^-1
        gram = Z @ Z.T
        factor = cho_factor(eps * np.eye(m) + gram / m)
        solved = cho_solve(factor, np.c_[gram, np.full(m, 1.0 / m)])  # K^-1 [G, 1/m]
        # q = diag(Z (eps I + S)^-1 Z^T) = diag(G K^-1) = diag(K^-1 G)
        return np.diag(solved[:, :m]).copy(), Z.T @ solved[:, m]
    factor = cho_factor(eps * np.eye(d) + Z.T @ Z / m)
    solved = cho_solve(factor, np.c_[Z.T, Z.mean(axis=0)])  # (eps I + S)^-1 [Z^T, mean]
    return np.sum(Z.T * solved[:, :m], axis=0), solved[:, m]


def _coding_rate(Z, eps):
    """``1/2 log det(I + Z^T Z / (m eps))`` for ``Z`` of shape (m, d)."""
    m, d = Z.shape
    gram = Z @ Z.T if m <= d else Z.T @ Z
    lam = np.clip(np.linalg.eigvalsh(gram), 0.0, None)
    return 0.5 * float(np.sum(np.log1p(lam / (m * eps))))
