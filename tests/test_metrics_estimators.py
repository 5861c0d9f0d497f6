"""The estimators of sklearn_taskrel.metrics: scikit-learn's checks and their plumbing."""

import re

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


# --------------------------------------------------------------------------- issue 19:
# mutation testing. The machinery that builds each scorer when its class is defined
# (``__init__``, the parameter constraints, the docstring) runs at import for the
# library's own scorers: these tests define fresh subclasses, so that it runs here.


def test_a_subclass_gets_its_init_and_constraints_from_its_parameters():
    import inspect
    from numbers import Real

    from sklearn_taskrel.metrics._estimators import _TransferabilityScorer
    from sklearn_taskrel.utils._compat import Interval

    class Mean(_TransferabilityScorer):
        _parameters = {"scale": (2.0, [Interval(Real, 0, None, closed="neither")])}
        _score_function = staticmethod(lambda Z, y, scale: scale * float(Z.mean()))
        _requires_y = False

    class Shifted(Mean):
        _parameters = {"shift": (0.5, [Real])}
        _score_function = staticmethod(
            lambda Z, y, scale, shift: scale * float(Z.mean()) + shift)

    class Sourced(Mean):  # a leading (positional) parameter of its own, with a default
        _leading = {"source": ("abc", "no_validation"), **Mean._leading}

    P = inspect.Parameter
    assert list(inspect.signature(Sourced.__init__).parameters.values())[1:3] == [
        P("source", P.POSITIONAL_OR_KEYWORD, default="abc"),
        P("encoder", P.POSITIONAL_OR_KEYWORD, default=None)]
    assert Sourced().source == "abc" and Sourced("x").source == "x"
    assert inspect.signature(Shifted.__init__) == inspect.Signature([
        P("self", P.POSITIONAL_OR_KEYWORD),
        P("encoder", P.POSITIONAL_OR_KEYWORD, default=None),
        P("scale", P.KEYWORD_ONLY, default=2.0), P("shift", P.KEYWORD_ONLY, default=0.5),
        P("device", P.KEYWORD_ONLY, default="auto"),
        P("batch_size", P.KEYWORD_ONLY, default=256),
        P("verbose", P.KEYWORD_ONLY, default=0)])
    assert Shifted.__init__.__qualname__ == "Shifted.__init__"
    assert Shifted._own_parameters == ("scale", "shift")
    assert list(Shifted._parameter_constraints) == ["encoder", "scale", "shift", "device",
                                                    "batch_size", "verbose"]
    assert Shifted._parameter_constraints["shift"] == [Real]
    assert Shifted._parameter_constraints["encoder"] == "no_validation"
    est = Shifted("enc", shift=1.0)
    assert est.get_params() == {"encoder": "enc", "scale": 2.0, "shift": 1.0,
                                "device": "auto", "batch_size": 256, "verbose": 0}
    with pytest.raises(TypeError):
        Shifted(None, 3.0)  # every parameter but the encoder is keyword-only
    X = np.arange(12.0).reshape(6, 2)
    assert Shifted(scale=3.0).fit(X).score_ == 3.0 * X.mean() + 0.5
    assert Mean().fit(X).score_ == 2.0 * X.mean()
    with pytest.raises(InvalidParameterError, match="'scale' parameter"):
        Shifted(scale=-1.0).fit(X)


def test_fill_doc_substitutes_every_placeholder_and_the_example():
    from sklearn_taskrel.metrics import _estimators as module

    class Documented:
        """Head.

        %(encoder_params)s
        %(head_params)s
        %(run_params)s
        %(attributes)s
        %(point_terms)s
        %(example)s"""
        _example_score = 0.125

    class Unscored:
        """%(example)s"""

    doc = module._fill_doc(Documented).__doc__
    assert "%(" not in doc
    for block in (module._ENCODER_PARAMS, module._HEAD_PARAMS, module._RUN_PARAMS,
                  module._ATTRIBUTES, module._POINT_TERMS):
        assert block in doc
    assert ">>> from sklearn_taskrel.metrics import Documented\n" in doc
    assert doc.endswith(">>> round(Documented().fit(X, y).score_, 4)\n    0.125")
    assert module._fill_doc(Unscored).__doc__.endswith(
        ">>> round(Unscored().fit(X, y).score_, 4)\n    ")


def _graded_task():
    """Features of decreasing scale and overlapping classes, so that rcond, the variance
    floor, C and the folds all change the scores."""
    X, y = _task(n_features=6, seed=4)
    X = X * np.logspace(0, -1.5, 6) + np.random.RandomState(4).normal(size=X.shape)
    return X, y


NON_DEFAULT = [
    (GBCScorer(min_variance=2.0), lambda X, y: gbc_score(X, y, min_variance=2.0),
     gbc_score),
    (HScoreScorer(rcond=0.3), lambda X, y: h_score(X, y, rcond=0.3), h_score),
    (LogMEScorer(max_iter=2, tol=1e-9), lambda X, y: logme_score(X, y, max_iter=2, tol=1e-9),
     logme_score),
    (LinearProbeScorer(C=0.01, cv=3, random_state=0),
     lambda X, y: linear_probe_score(X, y, C=0.01, cv=3, random_state=0),
     lambda X, y: linear_probe_score(X, y, random_state=0)),
]


@pytest.mark.parametrize("estimator, function, default", NON_DEFAULT,
                         ids=[type(e).__name__ for e, _, _ in NON_DEFAULT])
@pytest.mark.filterwarnings("ignore::sklearn_taskrel.exceptions.ConvergenceWarning")
def test_estimators_pass_their_non_default_parameters(estimator, function, default):
    X, y = _graded_task()
    X2, y2 = _task(n_features=6, seed=5)
    assert function(X, y) != default(X, y)  # the parameter matters here
    est = clone(estimator).fit(X, y)
    assert est.score_ == pytest.approx(function(X, y), rel=1e-12, abs=1e-12)
    assert est.score(X2, y2) == pytest.approx(function(X2, y2), rel=1e-12, abs=1e-12)


def test_ot_nce_estimator_passes_max_samples_and_its_seed():
    X, y = _task()
    Xr, yr = _task(seed=3)
    est = OTNCEScorer(reference=(Xr, yr), max_samples=20, random_state=0).fit(X, y)
    W, ce = ot_label_coupling_terms(X, y, Xr, yr, max_samples=20, random_state=0)
    assert (est.wasserstein_, est.conditional_entropy_) == pytest.approx((W, ce), rel=1e-12)
    assert (W, ce) != pytest.approx(ot_label_coupling_terms(X, y, Xr, yr)[:2])
    assert est.score(X, y) == pytest.approx(-ce, rel=1e-12)
    # one network-simplex iteration: not the optimal coupling
    with pytest.warns(UserWarning):
        est = OTNCEScorer(reference=(Xr, yr), max_iter=1, max_samples=None).fit(X, y)
    with pytest.warns(UserWarning):
        W, ce = ot_label_coupling_terms(X, y, Xr, yr, max_iter=1)
    assert (est.wasserstein_, est.conditional_entropy_) == pytest.approx((W, ce), rel=1e-12)
    assert abs(W - ot_label_coupling_terms(X, y, Xr, yr)[0]) > 1e-3


@pytest.mark.parametrize("estimator", [
    LogMEScorer(), HScoreScorer(), RegularizedHScoreScorer(), GBCScorer(),
    TransRateScorer(), LEEPScorer(), NCEScorer()], ids=lambda e: type(e).__name__)
def test_influence_scorers_keep_point_terms_whose_mean_is_the_score(estimator):
    # value[i] = score_ + n (g_i - mean(g)): their mean is score_, each weighs 1/n
    X, y = _task()
    est = clone(estimator).fit(X, y)
    terms = est.point_terms_
    assert terms["value"].shape == (len(y),) and np.ptp(terms["value"]) > 0
    assert np.mean(terms["value"]) == pytest.approx(est.score_, rel=1e-9, abs=1e-12)
    assert_allclose(terms["weight"], 1 / len(y))


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_tags_say_deterministic_and_whether_y_is_required(estimator):
    tags = estimator.__sklearn_tags__()
    assert tags.non_deterministic is False
    assert tags.target_tags.required is not isinstance(estimator, ETranScorer)
    assert tags.transformer_tags.preserves_dtype == ["float32"]


def test_source_head_output_is_read_as_probabilities_only_on_the_simplex():
    X, y = _task()
    proba = softmax(X[:, :4], axis=1)
    onehot = np.eye(4)[np.argmax(X[:, :4], axis=1)]  # on the simplex, with zeros
    est = LEEPScorer(source_head=lambda Z: np.eye(4)[np.argmax(Z[:, :4], axis=1)]).fit(X, y)
    assert est.score_ == pytest.approx(leep_score(onehot, y), rel=1e-12)
    # non-negative rows summing to 1 + 1.05e-4 or 1.5: off the simplex, so logits
    for factor in (1 + 1.05e-4, 1.5):
        est = LEEPScorer(source_head=lambda Z, f=factor: f * softmax(Z[:, :4], axis=1))
        assert est.fit(X, y).score_ == pytest.approx(
            leep_score(softmax(factor * proba, axis=1), y), rel=1e-5)


def test_source_head_output_is_validated_under_its_name():
    X, y = _task()
    with pytest.raises(ValueError, match=r"^source_head output: Found array with 0 feature"):
        LEEPScorer(source_head=lambda Z: np.ones((len(Z), 0))).fit(X, y)


def test_reference_embeddings_are_validated_under_their_name():
    X, y = _task()
    Xr = X.copy()
    Xr[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"^Input reference X contains NaN"):
        OTNCEScorer(reference=(Xr, y)).fit(X, y)


def test_batch_size_and_progress_bars_reach_every_embedding_call(capsys):
    X, y = _task()
    Xr, yr = _task(seed=3)
    calls = []

    def encoder(batch):
        calls.append(("encoder", len(batch)))
        return 2.0 * np.asarray(batch) + 1.0

    def head(batch):
        calls.append(("head", len(batch)))
        dtypes.add(np.asarray(batch).dtype)
        return np.asarray(batch)[:, :4]

    dtypes = set()
    LEEPScorer(encoder=encoder, source_head=head, batch_size=7, verbose=1).fit(X, y)
    assert sorted(set(calls)) == [("encoder", 4), ("encoder", 7), ("head", 4), ("head", 7)]
    assert dtypes == {np.dtype(np.float32)}  # the head sees what an encoder outputs
    assert re.search(r"(^|\r)source head: ", capsys.readouterr().err)
    calls.clear()
    est = OTNCEScorer(reference=(Xr, yr), encoder=encoder, batch_size=7,
                      verbose=1).fit(X, y)
    assert sorted(set(calls)) == [("encoder", 4), ("encoder", 7)]
    assert re.search(r"(^|\r)embedding reference: ", capsys.readouterr().err)
    W, _ = ot_label_coupling_terms((2 * X + 1).astype(np.float32), y,
                                   (2 * Xr + 1).astype(np.float32), yr)
    assert est.wasserstein_ == pytest.approx(W, rel=1e-9)
    calls.clear()
    LogMEScorer(encoder, batch_size=25, verbose=1).fit(X, y)
    assert sorted(set(calls)) == [("encoder", 10), ("encoder", 25)]
    assert re.search(r"(^|\r)embedding: ", capsys.readouterr().err)


def test_device_reaches_the_embedding_calls_of_score_and_source_proba():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    X, y = _task()
    Z = X.astype(np.float32)
    est = LogMEScorer(encoder=torch.nn.Identity(), device="cpu").fit(Z, y)
    est.set_params(device="cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        est.score(Z, y)
    est = LEEPScorer(source_head=torch.nn.Linear(6, 4), device="cpu").fit(Z, y)
    est.set_params(device="cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        est.source_proba(Z)


def test_source_proba_checks_the_width_it_was_fitted_on():
    X, y = _task()
    est = LEEPScorer().fit(softmax(X, axis=1), y)
    with pytest.raises(ValueError, match="features"):
        est.source_proba(softmax(X[:, :4], axis=1))
