"""Paired bootstrap of a ranking over resamples of the target set.

Every encoder of a zoo is scored on the same target sample, so the resamples are
shared (paired): resample ``b`` draws target points with replacement once, and every
encoder is re-scored on that draw. A score that is a weighted mean of per-point
terms (TR: the reference loss of the point's assigned class plus its share of the
transport cost, on held-out points when cross-fitted) is re-scored with the fitted
transformations and plans kept fixed, a product of a ``(B, n)`` count matrix with a
vector: the resampled mean of fixed per-point terms, the plug-in (delta-method)
bootstrap of the estimate given the fit.

LogME, LEEP, NCE, the H-score, the regularised H-score, GBC and TransRate are not
means of per-point terms, but each is a smooth function of sample weights ``w`` (all ones
at the fit), and its derivative ``g_i = dT/dw_i`` there, the influence of point
``i``, comes in closed form from what the fit computed
(:func:`influence_point_terms`). A resample with counts ``m_b`` is scored by the
first-order expansion ``T + sum_i (m_bi - 1) g_i``: the infinitesimal jackknife
(Jaeckel 1972; Efron 1982, *The Jackknife, the Bootstrap and Other Resampling
Plans*, ch. 6), whose bootstrap is the same matrix product as TR's. Its spread is
the delta-method spread of the score; near a score's null, where the first-order
term vanishes (a source head that says nothing about the target), it is too
narrow. The other scores (N-LEEP, SFDA, OT-NCE, ETran, k-NN accuracy and the linear
probe: a mixture, a transport plan, a probe or a count of neighbours fitted
inside them, a mean of the few lowest energies, or, for SFDA, no closed-form
derivative written yet) are recomputed on
half-samples drawn without replacement, paired the same way (see
:func:`sklearn_taskrel.model_selection.rank_encoders`).

Each encoder's resampled scores are centred on its fitted score (their mean moved to
it) before they are summarised. A score that is not a mean of per-point terms is
shifted by the duplicated points of a resample (LogME's evidence, for one, counts a
duplicated point twice, and the shift depends on the width of the embedding), and
a half-sample's score by its size; the linearised scores are not shifted, and the
centring keeps any shift out of the intervals and of ``p_best``, and leaves the
paired spread.

``p_best`` is the share of resamples in which an encoder ranks first, a tie (scores
within ``tie_tolerance``, 0.1 % by default) splitting the resample equally. The
tolerance is above TR's numerical precision (the feature map runs in float32: a
float32 rotation of the embeddings moved TR by up to 7e-5, relative) and well
below the gaps that order a zoo (the anchor's 90 % intervals are about 0.01 nats
wide on either side).
``tied_with_best`` says whether the ``confidence`` interval of the paired difference
to the encoder ranked first contains 0.
"""

import numpy as np

__all__ = ["bootstrap_counts", "influence_point_terms", "resample_point_scores",
           "summarize_bootstrap"]


def bootstrap_counts(n_samples, n_bootstrap, random_state):
    """``(n_bootstrap, n_samples)`` multinomial counts: how often each target point is
    drawn in each resample (each row sums to ``n_samples``).

    Examples
    --------
    >>> import numpy as np
    >>> counts = bootstrap_counts(5, 3, np.random.RandomState(0))
    >>> counts.shape, counts.sum(axis=1).tolist()
    ((3, 5), [5.0, 5.0, 5.0])
    """
    rng = np.random.RandomState(random_state) if not isinstance(
        random_state, np.random.RandomState) else random_state
    return rng.multinomial(n_samples, np.full(n_samples, 1.0 / n_samples),
                           size=n_bootstrap).astype(np.float64)


def resample_point_scores(index, weight, value, counts, offset=0.0):
    """Scores ``offset + sum_j m_bj w_j v_j / sum_j m_bj w_j`` of every resample ``b``.

    ``index`` maps the per-point terms to target points (a cross-fitted score may
    measure a subsample of each fold); ``weight`` is each measured point's weight (its
    fold's share of the target over the points measured in it). With every count 1
    this is the fitted score.

    Examples
    --------
    >>> import numpy as np
    >>> v = np.array([1.0, 2.0, 3.0])
    >>> resample_point_scores(np.arange(3), np.ones(3) / 3, v, np.ones((1, 3))).tolist()
    [2.0]
    >>> resample_point_scores(np.arange(3), np.ones(3) / 3, v,
    ...                       np.array([[3.0, 0.0, 0.0]])).tolist()
    [1.0]
    """
    m = counts[:, np.asarray(index)] * np.asarray(weight)[None, :]
    total = m.sum(axis=1)
    # A resample that draws none of the measured points keeps the fitted score.
    fitted = float(np.asarray(weight) @ np.asarray(value) / np.sum(weight))
    out = np.full(len(counts), fitted)
    ok = total > 0
    out[ok] = (m[ok] @ np.asarray(value)) / total[ok]
    return out + offset


def influence_point_terms(score, influence):
    """``point_terms_`` of a score linearised in the sample weights.

    ``influence[i]`` is :math:`g_i = \\partial T / \\partial w_i` at unit weights
    (the infinitesimal jackknife). The resample with counts :math:`m_b` gets the
    first-order (delta-method) value
    :math:`T + \\sum_i (m_{bi} - 1)\\, g_i`: per-point values
    :math:`v_i = T + n (g_i - \\bar g)` of weight :math:`1/n` do it through
    :func:`resample_point_scores`, since :math:`\\sum_i m_{bi} = n` (subtracting
    :math:`\\bar g` changes no resample and makes every count 1 give ``T``).
    ``sign`` is +1: the values are the score itself (greater is better), where
    TR's terms describe its loss (no ``sign`` key, read as -1).

    Examples
    --------
    >>> import numpy as np
    >>> t = influence_point_terms(2.0, np.array([0.1, -0.3, 0.2]))
    >>> float(resample_point_scores(t["index"], t["weight"], t["value"],
    ...                             np.array([[2.0, 0.0, 1.0]]))[0])
    2.4
    """
    g = np.asarray(influence, dtype=np.float64)
    n = g.shape[0]
    return {"index": np.arange(n), "weight": np.full(n, 1.0 / n),
            "value": float(score) + n * (g - g.mean()), "offset": 0.0, "sign": 1.0}


def summarize_bootstrap(scores, fitted, confidence=0.9, tie_tolerance=1e-3):
    """Intervals, ``p_best`` and ``tied_with_best`` from paired resampled scores.

    Parameters
    ----------
    scores : ndarray of shape (n_bootstrap, n_encoders)
        Resampled scores (greater is better); NaN for an encoder that failed.
    fitted : ndarray of shape (n_encoders,)
        The scores on the whole target set.
    confidence : float in (0, 1)
        Coverage of the percentile intervals.
    tie_tolerance : float
        Scores within ``tie_tolerance * max(1, |best|)`` of the best one of a
        resample share it.

    Returns
    -------
    dict of ndarray
        ``score_low``, ``score_high`` (percentiles of the centred resampled scores),
        ``p_best`` (sums to 1 over the encoders that
        have a score) and ``tied_with_best`` (bool).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> a = rng.normal(size=200)
    >>> out = summarize_bootstrap(np.c_[a, a, a - 5], np.array([0.0, 0.0, -5.0]))
    >>> out["p_best"].round(2).tolist(), out["tied_with_best"].tolist()
    ([0.5, 0.5, 0.0], [True, True, False])
    """
    scores = np.asarray(scores, dtype=np.float64)
    fitted = np.asarray(fitted, dtype=np.float64)
    B, E = scores.shape
    finite = np.isfinite(scores)
    n_finite = finite.sum(axis=0)
    means = np.where(finite, scores, 0.0).sum(axis=0) / np.maximum(n_finite, 1)
    shift = np.where(np.isfinite(fitted) & (n_finite > 0), fitted - means, 0.0)
    scores = scores + shift[None, :]
    alpha = (1.0 - confidence) / 2.0
    valid = np.isfinite(fitted)
    low = np.full(E, np.nan)
    high = np.full(E, np.nan)
    if valid.any():
        low[valid] = np.quantile(scores[:, valid], alpha, axis=0)
        high[valid] = np.quantile(scores[:, valid], 1.0 - alpha, axis=0)
    p_best = np.zeros(E)
    tied = np.zeros(E, dtype=bool)
    if not valid.any():
        return {"score_low": low, "score_high": high, "p_best": p_best,
                "tied_with_best": tied}
    S = np.where(valid[None, :], scores, -np.inf)
    best = S.max(axis=1, keepdims=True)
    winners = S >= best - tie_tolerance * np.maximum(1.0, np.abs(best))
    p_best = (winners / winners.sum(axis=1, keepdims=True)).mean(axis=0)
    top = int(np.nanargmax(np.where(valid, fitted, np.nan)))
    diff = scores[:, valid] - scores[:, [top]]
    hi_diff = np.quantile(diff, 1.0 - alpha, axis=0)
    scale = tie_tolerance * max(1.0, abs(fitted[top]))
    tied[valid] = hi_diff >= -scale
    return {"score_low": low, "score_high": high, "p_best": p_best, "tied_with_best": tied}
