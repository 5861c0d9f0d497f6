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
