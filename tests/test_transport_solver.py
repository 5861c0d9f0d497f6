"""transport/_solver.py: SolverOptions and TaskRelatedness on plain arrays (the
estimator's behaviour is tested in test_estimator.py), checked against formulas,
loops and hand-computed values."""

import warnings

import numpy as np
import pytest
from conftest import make_task
from numpy.testing import assert_allclose


@pytest.mark.parametrize("labels", [True, False])
def test_solver_on_plain_arrays_gives_the_estimators_numbers(labels):
    """``TaskRelatedness`` with ``SolverOptions.from_preset`` is what the estimator
    runs: every fitted term equal to the last bit, with and without target labels."""
    from sklearn_taskrel import TaskRelatednessScorer
    from sklearn_taskrel.transport import SolverOptions, TaskRelatedness

    rng = np.random.RandomState(0)
    y_ref, y = np.repeat([0, 1, 2], 30), np.repeat([0, 1, 2], 20)
    Z_ref = rng.normal(size=(90, 6)) + 3 * np.eye(6)[y_ref]
    Z = rng.normal(size=(60, 6)) + 3 * np.eye(6)[y] @ rng.normal(size=(6, 6))
    target = y if labels else None
    est = TaskRelatednessScorer((Z_ref, y_ref), random_state=0, cross_fit=3).fit(Z, target)
    tr = TaskRelatedness(SolverOptions.from_preset("ranking", cross_fit=3),
                         random_state=0).fit(Z_ref, y_ref, Z, target)
    assert tr.task_relatedness_ == est.task_relatedness_
    assert tr.bound_terms_ == est.bound_terms_
    assert tr.fold_terms_ == est.fold_terms_ and len(tr.fold_terms_) == 3
    assert np.array_equal(tr.label_map_, est.label_map_)
    assert tr.bound(Z, target) == est.bound(Z, target)


_PRESET_FIELDS = ("transport_space", "scaling", "head_budget", "head_lipschitz",
                  "head_budget_unit", "rescale_head", "cross_fit")



def test_solver_options_resolve_each_preset():
    from sklearn_taskrel.transport import SolverOptions

    ranking, paper = SolverOptions.from_preset(), SolverOptions.from_preset("paper")
    assert [getattr(ranking, f) for f in _PRESET_FIELDS] == [
        "logits", "per_feature", 1.0, None, "radius", False, 2]
    assert [getattr(paper, f) for f in _PRESET_FIELDS] == [
        "features", "per_feature", None, 0.02, "radius", False, 0]
    assert (ranking.preset, paper.preset) == ("ranking", "paper")



def test_solver_options_keep_what_is_given_and_ignore_other_names():
    from sklearn_taskrel.transport import SolverOptions

    given = SolverOptions.from_preset(
        "paper", transport_space="logits", scaling="global", head_budget=2.0,
        head_budget_unit="spread", rescale_head=True, cross_fit=3, alpha=0.5,
        encoder=object(), memory=None)
    assert [getattr(given, f) for f in _PRESET_FIELDS] == [
        "logits", "global", 2.0, None, "spread", True, 3]
    assert given.alpha == 0.5 and given.preset == "paper"
    # None takes the preset's value; a cap given absolutely replaces the budget
    capped = SolverOptions.from_preset("ranking", head_lipschitz=0.3, transport_space=None,
                                       cross_fit="off")
    assert (capped.head_lipschitz, capped.head_budget, capped.transport_space,
            capped.cross_fit) == (0.3, None, "logits", 0)



def test_solver_options_refuse_unknown_presets_and_two_caps():
    import dataclasses

    from sklearn_taskrel.transport import SolverOptions

    with pytest.raises(ValueError, match=r"^preset must be one of \['paper', 'ranking'\]; "
                       r"got 'fast'\.$"):
        SolverOptions.from_preset("fast")
    with pytest.raises(ValueError, match=r"^Give the head's cap either as head_lipschitz "
                       r"\(absolute\) or as head_budget \(in units of the reference radius\), "
                       r"not both; got head_lipschitz=0\.1 and head_budget=2\.0\.$"):
        SolverOptions.from_preset(head_lipschitz=0.1, head_budget=2.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        SolverOptions.from_preset().cross_fit = 3



def test_solver_transport_backend_and_arrays():
    """numpy unless torch is asked for (or the device is CUDA); on torch, arrays
    become tensors on that device, cast only when a dtype is given."""
    import torch

    from sklearn_taskrel.transport import SolverOptions, TaskRelatedness

    def solver(backend):
        return TaskRelatedness(SolverOptions.from_preset(transport_backend=backend,
                                                         device="cpu"))

    assert solver("numpy")._backend_device() is None
    assert solver("auto")._backend_device() is None           # no CUDA here
    assert solver("torch")._backend_device() == torch.device("cpu")
    x = np.arange(3, dtype=np.float32)
    on_numpy = solver("numpy")._on_backend(x)
    assert on_numpy is x and solver("numpy")._on_backend(x, np.float64).dtype == np.float64
    t = solver("torch")._on_backend(x)
    assert torch.is_tensor(t) and t.dtype == torch.float32
    assert solver("torch")._on_backend(x, np.float64).dtype == torch.float64



def test_solver_entropy_skips_empty_classes():
    from sklearn_taskrel.transport._solver import _entropy

    assert _entropy([0.5, 0.0, 0.5]) == pytest.approx(np.log(2), rel=1e-15)
    assert _entropy([1.0, 0.0]) == 0.0



def test_solver_between_class_spread_is_the_anova_formula():
    """``sqrt(max(SS_B - (K-1) MS_W, (K-1) MS_W) / n)`` written with loops, a class of
    the declared range absent, float32 points summed in float64."""
    from sklearn_taskrel.transport._solver import _between_class_spread

    rng = np.random.RandomState(9)
    y = np.repeat([0, 1, 3], [7, 5, 9])            # of 5 classes, 2 and 4 have no point
    Z = (rng.normal(size=(21, 3)) + 2.5 * np.eye(4)[y][:, :3] ** 3).astype(np.float32)
    X = Z.astype(np.float64)
    grand = X.mean(axis=0)
    ss_b = sum((y == k).sum() * np.sum((X[y == k].mean(0) - grand) ** 2) for k in (0, 1, 3))
    ss_w = sum(np.sum((X[y == k] - X[y == k].mean(0)) ** 2) for k in (0, 1, 3))
    noise = 2 * ss_w / (21 - 3)
    expected = np.sqrt(max(ss_b - noise, noise) / 21)
    assert _between_class_spread(Z, y, 5) == pytest.approx(expected, rel=1e-6)
    # pure noise: floored at the noise level
    W = rng.normal(size=(21, 3))
    ss_w = sum(np.sum((W[y == k] - W[y == k].mean(0)) ** 2) for k in (0, 1, 3))
    assert _between_class_spread(W, y, 5) == pytest.approx(np.sqrt(2 * ss_w / 18 / 21),
                                                           rel=1e-12)



def test_solver_stratified_cap_keeps_each_class_in_proportion():
    from sklearn_taskrel.transport._solver import _stratified_cap

    y = np.repeat([5, 7, 9], [60, 30, 10])
    idx = _stratified_cap(y, 20, np.random.RandomState(0))
    assert np.all(np.diff(idx) > 0)                       # sorted, no repeats
    assert [int((y[idx] == c).sum()) for c in (5, 7, 9)] == [12, 6, 2]
    assert_allclose(_stratified_cap(y, 100, np.random.RandomState(0)), np.arange(100))
    tiny = _stratified_cap(np.repeat([0, 1], [99, 1]), 10, np.random.RandomState(0))
    assert (np.repeat([0, 1], [99, 1])[tiny] == 1).sum() == 1   # at least one per class



def _solver_task(n_ref_classes=4, seed=10):
    """100 reference and 60 target points of the same Gaussian classes (5 features)."""
    Z_ref, y_ref, means = make_task(25, n_ref_classes, 5, separation=6.0, random_state=seed)
    Z, y, _ = make_task(15, n_ref_classes, 5, random_state=seed + 1, means=means, noise=1.2)
    return Z_ref, y_ref, Z, y


def test_solver_fit_checks_lengths_and_times_its_steps():
    from sklearn_taskrel.transport import SolverOptions, TaskRelatedness

    assert TaskRelatedness().options == SolverOptions()
    Z_ref, y_ref, Z, y = _solver_task()
    with pytest.raises(ValueError, match=r"^y has 59 labels but X has 60 samples"):
        TaskRelatedness(random_state=0).fit(Z_ref, y_ref, Z, y[:-1])
    tr = TaskRelatedness(random_state=0).fit(Z_ref, y_ref, Z, y)
    t = tr.timings_
    assert {"head", "transformations", "cross_fit", "total"} <= set(t)
    assert all(0 <= v <= t["total"] for v in t.values())



def test_solver_binary_reference_has_a_lipschitz_constant():
    from sklearn_taskrel.transport import SolverOptions, TaskRelatedness

    Z_ref, y_ref, Z, y = _solver_task(n_ref_classes=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # two classes are not a degenerate reference
        tr = TaskRelatedness(SolverOptions.from_preset("paper"), random_state=0).fit(
            Z_ref, y_ref, Z, y)
    W = tr.head_coef_  # features space: the certified constant is ||w_0 - w_1||
    assert tr.lipschitz_ == pytest.approx(np.linalg.norm(W[0] - W[1]), rel=1e-12)
    assert tr.lipschitz_ > 0
    assert tr.bound_terms_["transport"] > 0



def test_solver_reference_losses_on_a_held_out_reference_sample():
    """With an evaluation sample the per-class reference losses are the head's mean
    cross-entropy on it (computed here), not on the points it was fitted on."""
    from scipy.special import log_softmax

    from sklearn_taskrel.transport import SolverOptions, TaskRelatedness

    Z_ref, y_ref, Z, y = _solver_task()
    Z_eval, y_eval = Z_ref[::2] + 0.5, y_ref[::2]
    tr = TaskRelatedness(SolverOptions.from_preset(cross_fit="off"), random_state=0).fit(
        Z_ref, y_ref, Z, y, Z_ref_eval=Z_eval, y_ref_eval=y_eval)
    logp = log_softmax(tr.reference_scaler_.transform(Z_eval) @ tr.head_coef_.T
                       + tr.head_intercept_, axis=1)
    by_hand = [-logp[y_eval == r, r].mean() for r in range(4)]
    assert_allclose(tr.reference_class_losses_, by_hand, rtol=1e-10)
    with pytest.raises(ValueError, match=r"^reference y_eval contains labels not seen"):
        TaskRelatedness(random_state=0).fit(Z_ref, y_ref, Z, y, Z_ref_eval=Z_eval,
                                            y_ref_eval=y_eval + 10)



@pytest.mark.parametrize("unit", ["radius", "spread"])
def test_solver_head_budget_is_in_units_of_the_reference(unit):
    from sklearn_taskrel.transport import SolverOptions, TaskRelatedness

    Z_ref, y_ref, Z, y = _solver_task()
    tr = TaskRelatedness(SolverOptions.from_preset(head_budget=2.0, head_budget_unit=unit),
                         random_state=0).fit(Z_ref, y_ref, Z, y)
    unit_value = tr.reference_radius_ if unit == "radius" else tr.reference_spread_
    assert tr.head_lipschitz_ == pytest.approx(2.0 / unit_value, rel=1e-12)
    assert tr.reference_radius_ != pytest.approx(tr.reference_spread_, rel=1e-3)


def test_solver_caps_a_large_reference_at_max_samples():
    """A reference above max_samples is subsampled (stratified) for the transport; a
    target below it is kept whole."""
    from sklearn_taskrel.transport import SolverOptions, TaskRelatedness

    Z_ref, y_ref, Z, y = _solver_task()                   # 100 reference, 60 target
    fits = {cap: TaskRelatedness(SolverOptions.from_preset(max_samples=cap, cross_fit="off"),
                                 random_state=0).fit(Z_ref, y_ref, Z, y) for cap in (80, 10000)}
    assert [len(Zc) for Zc in fits[80]._Z_ref_by_class] == [20] * 4
    assert [len(Zc) for Zc in fits[10000]._Z_ref_by_class] == [25] * 4
    assert fits[80].task_relatedness_ != fits[10000].task_relatedness_
