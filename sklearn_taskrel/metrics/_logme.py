"""LogME: the maximum log evidence of a Bayesian linear model on the features."""

import warnings

import numpy as np
from sklearn.utils.multiclass import type_of_target

from sklearn_taskrel.exceptions import ConvergenceWarning
from sklearn_taskrel.metrics._common import one_hot
from sklearn_taskrel.utils._validation import (
    check_embeddings,
    check_labels,
    check_positive_int,
)


def logme_score(X, y, *, regression="auto", max_iter=100, tol=1e-5):
    """LogME: average maximum log evidence of a linear model from features to labels.

    For each target column :math:`t \\in \\mathbb{R}^n` (one-hot columns of the
    classes, or the columns of a regression target) LogME fits the Bayesian
    linear model :math:`t = F w + \\varepsilon` with prior
    :math:`w \\sim \\mathcal{N}(0, \\alpha^{-1} I_d)` and noise
    :math:`\\varepsilon \\sim \\mathcal{N}(0, \\beta^{-1} I_n)`, maximises the
    log evidence over :math:`(\\alpha, \\beta)` by MacKay's fixed point and returns
    the average over columns of the maximum divided by :math:`n`:

    .. math::

        \\mathcal{L}(\\alpha, \\beta) = \\frac{d}{2}\\log\\alpha
            + \\frac{n}{2}\\log\\beta
            - \\frac{1}{2}\\log\\lvert \\alpha I_d + \\beta F^\\top F\\rvert
            - \\frac{\\beta}{2}\\lVert t - F m\\rVert^2
            - \\frac{\\alpha}{2}\\lVert m\\rVert^2
            - \\frac{n}{2}\\log 2\\pi,
        \\qquad m = \\beta (\\alpha I + \\beta F^\\top F)^{-1} F^\\top t,

    .. math::

        \\gamma = \\sum_i \\frac{\\beta\\sigma_i}{\\alpha + \\beta\\sigma_i},\\quad
        \\alpha \\leftarrow \\frac{\\gamma}{\\lVert m\\rVert^2},\\quad
        \\beta \\leftarrow \\frac{n - \\gamma}{\\lVert t - F m\\rVert^2},

    where :math:`\\sigma_i` are the eigenvalues of :math:`F^\\top F`. Greater is
    better (a higher evidence means the features explain the labels with a
    simpler linear model).

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        Features of the target samples (float32 is accepted; the computation is
        float64). No intercept is added, as in the authors' code.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Class labels, or continuous regression targets.
    regression : bool or "auto", default="auto"
        ``True``: the columns of ``y`` are regression targets. ``False``: ``y``
        holds class labels (one evidence per class, on its indicator). ``"auto"``:
        regression when ``y`` is 2-D or continuous (``type_of_target`` is
        ``"continuous"``), classification otherwise.
    max_iter : int, default=100
        Maximum fixed-point iterations per column.
    tol : float, default=1e-5
        Stop when the ratio :math:`\\alpha/\\beta`, or the evidence, changes by
        less than ``tol`` (relative).

    Returns
    -------
    score : float
        Mean over target columns of :math:`\\max_{\\alpha,\\beta}\\mathcal{L} / n`.

    Raises
    ------
    ValueError
        If a regression column is identically zero (its evidence is unbounded).

    Notes
    -----
    The log determinant runs over all :math:`d` eigenvalues of
    :math:`F^\\top F`, zeros included. The fixed-point code of the reference
    implementation [1]_ (thuml/LogME ``_fit_fixed_point``) sums only the
    :math:`k = \\operatorname{rank}(F)` non-zero ones while keeping
    :math:`\\frac{d}{2}\\log\\alpha`, which inflates the score by
    :math:`\\frac{d-k}{2n}\\log\\alpha` whenever :math:`n < d` or features are
    collinear (thuml/LogME issue #23). Here the value agrees with
    :class:`sklearn.linear_model.BayesianRidge`'s log marginal likelihood
    (``fit_intercept=False`` and zero hyper-priors) in every regime, and small
    samples with many features give a finite, well-defined evidence. When a
    column is fitted exactly by the features (possible once :math:`n \\le d`), the
    maximum is approached as :math:`\\beta \\to \\infty` and the evidence tends
    to a finite supremum; the iteration stops when the evidence no longer changes.

    The eigenvalues come from the smaller Gram matrix (:math:`F^\\top F` or
    :math:`F F^\\top`), so the cost is :math:`O(n d \\min(n, d))` once, plus
    :math:`O(\\min(n,d) \\cdot n_{targets})` per iteration for all columns together.

    References
    ----------
    .. [1] K. You, Y. Liu, J. Wang and M. Long. "LogME: Practical Assessment of
       Pre-trained Models for Transfer Learning". ICML 2021.
    .. [2] K. You, Y. Liu, Z. Zhang, J. Wang, M. I. Jordan and M. Long. "Ranking
       and Tuning Pre-trained Models: A New Paradigm for Exploiting Model Hubs".
       JMLR 2022 (the fixed-point algorithm).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.metrics import logme_score
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1, 2], 20)
    >>> X = rng.normal(size=(60, 5)) + 2 * np.eye(5)[y]
    >>> round(logme_score(X, y), 4)
    -0.549
    >>> y_continuous = X @ np.ones(5) + rng.normal(size=60)
    >>> round(logme_score(X, y_continuous), 4)  # regression
    -1.572
    """
    return _logme(X, y, regression=regression, max_iter=max_iter, tol=tol)[0]


def _logme(X, y, *, regression="auto", max_iter=100, tol=1e-5, influence=False):
    """LogME and the number of fixed-point iterations (the most over columns); with
    ``influence=True`` also each sample's influence ``dLogME/dw_i`` (see
    :func:`_evidence_influence`)."""
    X = check_embeddings(X, name="X")
    max_iter = check_positive_int(max_iter, "max_iter")
    if not (np.isscalar(tol) and tol > 0):
        raise ValueError(f"tol must be a positive float; got {tol!r}.")
    T = _logme_targets(y, X.shape[0], regression)
    evidence, alpha, beta, n_iter, basis = _max_evidence(X, T, max_iter=max_iter,
                                                         tol=tol, keep_basis=True)
    score = float(np.mean(evidence))
    if not influence:
        return score, n_iter
    return score, n_iter, _evidence_influence(X, T, evidence, alpha, beta, basis)


def _evidence_influence(X, T, evidence, alpha, beta, basis):
    """Influence ``g_i = dLogME/dw_i`` of each sample's weight, at unit weights.

    With sample weights :math:`w` the log evidence of a column is (the likelihood of
    sample :math:`i` raised to the power :math:`w_i`; integer weights duplicate rows)

    .. math::

        \\mathcal{L}(w) = \\frac{d}{2}\\log\\alpha + \\frac{\\sum_i w_i}{2}
            \\log\\frac{\\beta}{2\\pi}
            - \\frac{\\beta}{2}\\sum_i w_i (t_i - f_i^\\top m)^2
            - \\frac{\\alpha}{2}\\lVert m\\rVert^2
            - \\frac{1}{2}\\log\\lvert \\alpha I + \\beta F^\\top W F\\rvert .

    At the MacKay optimum it is stationary in :math:`\\alpha`, :math:`\\beta` and
    the posterior mean :math:`m`, so (envelope theorem) only its explicit weights
    count: :math:`\\partial\\mathcal{L}/\\partial w_i = \\frac12\\log\\beta
    - \\frac12\\log 2\\pi - \\frac{\\beta}{2}(t_i - f_i^\\top m)^2
    - \\frac{\\beta}{2} f_i^\\top A^{-1} f_i` with
    :math:`A = \\alpha I + \\beta F^\\top F`; the leverage
    :math:`f_i^\\top A^{-1} f_i = \\sum_k (f_i^\\top v_k)^2/(\\alpha + \\beta\\sigma_k)`
    comes from the eigenvectors the fit already has. LogME divides by
    :math:`n = \\sum_i w_i`, so :math:`g_i = \\operatorname{mean}_c
    (\\partial\\mathcal{L}_c/\\partial w_i - \\mathcal{L}_c/n) / n`.
    Returns ``g`` of shape (n_samples,).
    """
    n = X.shape[0]
    kind, vecs, sigma = basis
    if kind == "zero":  # F = 0: alpha is infinite, A^-1 = 0, nothing is fitted
        resid2 = T**2
        leverage = np.zeros_like(T)
    else:
        if kind == "rows":  # n <= d: vecs = U (n, n), the eigenvectors of F F^T
            U = vecs
        else:  # n > d: vecs = V (d, d); u_k = F v_k / s_k for sigma_k > 0
            keep = sigma > sigma.max(initial=0.0) * X.shape[1] * np.finfo(np.float64).eps
            U = (X @ vecs[:, keep]) / np.sqrt(sigma[keep])
            sigma = sigma[keep]
        x = U.T @ T  # (r, n_cols): coordinates of t on the left singular vectors
        ratio = alpha / beta
        shrink = sigma[:, None] / (sigma[:, None] + ratio)  # sigma / (sigma + alpha/beta)
        resid2 = (T - U @ (shrink * x)) ** 2
        # f_i^T A^-1 f_i = sum_k U_ik^2 sigma_k / (alpha + beta sigma_k)
        leverage = (U**2) @ (sigma[:, None] / (alpha + beta * sigma[:, None]))
    dL = 0.5 * np.log(beta / (2 * np.pi)) - beta / 2 * (resid2 + leverage)  # (n, n_cols)
    return ((dL - evidence) / n).mean(axis=1)


def _logme_targets(y, n_samples, regression):
    """Target matrix ``T`` of shape (n_samples, n_columns) for LogME."""
    if regression not in (True, False, "auto"):
        raise ValueError(f"regression must be True, False or 'auto'; got {regression!r}.")
    if hasattr(y, "detach") and hasattr(y, "cpu"):
        y = y.detach().cpu().numpy()
    y_arr = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if regression == "auto":
        regression = y_arr.ndim == 2 or (
            y_arr.dtype.kind == "f" and type_of_target(y_arr) == "continuous")
    if not regression:
        _, codes = check_labels(y_arr, n_samples=n_samples, name="y")
        return one_hot(codes, int(codes.max()) + 1)
    if y_arr.ndim == 1:
        y_arr = y_arr[:, None]
    T = check_embeddings(y_arr, name="y")
    if T.shape[0] != n_samples:
        raise ValueError(
            f"y has {T.shape[0]} rows but X has {n_samples} samples; they must have "
            "the same length.")
    zero = np.flatnonzero(~T.any(axis=0))
    if zero.size:
        raise ValueError(
            f"y column(s) {zero.tolist()} are identically zero: the LogME evidence is "
            "unbounded (the noise precision goes to infinity).")
    return T


def _spectrum(X):
    """Eigenvalues ``sigma`` of the Gram matrix and the projections basis.

    Returns ``sigma`` (length ``r = min(n, d)``, zeros included), a function
    giving ``x = U^T t`` for the left singular vectors with ``sigma > 0`` (zero
    for the others), and ``(kind, vectors)``: ``("rows", U)`` when ``n <= d``,
    ``("features", V)`` (eigenvectors of ``X^T X``) otherwise.
    """
    n, d = X.shape
    if n <= d:
        sigma, U = np.linalg.eigh(X @ X.T)
        sigma = np.clip(sigma, 0.0, None)
        return sigma, lambda T: U.T @ T, ("rows", U)
    sigma, V = np.linalg.eigh(X.T @ X)
    sigma = np.clip(sigma, 0.0, None)
    positive = sigma > sigma.max(initial=0.0) * d * np.finfo(np.float64).eps
    s = np.sqrt(sigma[positive])

    def project(T):
        x = np.zeros((d, T.shape[1]))
        x[positive] = (V[:, positive].T @ (X.T @ T)) / s[:, None]
        return x

    return sigma, project, ("features", V)


def _max_evidence(X, T, *, max_iter=100, tol=1e-5, keep_basis=False):
    """Maximum log evidence per column of ``T`` (divided by n), alpha, beta, iterations
    (and, with ``keep_basis``, ``(kind, vectors, sigma)`` of the spectrum)."""
    n = X.shape[0]
    sigma, project, (kind, vecs) = _spectrum(X)
    r = sigma.shape[0]
    x2 = project(T) ** 2  # (r, n_cols)
    res_rest = np.maximum((T**2).sum(axis=0) - x2.sum(axis=0), 0.0)
    sig = sigma[:, None]
    n_cols = T.shape[1]
    if not np.any(sigma > 0):
        # F = 0: only the noise model is left; the evidence does not depend on alpha.
        beta = n / (T**2).sum(axis=0)
        ev = n / 2 * np.log(beta) - beta / 2 * (T**2).sum(axis=0) - n / 2 * np.log(2 * np.pi)
        out = ev / n, np.full(n_cols, np.inf), beta, 1
        return (*out, ("zero", None, sigma)) if keep_basis else out

    def statistics(ratio):
        gamma = (sig / (sig + ratio)).sum(axis=0)
        m2 = (sig * x2 / (sig + ratio) ** 2).sum(axis=0)
        res2 = (x2 * (ratio / (sig + ratio)) ** 2).sum(axis=0) + res_rest
        return gamma, m2, res2

    def evidence(alpha, beta):
        _, m2, res2 = statistics(alpha / beta)
        # d/2 log(alpha) - 1/2 sum over all d eigenvalues of log(alpha + beta sigma):
        # the d - r structurally zero eigenvalues cancel against (d - r)/2 log(alpha).
        return (r / 2 * np.log(alpha) + n / 2 * np.log(beta)
                - 0.5 * np.log(alpha + beta * sig).sum(axis=0)
                - beta / 2 * res2 - alpha / 2 * m2 - n / 2 * np.log(2 * np.pi)) / n

    alpha = np.ones(n_cols)
    beta = np.ones(n_cols)
    current = evidence(alpha, beta)
    converged = np.zeros(n_cols, dtype=bool)
    tiny = np.finfo(np.float64).tiny
    n_iter = 0
    for _ in range(max_iter):
        n_iter += 1
        ratio = alpha / beta
        gamma, m2, res2 = statistics(ratio)
        new_alpha = gamma / np.maximum(m2, tiny)
        new_beta = (n - gamma) / np.maximum(res2, tiny)
        new_ratio = new_alpha / new_beta
        # alpha/beta can run off to 0 or infinity when the supremum is approached at
        # the boundary (noise-free fit, or useless features): stop there.
        valid = np.isfinite(new_ratio) & (new_ratio > 1e-300) & (new_ratio < 1e300)
        step = ~converged & valid
        alpha = np.where(step, new_alpha, alpha)
        beta = np.where(step, new_beta, beta)
        updated = evidence(alpha, beta)
        small_step = (np.abs(new_ratio - ratio) <= tol * ratio) | (
            np.abs(updated - current) <= tol * np.maximum(1.0, np.abs(updated)))
        current = np.where(step, updated, current)
        converged |= ~valid | small_step
        if converged.all():
            break
    else:
        warnings.warn(
            f"LogME's fixed point did not converge in max_iter={max_iter} iterations "
            f"for {int((~converged).sum())} of {n_cols} target column(s); the evidence "
            "is taken at the last iterate.", ConvergenceWarning, stacklevel=3)
    if keep_basis:
        return current, alpha, beta, n_iter, (kind, vecs, sigma)
    return current, alpha, beta, n_iter
