"""TaskRelatednessScorer: theory checks, bound honesty and scikit-learn integration."""

import copy
import functools
import pickle
import re

import numpy as np
import pytest
import torch
from conftest import make_task
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import Pipeline

from sklearn_taskrel import ReferenceTask, TaskRelatednessScorer
from sklearn_taskrel.transport import LogitMap, Transformation, evaluate_transformation

N_FEATURES = 8


@pytest.fixture(scope="module")
def reference():
    Xr, yr, means = make_task(n_per_class=60, n_classes=4, n_features=N_FEATURES,
                              separation=5, random_state=0)
    return Xr, yr, means


def _fit(reference, X, y, reference_override=None, **params):
    """Fit with the terms measured on the fitting sample (``cross_fit="off"`` unless
    given): the theory checks below are exact there. Cross-fitting, the ranking
    preset's default, has tests of its own."""
    Xr, yr, _ = reference
    ref = (Xr, yr) if reference_override is None else reference_override
    params.setdefault("cross_fit", "off")
    return TaskRelatednessScorer(reference=ref, random_state=0, **params).fit(X, y)


def _terms_sum(est):
    t = est.bound_terms_
    return t["reweighted_reference_loss"] + t["conditional_entropy"] + t["transport"]


# ----------------------------------------------------------------- theory checks
def test_identical_tasks(reference):
    Xr, yr, _ = reference
    est = _fit(reference, Xr, yr)
    assert est.bound_terms_["wasserstein"] == pytest.approx(0.0, abs=1e-6)
    assert est.bound_terms_["conditional_entropy"] == pytest.approx(0.0, abs=1e-12)
    assert est.task_relatedness_ == pytest.approx(
        est.bound_terms_["reweighted_reference_loss"], abs=1e-6)
    assert est.target_loss_ <= est.task_relatedness_ + 1e-6


def test_permuted_labels_recover_permutation(reference):
    Xr, yr, _ = reference
    perm = np.array([2, 0, 3, 1])
    base = _fit(reference, Xr, yr)
    est = _fit(reference, Xr, perm[yr])
    # label_map_[t, r] = P(y_T = t | y_R = r): its argmax over t inverts nothing,
    # it *is* the permutation applied to the reference labels.
    assert_allclose(est.label_map_.argmax(axis=0), perm)
    assert est.task_relatedness_ == pytest.approx(base.task_relatedness_, rel=0.05)
    assert est.target_loss_ <= est.task_relatedness_ + 1e-6


def test_class_prior_shift_moves_class_prior_to_target_prior(reference):
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=60, n_classes=4, n_features=N_FEATURES,
                          random_state=5, means=means)
    keep = np.concatenate([np.flatnonzero(yt == k)[:n] for k, n in enumerate([60, 30, 15, 8])])
    est = _fit(reference, Xt[keep], yt[keep])
    target_prior = np.bincount(yt[keep]) / len(keep)
    ref_prior = np.bincount(yr) / len(yr)
    assert np.abs(est.class_prior_ - target_prior).sum() < 0.1 * np.abs(ref_prior - target_prior).sum()
    assert_allclose(est.label_map_ @ est.class_prior_, target_prior, atol=1e-12)
    assert est.target_loss_ <= est.task_relatedness_


def test_affine_map_of_reference_is_undone(reference):
    Xr, yr, _ = reference
    rng = np.random.RandomState(3)
    A = np.diag(rng.uniform(0.5, 2, N_FEATURES)) @ (
        np.eye(N_FEATURES) + 0.5 * rng.normal(size=(N_FEATURES, N_FEATURES)) / np.sqrt(N_FEATURES))
    X = Xr @ A.T + 3 * rng.normal(size=N_FEATURES)
    base = _fit(reference, Xr, yr)
    learned = _fit(reference, X, yr)
    fixed = _fit(reference, X, yr, transforms="fixed")
    assert learned.task_relatedness_ == pytest.approx(base.task_relatedness_, rel=0.05)
    # The learned feature map removes most of the transport distance.
    assert learned.bound_terms_["wasserstein"] < 0.5 * fixed.bound_terms_["wasserstein"]
    assert learned.target_loss_ <= learned.task_relatedness_


@pytest.mark.parametrize("head_lipschitz", [0.02, 1.0])
def test_unrelated_target_has_larger_tr(reference, head_lipschitz):
    Xr, yr, _ = reference
    rng = np.random.RandomState(0)
    related = _fit(reference, Xr, yr, head_lipschitz=head_lipschitz)
    unrelated = _fit(reference, Xr, rng.permutation(yr), head_lipschitz=head_lipschitz)
    gap = unrelated.task_relatedness_ - related.task_relatedness_
    assert gap > 0.5 * unrelated.bound_terms_["transport"] > 0
    assert unrelated.target_loss_ <= unrelated.task_relatedness_


def test_bound_terms_sum_to_task_relatedness(reference):
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=30, n_classes=4, n_features=N_FEATURES,
                          random_state=7, means=means, noise=1.5)
    est = _fit(reference, Xt, yt)
    assert _terms_sum(est) == pytest.approx(est.task_relatedness_, rel=1e-12)
    assert est.bound_terms_["transport"] == pytest.approx(
        est.bound_terms_["lipschitz"] * est.bound_terms_["wasserstein"])
    assert est.target_loss_ <= est.task_relatedness_
    assert set(est.bound_terms_) >= {"reweighted_reference_loss", "conditional_entropy",
                                     "wasserstein", "lipschitz", "transport"}


def test_more_target_classes_than_reference_classes(reference):
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=25, n_classes=6, n_features=N_FEATURES, random_state=2)
    est = _fit(reference, Xt, yt)
    assert est.label_map_.shape == (6, 4)
    # Several target classes share a reference class: positive label-mismatch term.
    assert est.bound_terms_["conditional_entropy"] > 0
    assert est.target_loss_ <= est.task_relatedness_


@pytest.mark.parametrize("transforms", ["learned_all", "learned_feature", "fixed"])
def test_transforms_order_of_tr(reference, transforms):
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=40, n_classes=4, n_features=N_FEATURES,
                          random_state=11, means=means, noise=1.3)
    est = _fit(reference, Xt + 0.5, yt, transforms=transforms)
    assert np.isfinite(est.task_relatedness_)
    if transforms != "learned_all":
        assert_allclose(est.label_map_.argmax(0), np.arange(4))  # fixed by label values
    if transforms == "fixed":
        assert_allclose(est.target_map_[0], np.eye(N_FEATURES))


def test_learning_never_worse_than_fixed(reference):
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=40, n_classes=4, n_features=N_FEATURES,
                          random_state=12, means=means)
    trs = {t: _fit(reference, 1.5 * Xt + 1, yt, transforms=t).task_relatedness_
           for t in ("learned_all", "learned_feature", "fixed")}
    assert trs["learned_all"] <= trs["fixed"] + 1e-9
    assert trs["learned_feature"] <= trs["fixed"] + 1e-9


@pytest.mark.parametrize("pseudo_labels", ["reference", "cluster", "none"])
def test_label_free_modes(reference, pseudo_labels):
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=40, n_classes=4, n_features=N_FEATURES,
                          random_state=13, means=means)
    est = TaskRelatednessScorer(reference=(Xr, yr), pseudo_labels=pseudo_labels,
                                random_state=0).fit(Xt)
    assert np.isfinite(est.task_relatedness_)
    assert _terms_sum(est) == pytest.approx(est.task_relatedness_)
    assert np.isfinite(est.score(Xt))
    if pseudo_labels != "none":
        assert len(est.pseudo_labels_) == len(Xt)
        # The pseudo-labels of well separated classes agree with the true partition.
        from sklearn.metrics import adjusted_rand_score
        assert adjusted_rand_score(yt, est.pseudo_labels_) > 0.9


def test_label_free_without_reference_is_an_error(task):
    X, _ = task
    with pytest.raises(ValueError, match="Label-free fitting.*reference=None"):
        TaskRelatednessScorer().fit(X)


def test_reference_none_is_self_reference(task):
    X, y = task
    est = TaskRelatednessScorer(random_state=0, cross_fit="off").fit(X, y)
    assert est.bound_terms_["wasserstein"] == pytest.approx(0.0, abs=1e-6)
    assert est.task_relatedness_ == pytest.approx(est.bound_terms_["reweighted_reference_loss"],
                                                  abs=1e-6)


@pytest.mark.parametrize("lipschitz", ["certified", "empirical"])
def test_logit_transport_space_is_a_tighter_bound_for_the_same_transformations(
        reference, lipschitz):
    """W1 between head logits: the same transformations, a valid and smaller bound."""
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=30, n_classes=4, n_features=N_FEATURES,
                          random_state=7, means=means, noise=1.5)
    feat = _fit(reference, 1.2 * Xt, yt, lipschitz=lipschitz, preset="paper")
    logit = _fit(reference, 1.2 * Xt, yt, lipschitz=lipschitz, preset="paper",
                 transport_space="logits")
    # the label map is fitted in feature space either way; the feature map then
    # descends on the logit transport, so its logit bound beats the feature fit's map
    assert_allclose(logit.label_map_, feat.label_map_)
    t = logit.bound_terms_
    W, c = logit.head_coef_, logit.head_intercept_
    assert_allclose(W, feat.head_coef_)
    tr = feat.transformation_
    feat_in_logits, _ = evaluate_transformation(
        [Z @ W.T + c for Z in feat._solver._Z_ref_by_class], feat.target_scaler_.transform(1.2 * Xt),
        np.searchsorted(feat.classes_, yt),
        Transformation(tr.assignment, tr.joint, tr.class_prior,
                       LogitMap(tr.feature_map, W, c)),
        feat.reference_class_losses_, t["lipschitz"])
    assert t["wasserstein"] < feat_in_logits["wasserstein"]
    assert _terms_sum(logit) == pytest.approx(logit.task_relatedness_, rel=1e-12)
    assert t["transport"] == pytest.approx(t["lipschitz"] * t["wasserstein"])
    if lipschitz == "certified":
        assert t["lipschitz"] == pytest.approx(np.sqrt(2))
    else:
        assert 0 < t["lipschitz"] <= np.sqrt(2)
    # ||W (u - u')|| <= ||W||_2 ||u - u'||: the logit W1 is at most ||W||_2 times the
    # feature W1 of the same blocks, and the bound is tighter here
    op = np.linalg.norm(logit.head_coef_, 2)
    assert t["wasserstein"] <= op * feat.bound_terms_["wasserstein"] * (1 + 1e-9)
    assert logit.target_loss_ <= logit.task_relatedness_ < feat.task_relatedness_
    # the score on the fitting sample is the fitted TR, with the certified constant
    certified = logit.task_relatedness_ - t["transport"] + np.sqrt(2) * t["wasserstein"]
    assert logit.score(1.2 * Xt, yt) == pytest.approx(-certified, rel=1e-12)
    if lipschitz == "empirical":
        assert -logit.score(1.2 * Xt, yt) > logit.task_relatedness_


def test_logit_transport_space_does_not_grow_with_appended_noise_features(reference):
    """Feature-space W1 grows with the width of noisy samples; the logit W1 much less."""
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=30, n_classes=4, n_features=N_FEATURES,
                          random_state=7, means=means, noise=1.5)
    rng = np.random.RandomState(0)

    def widen(X, k):
        return np.hstack([X, rng.normal(size=(len(X), k))])

    out = {}
    for space in ("features", "logits"):
        w = [_fit(reference, widen(Xt, k), yt, transport_space=space,
                  reference_override=(widen(Xr, k), yr)).bound_terms_["wasserstein"]
             for k in (0, 200)]
        out[space] = w[1] / w[0]
    assert out["features"] > 3
    assert out["logits"] < out["features"] / 2


@pytest.mark.parametrize("pseudo_labels", ["reference", "none"])
def test_logit_transport_space_label_free(reference, pseudo_labels):
    Xr, yr, means = reference
    Xt, _, _ = make_task(n_per_class=30, n_classes=4, n_features=N_FEATURES,
                         random_state=22, means=means)
    est = TaskRelatednessScorer(reference=(Xr, yr), pseudo_labels=pseudo_labels,
                                preset="paper", transport_space="logits",
                                random_state=0).fit(Xt)
    assert est.lipschitz_ == pytest.approx(np.sqrt(2))
    assert est.bound(Xt)["task_relatedness"] == pytest.approx(est.task_relatedness_,
                                                              rel=1e-9)
    b = TaskRelatednessScorer(reference=(Xr, yr), pseudo_labels=pseudo_labels,
                              preset="paper", transport_space="logits", random_state=0,
                              transport_backend="torch", device="cpu").fit(Xt)
    assert b.task_relatedness_ == pytest.approx(est.task_relatedness_, rel=1e-8)


def test_score_is_minus_tr_on_fitted_data_and_honest_on_new_data(reference):
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=40, n_classes=4, n_features=N_FEATURES,
                          random_state=14, means=means)
    Xs, ys, _ = make_task(n_per_class=40, n_classes=4, n_features=N_FEATURES,
                          random_state=15, means=means)
    est = _fit(reference, Xt, yt)
    # the in-sample terms recomputed from the fitted transformations
    assert est.bound(Xt, yt)["task_relatedness"] == pytest.approx(est.task_relatedness_)
    new = est.bound(Xs, ys)
    assert est.score(Xs, ys) == pytest.approx(-new["task_relatedness"])
    proba = est.predict_proba(Xs)
    loss = -np.mean(np.log(proba[np.arange(len(ys)), ys]))
    assert loss <= new["task_relatedness"]
    assert_allclose(proba.sum(1), 1.0)
    assert set(est.predict(Xs)) <= set(est.classes_)


def test_score_with_unknown_labels_raises(reference):
    Xr, yr, _ = reference
    est = _fit(reference, Xr, yr)
    with pytest.raises(ValueError, match="not seen during fit"):
        est.score(Xr, yr + 10)


def test_string_labels_and_classes(reference):
    Xr, yr, _ = reference
    names = np.array(["ant", "bee", "cat", "dog"])
    est = _fit(reference, Xr, names[yr])
    assert list(est.classes_) == list(names)
    assert est.predict(Xr[:3]).dtype.kind in "UO"
    assert est.bound(Xr, names[yr])["task_relatedness"] == pytest.approx(
        est.task_relatedness_)


def test_determinism_bit_for_bit(reference):
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=40, n_classes=4, n_features=N_FEATURES,
                          random_state=16, means=means, noise=1.4)
    a = _fit(reference, Xt, yt)
    b = _fit(reference, Xt, yt)
    assert a.task_relatedness_ == b.task_relatedness_
    assert np.array_equal(a.label_map_, b.label_map_)
    assert np.array_equal(a.head_coef_, b.head_coef_)


def test_bad_parameters_name_parameter_and_value(task):
    X, y = task
    with pytest.raises(ValueError, match="transforms"):
        TaskRelatednessScorer(transforms="everything").fit(X, y)
    with pytest.raises(ValueError, match="alpha"):
        TaskRelatednessScorer(alpha=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="transport_space.*'pixels'"):
        TaskRelatednessScorer(transport_space="pixels").fit(X, y)
    with pytest.raises(ValueError, match="'cuda'.*not available"):
        if torch.cuda.is_available():
            pytest.skip("CUDA present")
        TaskRelatednessScorer(encoder=torch.nn.Identity(), device="cuda").fit(X, y)
    with pytest.raises(ValueError, match="same width"):
        TaskRelatednessScorer(reference=(X[:, :3], y)).fit(X, y)
    with pytest.raises(ValueError, match="y has 5 labels but X has"):
        TaskRelatednessScorer().fit(X, y[:5])


def test_not_fitted_errors(task):
    X, y = task
    for method in ("score", "predict_proba", "transform", "bound"):
        with pytest.raises(NotFittedError):
            getattr(TaskRelatednessScorer(), method)(X, y) if method in ("score", "bound") \
                else getattr(TaskRelatednessScorer(), method)(X)


# ----------------------------------------------------------------- scikit-learn integration
def test_clone_shares_reference_task_and_pickle_round_trip(reference):
    Xr, yr, _ = reference
    ref = ReferenceTask(Xr, yr)
    est = TaskRelatednessScorer(reference=ref, random_state=0)
    cloned = clone(est)
    assert cloned.reference is ref                      # no copy of the reference arrays
    fitted = est.fit(Xr, yr)
    restored = pickle.loads(pickle.dumps(fitted))
    assert restored.task_relatedness_ == fitted.task_relatedness_
    assert_allclose(restored.predict_proba(Xr), fitted.predict_proba(Xr))
    assert restored.score(Xr, yr) == pytest.approx(fitted.score(Xr, yr))


def test_reference_task_fits_its_head_once_per_embeddings_and_head_parameters(
        reference, monkeypatch):
    import sklearn_taskrel._head as estimator_module

    Xr, yr, _ = reference
    calls = []
    real = estimator_module.fit_reference_head

    def counting(*args, **kwargs):
        calls.append(kwargs["lipschitz_cap"])
        return real(*args, **kwargs)

    monkeypatch.setattr(estimator_module, "fit_reference_head", counting)
    ref = ReferenceTask(Xr, yr)
    X, y = Xr[::2] + 0.3, yr[::2]
    first = TaskRelatednessScorer(ref, preset="paper", random_state=0).fit(X, y)
    again = clone(first).fit(X[:100], y[:100])        # another fold: the head is reused
    assert len(calls) == 1
    assert_allclose(again.head_coef_, first.head_coef_, rtol=0, atol=0)
    TaskRelatednessScorer(ref, preset="paper", head_lipschitz=0.05, random_state=0).fit(X, y)
    assert calls == [0.02, 0.05]                        # other head parameters: refit
    TaskRelatednessScorer((Xr, yr), preset="paper", random_state=0).fit(X, y)
    assert len(calls) == 3                              # a plain tuple keeps no cache
    # A cached head gives bit-identical results to a fresh one.
    ref.clear_cache()
    fresh = TaskRelatednessScorer(ref, preset="paper", random_state=0).fit(X, y)
    cached = TaskRelatednessScorer(ref, preset="paper", random_state=0).fit(X, y)
    assert fresh.task_relatedness_ == cached.task_relatedness_ == first.task_relatedness_
    assert len(calls) == 4
    assert pickle.loads(pickle.dumps(ref))._heads == {}  # workers start empty


def test_pipeline_and_cross_validate(reference):
    Xr, yr, _ = reference
    pipe = Pipeline([("pca", PCA(n_components=5)), ("tr", TaskRelatednessScorer(random_state=0))])
    pipe.fit(Xr, yr)
    assert np.isfinite(pipe.score(Xr, yr))
    est = TaskRelatednessScorer(reference=ReferenceTask(Xr, yr), random_state=0)
    res = cross_validate(est, Xr, yr, cv=3)
    assert res["test_score"].shape == (3,)
    assert np.all(np.isfinite(res["test_score"]))
    assert np.all(res["test_score"] < 0)


def test_a_pipeline_step_that_changes_the_width_says_how_to_fix_it(reference):
    Xr, yr, _ = reference
    pipe = Pipeline([("pca", PCA(n_components=5)),
                     ("tr", TaskRelatednessScorer(reference=(Xr, yr), random_state=0))])
    with pytest.raises(ValueError, match=r"^reference and target embeddings must have the "
                       r"same width; got 8 reference features and 5 target features\. A step "
                       r"placed before this estimator in a Pipeline \(PCA, say\) changes the "
                       r"target but not the reference: transform the reference with the same "
                       r"fitted step \(reference=\(step\.transform\(X_ref\), y_ref\)\), or "
                       r"make the step part of the encoder\.$"):
        pipe.fit(Xr, yr)
    # the fix the message gives: the reference transformed by the same fitted step
    pca = PCA(n_components=5).fit(Xr)
    est = TaskRelatednessScorer(reference=(pca.transform(Xr), yr), random_state=0)
    fixed = Pipeline([("pca", pca), ("tr", est)]).fit(Xr, yr)
    assert np.isfinite(fixed[-1].task_relatedness_)


def _selector(columns):
    """A zero-argument encoder factory: a fixed linear map that keeps ``columns``."""
    def factory():
        lin = torch.nn.Linear(12, len(columns), bias=False)
        with torch.no_grad():
            W = torch.zeros(len(columns), 12)
            W[torch.arange(len(columns)), torch.as_tensor(columns)] = 1.0
            lin.weight.copy_(W)
        return lin
    factory.__name__ = f"select_{columns[0]}_{columns[-1]}"
    return factory


def test_grid_search_over_encoder_factories_picks_the_best_by_construction():
    rng = np.random.RandomState(0)
    means = np.zeros((3, 12))
    means[:, :4] = 4 * rng.normal(size=(3, 4))
    def raw(n, seed):
        r = np.random.RandomState(seed)
        y = np.repeat(np.arange(3), n)
        return (means[y] + r.normal(size=(len(y), 12))).astype(np.float32), y
    Xr, yr = raw(50, 1)
    Xt, yt = raw(40, 2)
    good = _selector(list(range(0, 8)))     # all 4 informative columns
    mid = _selector(list(range(2, 10)))     # 2 of them
    bad = _selector(list(range(4, 12)))     # noise columns only
    grid = GridSearchCV(
        TaskRelatednessScorer(reference=ReferenceTask(Xr, yr), random_state=0, device="cpu"),
        {"encoder": [bad, mid, good]}, cv=3)
    grid.fit(Xt, yt)
    assert grid.best_params_["encoder"] is good
    scores = grid.cv_results_["mean_test_score"]
    assert scores[2] > scores[1] > scores[0]


def test_encoder_transform_and_module_mode_restored(reference):
    Xr, yr, _ = reference
    enc = torch.nn.Sequential(torch.nn.Linear(N_FEATURES, 6), torch.nn.Dropout(0.5))
    enc.train()
    est = TaskRelatednessScorer(reference=(Xr.astype(np.float32), yr), encoder=enc,
                                device="cpu", random_state=0).fit(Xr.astype(np.float32), yr)
    assert enc.training                                  # mode restored after extraction
    Z = est.transform(Xr.astype(np.float32))
    assert Z.dtype == np.float32 and Z.shape == (len(Xr), 6)
    # Dropout is off during extraction: embeddings are deterministic.
    assert_allclose(Z, est.transform(Xr.astype(np.float32)))


# ----------------------------------------------------------------- torch / GPU path
@pytest.mark.parametrize("params", [{}, {"transforms": "learned_feature"},
                                    {"feature_map": "diagonal"},
                                    {"transport_space": "logits"}])
def test_torch_transport_backend_matches_numpy_on_cpu(reference, params):
    """The code path that runs on the GPU, exercised on the CPU."""
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=40, n_classes=4, n_features=N_FEATURES,
                          random_state=21, means=means, noise=1.3)
    a = _fit(reference, 1.3 * Xt + 0.5, yt, transport_backend="numpy", **params)
    b = _fit(reference, 1.3 * Xt + 0.5, yt, transport_backend="torch", device="cpu", **params)
    assert b.task_relatedness_ == pytest.approx(a.task_relatedness_, rel=1e-8)
    # (the map algebra runs in float32 on both backends; their roundings differ)
    for key in a.bound_terms_:
        assert b.bound_terms_[key] == pytest.approx(a.bound_terms_[key], rel=1e-6, abs=1e-10)
    assert_allclose(b.predict_proba(Xt), a.predict_proba(Xt), rtol=1e-6, atol=1e-9)
    assert b.score(Xt, yt) == pytest.approx(a.score(Xt, yt), rel=1e-7)
    assert isinstance(b.target_map_[0], np.ndarray)


def test_torch_transport_backend_label_free(reference):
    Xr, yr, means = reference
    Xt, _, _ = make_task(n_per_class=30, n_classes=4, n_features=N_FEATURES,
                         random_state=22, means=means)
    a = TaskRelatednessScorer(reference=(Xr, yr), pseudo_labels="none", random_state=0,
                              transport_backend="numpy").fit(Xt)
    b = TaskRelatednessScorer(reference=(Xr, yr), pseudo_labels="none", random_state=0,
                              transport_backend="torch", device="cpu").fit(Xt)
    assert b.task_relatedness_ == pytest.approx(a.task_relatedness_, rel=1e-8)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_device_runs_transport_on_gpu(reference):
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=40, n_classes=4, n_features=N_FEATURES,
                          random_state=23, means=means)
    cpu = _fit(reference, Xt, yt, device="cpu")
    gpu = _fit(reference, Xt, yt, device="cuda")
    assert gpu._backend_device().type == "cuda"
    assert gpu.task_relatedness_ == pytest.approx(cpu.task_relatedness_, rel=1e-4)


def test_max_samples_fits_on_a_subsample_and_evaluates_everything(reference):
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=40, n_classes=4, n_features=N_FEATURES,
                          random_state=24, means=means, noise=1.2)
    est = _fit(reference, Xt, yt, max_samples=60)
    assert not est._solver._fit_on_all
    proba = est.predict_proba(Xt)
    manual = -np.mean(np.log(proba[np.arange(len(yt)), yt]))
    assert est.target_loss_ == pytest.approx(manual, rel=1e-10)
    assert est.task_relatedness_ == pytest.approx(est.bound(Xt, yt)["task_relatedness"], rel=1e-10)
    assert est.target_loss_ <= est.task_relatedness_


# ----------------------------------------------------------------- presets (ranking default)
def _scaled_radius(X, floor=0.1):
    """RMS radius of per-feature standardised X with the variance floor (by hand)."""
    var = X.var(axis=0)
    return float(np.sqrt(np.sum(var / (var + floor * var.mean()))))


def test_presets_fill_the_parameters_left_at_none(reference):
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=30, n_classes=4, n_features=N_FEATURES,
                          random_state=3, means=means)
    default = _fit(reference, Xt, yt)
    assert (default.transport_space_, default.scaling_) == ("logits", "per_feature")
    assert default.head_lipschitz_ == pytest.approx(1.0 / _scaled_radius(Xr), rel=1e-12)
    assert default.reference_radius_ == pytest.approx(_scaled_radius(Xr), rel=1e-12)
    paper = _fit(reference, Xt, yt, preset="paper")
    assert (paper.transport_space_, paper.head_lipschitz_) == ("features", 0.02)
    assert paper.fold_terms_ == [] and paper.head_scale_ == 1.0
    # explicit parameters win over the preset
    mixed = _fit(reference, Xt, yt, preset="paper", transport_space="logits", head_budget=2.0)
    assert mixed.transport_space_ == "logits"
    assert mixed.head_lipschitz_ == pytest.approx(2.0 / _scaled_radius(Xr), rel=1e-12)
    with pytest.raises(ValueError, match="head_lipschitz.*head_budget.*0.1.*3"):
        _fit(reference, Xt, yt, head_lipschitz=0.1, head_budget=3)
    with pytest.raises(ValueError, match="preset"):
        _fit(reference, Xt, yt, preset="fastest")


def test_global_scaling_makes_tr_invariant_to_a_rotation(reference):
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=30, n_classes=4, n_features=N_FEATURES,
                          random_state=4, means=means, noise=1.5)
    Q, _ = np.linalg.qr(np.random.RandomState(0).normal(size=(N_FEATURES, N_FEATURES)))
    kw = dict(scaling="global", cross_fit="off")
    a = _fit(reference, Xt, yt, **kw)
    b = _fit(reference, Xt @ Q, yt, reference_override=(Xr @ Q, yr), **kw)
    # equal up to the float32 costs of the map descent
    assert b.task_relatedness_ == pytest.approx(a.task_relatedness_, rel=5e-4)
    assert b.target_loss_ == pytest.approx(a.target_loss_, rel=5e-4)
    # per-feature standardisation is not rotation invariant
    c = _fit(reference, Xt @ Q, yt, reference_override=(Xr @ Q, yr), cross_fit="off")
    d = _fit(reference, Xt, yt, cross_fit="off")
    assert abs(c.task_relatedness_ - d.task_relatedness_) > 10 * abs(
        b.task_relatedness_ - a.task_relatedness_)


@pytest.mark.parametrize("head_budget, scale_range", [(0.5, (1.5, 3.0)), (4.0, (0.2, 0.6))])
def test_rescaled_head_minimises_the_bound_over_its_scale(reference, head_budget, scale_range):
    """Brute force: the bound of every scaled head, each evaluated by exact transport;
    a small head is scaled up, a large one down."""
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=30, n_classes=4, n_features=N_FEATURES,
                          random_state=5, means=means, noise=2.0)
    kw = dict(cross_fit="off", head_budget=head_budget)
    fixed = _fit(reference, Xt, yt, **kw)
    best = _fit(reference, Xt, yt, rescale_head=True, **kw)
    assert scale_range[0] < best.head_scale_ < scale_range[1]
    assert_allclose(best.head_coef_, best.head_scale_ * fixed.head_coef_, rtol=1e-12)
    assert best.task_relatedness_ <= fixed.task_relatedness_ + 1e-12
    grid = np.concatenate([np.linspace(0, 3 * best.head_scale_, 31), [best.head_scale_]])
    values = []
    for s in grid:
        est = copy.deepcopy(fixed)  # the fitted state, a head to scale
        solver = est._solver  # the same transformations, a scaled head
        solver.head_coef_ = s * fixed.head_coef_
        Zr_s = est.reference_scaler_.transform(Xr)
        logits = Zr_s @ solver.head_coef_.T + est.head_intercept_
        logp = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1,
                               keepdims=True)) - logits.max(1, keepdims=True)
        solver.reference_class_losses_ = np.array(
            [-logp[yr == r, r].mean() for r in range(4)])
        values.append(est.bound(Xt, yt)["task_relatedness"])  # recomputed
    assert best.task_relatedness_ == pytest.approx(values[-1], rel=1e-7)  # float32 map
    assert best.task_relatedness_ <= min(values) + 1e-6
    assert values[0] > best.task_relatedness_ + 0.05  # the scale matters here


def test_chance_level_is_the_label_entropy(reference):
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=100, n_classes=4, n_features=N_FEATURES,
                          random_state=6, means=means)
    counts = (100, 60, 40, 40)
    keep = np.concatenate([np.flatnonzero(yt == k)[:n] for k, n in enumerate(counts)])
    est = _fit(reference, Xt[keep], yt[keep])
    p = np.array(counts) / sum(counts)
    assert est.chance_level_ == pytest.approx(-(p * np.log(p)).sum(), rel=1e-12)
    assert est.beats_chance_ == (est.task_relatedness_ < est.chance_level_)
    assert est.beats_chance_  # well separated classes, same means as the reference
    # unrelated features: the bound cannot beat chance
    noise = np.random.RandomState(0).normal(size=Xt[keep].shape)
    assert not _fit(reference, noise, yt[keep]).beats_chance_


@pytest.mark.parametrize("feature_map", ["affine", "translation"])
@pytest.mark.parametrize("cross_fit", ["off", 2])
def test_target_loss_is_the_cross_entropy_of_the_transformed_classifier(reference, cross_fit,
                                                                       feature_map):
    """Recomputed from predict_proba (in sample) or from refits on the folds (the
    translation family is refitted on the whole sample, not averaged)."""
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=30, n_classes=4, n_features=N_FEATURES,
                          random_state=8, means=means, noise=1.5)
    est = _fit(reference, Xt, yt, cross_fit=cross_fit, rescale_head=False,
               feature_map=feature_map)
    if cross_fit == "off":
        proba = est.predict_proba(Xt)
        assert est.target_loss_ == pytest.approx(-np.mean(np.log(proba[np.arange(len(yt)), yt])),
                                                 rel=1e-7)  # float32 map
        return
    assert len(est.cv_folds_) == 2
    assert sorted(np.concatenate(est.cv_folds_).tolist()) == list(range(len(yt)))
    losses, trs = [], []
    for test in est.cv_folds_:
        train = np.setdiff1d(np.arange(len(yt)), test)
        fold = _fit(reference, Xt[train], yt[train], cross_fit="off", rescale_head=False,
                    feature_map=feature_map)
        proba = fold.predict_proba(Xt[test])
        losses.append(-np.mean(np.log(proba[np.arange(len(test)), yt[test]])))
        trs.append(-fold.score(Xt[test], yt[test]))
    w = np.array([len(t) for t in est.cv_folds_]) / len(yt)
    assert est.target_loss_ == pytest.approx(w @ losses, rel=1e-7)
    assert est.task_relatedness_ == pytest.approx(w @ trs, rel=1e-7)
    assert [f["task_relatedness"] for f in est.fold_terms_] == pytest.approx(trs, rel=1e-7)


@pytest.mark.parametrize("feature_map", ["affine", "diagonal"])
def test_cross_fitted_state_is_the_mean_of_the_fold_fits(reference, monkeypatch, feature_map):
    """With labels and held-out terms the transformations are fitted on the folds only
    (two fits, not three) and the fitted map is their mean: recomputed from
    standalone fits on each training part, each applied to its own standardisation."""
    import sklearn_taskrel.transport._solver as module

    calls = []
    real = module.fit_transformation
    monkeypatch.setattr(module, "fit_transformation",
                        lambda *a, **k: calls.append(len(a[1])) or real(*a, **k))
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=30, n_classes=4, n_features=N_FEATURES,
                          random_state=8, means=means, noise=1.5)
    est = _fit(reference, Xt, yt, cross_fit=2, rescale_head=False, feature_map=feature_map)
    assert calls == [len(yt) - len(test) for test in est.cv_folds_]
    monkeypatch.setattr(module, "fit_transformation", real)
    mapped, assignments = [], []
    for test in est.cv_folds_:
        train = np.setdiff1d(np.arange(len(yt)), test)
        fold = _fit(reference, Xt[train], yt[train], cross_fit="off", rescale_head=False,
                    feature_map=feature_map)
        mapped.append(fold.transformation_.feature_map.apply(fold.target_scaler_.transform(Xt)))
        assignments.append(fold.transformation_.assignment)
    got = est.transformation_.feature_map.apply(est.target_scaler_.transform(Xt))
    assert_allclose(got, np.mean(mapped, axis=0), rtol=1e-5, atol=1e-5)  # float32 maps
    assert np.array_equal(assignments[0], assignments[1])
    assert np.array_equal(est.transformation_.assignment, assignments[0])
    assert est.n_iter_ >= 1 and {h["fold"] for h in est.history_} == {0, 1}


def test_cross_fitted_state_keeps_the_better_fold_when_the_assignments_differ(reference):
    """An ambiguous target (class means unrelated to the reference's): the two training
    halves choose different assignments. The fitted state is then the fold with the
    lower held-out TR, whole (its assignment, its map on its own standardisation),
    not a soft mean of two label maps, so a bound measured with it has no
    conditional-entropy term."""
    Xr, yr, _ = reference
    Xt, yt, _ = make_task(n_per_class=20, n_classes=4, n_features=N_FEATURES,
                          random_state=102, noise=2.0)
    est = _fit(reference, Xt, yt, cross_fit=2)
    folds = []
    for test in est.cv_folds_:
        train = np.setdiff1d(np.arange(len(yt)), test)
        folds.append(_fit(reference, Xt[train], yt[train], cross_fit="off"))
    assert not np.array_equal(folds[0].transformation_.assignment,
                              folds[1].transformation_.assignment)
    held_out = [-f.score(Xt[test], yt[test]) for f, test in zip(folds, est.cv_folds_)]
    assert [t["task_relatedness"] for t in est.fold_terms_] == pytest.approx(held_out, rel=1e-7)
    best = folds[int(np.argmin(held_out))]
    assert int(np.argmin(held_out)) == 1  # not merely the first fold
    assert np.array_equal(est.transformation_.assignment, best.transformation_.assignment)
    assert_allclose(est.transformation_.feature_map.apply(est.target_scaler_.transform(Xt)),
                    best.transformation_.feature_map.apply(best.target_scaler_.transform(Xt)),
                    rtol=1e-5, atol=1e-5)  # float32 maps
    Xs, ys, _ = make_task(n_per_class=15, n_classes=4, n_features=N_FEATURES,
                          random_state=103, noise=2.0)
    assert est.bound(Xs, ys)["conditional_entropy"] == 0.0


@pytest.mark.parametrize("preset", ["ranking", "paper"])
def test_bound_on_new_data_reprojects_the_class_prior(reference, preset):
    """D on a new sample is its own class prior carried by the assignment: the
    reweighted loss is sum_t pi_new(t) L[r(t)] (by hand), not the fitted D's."""
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=40, n_classes=4, n_features=N_FEATURES,
                          random_state=9, means=means)
    est = _fit(reference, Xt, yt, preset=preset)
    Xs, ys, _ = make_task(n_per_class=60, n_classes=4, n_features=N_FEATURES,
                          random_state=10, means=means)
    keep = np.concatenate([np.flatnonzero(ys == k)[:n] for k, n in enumerate((60, 30, 8, 4))])
    terms = est.bound(Xs[keep], ys[keep])
    pi_new = np.bincount(ys[keep], minlength=4) / len(keep)
    assigned = est.label_map_.argmax(axis=1)              # target class -> reference class
    assert len(set(assigned)) == 4                          # one to one here
    expected = pi_new @ est.reference_class_losses_[assigned]
    assert terms["reweighted_reference_loss"] == pytest.approx(expected, rel=1e-10)
    fitted = est.class_prior_ @ est.reference_class_losses_
    assert abs(expected - fitted) > 1e-3                    # the re-projection matters


# ----------------------------------------------------------------- invariances on real embeddings
@pytest.fixture(scope="module")
def anchor_tasks(anchor):
    """The anchor's MobileNetV2 embeddings: 2000 Fashion-MNIST reference, 600 digits targets,
    and the transformed versions the default must see through."""
    rng = np.random.RandomState(0)
    Zr, yr = anchor["Z_ref_train"][:2000].astype(np.float64), anchor["y_ref_train"][:2000]
    Zt, yt = anchor["Z_tgt_train"][:600].astype(np.float64), anchor["y_tgt_train"][:600]
    P = rng.normal(size=(Zr.shape[1], 2))
    return (Zr, yr, Zt, yt), {
        "duplicated": (np.hstack([Zr, Zr]), np.hstack([Zt, Zt])),
        "noise": (np.hstack([Zr, rng.normal(size=Zr.shape)]),
                  np.hstack([Zt, rng.normal(size=Zt.shape)])),
        "projection_2d": (Zr @ P, Zt @ P),
        "times_10": (10 * Zr, 10 * Zt),
    }


@pytest.mark.parametrize("labels", [True, False])
def test_default_tr_sees_through_width_scale_and_noise(anchor_tasks, labels):
    """Every feature duplicated: within 5 %; 1280 pure-noise columns appended: not lower
    by more than 0.5 %; a random 2-d projection: higher; features times 10: within 0.5 %."""
    (Zr, yr, Zt, yt), variants = anchor_tasks

    def tr(A, B):
        est = TaskRelatednessScorer(reference=(A, yr), random_state=0)
        return est.fit(B, yt if labels else None).task_relatedness_

    base = tr(Zr, Zt)
    got = {name: tr(A, B) for name, (A, B) in variants.items()}
    assert abs(got["duplicated"] / base - 1) <= 0.05
    assert got["noise"] >= base * (1 - 0.005)
    assert got["projection_2d"] > base
    assert abs(got["times_10"] / base - 1) <= 0.005


def test_score_on_the_fitting_sample_is_the_cross_fitted_tr(reference):
    """A GridSearchCV whose one split trains and tests on the whole sample must rank by
    the cross-fitted TR, not by the whole-sample fit's optimistic in-sample bound."""
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=20, n_classes=4, n_features=N_FEATURES,
                          random_state=14, means=means)
    est = TaskRelatednessScorer(reference=(Xr, yr), random_state=0).fit(Xt, yt)
    in_sample = est.bound(Xt, yt)["task_relatedness"]
    assert in_sample < est.task_relatedness_  # the bias that cross-fitting removes
    assert est.score(Xt, yt) == -est.task_relatedness_
    # any other sample (even the same points, relabelled) is measured afresh
    assert est.score(Xt[::-1], yt[::-1]) == pytest.approx(-in_sample, rel=1e-6)
    flipped = yt.copy()
    flipped[:2] = flipped[1::-1] if flipped[0] != flipped[1] else (flipped[:2] + 1) % 4
    assert est.score(Xt, flipped) == pytest.approx(
        -est.bound(Xt, flipped)["task_relatedness"])
    whole = [(np.arange(len(yt)), np.arange(len(yt)))]
    cv = cross_validate(est, Xt, yt, cv=whole)
    assert cv["test_score"][0] == -est.task_relatedness_


def test_scores_of_certified_and_empirical_settings_are_on_one_scale(reference):
    """A grid over ``lipschitz`` must not prefer the authors' empirical constant for
    being smaller: ``score`` uses the certified constant for every setting."""
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=30, n_classes=4, n_features=N_FEATURES,
                          random_state=3, means=means, noise=1.5)
    Xs, ys, _ = make_task(n_per_class=30, n_classes=4, n_features=N_FEATURES,
                          random_state=4, means=means, noise=1.5)
    cert = _fit(reference, Xt, yt, lipschitz="certified", cross_fit=2)
    emp = _fit(reference, Xt, yt, lipschitz="empirical", cross_fit=2)
    assert emp.lipschitz_ < cert.lipschitz_
    assert emp.task_relatedness_ < cert.task_relatedness_
    # the same transformations (the constant only weighs the reported transport)
    assert_allclose(emp.label_map_, cert.label_map_)
    assert emp.score(Xt, yt) == pytest.approx(cert.score(Xt, yt), rel=1e-12)
    assert emp.score(Xs, ys) == pytest.approx(cert.score(Xs, ys), rel=1e-12)
    # recomputed by hand: the empirical terms with the certified constant
    t = emp.bound(Xs, ys)
    assert emp.score(Xs, ys) == pytest.approx(
        -(t["task_relatedness"] - t["transport"] + np.sqrt(2) * t["wasserstein"]))
    grid = GridSearchCV(TaskRelatednessScorer(reference=(Xr, yr), random_state=0),
                        {"lipschitz": ["empirical", "certified"]}, cv=2).fit(Xt, yt)
    scores = grid.cv_results_["mean_test_score"]
    assert scores[0] == pytest.approx(scores[1], rel=1e-12)


def test_large_held_out_folds_are_measured_on_a_stratified_subsample(reference):
    """Held-out terms estimate expectations: a fold larger than ``max_samples`` is
    measured on at most ``max_samples`` of its points, every class kept."""
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=40, n_classes=4, n_features=N_FEATURES,
                          random_state=8, means=means, noise=1.5)
    capped = TaskRelatednessScorer(reference=(Xr, yr), random_state=0,
                                   max_samples=40).fit(Xt, yt)
    full = TaskRelatednessScorer(reference=(Xr, yr), random_state=0).fit(Xt, yt)
    assert [f["n_samples"] for f in capped.fold_terms_] == [80, 80]
    assert [f["n_measured"] for f in capped.fold_terms_] == [40, 40]  # 10 per class
    assert [f["n_measured"] for f in full.fold_terms_] == [80, 80]
    weights = np.array([f["n_samples"] for f in capped.fold_terms_]) / len(yt)
    assert capped.task_relatedness_ == pytest.approx(
        weights @ [f["task_relatedness"] for f in capped.fold_terms_])
    assert capped.task_relatedness_ != full.task_relatedness_


# ----------------------------------------------------------------- properties
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(perm=st.permutations([0, 1, 2, 3]), names=st.sampled_from(["ints", "strings"]))
def test_tr_does_not_depend_on_how_the_target_classes_are_named(reference, perm, names):
    """Renaming the target classes (any permutation, ints or strings) leaves TR and
    every term unchanged, and the label map follows the names."""
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=20, n_classes=4, n_features=N_FEATURES,
                          random_state=21, means=means, noise=1.2)
    base = _fit(reference, Xt, yt)
    renamed = np.array(perm)[yt]
    if names == "strings":
        renamed = np.array([f"class-{k}" for k in renamed])
    other = _fit(reference, Xt, renamed)
    assert other.task_relatedness_ == pytest.approx(base.task_relatedness_, rel=1e-9)
    for key, value in base.bound_terms_.items():
        assert other.bound_terms_[key] == pytest.approx(value, rel=1e-9, abs=1e-12)
    # the reference class each original class is sent to is the same under its new name
    new_index = {k: list(other.classes_).index(renamed[np.flatnonzero(yt == k)[0]])
                 for k in range(4)}
    for k in range(4):
        assert np.argmax(other.label_map_[new_index[k]]) == np.argmax(base.label_map_[k])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scale=st.floats(0.1, 10.0),
       shift=st.lists(st.floats(-50.0, 50.0), min_size=N_FEATURES, max_size=N_FEATURES))
def test_tr_does_not_depend_on_the_units_of_the_target_features(reference, scale, shift):
    """All target features multiplied by one positive factor and each shifted by its
    own offset: the standardisation (whose variance floor is a fraction of the mean
    variance) removes both, TR is unchanged up to the float32 map descent."""
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=20, n_classes=4, n_features=N_FEATURES,
                          random_state=22, means=means, noise=1.2)
    base = _fit(reference, Xt, yt)
    other = _fit(reference, Xt * scale + np.array(shift), yt)
    assert other.task_relatedness_ == pytest.approx(base.task_relatedness_, rel=5e-5)


# ----------------------------------------------------------------- the estimator's shell
def test_every_parameter_is_stored_as_given():
    """``__init__`` stores each argument unchanged (a non-default value for each)."""
    import inspect

    given = {}
    for i, (name, p) in enumerate(inspect.signature(TaskRelatednessScorer).parameters.items()):
        given[name] = ("value", i) if p.default is None else type(p.default)  # never a default
    est = TaskRelatednessScorer(**given)
    params = est.get_params(deep=False)
    assert params.keys() == given.keys()
    for name, value in given.items():
        assert params[name] is value, name
    # and the default instance holds the signature's defaults (values and types)
    defaults = {name: p.default for name, p in
                inspect.signature(TaskRelatednessScorer).parameters.items()}
    stored = TaskRelatednessScorer().get_params(deep=False)
    assert {k: (v, type(v)) for k, v in stored.items()} == {
        k: (v, type(v)) for k, v in defaults.items()}


def test_new_data_of_another_width_is_refused_by_every_method(reference):
    Xr, yr, _ = reference
    est = _fit(reference, Xr, yr)
    narrow = Xr[:, :-1]
    calls = {"transform": lambda: est.transform(narrow),
             "predict_proba": lambda: est.predict_proba(narrow),
             "predict": lambda: est.predict(narrow),
             "bound": lambda: est.bound(narrow, yr),
             "score": lambda: est.score(narrow, yr)}
    for method, call in calls.items():
        with pytest.raises(ValueError, match=f"X has {N_FEATURES - 1} features, but "
                           f"TaskRelatednessScorer is expecting {N_FEATURES} features"):
            call()
        assert est.n_features_in_ == N_FEATURES, method   # a refused call resets nothing
    assert est.score(Xr, yr) == -est.task_relatedness_


def test_float32_target_scores_its_fitting_sample_exactly(reference):
    """float32 embeddings stay float32 from ``fit`` to ``score``: the fitting sample is
    recognised (the cross-fitted TR), while the same values in float64 are new data."""
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=30, n_classes=4, n_features=N_FEATURES,
                          random_state=31, means=means, noise=1.3)
    Xt = Xt.astype(np.float32)
    est = TaskRelatednessScorer(reference=(Xr, yr), random_state=0).fit(Xt, yt)
    assert est.score(Xt, yt) == -est.task_relatedness_
    X64 = Xt.astype(np.float64)
    assert est.score(X64, yt) == -est.bound(X64, yt)["task_relatedness"]
    assert est.score(X64, yt) != -est.task_relatedness_


def test_float16_embeddings_are_fitted_as_float64(reference):
    """float16 is upcast (the scaler would otherwise standardise in float16)."""
    Xr, yr, _ = reference
    X16 = Xr.astype(np.float16)
    assert (_fit(reference, X16, yr).task_relatedness_
            == _fit(reference, X16.astype(np.float64), yr).task_relatedness_)


def test_bad_reference_embeddings_are_named_in_the_error(reference):
    Xr, yr, _ = reference
    bad = Xr.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="Input reference X contains NaN"):
        TaskRelatednessScorer(reference=(bad, yr)).fit(Xr, yr)
    with pytest.raises(ValueError, match="Input reference X_eval contains NaN"):
        TaskRelatednessScorer(reference=ReferenceTask(Xr, yr, X_eval=bad, y_eval=yr)).fit(
            Xr, yr)


def test_score_checks_the_labels_it_is_given(reference):
    Xr, yr, _ = reference
    est = _fit(reference, Xr, yr)
    with pytest.raises(ValueError, match=f"^y has {len(yr) - 1} labels but X has "
                       f"{len(yr)} samples"):
        est.score(Xr, yr[:-1])
    with pytest.raises(ValueError, match=r"^y contains labels not seen during fit: \[10\]; "
                       r"known classes are \[0, 1, 2, 3\]\.$"):
        est.score(Xr, np.where(yr == 0, 10, yr))


def test_certified_score_on_new_data_is_minus_the_bound_exactly(reference):
    Xr, yr, means = reference
    Xs, ys, _ = make_task(n_per_class=30, n_classes=4, n_features=N_FEATURES,
                          random_state=32, means=means, noise=1.5)
    est = _fit(reference, Xr, yr, cross_fit=2)
    terms = est.bound(Xs, ys)
    assert terms["transport"] > 0
    assert est.score(Xs, ys) == -terms["task_relatedness"]


def test_tags_say_what_the_estimator_does(reference):
    """The tags, each next to the behaviour it announces."""
    from sklearn.base import is_classifier
    from sklearn.model_selection import StratifiedKFold, check_cv
    from sklearn.utils import get_tags

    Xr, yr, _ = reference
    est = TaskRelatednessScorer(reference=(Xr, yr), random_state=0)
    tags = get_tags(est)
    assert tags.target_tags.required is False
    est.fit(Xr)                                         # no y: the label-free mode
    assert tags.non_deterministic is False
    assert est.fit(Xr).task_relatedness_ == clone(est).fit(Xr).task_relatedness_
    assert tags.estimator_type == "classifier" and is_classifier(est)
    assert tags.classifier_tags is not None and tags.classifier_tags.multi_class
    assert isinstance(check_cv(3, yr, classifier=is_classifier(est)), StratifiedKFold)
    assert tags.transformer_tags.preserves_dtype == ["float32"]
    assert est.transform(Xr).dtype == np.float32


class _RecordingLinear(torch.nn.Linear):
    """A linear encoder that records the size of every batch it is given."""

    def __init__(self, n_in, n_out):
        super().__init__(n_in, n_out)
        self.batches = []

    def forward(self, x):
        self.batches.append(len(x))
        return super().forward(x)


def _raw_tasks():
    Xr, yr, means = make_task(n_per_class=15, n_classes=3, n_features=6, random_state=40)
    Xt, yt, _ = make_task(n_per_class=10, n_classes=3, n_features=6, random_state=41,
                          means=means, noise=1.3)
    return Xr.astype(np.float32), yr, Xt.astype(np.float32), yt


def test_fit_with_an_encoder_equals_fit_on_its_embeddings():
    """The encoder's embeddings computed here by a plain forward pass: fitting on them
    gives the same TR, bit for bit (target kept in float32, reference in float64)."""
    Xr, yr, Xt, yt = _raw_tasks()
    torch.manual_seed(0)
    enc = _RecordingLinear(6, 4)
    with torch.no_grad():
        Zr, Zt = (enc(torch.from_numpy(X)).numpy() for X in (Xr, Xt))
    assert Zt.dtype == np.float32
    with_encoder = TaskRelatednessScorer(reference=(Xr, yr), encoder=enc, device="cpu",
                                         random_state=0).fit(Xt, yt)
    on_embeddings = TaskRelatednessScorer(reference=(Zr, yr), random_state=0).fit(Zt, yt)
    assert with_encoder.task_relatedness_ == on_embeddings.task_relatedness_
    assert with_encoder.bound_terms_ == on_embeddings.bound_terms_
    assert_allclose(with_encoder.transform(Xt), Zt, rtol=0, atol=0)
    assert with_encoder.score(Xt, yt) == -with_encoder.task_relatedness_
    assert with_encoder.bound(Xr, yr) == on_embeddings.bound(Zr.astype(np.float32), yr)
    assert_allclose(with_encoder.predict_proba(Xr), on_embeddings.predict_proba(Zr),
                    rtol=1e-6)


def test_encoder_runs_in_batches_with_progress_bars_and_mixed_precision(capsys):
    Xr, yr, Xt, yt = _raw_tasks()
    torch.manual_seed(0)
    enc = _RecordingLinear(6, 4)
    est = TaskRelatednessScorer(reference=(Xr, yr), encoder=enc, device="cpu",
                                batch_size=7, verbose=1, random_state=0).fit(Xt, yt)
    assert enc.batches == [7, 7, 7, 7, 2] + [7, 7, 7, 7, 7, 7, 3]  # target 30, reference 45
    err = capsys.readouterr().err
    assert re.search(r"(^|\r|\n)embedding X:", err) and re.search(
        r"(^|\r|\n)embedding reference X:", err)
    # mixed precision: the forward under CPU autocast (bfloat16), as computed here
    amp = clone(est).set_params(mixed_precision=True, verbose=0).fit(Xt, yt)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = enc(torch.from_numpy(Xt)).float().numpy()
    assert_allclose(amp.transform(Xt), expected, rtol=0, atol=0)
    assert np.abs(amp.transform(Xt) - est.transform(Xt)).max() > 1e-4


def test_memory_embeds_each_input_once_and_says_so_only_when_asked(tmp_path, capsys):
    Xr, yr, Xt, yt = _raw_tasks()
    torch.manual_seed(0)
    enc = _RecordingLinear(6, 4)

    def fit(verbose):
        return TaskRelatednessScorer(reference=(Xr, yr), encoder=enc, device="cpu",
                                     memory=str(tmp_path), verbose=verbose,
                                     random_state=0).fit(Xt, yt)

    first = fit(verbose=1)
    assert len(enc.batches) == 2 and "[EmbeddingCache]" not in capsys.readouterr().out
    enc.batches.clear()
    second = fit(verbose=2)                             # both inputs from the cache
    assert enc.batches == []
    assert capsys.readouterr().out.count("[EmbeddingCache] hit") == 2
    assert second.task_relatedness_ == first.task_relatedness_
    fit(verbose=0)
    assert capsys.readouterr().out == ""


# ----------------------------------------------------------------- fixed label maps
def _sent_to(est):
    """Target class -> the reference class it comes from: the columns of the label map
    that carry prior mass, each a point mass on one target class."""
    out = {}
    for r in np.flatnonzero(est.class_prior_ > 0):
        column = est.label_map_[:, r]
        assert np.sort(column)[-1] == 1.0 and column.sum() == 1.0
        out[est.classes_[np.argmax(column)].item()] = est.reference_classes_[r].item()
    return out


@pytest.mark.parametrize("transforms", ["fixed", "learned_feature"])
def test_label_map_given_as_dict_or_array_sends_each_target_class_where_it_says(
        reference, transforms):
    """A target whose classes are the reference's relabelled: the label map that undoes
    the relabelling gives the bound of the unrelabelled target, as a dict (by label)
    or an array (by sorted target class)."""
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=30, n_classes=4, n_features=N_FEATURES,
                          random_state=33, means=means)
    names = np.array([20, 10, 40, 30])          # target label of reference class r
    plain = _fit(reference, Xt, yt, transforms=transforms)
    assert _sent_to(plain) == {0: 0, 1: 1, 2: 2, 3: 3}  # equal labels match
    as_dict = _fit(reference, Xt, names[yt], transforms=transforms,
                   label_map={20: 0, 10: 1, 40: 2, 30: 3})
    as_array = _fit(reference, Xt, names[yt], transforms=transforms, label_map=[1, 0, 3, 2])
    for est in (as_dict, as_array):
        assert _sent_to(est) == {20: 0, 10: 1, 40: 2, 30: 3}
        assert est.task_relatedness_ == pytest.approx(plain.task_relatedness_, rel=1e-9)
    # without a map, labels that are not the reference's go in sorted order
    by_order = _fit(reference, Xt, names[yt], transforms=transforms)
    assert _sent_to(by_order) == {10: 0, 20: 1, 30: 2, 40: 3}
    # (the learned feature map can partly undo a wrong label map)
    assert by_order.task_relatedness_ > plain.task_relatedness_ + (transforms == "fixed")


def test_fixed_label_map_matches_equal_labels_of_a_subset(reference):
    Xr, yr, means = reference
    keep = np.isin(yr, [1, 3])
    est = _fit(reference, Xr[keep], yr[keep], transforms="fixed")
    assert _sent_to(est) == {1: 1, 3: 3}
    # labels the reference does not have, fewer classes: sorted order
    est = _fit(reference, Xr[keep], np.where(yr[keep] == 1, "b", "a"), transforms="fixed")
    assert _sent_to(est) == {"a": 0, "b": 1}


@pytest.mark.parametrize("label_map, y_names, message", [
    ({0: 0, 1: 1}, None, r"^label_map has no entry for target classes \[2, 3\]\.$"),
    ([0, 1, 2], None, r"^label_map must give one reference class per target class "
                      r"\(4\); got 3 entries\.$"),
    ({0: 0, 1: 1, 2: 9, 3: 7}, None,
     r"^label_map names unknown reference classes \[9, 7\]\.$"),
    (None, "five", r"^transforms='fixed' needs label_map when the target has more "
                   r"classes \(5\) than the reference \(4\) and their labels differ\.$"),
])
def test_bad_label_maps_are_refused_naming_the_classes(reference, label_map, y_names, message):
    Xr, yr, _ = reference
    y = yr if y_names is None else np.arange(len(yr)) % 5 + 10
    with pytest.raises(ValueError, match=message):
        _fit(reference, Xr, y, transforms="fixed", label_map=label_map)


# ----------------------------------------------------------------- label-free settings
@pytest.fixture(scope="module")
def unlabelled(reference):
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=40, n_classes=4, n_features=N_FEATURES,
                          random_state=34, means=means, noise=1.4)
    return 1.2 * Xt - 0.3, yt


def _label_free(reference, X, **params):
    Xr, yr, _ = reference
    params = {"random_state": 0, "cross_fit": "off", **params}
    return TaskRelatednessScorer(reference=(Xr, yr), **params).fit(X)


def test_label_free_none_is_one_transport_problem_on_the_reference_classes(
        reference, unlabelled):
    """No pseudo-labels: the classes are the reference's and the label map the identity;
    with transforms="fixed" the feature map is the identity too, which can only raise
    the bound; the terms reported are those of the last iteration of the fit."""
    X, _ = unlabelled
    learned = _label_free(reference, X, pseudo_labels="none")
    assert learned.pseudo_labels_ is None
    assert_allclose(learned.classes_, learned.reference_classes_)
    assert_allclose(learned.label_map_, np.eye(4))
    M, m = learned.target_map_
    assert np.abs(M - np.eye(N_FEATURES)).max() > 1e-2         # a map was learned
    fixed = _label_free(reference, X, pseudo_labels="none", transforms="fixed")
    M, m = fixed.target_map_
    assert_allclose(M, np.eye(N_FEATURES), atol=1e-12)
    assert_allclose(m, 0.0, atol=1e-12)
    assert fixed.task_relatedness_ > learned.task_relatedness_
    for est in (learned, fixed):
        assert est.history_[-1]["objective"] == pytest.approx(est.task_relatedness_,
                                                              rel=1e-7)


@pytest.mark.parametrize("pseudo_labels", ["reference", "cluster", "none"])
def test_label_free_fits_honour_the_descent_parameters(reference, unlabelled, pseudo_labels):
    """max_iter, alpha, the OT chunk size and the logit stage reach every label-free
    fit; random_state makes chunked fits repeat bit for bit."""
    X, _ = unlabelled
    fit = functools.partial(_label_free, reference, X, pseudo_labels=pseudo_labels)
    default = fit()
    stages = [k for h in default.history_ for k in h if "transport" in k]
    assert "squared_transport" in stages and "squared_logit_transport" in stages
    assert default.task_relatedness_ == fit(max_iter=30).task_relatedness_
    one = fit(max_iter=1)
    assert sum("squared_transport" in h for h in one.history_) == 1
    assert one.task_relatedness_ != default.task_relatedness_
    stiff = fit(alpha=1e6)
    M, _ = stiff.target_map_
    assert np.abs(M - np.eye(N_FEATURES)).max() < 1e-3 < np.abs(
        default.target_map_[0] - np.eye(N_FEATURES)).max()
    chunked = fit(ot_batch_size=16)
    assert chunked.task_relatedness_ != default.task_relatedness_
    again = fit(ot_batch_size=16)
    assert again.task_relatedness_ == chunked.task_relatedness_
    assert_allclose(again.target_map_[0], chunked.target_map_[0], rtol=0, atol=0)


@pytest.mark.parametrize("pseudo_labels", ["reference", "cluster"])
def test_pseudo_labels_always_learn_their_label_map(reference, unlabelled, pseudo_labels):
    """Pseudo-classes have no given correspondence: "learned_feature" learns the label
    map as "learned_all" does (the same fit), rather than matching names."""
    X, _ = unlabelled
    a = _label_free(reference, X, pseudo_labels=pseudo_labels, transforms="learned_all")
    b = _label_free(reference, X, pseudo_labels=pseudo_labels, transforms="learned_feature")
    assert b.task_relatedness_ == a.task_relatedness_
    assert_allclose(b.label_map_, a.label_map_)


def test_cluster_pseudo_labels_follow_random_state(reference):
    """k-means on structureless points: its partition depends on the seed."""
    noise = np.random.RandomState(35).normal(size=(80, N_FEATURES))
    fits = [_label_free(reference, noise, pseudo_labels="cluster", random_state=s)
            for s in (0, 0, 1)]
    assert_array_equal(fits[0].pseudo_labels_, fits[1].pseudo_labels_)
    assert fits[0].task_relatedness_ == fits[1].task_relatedness_
    assert not np.array_equal(fits[0].pseudo_labels_, fits[2].pseudo_labels_)


# ----------------------------------------------------------------- cross-fitted terms
@pytest.fixture(scope="module")
def held_out_task(reference):
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=30, n_classes=4, n_features=N_FEATURES,
                          random_state=36, means=means, noise=2.0)
    return Xt, yt


def test_cross_fitted_rescaled_head_scales_every_fold(reference, held_out_task):
    """The scale is chosen on the held-out terms; each fold's terms are then those of
    the scaled head: the transport scales exactly (W1 of s W is s W1 of W), the sum
    still holds, and TR is the size-weighted mean over folds."""
    Xt, yt = held_out_task
    kw = dict(cross_fit=2, head_budget=4.0)
    plain = _fit(reference, Xt, yt, **kw)
    scaled = _fit(reference, Xt, yt, rescale_head=True, **kw)
    s = scaled.head_scale_
    assert 0.05 < s < 0.9 and plain.head_scale_ == 1.0
    assert_allclose(scaled.head_coef_, s * plain.head_coef_, rtol=1e-12)
    assert scaled.task_relatedness_ < plain.task_relatedness_ - 0.01
    sizes = np.array([f["n_samples"] for f in scaled.fold_terms_])
    for fp, fs in zip(plain.fold_terms_, scaled.fold_terms_):
        assert fs["n_samples"] == fp["n_samples"] and fs["n_measured"] == fp["n_measured"]
        assert fs["wasserstein"] == pytest.approx(s * fp["wasserstein"], rel=1e-12)
        assert fs["transport"] == pytest.approx(fs["lipschitz"] * fs["wasserstein"], rel=1e-12)
        assert fs["conditional_entropy"] == fp["conditional_entropy"]
        assert fs["task_relatedness"] == pytest.approx(
            fs["reweighted_reference_loss"] + fs["conditional_entropy"] + fs["transport"],
            rel=1e-12)
        assert fs["reweighted_reference_loss"] != fp["reweighted_reference_loss"]
    for key in ("task_relatedness", "reweighted_reference_loss", "transport"):
        mean = sizes @ [f[key] for f in scaled.fold_terms_] / sizes.sum()
        value = scaled.task_relatedness_ if key == "task_relatedness" else scaled.bound_terms_[key]
        assert value == pytest.approx(mean, rel=1e-12)


@pytest.mark.parametrize("params", [
    {}, {"rescale_head": True, "head_budget": 4.0}, {"merge": True},
    {"merge": True, "rescale_head": True, "head_budget": 4.0},
    {"pseudo_labels": "none", "unlabelled": True},
    {"pseudo_labels": "none", "unlabelled": True, "rescale_head": True, "head_budget": 4.0},
    {"pseudo_labels": "reference", "unlabelled": True}])
def test_cross_fitted_point_terms_sum_to_tr(reference, held_out_task, params):
    """``point_terms_``: ``weight @ value + offset`` is TR, the held-out points are each
    fold's test part, and the weights are each fold's share over its points. With
    more target classes than reference classes (``merge``), the label map merges
    classes and the conditional entropy is positive."""
    Xt, yt = held_out_task
    params = dict(params)
    y = None if params.pop("unlabelled", False) else yt
    if params.pop("merge", False):   # 6 target classes: two halves of classes 0 and 1
        y = np.where((yt < 2) & (np.arange(len(yt)) % 2 == 1), yt + 4, yt)
    est = _fit(reference, Xt, y, cross_fit=2, **params)
    pt = est.point_terms_
    assert pt["weight"] @ pt["value"] + pt["offset"] == pytest.approx(
        est.task_relatedness_, rel=1e-10)
    assert sorted(pt["index"].tolist()) == list(range(len(Xt)))
    for fold, test in zip(est.fold_terms_, est.cv_folds_):
        in_fold = np.isin(pt["index"], test)
        assert_allclose(pt["weight"][in_fold], len(test) / len(Xt) / fold["n_measured"])
    assert np.ptp(pt["value"]) > 0                           # per-point transport costs
    if y is not None and len(np.unique(y)) > 4:
        assert est.bound_terms_["conditional_entropy"] > 0.1 and pt["offset"] > 0.1


def test_cross_fitted_tr_beats_chance_only_for_related_features(reference, held_out_task):
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=30, n_classes=4, n_features=N_FEATURES,
                          random_state=38, means=means)
    related = _fit(reference, Xt, yt, cross_fit=2)
    noise = _fit(reference, np.random.RandomState(37).normal(size=Xt.shape), yt, cross_fit=2)
    assert related.beats_chance_ is True and noise.beats_chance_ is False
    for est in (related, noise):
        assert est.beats_chance_ == (est.task_relatedness_ < est.chance_level_)


def test_random_state_instances_give_repeatable_cross_fits(reference, held_out_task):
    """A RandomState instance (not an int) seeds the folds from its stream: two fresh
    instances of one seed give the same fit."""
    Xt, yt = held_out_task
    Xr, yr, _ = reference
    a, b = (TaskRelatednessScorer(reference=(Xr, yr), cross_fit=2, ot_batch_size=16,
                                  random_state=np.random.RandomState(5)).fit(Xt, yt)
            for _ in range(2))
    assert a.task_relatedness_ == b.task_relatedness_
    assert [f["task_relatedness"] for f in a.fold_terms_] == [
        f["task_relatedness"] for f in b.fold_terms_]


def test_cross_fitted_fixed_transforms_keep_the_identity_map(reference, held_out_task):
    """transforms="fixed" has no map to average over folds: the fitted state is the
    whole-sample fit, whose feature map is the identity in the target's scaling."""
    Xt, yt = held_out_task
    est = _fit(reference, 1.5 * Xt + 2.0, yt, cross_fit=2, transforms="fixed")
    M, m = est.target_map_
    assert_allclose(M, np.eye(N_FEATURES), atol=1e-12)
    assert_allclose(m, 0.0, atol=1e-12)


def test_cross_fitted_history_names_its_folds(reference, held_out_task):
    Xt, yt = held_out_task
    est = _fit(reference, Xt, yt, cross_fit=2)
    assert {h["fold"] for h in est.history_} == {0, 1}
    assert all("iteration" in h for h in est.history_)
    assert sum("objective" in h for h in est.history_) == 2   # one closing entry per fold


@pytest.mark.parametrize("ot_batch_size", [None, 16])
@pytest.mark.parametrize("pseudo_labels", ["reference", "cluster", "none"])
def test_label_free_terms_and_loss_on_the_fitting_sample(reference, unlabelled, pseudo_labels,
                                                         ot_batch_size):
    """Measured again on the fitting sample, the bound is the fitted TR (the cluster
    mode assigns new points by its k-means). With chunked transport the pseudo-label
    fits keep the terms measured with the fit's own chunks, and a new measurement
    draws others: both are upper bounds, within 1 % here; without pseudo-labels both
    measurements take the same chunks. The target loss is the cross-entropy of the
    transformed classifier against the pseudo-labels (none without them)."""
    X, _ = unlabelled
    est = _label_free(reference, X, pseudo_labels=pseudo_labels, ot_batch_size=ot_batch_size)
    exact = ot_batch_size is None or pseudo_labels == "none"
    assert est.bound(X)["task_relatedness"] == pytest.approx(
        est.task_relatedness_, rel=1e-8 if exact else 1e-2)
    if pseudo_labels == "none":
        assert np.isnan(est.target_loss_)
        return
    codes = np.searchsorted(est.classes_, est.pseudo_labels_)
    proba = est.predict_proba(X)
    assert est.target_loss_ == pytest.approx(
        -np.mean(np.log(proba[np.arange(len(X)), codes])), rel=1e-7)


def test_labelled_fits_need_labels_to_measure_the_bound(reference):
    Xr, yr, _ = reference
    est = _fit(reference, Xr, yr)
    with pytest.raises(ValueError, match=r"^y is required: this estimator was fitted with "
                       r"target labels; got y=None\.$"):
        est.bound(Xr)


def test_embeddings_too_large_to_standardise_are_refused(reference):
    Xr, yr, _ = reference
    for name, ref, X in (("target", Xr, Xr * 1e200), ("reference", Xr * 1e200, Xr)):
        with pytest.raises(ValueError, match=rf"^The {name} embeddings are too large to "
                           r"standardise: a feature's variance overflows float64 \(largest "
                           r"absolute value \d\.\d\de\+200\)\. Divide them"):
            TaskRelatednessScorer(reference=(ref, yr)).fit(X, yr)


@pytest.mark.parametrize("label", [3, "cat"])
def test_a_single_target_class_is_warned_about_by_name(reference, label):
    from sklearn_taskrel.exceptions import DegenerateTaskWarning

    Xr, yr, _ = reference
    with pytest.warns(DegenerateTaskWarning, match=rf"^y has a single class \({label!r}\): "
                      r"the label map sends it to one reference class"):
        est = _fit(reference, Xr[yr == 3], np.full((yr == 3).sum(), label, dtype=object))
    assert est.classes_.tolist() == [label] and np.isfinite(est.task_relatedness_)


def test_a_single_class_reference_has_a_constant_head(reference):
    from sklearn_taskrel.exceptions import DegenerateTaskWarning

    Xr, yr, _ = reference
    with pytest.warns(DegenerateTaskWarning, match=r"^The reference task has a single class: "
                      r"its head is constant, the reweighted loss and the Lipschitz "
                      r"constant are 0\.$"):
        est = _fit(reference, Xr, yr, reference_override=(Xr[yr == 0], yr[yr == 0]))
    assert_allclose(est.head_coef_, np.zeros((1, N_FEATURES)), rtol=0, atol=0)
    assert est.head_history_ == [] and est.lipschitz_ == 0.0
    assert est.bound_terms_["transport"] == 0.0


def test_paper_method_runs_the_given_number_of_steps_with_a_fixed_label_map(reference,
                                                                            capsys):
    """The authors' loop (Adam steps): max_iter steps, the fixed label map kept, the
    same fit again under random_state."""
    Xr, yr, means = reference
    Xt, yt, _ = make_task(n_per_class=20, n_classes=4, n_features=N_FEATURES,
                          random_state=39, means=means)
    names = np.array([20, 10, 40, 30])
    fit = functools.partial(_fit, reference, Xt, names[yt], method="paper", max_iter=4,
                            transforms="fixed", label_map={20: 0, 10: 1, 40: 2, 30: 3},
                            ot_batch_size=32)
    est = fit()
    assert est.n_iter_ == 4
    assert _sent_to(est) == {20: 0, 10: 1, 40: 2, 30: 3}
    fit(verbose=1)
    assert "paper optimisation" in capsys.readouterr().err    # the loop's progress bar
    again = fit()
    assert again.task_relatedness_ == est.task_relatedness_
    assert fit(max_iter=6).n_iter_ == 6


def test_bound_on_a_sample_without_the_last_class(reference, held_out_task):
    """A new sample may lack a class (its prior is 0 there); the bound still holds."""
    Xt, yt = held_out_task
    est = _fit(reference, Xt, yt)
    keep = yt != yt.max()
    terms = est.bound(Xt[keep], yt[keep])
    proba = est.predict_proba(Xt[keep])
    loss = -np.mean(np.log(proba[np.arange(keep.sum()), yt[keep]]))
    assert loss <= terms["task_relatedness"]
    assert terms["task_relatedness"] == pytest.approx(
        terms["reweighted_reference_loss"] + terms["conditional_entropy"] + terms["transport"])


def test_chunked_transport_reaches_the_fit_and_the_bound(reference, held_out_task):
    """Chunks of at most ot_batch_size target points: a larger bound than one exact
    problem per class (an upper bound of it), in the fit and in a new measurement."""
    Xt, yt = held_out_task
    exact, chunked = _fit(reference, Xt, yt), _fit(reference, Xt, yt, ot_batch_size=16)
    assert chunked.task_relatedness_ > exact.task_relatedness_
    exact_w = exact.bound(Xt, yt)["wasserstein"]
    assert exact_w == pytest.approx(exact.bound_terms_["wasserstein"], rel=1e-8)
    assert chunked.bound(Xt, yt)["wasserstein"] > exact_w
