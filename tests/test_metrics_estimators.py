"""The estimators of sklearn_taskrel.metrics: scikit-learn's checks and their plumbing."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import softmax
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_taskrel.encoders import extract_embeddings
from sklearn_taskrel.metrics import (
    ETranScorer,
    GBCScorer,
    HScoreScorer,
    KNNAccuracyScorer,
    LEEPScorer,
    LinearProbeScorer,
    LogMEScorer,
    NCEScorer,
    NLEEPScorer,
    OTNCEScorer,
    RegularizedHScoreScorer,
    SFDAScorer,
    TransRateScorer,
    etran_score,
    gbc_score,
    h_score,
    knn_accuracy_score,
    leep_score,
    linear_probe_score,
    logme_score,
    nce_score,
    nleep_score,
    regularized_h_score,
    sfda_score,
    transrate_score,
)
from sklearn_taskrel.metrics._otce import ot_label_coupling_terms
from sklearn_taskrel.utils._compat import InvalidParameterError

ESTIMATORS = [
    LogMEScorer(), LEEPScorer(), NCEScorer(), NLEEPScorer(), HScoreScorer(),
    RegularizedHScoreScorer(), GBCScorer(), TransRateScorer(), SFDAScorer(),
    OTNCEScorer(), ETranScorer(), KNNAccuracyScorer(), LinearProbeScorer(),
]
EXPECTED_FAILED_CHECKS = {
    "OTNCEScorer": {
        "check_transformer_n_iter": (
            "max_iter caps POT's network simplex, which does not report how many "
            "iterations it used, so there is no n_iter_ to set."),
    },
}


@parametrize_with_checks(ESTIMATORS,
                         expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(
                             type(est).__name__, {}))
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def _task(n_per_class=20, n_features=6, seed=0):
    rng = np.random.RandomState(seed)
    y = np.repeat([0, 1, 2], n_per_class)
    X = 2.0 * rng.normal(size=(3, n_features))[y] + rng.normal(size=(len(y), n_features))
    return X, y


FUNCTIONS = [
    (LogMEScorer(), logme_score),
    (HScoreScorer(), h_score),
    (RegularizedHScoreScorer(), regularized_h_score),
    (GBCScorer(gaussian="diagonal"), lambda X, y: gbc_score(X, y, gaussian="diagonal")),
    (TransRateScorer(eps=1e-3), lambda X, y: transrate_score(X, y, eps=1e-3)),
    (SFDAScorer(), sfda_score),
    (NLEEPScorer(random_state=0), lambda X, y: nleep_score(X, y, random_state=0)),
    (KNNAccuracyScorer(n_neighbors=3), lambda X, y: knn_accuracy_score(X, y, n_neighbors=3)),
    (LinearProbeScorer(random_state=0), lambda X, y: linear_probe_score(X, y, random_state=0)),
    (ETranScorer(fraction=0.1), lambda X, y: etran_score(X, fraction=0.1)),
    (LEEPScorer(), lambda X, y: leep_score(softmax(X, axis=1), y)),
    (NCEScorer(), lambda X, y: nce_score(np.argmax(X, axis=1), y)),
]


@pytest.mark.parametrize("estimator, function", FUNCTIONS,
                         ids=[type(e).__name__ for e, _ in FUNCTIONS])
def test_estimator_scores_equal_the_function(estimator, function):
    X, y = _task()
    X2, y2 = _task(seed=1)
    est = clone(estimator).fit(X, y)
    assert est.score_ == pytest.approx(function(X, y), rel=1e-12, abs=1e-12)
    assert est.score(X2, y2) == pytest.approx(function(X2, y2), rel=1e-12, abs=1e-12)
    assert est.n_features_in_ == X.shape[1]
    assert est.transform(X).dtype == np.float32


def test_torch_encoder_runs_through_extract_embeddings():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    encoder = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.Tanh())
    X, y = _task()
    X = X.astype(np.float32)
    est = LogMEScorer(encoder=encoder, device="cpu", batch_size=7).fit(X, y)
    Z = extract_embeddings(encoder, X, device="cpu")
    assert_allclose(est.transform(X), Z)
    assert est.score_ == pytest.approx(logme_score(Z, y), rel=1e-12)
    assert not hasattr(est, "n_features_in_")


def test_leep_source_head_module_and_callable():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    head = torch.nn.Linear(6, 5)
    X, y = _task()
    Z = X.astype(np.float32)
    logits = extract_embeddings(head, Z, device="cpu").astype(np.float64)
    est = LEEPScorer(source_head=head, device="cpu").fit(Z, y)
    assert est.score_ == pytest.approx(leep_score(softmax(logits, axis=1), y), rel=1e-6)
    assert_allclose(est.source_proba(Z), softmax(logits, axis=1), rtol=1e-6)
    # a fitted classifier's predict_proba: rows already on the simplex
    clf = LogisticRegression().fit(X, np.arange(len(y)) % 4)
    est = LEEPScorer(source_head=clf.predict_proba).fit(X, y)
    proba = clf.predict_proba(X.astype(np.float32))
    assert est.score_ == pytest.approx(leep_score(proba, y), rel=1e-5)
    nce = NCEScorer(source_head=clf.predict_proba, source_output="proba").fit(X, y)
    assert nce.score_ == nce_score(np.argmax(proba, axis=1), y)


def test_grid_search_over_encoder_factories_picks_the_informative_one():
    torch = pytest.importorskip("torch")

    def informative():
        return torch.nn.Identity()

    def noise():
        generator = torch.Generator().manual_seed(0)
        return lambda batch: torch.randn(len(batch), 6, generator=generator).numpy()

    X, y = _task(n_per_class=30)
    for estimator in (LogMEScorer(device="cpu"), HScoreScorer(device="cpu"),
                      TransRateScorer(device="cpu")):
        grid = GridSearchCV(estimator, {"encoder": [noise, informative]},
                            cv=StratifiedKFold(2, shuffle=True, random_state=0)).fit(
                                X.astype(np.float32), y)
        assert grid.best_params_["encoder"] is informative


def test_ot_nce_estimator_with_and_without_reference():
    X, y = _task()
    Xr, yr = _task(seed=3)
    est = OTNCEScorer(reference=(Xr, yr), max_samples=None).fit(X, y)
    W, ce = ot_label_coupling_terms(X, y, Xr, yr)
    assert (est.wasserstein_, est.conditional_entropy_) == pytest.approx((W, ce))
    assert est.score_ == -ce == est.score(X, y)
    own = OTNCEScorer().fit(X, y)
    assert own.score_ == 0.0 and own.wasserstein_ == pytest.approx(0.0, abs=1e-12)
    assert own.score(Xr, yr) == pytest.approx(0.0 - ot_label_coupling_terms(Xr, yr, X, y)[1])


def test_label_free_and_required_targets():
    X, y = _task()
    assert ETranScorer().fit(X).score_ == ETranScorer().fit(X, y).score_
    with pytest.raises(ValueError, match="LogMEScorer requires y to be passed"):
        LogMEScorer().fit(X)


def test_parameters_are_validated_in_fit():
    X, y = _task()
    with pytest.raises(InvalidParameterError, match="'regression' parameter"):
        LogMEScorer(regression="maybe").fit(X, y)
    with pytest.raises(InvalidParameterError, match="'gaussian' parameter"):
        GBCScorer(gaussian="full").fit(X, y)
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            LogMEScorer(encoder=torch.nn.Identity(), device="cuda").fit(X, y)
