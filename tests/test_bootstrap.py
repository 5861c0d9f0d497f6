"""Paired bootstrap of a ranking (sklearn_taskrel._bootstrap)."""

import numpy as np
import pytest
from conftest import weight_differences
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
    fd = weight_differences(lambda w: _weighted_logme(F, T, w), n)
    # The floor is LogME's own convergence (its evidence criterion leaves alpha/beta
    # ~1e-8 off the optimum): measured 1e-9 absolute for |g| ~ 0.04.
    assert_allclose(g, fd, rtol=0, atol=1e-6 * np.abs(fd).max())
    assert np.abs(fd).max() > 1e-3  # not a vacuous comparison


@pytest.fixture(scope="module")
def digits():
    """1000 of sklearn's digits (64 pixels scaled to [0, 1]) and the other 797."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    idx = np.random.RandomState(0).choice(len(y), 1000, replace=False)
    rest = np.setdiff1d(np.arange(len(y)), idx)
    return X[idx] / 16.0, y[idx], (X[rest] / 16.0, y[rest])


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


def _digits_case(name, Z, y, rest):
    """(fitted scorer, score function of duplicated rows, its input) for one score;
    LEEP and NCE read a logistic regression fitted to other digits (20 pixels)."""
    from sklearn.linear_model import LogisticRegression

    from sklearn_taskrel.metrics import (
        GBCScorer,
        HScoreScorer,
        LEEPScorer,
        LogMEScorer,
        NCEScorer,
        RegularizedHScoreScorer,
        TransRateScorer,
        gbc_score,
        h_score,
        leep_score,
        logme_score,
        nce_score,
        regularized_h_score,
        transrate_score,
    )

    if name in ("leep", "nce"):
        head = LogisticRegression(max_iter=1000).fit(rest[0][:, :20], rest[1])
        P = head.predict_proba(Z[:, :20])
        if name == "leep":
            return LEEPScorer().fit(P, y), leep_score, P
        return NCEScorer().fit(P, y), lambda p, t: nce_score(p.argmax(axis=1), t), P
    if name == "logme":
        return LogMEScorer().fit(Z, y), logme_score, Z
    if name == "regularized_hscore":
        return RegularizedHScoreScorer().fit(Z, y), regularized_h_score, Z
    if name == "gbc":
        return GBCScorer().fit(Z, y), gbc_score, Z
    if name == "transrate":
        return TransRateScorer().fit(Z, y), transrate_score, Z
    return HScoreScorer().fit(Z, y), h_score, Z


@pytest.mark.parametrize("name", ["logme", "hscore", "regularized_hscore", "gbc",
                                  "transrate", "leep", "nce"])
def test_linearised_resamples_track_exact_recomputation(digits, name):
    """The influence terms' resamples against each score recomputed from scratch on the
    same resamples, drawn rows duplicated. Measured on these 1000 digits (64 pixels):
    correlation 0.97 (LogME), 0.96 (H-score), 0.97 (regularised H-score), 0.97
    (GBC), 0.80 (TransRate), 0.995 (LEEP), 0.98 (NCE); spread of the linearised
    resamples 0.94, 0.99, 0.99, 1.04, 0.86, 1.01 and 1.00 times that of the exact
    ones. On 1000 or 300 digits the linearised LogME
    spread was also within 5 % of the spread over fresh subsamples of the 1797.
    Duplicated rows also shift the exact scores up (H-score by 0.17, NCE by 0.03),
    a shift the summary's centring removes. Near a score's null the first-order term
    vanishes (a nearly uninformative source head, LEEP 0.03 nats above -log 10:
    correlation 0.69, spread 0.71) and the intervals are too narrow there."""
    Z, y, rest = digits
    est, score_function, inputs = _digits_case(name, Z, y, rest)
    lin, exact = _linearised_and_exact(est, score_function, inputs, y)
    # TransRate's log-determinants (eps = 1e-4) react to duplicated rows far beyond
    # first order (they shift it by 7.2 of its 33.5 nats): correlation 0.80, spread
    # 0.86; its linearised spread matches fresh samples (next test).
    low_corr, low_spread = (0.75, 0.75) if name == "transrate" else (0.9, 0.8)
    assert np.corrcoef(lin, exact)[0, 1] > low_corr
    assert low_spread < lin.std() / exact.std() < 1.25


@pytest.mark.parametrize("name", ["logme", "transrate"])
def test_linearised_spread_matches_fresh_samples(name):
    """The spread of the linearised resamples of 1000 digits against the spread of
    the score over 100 fresh draws of 1000 of the 1797 digits (scaled up by the
    finite-population factor). Measured: LogME 0.0105 against 0.0103, TransRate
    0.58 against 0.57 (half-samples gave 0.72)."""
    from sklearn.datasets import load_digits

    from sklearn_taskrel.metrics import (
        LogMEScorer,
        TransRateScorer,
        logme_score,
        transrate_score,
    )

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    est, score_function = ((LogMEScorer(), logme_score) if name == "logme"
                           else (TransRateScorer(), transrate_score))
    idx = np.random.RandomState(0).choice(len(y), 1000, replace=False)
    t = est.fit(X[idx], y[idx]).point_terms_
    lin = resample_point_scores(t["index"], t["weight"], t["value"],
                                bootstrap_counts(1000, 200, 1))
    draws = [np.random.RandomState(100 + b).choice(len(y), 1000, replace=False)
             for b in range(100)]
    fresh = np.array([score_function(X[s], y[s]) for s in draws])
    truth = fresh.std() / np.sqrt(1 - 1000 / len(y))
    assert 0.85 < lin.std() / truth < 1.15


def _weighted_regularized_h_score(X, y, w):
    """The regularised H-score with sample weights, from its definition: weighted
    covariance, the Ledoit-Wolf shrinkage with n = sum(w), d x d solve."""
    W = w.sum()
    d = X.shape[1]
    Xc = X - w @ X / W
    S = (Xc.T * w) @ Xc / W
    row_sq = np.sum(Xc**2, axis=1)
    mu = w @ row_sq / W / d
    beta = (w @ row_sq**2 / W - np.sum(S**2)) / (d * W)
    delta = np.sum((S - mu * np.eye(d)) ** 2) / d
    alpha = min(beta, delta) / delta
    between = np.zeros((d, d))
    for c in np.unique(y):
        m = y == c
        delta_c = w[m] @ Xc[m] / w[m].sum()
        between += w[m].sum() / W * np.outer(delta_c, delta_c)
    return (1 - alpha) * np.trace(np.linalg.solve((1 - alpha) * S + alpha * mu * np.eye(d),
                                                  between))


@pytest.mark.parametrize("n, d", [(50, 6), (20, 35)])
def test_regularized_h_score_influence_equals_finite_differences(n, d):
    """Through the covariance, the class means and the Ledoit-Wolf shrinkage."""
    from sklearn_taskrel.metrics._hscore import _regularized_h_score

    rng = np.random.RandomState(0)
    y = np.arange(n) % 3
    X = rng.normal(size=(n, d)) * rng.uniform(0.3, 2, size=d) + np.eye(d)[y % d]
    score, g = _regularized_h_score(X, y, influence=True)
    f = lambda w: _weighted_regularized_h_score(X, y, w)  # noqa: E731
    assert f(np.ones(n)) == pytest.approx(score, rel=1e-12)
    fd = weight_differences(f, n, eps=1e-5)
    assert np.abs(fd).max() > 1e-2
    assert_allclose(g, fd, rtol=0, atol=1e-8)  # measured: 6e-11


def _weighted_h_score(X, y, w):
    """H-score with sample weights, from its definition: tr(pinv(cov f) cov g)."""
    W = w.sum()
    Xc = X - w @ X / W
    between = np.zeros((X.shape[1], X.shape[1]))
    for c in np.unique(y):
        m = y == c
        delta = w[m] @ Xc[m] / w[m].sum()
        between += w[m].sum() / W * np.outer(delta, delta)
    return np.trace(np.linalg.pinv((Xc.T * w) @ Xc / W, hermitian=True) @ between)


@pytest.mark.parametrize("n, d", [(50, 6), (40, 40)])
def test_h_score_influence_equals_finite_differences_of_the_weighted_score(n, d):
    """n > d (eigenvectors of the covariance) and n <= d with a rank-deficient
    covariance (features confined to 12 directions)."""
    from sklearn_taskrel.metrics._hscore import _h_score

    rng = np.random.RandomState(0)
    y = np.arange(n) % 3
    X = rng.normal(size=(n, d)) + 1.5 * np.eye(d)[y]
    if d >= n:
        X = X[:, :12] @ rng.normal(size=(12, d))
    score, g = _h_score(X, y, influence=True)
    assert _weighted_h_score(X, y, np.ones(n)) == pytest.approx(score, rel=1e-9)
    fd = weight_differences(lambda w: _weighted_h_score(X, y, w), n, eps=1e-5)
    assert np.abs(fd).max() > 1e-2
    assert_allclose(g, fd, rtol=0, atol=1e-8)  # measured: 1.1e-10


def test_h_score_influence_is_zero_when_the_score_is_saturated():
    """n <= d with full rank: H = K - 1 for any weights, so no sample has influence."""
    from sklearn_taskrel.metrics._hscore import _h_score

    X = np.random.RandomState(1).normal(size=(12, 30))
    with pytest.warns(UserWarning, match="any labelling"):
        score, g = _h_score(X, np.arange(12) % 3, influence=True)
    assert score == pytest.approx(2.0)
    assert_allclose(g, 0.0, atol=1e-12)


def _weighted_leep(P, y, w):
    """LEEP with sample weights: the weighted joint of (y, z), its conditional, and
    the weighted mean log prediction."""
    C = np.eye(y.max() + 1)[y].T @ (w[:, None] * P)
    mass = C.sum(axis=0)
    cond = C / np.where(mass > 0, mass, 1.0)  # a source class with no mass adds 0
    pred = np.sum(P * cond[y], axis=1)
    return w @ np.log(pred) / w.sum()


def _weighted_nce(z, y, w):
    J = np.zeros((y.max() + 1, z.max() + 1))
    np.add.at(J, (y, z), w / w.sum())
    ok = J > 0
    return np.sum(J[ok] * np.log((J / J.sum(axis=0))[ok]))


def test_leep_and_nce_influence_equal_finite_differences_of_the_weighted_score():
    from sklearn_taskrel.metrics._leep import _leep_influence, _nce_influence

    rng = np.random.RandomState(0)
    P = rng.dirichlet(np.full(5, 0.5), size=60)
    P[:, 4] = 0.0  # a source class nobody predicts
    P /= P.sum(axis=1, keepdims=True)
    y = (P.argmax(axis=1) + (rng.rand(60) < 0.3)) % 3
    score, g = _leep_influence(P, y)
    assert _weighted_leep(P, y, np.ones(60)) == pytest.approx(score, rel=1e-12)
    fd = weight_differences(lambda w: _weighted_leep(P, y, w), 60, eps=1e-5)
    assert np.abs(fd).max() > 1e-3
    assert_allclose(g, fd, rtol=0, atol=1e-8)  # measured: 2.6e-11
    z = P.argmax(axis=1)
    score, g = _nce_influence(z, y)
    assert _weighted_nce(z, y, np.ones(60)) == pytest.approx(score, rel=1e-12)
    fd = weight_differences(lambda w: _weighted_nce(z, y, w), 60, eps=1e-5)
    assert np.abs(fd).max() > 1e-3
    assert_allclose(g, fd, rtol=0, atol=1e-8)  # measured: 1e-11


def _weighted_gbc(X, y, w, gaussian, min_variance):
    """GBC with sample weights, from its definition: weighted class means and
    variances, the Bhattacharyya distance of every ordered pair of classes."""
    params = []
    for c in np.unique(y):
        m = y == c
        mean = w[m] @ X[m] / w[m].sum()
        var = np.maximum(w[m] @ (X[m] - mean) ** 2 / w[m].sum(), min_variance)
        if gaussian == "spherical":
            var = np.full_like(var, var.mean())
        params.append((mean, var))
    total = 0.0
    for i, (m1, v1) in enumerate(params):
        for j, (m2, v2) in enumerate(params):
            if i != j:
                v = (v1 + v2) / 2
                dist = (np.sum((m1 - m2) ** 2 / v) / 8 + 0.5 * np.sum(np.log(v))
                        - 0.25 * np.sum(np.log(v1)) - 0.25 * np.sum(np.log(v2)))
                total += np.exp(-dist)
    return -total


@pytest.mark.parametrize("gaussian", ["spherical", "diagonal"])
def test_gbc_influence_equals_finite_differences_of_the_weighted_score(gaussian):
    """One feature is constant within class 0, so its floored variance stays put."""
    from sklearn_taskrel.metrics._gbc import _gbc

    rng = np.random.RandomState(0)
    y = np.arange(45) % 3
    X = rng.normal(size=(45, 4)) * [0.5, 1.0, 2.0, 1.0] + np.eye(4)[y]
    X[y == 0, 3] = 0.3
    score, g = _gbc(X, y, gaussian=gaussian, influence=True)
    f = lambda w: _weighted_gbc(X, y, w, gaussian, 1e-4)  # noqa: E731
    assert f(np.ones(45)) == pytest.approx(score, rel=1e-12)
    fd = weight_differences(f, 45, eps=1e-5)
    assert np.abs(fd).max() > 1e-3
    assert_allclose(g, fd, rtol=0, atol=1e-8)  # measured: 6e-11


def _weighted_transrate(X, y, w, eps):
    """TransRate with sample weights, from its definition: weighted second moments
    about the weighted mean, log-determinants by slogdet."""
    W = w.sum()
    Z = X - w @ X / W
    d = X.shape[1]

    def rate(m):
        return 0.5 * np.linalg.slogdet(np.eye(d) + (Z[m].T * w[m]) @ Z[m]
                                       / (w[m].sum() * eps))[1]

    return rate(np.ones(len(y), bool)) - sum(w[y == c].sum() / W * rate(y == c)
                                             for c in np.unique(y))


@pytest.mark.parametrize("n, d, eps", [(45, 4, 0.1), (30, 20, 1e-2), (20, 30, 1e-2)])
def test_transrate_influence_equals_finite_differences_of_the_weighted_score(n, d, eps):
    """Feature-side solves (n > d), Gram-side solves within the classes (n_c <= d),
    and Gram-side solves everywhere (n <= d)."""
    from sklearn_taskrel.metrics._transrate import _transrate

    rng = np.random.RandomState(0)
    y = np.arange(n) % 3
    X = rng.normal(size=(n, d)) + np.eye(d)[y]
    score, g = _transrate(X, y, eps=eps, influence=True)
    f = lambda w: _weighted_transrate(X, y, w, eps)  # noqa: E731
    assert f(np.ones(n)) == pytest.approx(score, rel=1e-10)
    fd = weight_differences(f, n, eps=1e-5)
    assert np.abs(fd).max() > 1e-2
    assert_allclose(g, fd, rtol=0, atol=1e-8)  # measured: 4e-9


# --------------------------------------------------------------------------- issue 19:
# the branches of the influence code that the tests above do not reach.


def test_leep_influence_keeps_a_source_class_of_little_mass():
    """A source class whose probabilities sum to less than one sample's still moves
    every prediction through its conditional P(y | z)."""
    from sklearn_taskrel.metrics._leep import _leep_influence

    rng = np.random.RandomState(3)
    P = rng.dirichlet(np.ones(4), size=40)
    P[:, 3] = 0.0
    P[:5, 3] = [0.2, 0.1, 0.05, 0.1, 0.15]  # M(3) = 0.6 < 1
    P /= P.sum(axis=1, keepdims=True)
    y = (P.argmax(axis=1) + (rng.rand(40) < 0.3)) % 3
    score, g = _leep_influence(P, y)
    fd = weight_differences(lambda w: _weighted_leep(P, y, w), 40, eps=1e-5)
    assert np.abs(fd).max() > 1e-3
    assert_allclose(g, fd, rtol=0, atol=1e-8)


@pytest.mark.parametrize("n", [12, 15])
def test_regularized_h_score_influence_when_n_equals_d(n):
    """n == d: the eigenvectors are those of the Gram matrix X X^T."""
    from sklearn_taskrel.metrics._hscore import _regularized_h_score

    rng = np.random.RandomState(0)
    y = np.arange(n) % 3
    X = rng.normal(size=(n, n)) * rng.uniform(0.3, 2, size=n) + np.eye(n)[y]
    score, g = _regularized_h_score(X, y, influence=True)
    f = lambda w: _weighted_regularized_h_score(X, y, w)  # noqa: E731
    fd = weight_differences(f, n, eps=1e-5)
    assert np.abs(fd).max() > 1e-2
    assert_allclose(g, fd, rtol=0, atol=1e-8)  # measured: 5e-11


def test_regularized_h_score_influence_with_one_feature_is_that_of_the_h_score():
    """d == 1: no shrinkage (alpha = 0 for any weights), so the regularised H-score is
    the H-score var(class means) / var, whose weighted form is written above."""
    from sklearn_taskrel.metrics._hscore import _regularized_h_score

    rng = np.random.RandomState(0)
    y = np.arange(30) % 3
    X = rng.normal(size=(30, 1)) + y[:, None]
    score, g = _regularized_h_score(X, y, influence=True)
    f = lambda w: _weighted_h_score(X, y, w)  # noqa: E731
    assert f(np.ones(30)) == pytest.approx(score, rel=1e-12)
    fd = weight_differences(f, 30, eps=1e-5)
    assert np.abs(fd).max() > 1e-2
    assert_allclose(g, fd, rtol=0, atol=1e-8)  # measured: 5e-12


def test_regularized_h_score_influence_is_zero_where_the_shrinkage_is_clipped():
    """An isotropic sample: Ledoit-Wolf's beta exceeds delta, alpha is clipped at 1 for
    all weights near 1, so the score (1 - alpha) tr(...) stays 0."""
    from sklearn_taskrel.metrics._hscore import _regularized_h_score

    rng = np.random.RandomState(0)
    y = np.arange(20) % 2
    X = rng.normal(size=(20, 5)) + 0.3 * y[:, None]
    score, g = _regularized_h_score(X, y, influence=True)
    f = lambda w: _weighted_regularized_h_score(X, y, w)  # noqa: E731
    assert score == 0.0 and f(np.ones(20)) == 0.0
    assert_allclose(weight_differences(f, 20, eps=1e-5), 0.0, atol=1e-12)
    assert_allclose(g, 0.0, atol=0)
