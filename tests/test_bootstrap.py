"""Paired bootstrap of a ranking (sklearn_taskrel._bootstrap)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_taskrel._bootstrap import (
    bootstrap_counts,
    resample_point_scores,
    summarize_bootstrap,
)


def test_counts_are_multinomial_draws_and_reproducible():
    c = bootstrap_counts(50, 400, 7)
    assert c.shape == (400, 50)
    assert_array_equal(c.sum(axis=1), 50)
    assert_array_equal(c, bootstrap_counts(50, 400, 7))
    assert not np.array_equal(c, bootstrap_counts(50, 400, 8))
    # each point is drawn Binomial(50, 1/50) times: mean 1, variance 49/50
    assert c.mean() == pytest.approx(1.0)
    assert c.var() == pytest.approx(49 / 50, rel=0.1)


def test_resampled_scores_equal_the_weighted_mean_of_the_drawn_points():
    rng = np.random.RandomState(0)
    value = rng.normal(size=8)
    index = np.array([0, 2, 3, 5, 6, 7])  # points 1 and 4 were not measured
    weight = rng.uniform(0.5, 1.5, size=6)
    weight /= weight.sum()
    counts = bootstrap_counts(8, 30, 1)
    got = resample_point_scores(index, weight, value[index], counts, offset=0.25)
    for b, c in enumerate(counts):
        drawn = np.repeat(np.arange(8), c.astype(int))
        drawn = drawn[np.isin(drawn, index)]
        if len(drawn) == 0:
            continue
        w = weight[np.searchsorted(index, drawn)]
        assert got[b] == pytest.approx(w @ value[drawn] / w.sum() + 0.25)
    # nothing measured drawn: the fitted score
    none = np.zeros((1, 8))
    none[0, [1, 4]] = 4
    assert resample_point_scores(index, weight, value[index], none)[0] == pytest.approx(
        weight @ value[index])


def test_summary_intervals_are_percentiles_and_p_best_counts_wins():
    rng = np.random.RandomState(1)
    a = rng.normal(size=500)
    scores = np.c_[a + 1.0, a + 0.9 + 0.2 * rng.normal(size=500), a - 3.0]
    fitted = np.array([1.0, 0.9, -3.0])
    out = summarize_bootstrap(scores, fitted, confidence=0.8)
    centred = scores - scores.mean(axis=0) + fitted  # each mean moved to the fitted score
    assert_allclose(out["score_low"], np.quantile(centred, 0.1, axis=0))
    assert_allclose(out["score_high"], np.quantile(centred, 0.9, axis=0))
    wins = np.bincount(np.argmax(centred, axis=1), minlength=3) / 500
    assert_allclose(out["p_best"], wins, atol=3 / 500)  # a few resamples tie (0.1 %)
    strict = summarize_bootstrap(scores, fitted, confidence=0.8, tie_tolerance=0.0)
    assert_allclose(strict["p_best"], wins)
    # the second is within the noise of the first (paired difference crosses 0)
    assert out["tied_with_best"].tolist() == [True, True, False]


def test_ties_split_a_resample_and_failed_encoders_get_nothing():
    a = np.random.RandomState(2).normal(size=100)
    scores = np.c_[a, a * (1 + 1e-6), np.full(100, np.nan)]
    out = summarize_bootstrap(scores, np.array([0.0, 0.0, np.nan]))
    assert_allclose(out["p_best"], [0.5, 0.5, 0.0])
    assert np.isnan(out["score_low"][2]) and not out["tied_with_best"][2]
    empty = summarize_bootstrap(np.full((5, 2), np.nan), np.array([np.nan, np.nan]))
    assert_allclose(empty["p_best"], 0.0)


def test_a_clear_winner_has_p_best_one_and_no_ties():
    a = np.random.RandomState(3).normal(size=200)
    out = summarize_bootstrap(np.c_[a, a - 1.0], np.array([0.0, -1.0]))
    assert_allclose(out["p_best"], [1.0, 0.0])
    assert out["tied_with_best"].tolist() == [True, False]


def test_a_shift_of_the_resampled_scores_does_not_reorder_the_encoders():
    """Duplicated points can shift a score's resamples (LogME counts them twice); the
    summary centres each encoder's resamples on its fitted score."""
    a = np.random.RandomState(4).normal(scale=0.01, size=300)
    fitted = np.array([-0.3, -0.4])
    shifted = np.c_[a + fitted[0] - 0.5, a + fitted[1]]  # the first shifted down
    out = summarize_bootstrap(shifted, fitted)
    assert_allclose(out["p_best"], [1.0, 0.0])
    assert out["score_low"][0] < -0.3 < out["score_high"][0]


# ------------------------------------------- influence functions (infinitesimal jackknife)
def test_influence_terms_give_the_first_order_expansion():
    """value_i = T + n (g_i - mean g) with weights 1/n re-scores a resample with counts
    m as T + sum_i (m_i - 1) g_i (sum_i m_i = n), and every count 1 as T."""
    from sklearn_taskrel._bootstrap import influence_point_terms

    rng = np.random.RandomState(5)
    g = rng.normal(size=12)
    t = influence_point_terms(-0.7, g)
    assert t["sign"] == 1.0 and t["offset"] == 0.0
    counts = bootstrap_counts(12, 40, 3)
    by_hand = np.array([-0.7 + sum((c[i] - 1) * g[i] for i in range(12)) for c in counts])
    assert_allclose(resample_point_scores(t["index"], t["weight"], t["value"], counts),
                    by_hand, rtol=1e-12)
    assert resample_point_scores(t["index"], t["weight"], t["value"],
                                 np.ones((1, 12)))[0] == pytest.approx(-0.7, rel=1e-12)


def _weighted_logme(F, T, w):
    """LogME with sample weights, by the textbook route: d x d matrices, the weighted
    MacKay fixed point iterated to machine precision, the evidence from slogdet (the
    likelihood of sample i raised to the power w_i; integer weights duplicate rows)."""
    d = F.shape[1]
    W = w.sum()
    G = (F.T * w) @ F
    s = np.linalg.eigvalsh(G)
    out = []
    for t in T.T:
        a = b = 1.0
        for _ in range(10_000):
            m = b * np.linalg.solve(a * np.eye(d) + b * G, F.T @ (w * t))
            gamma = np.sum(b * s / (a + b * s))
            a_new, b_new = gamma / (m @ m), (W - gamma) / np.sum(w * (t - F @ m) ** 2)
            done = abs(a_new / b_new - a / b) <= 1e-15 * a / b
            a, b = a_new, b_new
            if done:
                break
        A = a * np.eye(d) + b * G
        m = b * np.linalg.solve(A, F.T @ (w * t))
        out.append((d / 2 * np.log(a) + W / 2 * np.log(b / (2 * np.pi))
                    - b / 2 * np.sum(w * (t - F @ m) ** 2) - a / 2 * m @ m
                    - 0.5 * np.linalg.slogdet(A)[1]) / W)
    return float(np.mean(out))


def _finite_differences(score_of_weights, n, eps=1e-4):
    """Central differences of a weighted score in each sample's weight at w = 1."""
    g = np.empty(n)
    for i in range(n):
        up, down = np.ones(n), np.ones(n)
        up[i] += eps
        down[i] -= eps
        g[i] = (score_of_weights(up) - score_of_weights(down)) / (2 * eps)
    return g


@pytest.mark.parametrize("n, d, regression", [(40, 5, False), (15, 25, False),
                                              (30, 4, True)])
def test_logme_influence_equals_finite_differences_of_the_weighted_evidence(n, d,
                                                                           regression):
    """n > d (eigenvectors of F^T F), n <= d (of F F^T), and a regression target."""
    from sklearn_taskrel.metrics._logme import _logme, _logme_targets

    rng = np.random.RandomState(1)
    y = np.arange(n) % 3
    F = rng.normal(size=(n, d)) + 3.0 * np.eye(d)[y % d]
    if regression:
        y = F @ rng.normal(size=d) + rng.normal(size=n)
    T = _logme_targets(y, n, regression)
    score, _, g = _logme(F, y, regression=regression, influence=True, tol=1e-15,
                         max_iter=10_000)
    assert _weighted_logme(F, T, np.ones(n)) == pytest.approx(score, rel=1e-10)
    fd = _finite_differences(lambda w: _weighted_logme(F, T, w), n)
    # The floor is LogME's own convergence (its evidence criterion leaves alpha/beta
    # ~1e-8 off the optimum): measured 1e-9 absolute for |g| ~ 0.04.
    assert_allclose(g, fd, rtol=0, atol=1e-6 * np.abs(fd).max())
    assert np.abs(fd).max() > 1e-3  # not a vacuous comparison


@pytest.fixture(scope="module")
def digits():
    """1000 of sklearn's digits (64 pixels scaled to [0, 1])."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    idx = np.random.RandomState(0).choice(len(y), 1000, replace=False)
    return X[idx] / 16.0, y[idx]


def _linearised_and_exact(est, score_function, Z, y, n_resamples=100):
    """Resampled scores of a fitted scorer's point_terms_ and the score recomputed
    from scratch on each resample with its drawn rows duplicated."""
    t = est.point_terms_
    counts = bootstrap_counts(len(y), n_resamples, 1)
    lin = t["sign"] * resample_point_scores(t["index"], t["weight"], t["value"], counts,
                                            offset=t["offset"])
    exact = np.array([score_function(np.repeat(Z, c.astype(int), axis=0),
                                     np.repeat(y, c.astype(int))) for c in counts])
    return lin, exact


def test_logme_linearised_resamples_track_exact_recomputation(digits):
    """Measured on these 1000 x 64 digits: correlation 0.97, spread of the linearised
    resamples 0.94 times that of the exact ones. Duplicated rows also shift LogME
    (the mean moves by about 0.07 nats), which the summary's centring removes."""
    from sklearn_taskrel.metrics import LogMEScorer, logme_score

    Z, y = digits
    lin, exact = _linearised_and_exact(LogMEScorer().fit(Z, y), logme_score, Z, y)
    assert np.corrcoef(lin, exact)[0, 1] > 0.9
    assert 0.8 < lin.std() / exact.std() < 1.25
