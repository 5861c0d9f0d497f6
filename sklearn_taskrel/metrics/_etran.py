"""ETran's energy score: a label-free transferability score."""

import math

import numpy as np
from scipy.special import logsumexp

from sklearn_taskrel.utils._validation import check_embeddings, check_labels


def etran_score(X, y=None, *, fraction=0.005):
    """ETran energy score: mean free energy of the lowest-energy target samples.

    ETran [1]_ treats the features of a target sample as the logits of an
    energy-based model, whose negative free energy is
    :math:`-E(x) = \\log \\sum_j e^{f_j(x)}`. Samples with a high value look
    in-distribution for the pre-trained model. The score averages it over the
    ``fraction`` of samples with the lowest values (the authors' code keeps the
    bottom 0.5 %):

    .. math::

        S_{\\mathrm{en}} = \\frac{1}{m} \\sum_{i \\in \\mathcal{B}_m}
            \\log \\sum_{j=1}^{d} e^{f_j(x_i)}, \\qquad
        m = \\max(1, \\lfloor \\texttt{fraction} \\cdot n \\rfloor),

    with :math:`\\mathcal{B}_m` the :math:`m` samples of smallest
    :math:`\\log\\sum_j e^{f_j(x_i)}`. Greater is better. No labels are used.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        Features of the target samples. A torch tensor is scored on its own
        device (CPU or GPU), in float64, without a copy to the host.
    y : None or array-like of shape (n_samples,), default=None
        Ignored (label-free); validated for length when given, so that the
        function has the same signature as the other scores.
    fraction : float in (0, 1], default=0.005
        Share of the samples, with the lowest energy scores, that are averaged.

    Returns
    -------
    score : float
        The energy score.

    Notes
    -----
    ETran's full score adds an LDA-based classification score and an SVD-based
    regression score to this energy term, with weights tuned per benchmark; this
    function is the label-free energy term alone. The reference implementation
    [2]_ keeps ``int(percent * 10) * n // 1000`` samples, which is 0 when
    :math:`n < 200` (the mean of an empty set: NaN). Here at least one sample is
    kept, so the score is defined for every :math:`n \\ge 1`; for
    :math:`n \\ge 200` both select the same samples.

    References
    ----------
    .. [1] M. Gholami, M. Akbari, X. Wang, B. Kamranian and Y. Zhang. "ETran:
       Energy-Based Transferability Estimation". ICCV 2023.
    .. [2] mgholamikn/ETran, ``metrics.py`` (``Energy_Score``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.metrics import etran_score
    >>> X = np.log([[1.0, 1.0], [2.0, 2.0], [4.0, 4.0]])
    >>> round(etran_score(X, fraction=0.5), 4)  # log(1 + 1), the lowest of log 2, log 4, log 8
    0.6931
    """
    if not (np.isscalar(fraction) and not isinstance(fraction, str) and 0 < fraction <= 1):
        raise ValueError(f"fraction must be a float in (0, 1]; got {fraction!r}.")
    if hasattr(X, "detach") and hasattr(X, "device") and getattr(X, "ndim", 0) == 2:
        return _etran_torch(X, y, fraction)
    X = check_embeddings(X, name="X")
    if y is not None:
        check_labels(y, n_samples=X.shape[0], name="y", allow_continuous=True)
    energy = logsumexp(X, axis=1)
    m = _n_kept(fraction, X.shape[0])
    return float(np.mean(np.partition(energy, m - 1)[:m]))


def _n_kept(fraction, n_samples):
    # the small epsilon makes 0.005 * 1200 give 6, as the authors' integer arithmetic does
    return max(1, math.floor(fraction * n_samples + 1e-9))


def _etran_torch(X, y, fraction):
    import torch

    n = X.shape[0]
    if n == 0:
        raise ValueError("X is empty: at least one sample is required.")
    if y is not None:
        check_labels(y, n_samples=n, name="y", allow_continuous=True)
    X = X.detach().to(torch.float64)
    if not bool(torch.isfinite(X).all()):
        raise ValueError("X contains NaN or infinity.")
    energy = torch.logsumexp(X, dim=1)
    lowest = torch.topk(energy, _n_kept(fraction, n), largest=False).values
    return float(lowest.mean().item())
