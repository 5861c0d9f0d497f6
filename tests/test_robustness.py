"""Bad and degenerate inputs, property tests, thread safety (issue 7)."""

import re
import threading
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from robustness_cases import CASES

from sklearn_taskrel import ReferenceTask, TaskRelatednessScorer


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_bad_and_degenerate_inputs(case):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if case["outcome"] == "ok":
            est, X, y = case["make"]()
            est.fit(X, y)
            assert np.isfinite(est.task_relatedness_)
            terms = est.bound_terms_
            assert np.isclose(terms["reweighted_reference_loss"] + terms["conditional_entropy"]
                              + terms["transport"], est.task_relatedness_)
            if y is not None and est.transformation_.joint is not None:
                assert est.target_loss_ <= est.task_relatedness_ + 1e-9
        else:
            with pytest.raises(case["outcome"]) as info:
                est, X, y = case["make"]()
                est.fit(X, y)
            assert re.search(case["match"], str(info.value)), str(info.value)
            assert isinstance(info.value, (ValueError, TypeError))
    if case["warning"] is not None:
        assert any(issubclass(w.category, case["warning"]) for w in caught)


def test_at_least_25_cases():
    assert len(CASES) >= 25


def _task(seed, n_per_class, n_classes, d):
    rng = np.random.RandomState(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    X = rng.normal(size=(n_classes, d))[y] * 3 + rng.normal(size=(len(y), d))
    return X, y


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n_per_class=st.integers(2, 12),
       n_classes=st.integers(2, 4), d=st.integers(1, 6))
def test_invariant_to_sample_order_and_label_renaming(seed, n_per_class, n_classes, d):
    Xr, yr = _task(seed + 1, 10, 3, d)
    X, y = _task(seed, n_per_class, n_classes, d)
    est = TaskRelatednessScorer(reference=ReferenceTask(Xr, yr), random_state=0)
    base = est.fit(X, y).task_relatedness_
    assert np.isfinite(base)
    perm = np.random.RandomState(seed).permutation(len(y))
    shuffled = TaskRelatednessScorer(reference=ReferenceTask(Xr, yr), random_state=0).fit(
        X[perm], y[perm]).task_relatedness_
    assert shuffled == pytest.approx(base, rel=1e-6, abs=1e-9)
    names = np.array([f"class-{k * 7 + 3}" for k in range(n_classes)])[::-1]
    renamed = TaskRelatednessScorer(reference=ReferenceTask(Xr, yr), random_state=0).fit(
        X, names[y]).task_relatedness_
    assert renamed == pytest.approx(base, rel=1e-6, abs=1e-9)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 30), k=st.integers(1, 5),
       d=st.integers(1, 8), scale=st.floats(1e-3, 1e3))
def test_finite_on_random_valid_inputs(seed, n, k, d, scale):
    rng = np.random.RandomState(seed)
    Xr = rng.normal(size=(20, d)) * scale
    yr = rng.randint(0, 3, 20)
    X = rng.normal(size=(n, d)) * scale
    y = rng.randint(0, k, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = TaskRelatednessScorer(reference=(Xr, yr), random_state=0).fit(X, y)
    assert np.isfinite(est.task_relatedness_)
    assert all(np.isfinite(v) for v in est.bound_terms_.values())


def test_score_and_predict_proba_are_thread_safe():
    Xr, yr = _task(0, 30, 3, 5)
    X, y = _task(1, 30, 3, 5)
    est = TaskRelatednessScorer(reference=(Xr, yr), random_state=0).fit(X, y)
    expected_score, expected_proba = est.score(X, y), est.predict_proba(X)
    results, errors = [], []

    def work():
        try:
            for _ in range(3):
                results.append((est.score(X, y), est.predict_proba(X)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 12
    for score, proba in results:
        assert score == expected_score
        assert np.array_equal(proba, expected_proba)
