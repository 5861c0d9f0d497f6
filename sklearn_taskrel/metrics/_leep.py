"""Scores built on the empirical conditional P(y | z): LEEP, NCE and N-LEEP."""

import numbers
import warnings

import numpy as np
from scipy.special import xlogy
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state

from sklearn_taskrel.exceptions import DegenerateTaskWarning
from sklearn_taskrel.metrics._common import (
    canonical_order,
    check_features_and_labels,
    check_source_proba,
    empirical_log_prediction,
)
from sklearn_taskrel.utils._validation import (
    check_embeddings,
    check_labels,
    check_positive_int,
)


def leep_score(source_proba, y):
    """LEEP: log expected empirical prediction of the target labels.

    With :math:`\\theta(x_i) \\in \\Delta^{Z}` the source model's class
    probabilities for target sample :math:`i`, LEEP [1]_ builds the empirical
    joint of target label and source class, and scores how well the "dummy"
    classifier :math:`x \\mapsto \\sum_z \\hat P(y \\mid z)\\,\\theta(x)_z`
    predicts the target labels:

    .. math::

        \\hat P(y, z) = \\frac{1}{n} \\sum_{i : y_i = y} \\theta(x_i)_z,\\qquad
        \\hat P(y \\mid z) = \\frac{\\hat P(y, z)}{\\sum_{y'} \\hat P(y', z)},

    .. math::

        \\mathrm{LEEP} = \\frac{1}{n} \\sum_{i=1}^n
            \\log \\Big( \\sum_{z} \\hat P(y_i \\mid z)\\, \\theta(x_i)_z \\Big)
            \\;\\le 0 .

    Greater (closer to 0) is better; a source head whose predictions determine
    the target label scores exactly 0.

    Parameters
    ----------
    source_proba : array-like or torch.Tensor of shape (n_samples, n_source_classes)
        Source-class probabilities of the target samples (rows on the simplex,
        within ``1e-4``). Apply ``scipy.special.softmax(logits, axis=1)`` to logits.
    y : array-like of shape (n_samples,)
        Target labels.

    Returns
    -------
    score : float
        LEEP, in :math:`(-\\infty, 0]`.

    Notes
    -----
    Source classes that receive no probability mass on the target sample are
    dropped from :math:`\\hat P(y \\mid z)`. The reference implementation [2]_
    divides 0 by 0 for them and returns NaN, which happens for any hard (one-hot)
    source prediction that never predicts some source class.

    References
    ----------
    .. [1] C. Nguyen, T. Hassner, M. Seeger and C. Archambeau. "LEEP: A New
       Measure to Evaluate Transferability of Learned Representations". ICML 2020.
    .. [2] thuml/LogME, ``LEEP.py``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.metrics import leep_score
    >>> y = np.array([0, 0, 1, 1])
    >>> leep_score(np.eye(2)[y], y)  # the source head predicts the target exactly
    0.0
    >>> round(leep_score([[.9, .1], [.6, .4], [.3, .7], [.2, .8]], y), 4)
    -0.474
    """
    classes, codes = check_labels(y, name="y")
    P = check_source_proba(source_proba, n_samples=codes.shape[0])
    return float(np.mean(empirical_log_prediction(P, codes, len(classes))))


def _leep_influence(proba, y):
    """LEEP of source probabilities and each sample's influence ``g_k = dLEEP/dw_k``.

    With sample weights, :math:`C(y, z) = \\sum_i w_i [y_i = y] \\theta_{iz}`,
    :math:`M(z) = \\sum_y C(y, z)`, the prediction
    :math:`p_i = \\sum_z \\theta_{iz} C(y_i, z) / M(z)` and
    LEEP :math:`= \\sum_i w_i \\log p_i / \\sum_i w_i`. Differentiating the
    empirical conditional too (every prediction depends on every sample):

    .. math::

        g_k = \\frac{1}{n}\\Big(\\log p_k - \\mathrm{LEEP} + \\sum_z
            \\frac{\\theta_{kz}}{M(z)} \\big(A(y_k, z) - B(z)\\big)\\Big),
        \\quad A(y, z) = \\sum_{i: y_i = y} \\frac{\\theta_{iz}}{p_i},\\quad
        B(z) = \\sum_y \\hat P(y \\mid z) A(y, z).
    """
    classes, codes = check_labels(y, name="y")
    P = check_source_proba(proba, n_samples=codes.shape[0])
    log_pred = empirical_log_prediction(P, codes, len(classes))
    score = float(np.mean(log_pred))
    n = P.shape[0]
    onehot = np.zeros((n, len(classes)))
    onehot[np.arange(n), codes] = 1.0
    mass = P.sum(axis=0)  # M(z)
    used = mass > 0
    P = P[:, used]
    cond = (onehot.T @ P) / mass[used]  # P(y | z), (K_target, K_source)
    A = onehot.T @ (P / np.exp(log_pred)[:, None])
    B = np.sum(cond * A, axis=0)
    term = np.sum(P / mass[used] * (A[codes] - B), axis=1)
    return score, (log_pred - score + term) / n


def nce_score(source_labels, y):
    """NCE: negative conditional entropy of the target labels given source labels.

    With :math:`z_i` the source model's hard prediction for target sample
    :math:`i` [1]_:

    .. math::

        \\mathrm{NCE} = -H(Y \\mid Z) = \\sum_{y, z} \\hat P(y, z)
            \\log \\frac{\\hat P(y, z)}{\\hat P(z)}, \\qquad
        \\hat P(y, z) = \\frac{1}{n}\\#\\{i : y_i = y, z_i = z\\}.

    Greater (closer to 0) is better; 0 when the source label determines the
    target label.

    Parameters
    ----------
    source_labels : array-like or torch.Tensor of shape (n_samples,) or (n_samples, n_source_classes)
        Source-class predictions of the target samples: labels of any sortable
        type, or a 2-D matrix of probabilities or logits whose row-wise argmax is
        taken.
    y : array-like of shape (n_samples,)
        Target labels.

    Returns
    -------
    score : float
        NCE, in :math:`[-\\log K, 0]` for :math:`K` target classes.

    Notes
    -----
    Computed from the contingency table with :math:`0 \\log 0 = 0`; the
    reference implementation [2]_ adds :math:`10^{-20}` inside the logarithm
    (a difference below :math:`10^{-18}`).

    References
    ----------
    .. [1] A. T. Tran, C. V. Nguyen and T. Hassner. "Transferability and Hardness
       of Supervised Classification Tasks". ICCV 2019.
    .. [2] thuml/LogME, ``NCE.py``.

    Examples
    --------
    >>> from sklearn_taskrel.metrics import nce_score
    >>> nce_score(["cat", "cat", "dog", "dog"], [0, 0, 1, 1])
    0.0
    >>> round(nce_score([0, 0, 0, 0], [0, 0, 1, 1]), 4)  # uninformative: -log 2
    -0.6931
    """
    if hasattr(source_labels, "detach") and hasattr(source_labels, "cpu"):
        source_labels = source_labels.detach().cpu().numpy()
    z = np.asarray(source_labels)
    if z.ndim == 2 and z.shape[1] > 1:
        z = np.argmax(check_embeddings(z, name="source_labels"), axis=1)
    _, z_codes = check_labels(z, name="source_labels")
    _, y_codes = check_labels(y, n_samples=z_codes.shape[0], name="y")
    return _nce(y_codes, z_codes)[0]


def _nce(y_codes, z_codes, influence=False):
    """NCE of integer codes and, with ``influence=True``, each sample's influence
    ``g_k = (log P(y_k | z_k) - NCE) / n`` (else ``None``): with sample weights NCE
    is the weighted mean of :math:`\\log \\hat P(y_k \\mid z_k)`, and the
    derivative through the weighted conditionals vanishes (their log-likelihood is
    maximal)."""
    n = y_codes.shape[0]
    joint = np.zeros((y_codes.max() + 1, z_codes.max() + 1))
    np.add.at(joint, (y_codes, z_codes), 1.0 / n)
    p_z = joint.sum(axis=0, keepdims=True)
    score = float(np.sum(xlogy(joint, joint)) - np.sum(xlogy(p_z, p_z)))
    if not influence:
        return score, None
    log_cond = np.log(joint[y_codes, z_codes] / p_z[0, z_codes])
    return score, (log_cond - score) / n


def _nce_influence(source_labels, y):
    """:func:`nce_score` of hard source labels and each sample's influence."""
    _, z_codes = check_labels(source_labels, name="source_labels")
    _, y_codes = check_labels(y, n_samples=z_codes.shape[0], name="y")
    return _nce(y_codes, z_codes, influence=True)


def nleep_score(X, y, *, n_components_per_class=5, pca_variance=0.8,
                random_state=None):
    """N-LEEP: LEEP with a Gaussian mixture on the features as the source head.

    N-LEEP [1]_ replaces the source classifier of LEEP by the posterior
    :math:`\\theta(x)_v = p(v \\mid x)` of a Gaussian mixture with
    :math:`V = \\texttt{n\\_components\\_per\\_class} \\cdot K` components, fitted
    to the features after a PCA that keeps ``pca_variance`` of the variance:

    .. math::

        \\mathrm{N\\text{-}LEEP} = \\frac{1}{n} \\sum_{i=1}^n
            \\log \\Big( \\sum_{v=1}^{V} \\hat P(y_i \\mid v)\\, p(v \\mid x_i) \\Big).

    Greater (closer to 0) is better.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        Features of the target samples.
    y : array-like of shape (n_samples,)
        Target labels.
    n_components_per_class : int, default=5
        Mixture components per target class (the SFDA authors' default ratio).
    pca_variance : float in (0, 1) or int, default=0.8
        Passed to :class:`~sklearn.decomposition.PCA` as ``n_components``: the
        fraction of variance kept, or (an int) a number of components, capped at
        ``min(n_samples, n_features)``.
    random_state : int, RandomState instance or None, default=None
        Seeds the mixture's k-means initialisation. Pass an int for a
        reproducible score.

    Returns
    -------
    score : float
        N-LEEP, in :math:`(-\\infty, 0]`.

    Warns
    -----
    DegenerateTaskWarning
        When there are fewer samples than components; the number of components
        is then capped at ``n_samples``.

    Notes
    -----
    The mixture is :class:`~sklearn.mixture.GaussianMixture` with full
    covariances and its defaults (k-means initialisation, ``reg_covar=1e-6``),
    as in the SFDA repository's ``NLEEP`` [2]_. That function returns
    :math:`\\frac{1}{n}\\sum_i \\sum_v \\hat P(y_i \\mid v) p(v \\mid x_i)`
    without the logarithm of the N-LEEP definition; the same posteriors give
    both values, and this function follows the paper. The mixture is fitted to
    the rows sorted lexicographically, so that the score does not depend on
    their order (k-means++ draws its first centre by row index).

    References
    ----------
    .. [1] Y. Li, X. Jia, R. Sang, Y. Zhu, B. Green, L. Wang and B. Gong. "Ranking
       Neural Checkpoints". CVPR 2021.
    .. [2] TencentARC/SFDA, ``metrics.py``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.metrics import nleep_score
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1], 30)
    >>> X = rng.normal(size=(60, 4)) + 2 * np.eye(4)[y]
    >>> round(nleep_score(X, y, n_components_per_class=1, random_state=0), 2)
    -0.38
    """
    X, codes, n_classes = check_features_and_labels(X, y)
    order = canonical_order(X)
    X, codes = X[order], codes[order]
    proba = gmm_posteriors(X, n_classes, n_components_per_class=n_components_per_class,
                           pca_variance=pca_variance, random_state=random_state)
    return float(np.mean(empirical_log_prediction(proba, codes, n_classes)))


def gmm_posteriors(X, n_classes, *, n_components_per_class=5, pca_variance=0.8,
                   random_state=None):
    """Posteriors ``p(v | x)`` of the N-LEEP mixture, shape (n_samples, n_components)."""
    n_components_per_class = check_positive_int(
        n_components_per_class, "n_components_per_class")
    is_count = (isinstance(pca_variance, numbers.Integral)
                and not isinstance(pca_variance, (bool, np.bool_)) and pca_variance >= 1)
    is_fraction = (isinstance(pca_variance, numbers.Real)
                   and not isinstance(pca_variance, numbers.Integral)
                   and 0 < pca_variance < 1)
    if not (is_count or is_fraction):
        raise ValueError(
            f"pca_variance must be a float in (0, 1) or an int >= 1; got {pca_variance!r}.")
    rng = check_random_state(random_state)
    n_samples = X.shape[0]
    if is_count:
        keep = int(min(pca_variance, n_samples, X.shape[1]))
        Z = PCA(n_components=keep, svd_solver="full").fit_transform(X)
    else:
        Z = PCA(n_components=float(pca_variance), svd_solver="full").fit_transform(X)
    n_components = n_components_per_class * n_classes
    if n_components > n_samples:
        warnings.warn(
            f"N-LEEP asks for {n_components} mixture components "
            f"({n_components_per_class} per class x {n_classes} classes) but there are "
            f"only {n_samples} samples; using {n_samples} components.",
            DegenerateTaskWarning, stacklevel=3)
        n_components = n_samples
    gmm = GaussianMixture(n_components=n_components, random_state=rng).fit(Z)
    return gmm.predict_proba(Z)
