"""The scalers of sklearn_taskrel.utils, against their formulas written out."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_taskrel.utils import FlooredStandardScaler, GlobalScaler


@pytest.fixture
def X():
    rng = np.random.RandomState(0)
    return rng.normal(size=(50, 4)) * [1.0, 3.0, 0.01, 10.0] + [5.0, -2.0, 0.0, 1.0]


@parametrize_with_checks([GlobalScaler(), GlobalScaler(with_mean=False),
                          GlobalScaler(with_std=False), FlooredStandardScaler()])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_floored_standard_scaler_is_its_formula(X):
    var = X.var(axis=0)
    for floor in (0.0, 0.1, 2.0):
        Z = FlooredStandardScaler(variance_floor=floor).fit_transform(X)
        assert_allclose(Z, (X - X.mean(0)) / np.sqrt(var + floor * var.mean()))


@pytest.mark.parametrize("with_mean", [True, False])
@pytest.mark.parametrize("with_std", [True, False])
def test_global_scaler_is_its_formula(X, with_mean, with_std):
    expected = X - X.mean(0) if with_mean else X.copy()
    if with_std:
        expected /= np.sqrt(X.var(axis=0).mean())
    scaler = GlobalScaler(with_mean=with_mean, with_std=with_std).fit(X)
    assert_allclose(scaler.transform(X), expected)
    assert_allclose(scaler.inverse_transform(scaler.transform(X)), X)
    assert (scaler.scale_ is None) is not with_std


def test_global_scaler_keeps_distances_up_to_one_factor(X):
    """A rotation of the features changes the scaled embeddings by a rotation only."""
    Q = np.linalg.qr(np.random.RandomState(1).normal(size=(4, 4)))[0]
    Z, Zq = GlobalScaler().fit_transform(X), GlobalScaler().fit_transform(X @ Q)
    assert_allclose(Zq, Z @ Q, atol=1e-12)
    assert_allclose(np.mean(np.sum(Z ** 2, axis=1)), X.shape[1])  # squared RMS radius


def test_global_scaler_of_constant_features_is_the_identity_scale():
    X = np.ones((5, 3))
    assert_allclose(GlobalScaler().fit(X).scale_, 1.0)
