"""Optimal transport and bound math (sklearn_taskrel.transport)."""

import itertools

import numpy as np
import ot
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from sklearn_taskrel.exceptions import ConvergenceWarning
from sklearn_taskrel.transport import (
    LogitMap,
    certified_lipschitz,
    chunked_wasserstein,
    class_pair_costs,
    conditional_entropy,
    empirical_lipschitz,
    entropic_transport,
    euclidean_cost,
    evaluate_transformation,
    exact_transport,
    fit_transformation,
    joint_from_assignment,
    prior_and_label_map,
    solve_assignment,
)
from sklearn_taskrel.transport._assignment import assignment_objective
from sklearn_taskrel.transport._feature_map import (
    FeatureMap,
    RidgeMapSolver,
    average_maps,
    invert_map,
)
from sklearn_taskrel.transport._relatedness import Transformation, project_joint
from sklearn_taskrel.transport._solvers import sqeuclidean_cost


def test_exact_transport_identical_sets_cost_zero():
    X = np.random.RandomState(0).normal(size=(20, 4))
    a = np.full(20, 1 / 20)
    plan, cost = exact_transport(a, a, euclidean_cost(X, X))
    assert cost == pytest.approx(0.0, abs=1e-12)
    assert_allclose(plan.sum(1), a, rtol=1e-12)
    assert_allclose(plan.sum(0), a, rtol=1e-12)


def test_exact_transport_translation_costs_shift_norm():
    X = np.random.RandomState(1).normal(size=(15, 3))
    shift = np.array([3.0, -1.0, 2.0])
    a = np.full(15, 1 / 15)
    _, cost = exact_transport(a, a, euclidean_cost(X, X + shift))
    # W1 of a translation is exactly the length of the shift.
    assert cost == pytest.approx(np.linalg.norm(shift), rel=1e-7)


def test_chunked_wasserstein_is_an_upper_bound_and_exact_with_one_chunk():
    rng = np.random.RandomState(2)
    Z, X = rng.normal(size=(30, 5)), rng.normal(size=(90, 5)) + 0.5
    exact = chunked_wasserstein(Z, X, chunk_size=1000)
    chunked = chunked_wasserstein(Z, X, chunk_size=20, rng=np.random.RandomState(0))
    assert chunked >= exact - 1e-12
    cost, plans = chunked_wasserstein(Z, X, chunk_size=20, rng=np.random.RandomState(0),
                                      return_plans=True)
    assert cost == pytest.approx(chunked)
    total = sum(p.sum() for _, p in plans)
    assert total == pytest.approx(1.0)
    covered = np.sort(np.concatenate([i for i, _ in plans]))
    assert_allclose(covered, np.arange(90))


def test_conditional_entropy_of_permutation_is_zero_and_of_merge_is_positive():
    perm = joint_from_assignment([2, 0, 1], np.full(3, 1 / 3), 3)
    assert conditional_entropy(perm) == pytest.approx(0.0, abs=1e-15)
    merged = joint_from_assignment([0, 0, 1], np.array([0.25, 0.25, 0.5]), 3)
    # Two target classes of mass 1/4 each on one reference class: H = 0.5 * log 2.
    assert conditional_entropy(merged) == pytest.approx(0.5 * np.log(2))


def test_prior_and_label_map_columns_are_distributions():
    joint = joint_from_assignment([1, 1, 0], np.array([0.2, 0.3, 0.5]), 3)
    D, B = prior_and_label_map(joint)
    assert_allclose(D, [0.5, 0.5, 0.0])
    assert_allclose(B.sum(axis=0), 1.0)
    assert_allclose(B @ D, [0.2, 0.3, 0.5])  # prior matching is exact


def test_solve_assignment_recovers_permutation():
    rng = np.random.RandomState(0)
    perm = rng.permutation(6)
    costs = rng.uniform(5, 6, size=(6, 6))
    costs[perm, np.arange(6)] = rng.uniform(0, 1, size=6)
    a, _ = solve_assignment(costs, np.full(6, 1 / 6))
    assert_allclose(a, perm)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("max_enumeration", [50_000, 0])
def test_solve_assignment_matches_brute_force(seed, max_enumeration):
    # max_enumeration=0 forces the local search: it must find the optimum here too.
    rng = np.random.RandomState(seed)
    K_R, K_T = 3, 5
    costs = rng.uniform(0, 2, size=(K_R, K_T))
    prior = rng.dirichlet(np.ones(K_T))
    best = min(assignment_objective(np.array(a), costs, prior)
               for a in itertools.product(range(K_R), repeat=K_T))
    _, obj = solve_assignment(costs, prior, max_enumeration=max_enumeration)
    assert obj == pytest.approx(best, abs=1e-10)


def test_certified_lipschitz_bounds_every_gradient():
    rng = np.random.RandomState(3)
    W, c = rng.normal(size=(4, 7)), rng.normal(size=4)
    B = rng.dirichlet(np.ones(3), size=4).T           # (K_T=3, K_R=4)
    U = 5 * rng.normal(size=(500, 7))
    emp = empirical_lipschitz(U, W, c, B)
    cert = certified_lipschitz(W)
    assert 0 < emp <= cert + 1e-12
    # Far along w_k - w_l with a one-hot label map the bound is attained.
    k, j = 0, 1
    direction = (W[k] - W[j]) / np.linalg.norm(W[k] - W[j])
    assert empirical_lipschitz(np.array([40 * direction]), W, c, np.eye(4)) <= cert


def test_ridge_map_solver_recovers_affine_map_from_exact_pairs():
    rng = np.random.RandomState(4)
    n, d = 200, 5
    X = rng.normal(size=(n, d))
    M_true = np.eye(d) + 0.3 * rng.normal(size=(d, d))
    m_true = rng.normal(size=d)
    Z = X @ M_true.T + m_true
    w = np.full(n, 1 / n)
    for dual in (False, True):
        solver = RidgeMapSolver(X if not dual else X[:4], w if not dual else np.full(4, .25),
                                "affine", 1e-10, dtype="float64")
        if dual:  # fewer points than features uses the kernel form
            assert solver.dual
            continue
        state, mapped = solver.step(w[:, None] * Z)
        fmap = solver.build(state)
        assert_allclose(mapped, Z, atol=1e-6)
        assert_allclose(fmap.M, M_true, atol=1e-6)
        assert_allclose(fmap.m, m_true, atol=1e-6)
        assert_allclose(fmap.apply(X), Z, atol=1e-6)


def test_dual_and_primal_ridge_agree():
    rng = np.random.RandomState(5)
    n, d = 6, 9
    X, Z = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    w = rng.uniform(0.5, 1.5, size=n)
    w /= w.sum()
    dual = RidgeMapSolver(X, w, "affine", 0.7, dtype="float64")
    assert dual.dual
    state, mapped = dual.step(w[:, None] * Z)
    fmap = dual.build(state)
    # Closed-form primal solution with the same centring.
    c = w @ X / w.sum()
    yb = (w[:, None] * Z).sum(0) / w.sum()
    Xc, S = X - c, Z - yb - (X - c)
    delta = np.linalg.solve(Xc.T @ (w[:, None] * Xc) + 0.7 * np.eye(d), Xc.T @ (w[:, None] * S)).T
    assert_allclose(fmap.M, np.eye(d) + delta, atol=1e-8)
    assert_allclose(mapped, fmap.apply(X), atol=1e-8)


@pytest.mark.parametrize("n, d", [(6, 9), (40, 5)])
def test_float32_map_algebra_matches_float64(n, d):
    # The default float32 map step agrees with float64 to float32 precision and hands
    # back arrays of the caller's dtype.
    rng = np.random.RandomState(7)
    X, Z = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    w = np.full(n, 1 / n)
    results = {}
    for dtype in ("float32", "float64"):
        solver = RidgeMapSolver(X, w, "affine", 0.3, dtype=dtype)
        state, mapped = solver.step(w[:, None] * Z)
        fmap = solver.build(state)
        assert mapped.dtype == np.float64 and fmap.shift.dtype == np.float64
        results[dtype] = mapped, fmap.M
    assert_allclose(results["float32"][0], results["float64"][0], rtol=1e-4, atol=1e-5)
    assert_allclose(results["float32"][1], results["float64"][1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n, d", [(60, 5), (6, 9)])
def test_lifted_logit_residual_moves_the_logits_exactly(n, d):
    # A residual fitted in a k-dim image W (k < d) and lifted by W^+ moves the
    # image of the map by exactly the fitted residuals (primal and dual forms).
    rng = np.random.RandomState(11)
    X, Z = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    w = rng.uniform(0.5, 1.5, size=n)
    w /= w.sum()
    W = rng.normal(size=(3, d))
    solver = RidgeMapSolver(X, w, "affine", 0.4, dtype="float64")
    assert solver.dual == (n <= d)
    state, mapped = solver.step(w[:, None] * Z)
    R = rng.normal(size=(n, 3))
    shift = rng.normal(size=3)
    S = w[:, None] * (R - (w @ R) / w.sum())
    fitted = solver.residual_step(S)
    new_state, moved = solver.lift(state, S, shift, np.linalg.pinv(W))
    fmap = solver.build(new_state)
    assert_allclose(fmap.apply(X), mapped + moved, atol=1e-9)
    assert_allclose((fmap.apply(X) - mapped) @ W.T, fitted + shift, atol=1e-9)
    # the fitted residuals are the weighted ridge solution in the k-dim space
    c = w @ X / w.sum()
    Xc = X - c
    delta = np.linalg.solve(Xc.T @ (w[:, None] * Xc) + 0.4 * np.eye(d), Xc.T @ S).T
    assert_allclose(fitted, Xc @ delta.T, atol=1e-9)


def test_residual_step_needs_the_affine_family():
    X = np.random.RandomState(0).normal(size=(10, 3))
    solver = RidgeMapSolver(X, np.full(10, .1), "diagonal", 1.0)
    with pytest.raises(ValueError, match="kind='affine', not 'diagonal'"):
        solver.residual_step(np.zeros((10, 2)))


def test_invert_map_round_trip():
    rng = np.random.RandomState(6)
    M = np.eye(4) + 0.2 * rng.normal(size=(4, 4))
    m = rng.normal(size=4)
    A, b = invert_map(M, m)
    x = rng.normal(size=4)
    assert_allclose(A @ (M @ x + m) + b, x, atol=1e-10)


def test_project_joint_matches_target_prior():
    rng = np.random.RandomState(7)
    joint = rng.dirichlet(np.ones(12)).reshape(3, 4)
    prior = rng.dirichlet(np.ones(4))
    out = project_joint(joint, prior)
    assert_allclose(out.sum(0), prior)
    assert_allclose(out / out.sum(0), joint / joint.sum(0))


def test_fit_transformation_identical_tasks():
    rng = np.random.RandomState(8)
    Z = [rng.normal(size=(30, 4)) + 3 * k for k in range(3)]
    X = np.vstack(Z)
    y = np.repeat(np.arange(3), 30)
    L = np.array([0.1, 0.2, 0.3])
    tr = fit_transformation(Z, X, y, L, 1.0, np.full(3, 1 / 3), rng=rng)
    assert_allclose(tr.assignment, [0, 1, 2])
    assert tr.terms["wasserstein"] == pytest.approx(0.0, abs=1e-6)
    assert tr.terms["task_relatedness"] == pytest.approx(L.mean(), abs=1e-6)


def test_fit_transformation_logit_head_reports_the_logit_bound_of_the_kept_map():
    rng = np.random.RandomState(10)
    Z = [rng.normal(size=(25, 4)) + 3 * np.eye(4)[k] for k in range(3)]
    X = np.vstack(Z) @ np.diag([1.5, 1.0, 0.7, 1.2]) + 0.5
    y = np.repeat(np.arange(3), 25)
    prior, L = np.full(3, 1 / 3), np.array([0.2, 0.3, 0.4])
    W, c = rng.normal(size=(3, 4)), np.array([0.1, 0.0, -0.1])
    tr = fit_transformation(Z, X, y, L, 1.0, prior, rng=np.random.RandomState(0),
                            logit_head=(W, c))
    assert tr.terms["lipschitz"] == pytest.approx(np.sqrt(2))
    logits = LogitMap(tr.feature_map, W, c)
    terms, _ = evaluate_transformation([Zr @ W.T + c for Zr in Z], X, y,
                                       Transformation(tr.assignment, tr.joint, tr.class_prior,
                                                      logits), L, np.sqrt(2), prior)
    # (the map is fitted in float32: agreement to float32 precision)
    assert terms["task_relatedness"] == pytest.approx(tr.terms["task_relatedness"], rel=1e-6)
    # the kept map is the better of the two candidates under this bound
    start = Transformation(tr.assignment, tr.joint, tr.class_prior,
                           LogitMap(FeatureMap.identity(4), W, c))
    start_terms, _ = evaluate_transformation([Zr @ W.T + c for Zr in Z], X, y, start, L,
                                             np.sqrt(2), prior)
    assert tr.terms["task_relatedness"] <= start_terms["task_relatedness"] + 1e-12


@pytest.mark.parametrize("label_free", [False, True])
def test_logit_descent_lowers_the_logit_bound_of_the_feature_space_map(label_free):
    # With a logit head the map descent continues on the logit transport: its squared
    # cost decreases monotonically and the kept map's logit bound is no worse than
    # that of the map the feature-space descent alone finds (same label map).
    rng = np.random.RandomState(12)
    Z = [rng.normal(size=(40, 6)) + 2.5 * np.eye(6)[k] for k in range(3)]
    A = np.eye(6) + 0.4 * rng.normal(size=(6, 6))
    X = np.vstack([rng.normal(size=(40, 6)) + 2.5 * np.eye(6)[k] for k in range(3)]) @ A.T
    y = np.repeat(np.arange(3), 40)
    prior, L = np.full(3, 1 / 3), np.array([0.2, 0.3, 0.4])
    W, c = 0.8 * rng.normal(size=(3, 6)), np.array([0.1, 0.0, -0.1])
    kw = dict(label_free=True, ref_prior=prior, target_prior=None) if label_free else \
        dict(target_prior=prior)
    y_fit = np.zeros(len(y), dtype=int) if label_free else y
    feat = fit_transformation(Z, X, y_fit, L, 1.0, rng=np.random.RandomState(0), **kw)
    tr = fit_transformation(Z, X, y_fit, L, 1.0, rng=np.random.RandomState(0),
                            logit_head=(W, c), **kw)
    logit_costs = [h["squared_logit_transport"] for h in tr.history
                   if "squared_logit_transport" in h]
    assert len(logit_costs) >= 2
    assert np.all(np.diff(logit_costs) <= 1e-9 * logit_costs[0])
    blocks = [Zr @ W.T + c for Zr in Z]

    def logit_bound(t):
        view = Transformation(t.assignment, t.joint, t.class_prior,
                              LogitMap(t.feature_map, W, c))
        if label_free:
            return fit_transformation(blocks, view.map(X), y_fit, L, np.sqrt(2), None,
                                      label_free=True, ref_prior=prior,
                                      feature_map="identity").terms["task_relatedness"]
        return evaluate_transformation(blocks, X, y, view, L, np.sqrt(2),
                                       prior)[0]["task_relatedness"]

    assert_allclose(tr.terms["task_relatedness"], logit_bound(tr), rtol=1e-6)
    assert tr.terms["task_relatedness"] < logit_bound(feat) - 1e-4


def test_fit_transformation_label_free_uses_reference_prior():
    rng = np.random.RandomState(9)
    Z = [rng.normal(size=(20, 3)) + 4 * k for k in range(2)]
    X = np.vstack(Z) + 1.0
    tr = fit_transformation(Z, X, np.zeros(40, int), np.ones(2), 0.5, None,
                            label_free=True, ref_prior=np.array([0.5, 0.5]),
                            feature_map="translation", rng=rng)
    assert tr.joint is None
    # A translation is recovered: the transport term ends near zero.
    assert tr.terms["wasserstein"] < 0.05
    assert tr.history[0]["squared_transport"] > 1.0
    assert isinstance(tr, Transformation)
    assert isinstance(tr.feature_map, FeatureMap)


@pytest.mark.parametrize("chunk_size", [1000, 25])
def test_plan_statistics_follow_shuffled_chunks(chunk_size):
    """Y and w must be attributed to the right target points when chunks are shuffled."""
    from sklearn_taskrel.transport._relatedness import transport_with_weights

    rng = np.random.RandomState(10)
    Z = [rng.normal(size=(40, 3))]
    X = Z[0][rng.permutation(40)] + 0.0  # the same points: the plan is a matching
    tr = Transformation(np.array([0]), joint_from_assignment([0], np.ones(1), 1),
                        np.ones(1), FeatureMap.identity(3))
    W, Y, w = transport_with_weights(Z, X, np.zeros(40, int), tr, np.ones(1),
                                     chunk_size=chunk_size, rng=np.random.RandomState(0),
                                     squared=True)
    assert_allclose(w, 1 / 40)
    if chunk_size >= 40:  # one exact problem: each point is matched to itself
        # The squared costs are float32 (they drive the descent only): zero up to
        # float32 cancellation in |x|^2 + |z|^2 - 2 x.z.
        assert W == pytest.approx(0.0, abs=1e-6)
        assert_allclose(Y / w[:, None], X, atol=1e-12)
    else:
        assert W >= 0
        # Barycentres are convex combinations of reference points of the same block.
        assert np.all(np.isfinite(Y))


def test_empirical_lipschitz_is_the_largest_autograd_gradient_norm():
    """Every label's input gradient of -log (B softmax(W u + c))_t, by autograd."""
    import torch

    rng = np.random.RandomState(11)
    W, c = rng.normal(size=(4, 6)), rng.normal(size=4)
    B = rng.dirichlet(np.ones(3), size=4).T            # (K_T=3, K_R=4)
    U = 2 * rng.normal(size=(40, 6))
    u = torch.tensor(U, requires_grad=True)
    q = torch.softmax(u @ torch.tensor(W).T + torch.tensor(c), dim=1)
    p = q @ torch.tensor(B).T
    norms = []
    for t in range(3):
        (g,) = torch.autograd.grad(-torch.log(p[:, t]).sum(), u, retain_graph=True)
        norms.append(g.norm(dim=1).detach().numpy())
    assert empirical_lipschitz(U, W, c, B) == pytest.approx(np.max(norms), rel=1e-10)
    assert empirical_lipschitz(U, W, c) == pytest.approx(
        max(np.linalg.norm(W.T @ (softmax_rows(U @ W.T + c)[i] - np.eye(4)[k]))
            for i in range(len(U)) for k in range(4)), rel=1e-10)


def softmax_rows(S):
    E = np.exp(S - S.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def test_label_map_weighs_class_pair_costs_by_the_lipschitz_constant():
    """Brute force over the 4 assignments with POT's exact W1 between class samples:
    with a small tau the low-loss reference class wins, with a large one the near one."""
    import ot

    rng = np.random.RandomState(12)
    Z_ref = [rng.normal(size=(40, 2)), rng.normal(size=(40, 2)) + [10.0, 0.0]]
    X = np.vstack([rng.normal(size=(30, 2)) + [0.5, 0.0], rng.normal(size=(30, 2)) + [9.5, 0]])
    y = np.repeat([0, 1], 30)
    L, prior = np.array([2.0, 0.1]), np.array([0.5, 0.5])
    C = np.array([[ot.emd2(np.full(len(Zr), 1 / len(Zr)), np.full(30, 1 / 30),
                           ot.dist(Zr, X[y == t], metric="euclidean")) for t in range(2)]
                  for Zr in Z_ref])

    def objective(a, tau):
        value = sum(prior[t] * (L[a[t]] + tau * C[a[t], t]) for t in range(2))
        if a[0] == a[1]:  # both target classes on one reference class: H(Y_T | Y_R)
            value += -np.sum(prior * np.log(prior))
        return value

    bests = []
    for tau in (0.03, 1.0):
        best = min(itertools.product(range(2), repeat=2), key=lambda a: objective(a, tau))
        tr = fit_transformation(Z_ref, X, y, L, tau, prior, feature_map="identity",
                                pair_max_samples=64, rng=np.random.RandomState(0))
        assert tuple(tr.assignment) == best
        bests.append(best)
    # tau = 0.03: both on the low-loss class; tau = 1: each to the near reference class
    assert bests == [(1, 1), (0, 1)]


def test_assignment_search_does_not_depend_on_class_numbering():
    """The local search (K_R ** K_T > max_enumeration) reaches the same objective, and
    the same map relabelled, when the target classes are numbered in another order
    (without the canonical order, 34 of 300 such draws differed)."""
    rng = np.random.RandomState(0)
    K_R, K_T = 3, 12                                  # 3 ** 12 maps: local search
    for _ in range(20):
        costs = rng.uniform(0, 1, size=(K_R, K_T)) ** 3
        prior = rng.dirichlet(np.ones(K_T) * 0.5)
        perm = rng.permutation(K_T)
        a, obj = solve_assignment(costs, prior)
        b, obj_b = solve_assignment(costs[:, perm], prior[perm])
        assert obj_b == pytest.approx(obj, abs=1e-12)
        assert_allclose(b, a[perm])


def _maps_of_every_kind(rng, d):
    shift, center = rng.normal(size=d), rng.normal(size=d)
    return {
        "identity": FeatureMap.identity(d),
        "translation": FeatureMap(shift=shift),
        "diagonal": FeatureMap(shift=shift, center=center, scale_delta=rng.normal(size=d)),
        "dense": FeatureMap(shift=shift, center=center, delta=rng.normal(size=(d, d))),
        "dual": FeatureMap(shift=shift, center=center, anchors=rng.normal(size=(4, d)),
                           coef=rng.normal(size=(4, d))),
        "dual_diagonal": FeatureMap(shift=shift, center=center,
                                    anchors=rng.normal(size=(3, d)),
                                    coef=rng.normal(size=(3, d)),
                                    scale_delta=rng.normal(size=d)),
    }


@pytest.mark.parametrize("kinds", [("dual", "dual"), ("diagonal", "identity"),
                                   ("dense", "dual"), ("translation", "diagonal", "dual"),
                                   ("dual_diagonal", "dual")])
def test_average_maps_is_the_mean_of_the_maps_after_their_own_scaling(kinds):
    """The bagged map of cross-fitting: ``x -> mean_k map_k(S_k x + t_k)``, checked
    point by point against applying each map to its own rescaled input, and its
    dense ``(M, m)`` against the same points."""
    rng = np.random.RandomState(3)
    d, n = 5, 9
    maps = [_maps_of_every_kind(rng, d)[k] for k in kinds]
    scales = [np.exp(0.3 * rng.normal(size=d)) for _ in kinds]
    offsets = [rng.normal(size=d) for _ in kinds]
    X = rng.normal(size=(n, d))
    expected = sum(fm.apply(X * S + t) for fm, S, t in zip(maps, scales, offsets)) / len(maps)
    avg = average_maps(maps, scales, offsets)
    assert_allclose(avg.apply(X), expected, rtol=1e-12, atol=1e-12)
    assert_allclose(X @ avg.M.T + avg.m, expected, rtol=1e-12, atol=1e-12)
    # The family is kept: dense stays dense, dual forms stay dual (n anchors, not d x d).
    assert (avg.delta is not None) == ("dense" in kinds)
    if "dense" not in kinds and any(k.startswith("dual") for k in kinds):
        assert avg.anchors.shape == (sum(m.anchors.shape[0] for m in maps
                                         if m.anchors is not None), d)


@pytest.mark.parametrize("kind", ["identity", "translation", "diagonal", "dense", "dual",
                                  "dual_diagonal"])
def test_composed_logit_map_equals_mapping_then_the_head(kind):
    """``LogitMap`` applies ``W (M x + m) + c`` as one (d, k) product; checked against
    the dense ``M``, ``m`` of every representation of the feature map."""
    rng = np.random.RandomState(2)
    n, d, k = 7, 5, 3
    X = rng.normal(size=(n, d))
    fmap = _maps_of_every_kind(rng, d)[kind]
    W, c = rng.normal(size=(k, d)), rng.normal(size=k)
    expected = (X @ fmap.M.T + fmap.m) @ W.T + c
    assert_allclose(LogitMap(fmap, W, c).apply(X), expected, rtol=1e-12, atol=1e-12)
    assert_allclose(fmap.apply(X) @ W.T + c, expected, rtol=1e-12, atol=1e-12)


def test_class_pair_costs_are_the_exact_w1_of_the_kept_class_subsamples():
    """A pair of sizes n <= m keeps q n = (m // n) n random points of the larger side
    (drawn after the subsamples) and all of the smaller one; the value must be the
    exact W1 between the uniform measures on those points, by POT's network simplex
    on the unequal sets (the function solves an assignment on repeated points)."""
    rng = np.random.RandomState(3)
    refs = [rng.normal(size=(30, 4)) + r for r in range(3)]
    refs.append(rng.normal(size=(9, 4)))  # smaller than a target class
    tgts = [rng.normal(size=(12, 4)) * 2, rng.normal(size=(40, 4)) - 1,
            rng.normal(size=(1, 4))]
    C = class_pair_costs(refs, tgts, rng=np.random.RandomState(7), max_per_class=20)
    draw = np.random.RandomState(7)  # the draws, in the function's order

    def sub(Z):
        return Z if len(Z) <= 20 else Z[np.sort(draw.choice(len(Z), 20, replace=False))]

    subs_r, subs_t = [sub(Z) for Z in refs], [sub(X) for X in tgts]
    perm_r = [draw.permutation(len(Z)) for Z in subs_r]
    perm_t = [draw.permutation(len(X)) for X in subs_t]
    kept = set()
    for r, Zr in enumerate(subs_r):
        for t, Xt in enumerate(subs_t):
            A, B = Zr, Xt
            if len(Zr) >= len(Xt):
                A = Zr[np.sort(perm_r[r][:len(Zr) // len(Xt) * len(Xt)])]
            else:
                B = Xt[np.sort(perm_t[t][:len(Xt) // len(Zr) * len(Zr)])]
            kept.add((len(Zr), len(Xt), len(A), len(B)))
            _, w1 = exact_transport(np.full(len(A), 1 / len(A)), np.full(len(B), 1 / len(B)),
                                    euclidean_cost(A, B))
            assert C[r, t] == pytest.approx(w1, rel=1e-5)  # float32 distances
    assert C.shape == (4, 3)
    # 20 reference points meet 12 target points on 12 of theirs; 9 reference points meet
    # 20 target points on 18 of those, 12 on 9; a 1-point class meets every reference point.
    assert {(20, 12, 12, 12), (9, 20, 9, 18), (9, 12, 9, 9), (20, 1, 20, 1)} <= kept


def _objective_by_hand(a, C, pi):
    """``sum_t pi_t C[r(t), t] - sum_t pi_t log(pi_t / D_r(t))`` from its definition."""
    a = [int(r) for r in a]
    D = {r: sum(p for s, p in zip(a, pi) if s == r) for r in set(a)}
    return float(sum(p * C[r, t] for t, (r, p) in enumerate(zip(a, pi)))
                 - sum(p * np.log(p / D[r]) for r, p in zip(a, pi) if p > 0))


@pytest.mark.parametrize("K_R, K_T", [(3, 6), (5, 4)])
def test_local_search_ends_where_no_move_or_swap_improves(K_R, K_T):
    """Every single-class move and every pairwise swap is tried by brute force on the
    local search's result: none lowers the objective (recomputed from its
    definition), the reported objective is the result's, and it never worsens the
    start. Starts with unused reference classes exercise the empty-class terms."""
    from sklearn_taskrel.transport._assignment import _local_search

    rng = np.random.RandomState(K_R * 10 + K_T)
    for trial in range(12):
        C = rng.uniform(0, 2, size=(K_R, K_T)) * rng.uniform(0.05, 1)
        pi = rng.dirichlet(np.ones(K_T) * (0.3 if trial % 2 else 3))
        start = rng.randint(0, 2 if trial % 3 == 0 else K_R, size=K_T)
        a, obj = _local_search(C, pi, start.copy(), 100)
        assert obj == pytest.approx(_objective_by_hand(a, C, pi), abs=1e-12)
        assert obj <= _objective_by_hand(start, C, pi) + 1e-12
        for t in range(K_T):
            for r in range(K_R):
                moved = a.copy()
                moved[t] = r
                assert _objective_by_hand(moved, C, pi) >= obj - 1e-9, (trial, t, r)
        for t, u in itertools.combinations(range(K_T), 2):
            swapped = a.copy()
            swapped[t], swapped[u] = a[u], a[t]
            assert _objective_by_hand(swapped, C, pi) >= obj - 1e-9, (trial, t, u)


def test_search_keeps_the_best_of_its_starts():
    """Without moves or restarts the search returns the best of its starts: the
    Hungarian one-to-one map (checked against every permutation) when the column
    argmin is worse, and ``init`` when it beats both."""
    from sklearn_taskrel.transport._assignment import _search

    # Column argmin sends both target classes to reference 0 (paying H(T|R));
    # the best one-to-one map weighs the costs by the unequal prior.
    C = np.array([[0.0, 0.0, 3.0],
                  [0.3, 2.0, 3.0],
                  [3.0, 0.1, 3.0]])[:, :2]
    pi = np.array([0.8, 0.2])
    perms = {p: sum(pi[t] * C[r, t] for t, r in enumerate(p))
             for p in itertools.permutations(range(3), 2)}
    hungarian = min(perms, key=perms.get)
    a, obj = _search(C, pi, None, 0, 0)
    assert tuple(a) == hungarian == (0, 2)
    assert obj == pytest.approx(_objective_by_hand(a, C, pi), abs=1e-12)
    # An init better than both starts is kept (no move could reach it here).
    C3 = np.array([[0.0, 0.0, 0.0], [0.9, 0.9, 0.0], [5.0, 5.0, 5.0]])
    pi3 = np.array([0.4, 0.4, 0.2])
    init = np.array([0, 0, 1])
    one_to_one = min(_objective_by_hand(p, C3, pi3) for p in itertools.permutations(range(3)))
    assert _objective_by_hand(init, C3, pi3) < min(
        _objective_by_hand(np.argmin(C3, axis=0), C3, pi3), one_to_one)
    a, _ = _search(C3, pi3, init, 0, 0)
    assert a.tolist() == [0, 0, 1]
    a, _ = _search(C3, pi3, None, 0, 0)
    assert a.tolist() != [0, 0, 1]
    # ... and solve_assignment hands init to the search (in its canonical order).
    a, _ = solve_assignment(C3, pi3, init=init, max_sweeps=0, n_restarts=0,
                            max_enumeration=0)
    assert a.tolist() == [0, 0, 1]
    # Square costs (K_T == K_R) get the Hungarian start too.
    C2, pi2 = np.array([[0.0, 0.0], [0.3, 2.0]]), np.array([0.8, 0.2])
    assert _search(C2, pi2, None, 0, 0)[0].tolist() == [1, 0]


@pytest.mark.parametrize("seed", [8, 10, 14])
def test_restarts_escape_a_local_optimum_every_start_falls_into(seed):
    """Instances (found by brute force) where the local search from every start
    stops above the optimum and the perturbed restarts reach it."""
    from sklearn_taskrel.transport._assignment import _search

    rng = np.random.RandomState(seed)
    C = rng.uniform(0, 2, size=(3, 6)) * rng.uniform(0.05, 1)
    pi = rng.dirichlet(np.ones(6) * rng.choice([0.3, 1, 3]))
    best = min(_objective_by_hand(a, C, pi) for a in itertools.product(range(3), repeat=6))
    assert _search(C, pi, None, 100, 0)[1] > best + 1e-3
    a, obj = _search(C, pi, None, 100, 8)
    assert obj == pytest.approx(best, abs=1e-10)
    assert _objective_by_hand(a, C, pi) == pytest.approx(best, abs=1e-10)


def test_solve_assignment_enumerates_exactly_up_to_max_enumeration(monkeypatch):
    """``K_R ** K_T <= max_enumeration`` maps are enumerated, more are searched; the
    result is an integer assignment either way."""
    from sklearn_taskrel.transport import _assignment

    calls = []
    real = _assignment._enumerate
    monkeypatch.setattr(_assignment, "_enumerate",
                        lambda C, pi: calls.append(C.shape) or real(C, pi))
    rng = np.random.RandomState(0)
    C, pi = rng.uniform(size=(3, 5)), rng.dirichlet(np.ones(5))
    for limit, enumerated in ((243, True), (242, False), (15, False)):
        calls.clear()
        a, obj = solve_assignment(C, pi, max_enumeration=limit)
        assert bool(calls) == enumerated, limit
        assert a.dtype.kind == "i" and a.shape == (5,)
        assert obj == pytest.approx(_objective_by_hand(a, C, pi), abs=1e-12)


def test_objective_and_label_map_with_more_reference_than_target_classes():
    """Rectangular joints (K_R > K_T): the objective of a map onto reference class 3
    of 4, and the label map's uniform column for an unused reference class."""
    C = np.arange(8.0).reshape(4, 2) / 10
    pi = np.array([0.25, 0.75])
    assert assignment_objective(np.array([3, 3]), C, pi) == pytest.approx(
        _objective_by_hand([3, 3], C, pi), abs=1e-12)
    D, B = prior_and_label_map(joint_from_assignment([3, 1], pi, 4))
    assert D.tolist() == [0.0, 0.75, 0.0, 0.25]
    assert B.shape == (2, 4)
    assert B[:, 0].tolist() == [0.5, 0.5]            # unused: uniform over K_T = 2
    assert B[:, 3].tolist() == [1.0, 0.0] and B[:, 1].tolist() == [0.0, 1.0]


def _lp_transport(a, b, M):
    """Exact OT by scipy's linear programming (HiGHS): an independent second solver."""
    from scipy.optimize import linprog

    n, m = M.shape
    rows = np.kron(np.eye(n), np.ones(m))          # sum_j P_ij = a_i
    cols = np.kron(np.ones(n), np.eye(m))          # sum_i P_ij = b_j
    res = linprog(M.ravel(), A_eq=np.vstack([rows, cols]), b_eq=np.concatenate([a, b]),
                  bounds=(0, None), method="highs")
    return res.x.reshape(n, m), res.fun


def test_exact_transport_matches_linear_programming_with_unequal_marginals():
    """Non-uniform weights (and a second marginal off by rounding, which is
    renormalised): the plan's marginals and its cost against HiGHS."""
    rng = np.random.RandomState(4)
    M = rng.uniform(size=(4, 6))
    a, b = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(6))
    plan, cost = exact_transport(a, b * 1.001, M)
    _, expected = _lp_transport(a, b, M)
    assert cost == pytest.approx(expected, abs=1e-10)
    assert_allclose(plan.sum(axis=1), a, atol=1e-12)
    assert_allclose(plan.sum(axis=0), b, atol=1e-12)
    assert cost == pytest.approx(float(np.sum(plan * M)), abs=1e-14)
    # torch in, torch out (on M's device and dtype), same plan and cost
    import torch

    t_plan, t_cost = exact_transport(torch.as_tensor(a), torch.as_tensor(b),
                                     torch.as_tensor(M, dtype=torch.float32))
    assert torch.is_tensor(t_plan) and t_plan.dtype == torch.float32
    assert_allclose(t_plan.numpy(), plan, atol=1e-6)
    assert t_cost == pytest.approx(cost, abs=1e-6)


@pytest.mark.filterwarnings("ignore:numItermax reached:UserWarning")
def test_exact_transport_warns_when_max_iter_stops_it():
    rng = np.random.RandomState(5)
    M = rng.uniform(size=(30, 30))
    with pytest.warns(ConvergenceWarning, match=r"did not converge.*max_iter=2\)"):
        exact_transport(np.full(30, 1 / 30), np.full(30, 1 / 30), M, max_iter=2)


def test_entropic_transport_is_a_log_domain_sinkhorn():
    """Against a Sinkhorn written out here (log domain, non-uniform marginals), and
    close to the exact cost (HiGHS) for a small regularisation."""
    from scipy.special import logsumexp

    rng = np.random.RandomState(6)
    M = rng.uniform(size=(5, 4))
    a, b = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(4))
    reg = 0.05
    f, g = np.zeros(5), np.zeros(4)
    for _ in range(5000):
        f = reg * (np.log(a) - logsumexp((g[None, :] - M) / reg, axis=1))
        g = reg * (np.log(b) - logsumexp((f[:, None] - M) / reg, axis=0))
    expected = np.exp((f[:, None] + g[None, :] - M) / reg)
    plan, cost = entropic_transport(a, b, M, reg=reg, max_iter=5000, tol=1e-12)
    assert_allclose(plan, expected, atol=1e-8)
    assert cost == pytest.approx(float(np.sum(expected * M)), abs=1e-8)
    _, exact = _lp_transport(a, b, M)
    assert exact <= cost <= exact + 0.05
    _, sharper = entropic_transport(a, b, M, reg=0.005, max_iter=20000, tol=1e-12)
    assert exact - 1e-9 <= sharper < cost


def test_entropic_transport_iterations_and_tolerance_reach_pot():
    """``max_iter`` and ``tol`` stop the iterations (the column marginals are the last
    ones fitted: the row marginals carry the violation); costs far above ``reg``
    stay finite in the log domain; torch in, torch out."""
    import torch

    rng = np.random.RandomState(7)
    M = ot.dist(rng.normal(size=(20, 3)), rng.normal(size=(25, 3)))
    M /= M.max()
    a, b = np.full(20, 1 / 20), np.full(25, 1 / 25)

    def violation(plan):
        return max(np.abs(plan.sum(1) - a).max(), np.abs(plan.sum(0) - b).max())

    assert violation(entropic_transport(a, b, M, reg=1e-2, max_iter=2)[0]) > 1e-3
    assert violation(entropic_transport(a, b, M, reg=1e-2, tol=1e-2)[0]) > 1e-4
    assert violation(entropic_transport(a, b, M, reg=1e-2)[0]) < 1e-8  # defaults
    # exp(-M / reg) underflows to 0 for most entries at reg=1e-4
    assert np.mean(np.exp(-M / 1e-4) == 0) > 0.5
    # unconverged after 1000 iterations here: the default stops exactly there
    at_default = entropic_transport(a, b, M, reg=1e-4)[0]
    assert_allclose(at_default, entropic_transport(a, b, M, reg=1e-4, max_iter=1000)[0],
                    rtol=0, atol=0)
    assert np.abs(at_default - entropic_transport(a, b, M, reg=1e-4, max_iter=1001)[0]).max() > 0
    plan, cost = entropic_transport(a, b, M, reg=1e-4, max_iter=5000)
    assert np.isfinite(plan).all()
    assert_allclose(plan.sum(1), a, atol=1e-10)  # (a plain Sinkhorn is off by 0.05)
    assert cost == pytest.approx(ot.emd2(a, b, M), abs=1e-4)
    t_plan, t_cost = entropic_transport(torch.as_tensor(a), torch.as_tensor(b),
                                        torch.as_tensor(M), reg=1e-2)
    assert torch.is_tensor(t_plan)
    assert_allclose(t_plan.numpy(), entropic_transport(a, b, M, reg=1e-2)[0], atol=1e-12)


def test_squared_euclidean_cost_on_numpy_and_torch():
    import torch

    rng = np.random.RandomState(8)
    X, Y = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    by_hand = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    assert_allclose(sqeuclidean_cost(X, Y), by_hand, atol=1e-12)
    t = sqeuclidean_cost(torch.as_tensor(X), torch.as_tensor(Y))
    assert torch.is_tensor(t)
    assert_allclose(t.numpy(), by_hand, atol=1e-12)


def test_certified_lipschitz_is_the_largest_distance_between_head_rows():
    """``max_{k,j} ||w_k - w_l||`` by a double loop, for rows near and far apart; the
    bound is attained (up to 1e-6) by the gradient far along the widest pair."""
    rng = np.random.RandomState(12)
    for scale in (1e-3, 1.0, 30.0):
        W = scale * rng.normal(size=(5, 4))
        brute = max(np.linalg.norm(W[k] - W[j]) for k in range(5) for j in range(5))
        assert certified_lipschitz(W) == pytest.approx(brute, rel=1e-9)
    W, c = rng.normal(size=(3, 4)), np.zeros(3)
    k, j = max(((k, j) for k in range(3) for j in range(3)),
               key=lambda p: np.linalg.norm(W[p[0]] - W[p[1]]))
    u = 60 * (W[k] - W[j]) / np.linalg.norm(W[k] - W[j])
    # The loss of the losing label j at a point where class k wins almost surely.
    grad = W.T @ (softmax_rows((u @ W.T + c)[None])[0] - np.eye(3)[j])
    assert np.linalg.norm(grad) == pytest.approx(certified_lipschitz(W), rel=1e-6)


def test_empirical_lipschitz_visits_every_batch_and_starts_from_zero():
    """Small batches, the largest gradient in the first row and in the last one, and a
    head whose gradients are all far below 1: the maximum over points by hand."""
    rng = np.random.RandomState(13)
    W, c = 0.01 * rng.normal(size=(3, 4)), np.zeros(3)
    U = rng.normal(size=(10, 4))

    def by_hand(U):
        return max(np.linalg.norm(W.T @ (softmax_rows(U @ W.T + c)[i] - np.eye(3)[k]))
                   for i in range(len(U)) for k in range(3))

    k, j = max(((k, j) for k in range(3) for j in range(3)),
               key=lambda p: np.linalg.norm(W[p[0]] - W[p[1]]))
    steepest = 1e5 * (W[k] - W[j]) / np.linalg.norm(W[k] - W[j])  # q = e_k: label j
    for first in (True, False):
        V = U.copy()
        V[0 if first else -1] = steepest
        expected = by_hand(V)
        assert expected < 0.1
        assert by_hand(V[1:] if first else V[:-1]) < expected - 1e-4  # strictly the max
        for batch_size in (3, 4, 10, 4096):
            got = empirical_lipschitz(V, W, c, batch_size=batch_size)
            assert got == pytest.approx(expected, rel=1e-10), (first, batch_size)


def test_softmax_is_stable_row_by_row():
    """Rows of very different scales (one near 1000, one near 0): each row is
    normalised by its own maximum, with no overflow and no 0/0."""
    from sklearn_taskrel.transport._lipschitz import softmax

    S = np.array([[1000.0, 999.0], [0.0, -1.0], [-1000.0, -1001.0]])
    P = softmax(S)
    e = np.exp([0.0, -1.0])
    assert_allclose(P, np.tile(e / e.sum(), (3, 1)), rtol=1e-12)


def test_empirical_lipschitz_with_unreachable_labels_and_underflow():
    """A label no reference class maps to is skipped (no loss, no warning), the labels
    after it still count, and a label whose reference classes all have probability 0
    (underflow) gets its exact gradient ``W^T (q - rho)``, by hand."""
    import warnings

    W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    c = np.zeros(3)
    B = np.array([[0.0, 0.0, 0.0],     # label 0: unreachable
                  [1.0, 0.0, 0.0],     # label 1: reference class 0
                  [0.0, 0.5, 1.0]])    # label 2: classes 1 and 2 (B's rows need not sum to 1)
    U = np.array([[2000.0, 0.0], [0.3, -0.2]])  # row 0: q = e_0, classes 1, 2 underflow
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = empirical_lipschitz(U, W, c, B)
    expected = 0.0
    for u in U:
        S = W @ u + c
        q = np.exp(S - S.max()) / np.exp(S - S.max()).sum()
        for t in (1, 2):
            reach = B[t] > 0
            logits = S[reach] + np.log(B[t][reach])
            rho = np.zeros(3)
            rho[reach] = np.exp(logits - logits.max())
            rho /= rho.sum()
            expected = max(expected, np.linalg.norm(W.T @ (q - rho)))
    assert got == pytest.approx(expected, rel=1e-12)
    # Row 0: S = (2000, 0, -2000), q = e_0; label 2's posterior over its classes
    # (1, 2) is e_1 (class 2 is e^-2000 less likely), so g = w_0 - w_1, norm sqrt(2).
    assert got == pytest.approx(np.sqrt(2.0), rel=1e-12)


def test_per_class_losses_by_hand():
    """Mean cross-entropy of each class by a loop over samples: a non-zero intercept,
    a class with one sample, empty classes (the last one too: 0 by convention), and
    rows of very different scale (stability per row)."""
    from sklearn_taskrel.transport._losses import per_class_losses

    rng = np.random.RandomState(14)
    W, c = rng.normal(size=(5, 3)), np.array([0.5, -1.0, 2.0, 0.0, 0.3])
    Z = rng.normal(size=(7, 3))
    Z[0] *= 2000.0                                  # logits in the thousands
    y = np.array([0, 0, 2, 2, 2, 1, 0])             # class 1 once; 3 and 4 empty
    L, counts = per_class_losses(Z, y, W, c, 5)
    expected = np.zeros(5)
    for k in range(5):
        rows = [i for i in range(len(y)) if y[i] == k]
        for i in rows:
            s = W @ Z[i] + c
            expected[k] += (np.log(np.sum(np.exp(s - s.max()))) + s.max() - s[k]) / len(rows)
    assert_allclose(L, expected, rtol=1e-12, atol=1e-12)
    assert counts.tolist() == [3, 1, 3, 0, 0]
    assert np.isfinite(L).all() and L[3] == L[4] == 0.0


def test_chunked_wasserstein_against_linear_programming():
    """One chunk: W1 by default (and W2^2 with squared=True) equals the LP optimum with
    Euclidean (squared) costs, weighted sources included; each point's cost is
    ``n_chunk * sum_i P_ij C_ij`` of the returned plan and their mean is the cost."""
    from scipy.spatial.distance import cdist

    rng = np.random.RandomState(15)
    Z, X = rng.normal(size=(6, 3)), rng.normal(size=(5, 3)) + 1.0
    a = rng.dirichlet(np.ones(6))
    b = np.full(5, 0.2)
    w1 = chunked_wasserstein(Z, X, src_weights=a)
    assert w1 == pytest.approx(_lp_transport(a, b, cdist(Z, X))[1], abs=1e-9)
    w2 = chunked_wasserstein(Z, X, src_weights=a, squared=True)
    assert w2 == pytest.approx(_lp_transport(a, b, cdist(Z, X, "sqeuclidean"))[1], abs=1e-5)
    costs = np.zeros(5)
    cost, plans = chunked_wasserstein(Z, X, src_weights=a, return_plans=True,
                                      point_costs=costs)
    (idx, plan), = plans
    assert_allclose(costs[idx], 5 * (plan * cdist(Z, X[idx])).sum(axis=0), atol=1e-12)
    assert costs.mean() == pytest.approx(cost, abs=1e-12)


def test_chunks_are_random_subsets_when_a_generator_is_given():
    from sklearn_taskrel.transport._classwise import chunk_indices

    plain = chunk_indices(10, 3)
    assert [len(c) for c in plain] == [3, 3, 2, 2]
    assert np.array_equal(np.concatenate(plain), np.arange(10))
    assert len(chunk_indices(5, 1)) == 5
    shuffled = chunk_indices(10, 3, np.random.RandomState(0))
    perm = np.random.RandomState(0).permutation(10)
    assert np.array_equal(np.concatenate(shuffled), perm)
    # chunked_wasserstein uses the generator's chunks: the value by hand
    rng = np.random.RandomState(16)
    Z, X = rng.normal(size=(4, 2)), rng.normal(size=(6, 2))
    got = chunked_wasserstein(Z, X, chunk_size=3, rng=np.random.RandomState(1))
    chunks = chunk_indices(6, 3, np.random.RandomState(1))
    by_hand = sum(len(c) / 6 * exact_transport(np.full(4, .25), np.full(len(c), 1 / len(c)),
                                               euclidean_cost(Z, X[c]))[1] for c in chunks)
    assert got == pytest.approx(by_hand, abs=1e-12)
    assert got != pytest.approx(chunked_wasserstein(Z, X, chunk_size=3), abs=1e-6)


def test_class_pair_costs_of_an_empty_reference_class_are_infinite():
    refs = [np.zeros((3, 2)), np.zeros((0, 2)), np.full((3, 2), 2.0)]
    tgts = [np.full((2, 2), 2.0), np.zeros((2, 2))]
    C = class_pair_costs(refs, tgts, rng=np.random.RandomState(0))
    assert np.isinf(C[1]).all()
    assert_allclose(C[[0, 2]], [[np.sqrt(8), 0.0], [0.0, np.sqrt(8)]], atol=1e-6)


def test_apply_map_with_and_without_each_part():
    from sklearn_taskrel.transport import apply_map

    X = np.array([[1.0, 2.0], [3.0, -1.0]])
    M, m = np.array([[2.0, 1.0], [0.0, -1.0]]), np.array([0.5, -2.0])
    assert_allclose(apply_map(X, M, m), [[4.5, -4.0], [5.5, -1.0]])
    assert_allclose(apply_map(X, None, m), X + m)
    assert apply_map(X, None, None) is X


def test_invert_map_inverse_or_pseudo_inverse():
    """An invertible map is undone exactly; a singular one falls back to the
    pseudo-inverse (A = M^+, b = -A m), finite."""
    rng = np.random.RandomState(17)
    M, m = np.eye(3) + 0.3 * rng.normal(size=(3, 3)), rng.normal(size=3)
    A, b = invert_map(M, m)
    assert_allclose(A @ M, np.eye(3), atol=1e-12)
    assert_allclose(b, -A @ m, atol=1e-12)
    S = np.array([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 1.0]])  # rank 2
    A, b = invert_map(S, m)
    assert_allclose(A, np.linalg.pinv(S), atol=1e-12)
    assert_allclose(b, -np.linalg.pinv(S) @ m, atol=1e-12)


def test_logit_map_conversion_converts_every_array():
    """``convert`` applies the function to the feature map and to the head's weights
    and intercept: a round trip through torch gives the same logits, and each array
    of the converted map is a tensor."""
    import torch

    rng = np.random.RandomState(18)
    fmap = _maps_of_every_kind(rng, 4)["dual_diagonal"]
    lm = LogitMap(fmap, rng.normal(size=(3, 4)), rng.normal(size=3))
    as_torch = lm.convert(torch.as_tensor)
    assert torch.is_tensor(as_torch.coef) and torch.is_tensor(as_torch.intercept)
    assert torch.is_tensor(as_torch.feature_map.anchors)
    X = rng.normal(size=(5, 4))
    assert_allclose(as_torch.apply(torch.as_tensor(X)).numpy(), lm.apply(X), rtol=1e-12)
    back = as_torch.convert(lambda t: t.numpy())
    assert_allclose(back.apply(X), lm.apply(X), rtol=1e-12)


def test_average_maps_takes_the_width_from_the_maps():
    """A single map (no second one to read the width from) with scalar scalings."""
    fm = FeatureMap(shift=np.array([1.0, 2.0, 3.0]))
    avg = average_maps([fm], [2.0], [0.5])
    X = np.array([[1.0, 0.0, -1.0]])
    assert_allclose(avg.apply(X), fm.apply(2.0 * X + 0.5))


def test_bound_terms_by_hand():
    """``D . L + H(T|R) + tau W``, with H from the joint's definition; a product joint
    (all target classes on every reference class alike) and no joint (label-free)."""
    from sklearn_taskrel.transport import bound_terms

    L = np.array([1.5, 0.4, 2.0])
    joint = np.array([[0.1, 0.1], [0.3, 0.0], [0.0, 0.5]])
    D = joint.sum(axis=1)
    terms = bound_terms(D, joint, L, 0.7, 1.3)
    H = -sum(joint[r, t] * np.log(joint[r, t] / D[r])
             for r in range(3) for t in range(2) if joint[r, t] > 0)
    assert terms["reweighted_reference_loss"] == pytest.approx(D @ L, abs=1e-15)
    assert terms["conditional_entropy"] == pytest.approx(H, abs=1e-15) and H > 0
    assert terms["transport"] == pytest.approx(0.91, abs=1e-15)
    assert (terms["wasserstein"], terms["lipschitz"]) == (0.7, 1.3)
    assert terms["task_relatedness"] == pytest.approx(D @ L + H + 0.91, abs=1e-14)
    free = bound_terms(D, None, L, 0.7, 1.3)
    assert free["conditional_entropy"] == 0.0
    assert free["task_relatedness"] == pytest.approx(D @ L + 0.91, abs=1e-14)


def test_reproject_transformation_moves_mass_to_the_new_prior():
    """An assignment keeps each target class's reference class with the new mass; a
    soft label map keeps each column's shape; no label map is left alone."""
    from sklearn_taskrel.transport._relatedness import reproject_transformation

    new = np.array([0.6, 0.4])
    hard = Transformation(np.array([2, 0]), joint_from_assignment([2, 0], np.full(2, .5), 3),
                          np.array([0.5, 0, 0.5]), FeatureMap.identity(2))
    out = reproject_transformation(hard, new, 3)
    assert_allclose(out.joint, [[0.0, 0.4], [0.0, 0.0], [0.6, 0.0]], atol=1e-15)
    assert_allclose(out.class_prior, [0.4, 0.0, 0.6], atol=1e-15)
    assert out.assignment.tolist() == [2, 0] and out.feature_map is hard.feature_map
    soft_joint = np.array([[0.25, 0.1], [0.25, 0.4], [0.0, 0.0]])
    soft = Transformation(None, soft_joint, soft_joint.sum(1), FeatureMap.identity(2))
    out = reproject_transformation(soft, new, 3)
    assert_allclose(out.joint, [[0.3, 0.08], [0.3, 0.32], [0.0, 0.0]], atol=1e-15)
    assert_allclose(out.class_prior, [0.38, 0.62, 0.0], atol=1e-15)
    free = Transformation(None, None, np.array([0.5, 0.5]), FeatureMap.identity(2))
    assert reproject_transformation(free, new, 2) is free


# --- Property: class-prior shifts (issue 19 item 4) ---------------------------------


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mult=st.lists(st.integers(1, 3), min_size=3, max_size=3),
       assignment=st.lists(st.integers(0, 3), min_size=3, max_size=3),
       seed=st.integers(0, 2 ** 16))
def test_bound_of_fixed_transformations_follows_a_class_prior_shift(mult, assignment, seed):
    """Repeating every point of target class ``t`` ``m_t`` times shifts the class
    prior to ``pi'_t ~ m_t n_t`` and leaves each class's empirical measure as it
    was. With the transformations fixed, every term must then be the formula of the
    bound at ``pi'``: ``sum_t pi'_t L_r(t)``, ``H(T|R)`` of ``pi'`` (by hand, any
    assignment, merged classes included), and ``tau sum_t pi'_t W1_t`` with each
    class's W1 solved by POT on the original (unrepeated) points."""
    rng = np.random.RandomState(seed)
    d, K_R = 3, 4
    Z = [rng.normal(size=(n, d)) + 2 * r for r, n in enumerate((9, 7, 8, 6))]
    sizes = [5, 7, 4]
    X = [rng.normal(size=(n, d)) * 0.7 + t for t, n in enumerate(sizes)]
    L = rng.uniform(0.2, 2.0, size=K_R)
    tau = 0.3
    fmap = FeatureMap(shift=rng.normal(size=d), center=np.zeros(d),
                      scale_delta=rng.uniform(-0.3, 0.3, size=d))
    a = np.asarray(assignment)
    X_rep = np.vstack([np.repeat(Xt, m, axis=0) for Xt, m in zip(X, mult)])
    y_rep = np.concatenate([np.full(len(Xt) * m, t) for t, (Xt, m) in enumerate(zip(X, mult))])
    pi = np.array([n * m for n, m in zip(sizes, mult)], dtype=float)
    pi /= pi.sum()
    tr = Transformation(a, joint_from_assignment(a, np.full(3, 1 / 3), K_R), None, fmap)
    terms, _ = evaluate_transformation(Z, X_rep, y_rep, tr, L, tau, chunk_size=10_000)

    w1 = []
    for t, Xt in enumerate(X):
        Zr, U = Z[a[t]], fmap.apply(Xt)
        M = np.sqrt(((Zr[:, None, :] - U[None, :, :]) ** 2).sum(-1))
        w1.append(float(np.sum(ot.emd(np.full(len(Zr), 1 / len(Zr)),
                                      np.full(len(U), 1 / len(U)), M) * M)))
    D = np.array([pi[a == r].sum() for r in range(K_R)])
    entropy = -sum(pi[t] * np.log(pi[t] / D[a[t]]) for t in range(3))
    assert terms["reweighted_reference_loss"] == pytest.approx(float(pi @ L[a]), rel=1e-12)
    assert terms["conditional_entropy"] == pytest.approx(max(entropy, 0.0), abs=1e-12)
    assert terms["wasserstein"] == pytest.approx(float(pi @ np.array(w1)), rel=1e-9)
    assert terms["task_relatedness"] == pytest.approx(
        float(pi @ L[a]) + max(entropy, 0.0) + tau * float(pi @ np.array(w1)), rel=1e-9)


# --- The map step by an independent route (issue 19, transport/_feature_map) ----------
def _plan_ridge_by_lstsq(Z, X, P, alpha, kind):
    """``(M, m)`` minimising ``sum_ij P_ij ||z_i - M x_j - m||^2 + alpha ||M - I||^2``
    over the family ``kind``: the literal objective of the map step, one least-squares
    row per reference-target pair (uncentred; the intercept unpenalised), solved by
    numpy's lstsq."""
    d = X.shape[1]
    i, j = np.nonzero(P > 0)
    s = np.sqrt(P[i, j])[:, None]
    target = s * (Z[i] - X[j])
    if kind == "translation":
        m = np.linalg.lstsq(s, target, rcond=None)[0][0]
        return np.eye(d), m
    if kind == "diagonal":
        M, m = np.eye(d), np.zeros(d)
        for k in range(d):
            A = np.vstack([s * np.column_stack([X[j, k], np.ones(len(j))]),
                           [[np.sqrt(alpha), 0.0]]])
            b = np.concatenate([target[:, k], [0.0]])
            D, m[k] = np.linalg.lstsq(A, b, rcond=None)[0]
            M[k, k] += D
        return M, m
    A = np.vstack([s * np.column_stack([X[j], np.ones(len(j))]),
                   np.sqrt(alpha) * np.eye(d, d + 1)])
    B = np.linalg.lstsq(A, np.vstack([target, np.zeros((d, d))]), rcond=None)[0]
    return np.eye(d) + B[:d].T, B[d]


def _random_plan(rng, n_ref, n):
    """A plan with unequal, unnormalised target masses (total 3.7)."""
    P = rng.uniform(size=(n_ref, n)) * (rng.uniform(size=(n_ref, n)) < 0.6)
    P[0] += 0.05  # every target point carries mass
    return 3.7 * P / P.sum()


@pytest.mark.parametrize("kind", ["affine", "diagonal", "translation"])
@pytest.mark.parametrize("n, d", [(12, 4), (5, 8), (6, 6)])
def test_map_step_is_the_plan_weighted_ridge_regression(kind, n, d):
    """One map step with the statistics ``Y = P^T Z`` of a plan gives the map that
    minimises the plan-weighted squared cost plus ``alpha ||M - I||^2`` (by lstsq on
    one row per pair, uncentred); the mapped points are that map's image, the built
    map applies it, and the dual (kernel) form serves the affine family when
    n <= d (n == d included)."""
    rng = np.random.RandomState(40 + n + d)
    X = rng.normal(size=(n, d)) + 1.5
    Z = rng.normal(size=(7, d)) * 2.0 - 1.0
    P = _random_plan(rng, 7, n)
    w = P.sum(0)
    solver = RidgeMapSolver(X, w, kind, 0.6, dtype="float64")
    assert solver.dual is (kind == "affine" and n <= d)
    state, mapped = solver.step(P.T @ Z)
    M, m = _plan_ridge_by_lstsq(Z, X, P, 0.6, kind)
    fmap = solver.build(state)
    assert_allclose(mapped, X @ M.T + m, atol=1e-10)
    assert_allclose(fmap.M, M, atol=1e-10)
    assert_allclose(fmap.m, m, atol=1e-10)
    assert_allclose(fmap.apply(X), mapped, atol=1e-10)
    X_new = rng.normal(size=(3, d))
    assert_allclose(fmap.apply(X_new), X_new @ M.T + m, atol=1e-10)
    if kind == "translation":  # a pure translation: nothing but the shift
        assert [k for k, v in vars(fmap).items() if v is not None] == ["shift"]


def test_identity_kind_keeps_the_points_and_builds_the_identity():
    rng = np.random.RandomState(41)
    X = rng.normal(size=(6, 3)) + 2.0  # the weighted mean is far from zero
    for inputs in (X, X.astype(np.float32)):
        solver = RidgeMapSolver(inputs, np.full(6, 0.5), "identity", 1.0)
        assert solver.dual is False
        state, mapped = solver.step(rng.normal(size=(6, 3)))
        assert state is None and mapped.dtype == inputs.dtype
        assert_allclose(mapped, inputs, rtol=1e-7)  # through the float32 algebra
        fmap = solver.build(state)
        assert_allclose(fmap.apply(X), X, rtol=0, atol=0)
        assert_allclose(fmap.M, np.eye(3), rtol=0, atol=0)
        assert_allclose(fmap.m, np.zeros(3), rtol=0, atol=0)


@pytest.mark.parametrize("kind, n, d", [("affine", 12, 4), ("affine", 5, 8),
                                        ("diagonal", 9, 3), ("translation", 9, 3),
                                        ("identity", 9, 3)])
def test_map_solver_on_torch_tensors_in_float32(kind, n, d):
    """Torch inputs (float64) through the default float32 algebra: every result is a
    float64 tensor and agrees with the lstsq solution to float32 precision; for the
    affine family the residual fit of logits ``W u`` (k = 2 < d) is the ridge
    solution in that space (lstsq on the centred rows) and its lift by the
    pseudo-inverse moves the logits by exactly the fitted residuals plus the shift."""
    torch = pytest.importorskip("torch")
    rng = np.random.RandomState(42)
    X = rng.normal(size=(n, d)) + 1.0
    Z = rng.normal(size=(7, d)) - 0.5
    P = _random_plan(rng, 7, n)
    w = P.sum(0)
    T = torch.as_tensor
    solver = RidgeMapSolver(T(X), T(w), kind, 0.6)
    state, mapped = solver.step(T(P.T @ Z))
    assert torch.is_tensor(mapped) and mapped.dtype == torch.float64
    M, m = ((np.eye(d), np.zeros(d)) if kind == "identity"
            else _plan_ridge_by_lstsq(Z, X, P, 0.6, kind))
    assert_allclose(mapped.numpy(), X @ M.T + m, rtol=1e-4, atol=1e-4)
    fmap = solver.build(state)
    assert all(v.dtype == torch.float64 for v in vars(fmap).values() if v is not None)
    assert_allclose(fmap.apply(T(X)).numpy(), mapped.numpy(), rtol=1e-4, atol=1e-4)
    assert_allclose(fmap.M, M, rtol=1e-4, atol=1e-4)
    if kind != "affine":
        return
    W = rng.normal(size=(2, d))
    R = rng.normal(size=(n, 2))
    S = w[:, None] * (R - w @ R / w.sum())
    fitted = solver.residual_step(T(S))
    assert torch.is_tensor(fitted) and fitted.dtype == torch.float64
    c = w @ X / w.sum()
    sw = np.sqrt(w)[:, None]
    A = np.vstack([sw * (X - c), np.sqrt(0.6) * np.eye(d)])
    Delta = np.linalg.lstsq(A, np.vstack([S / sw, np.zeros((d, 2))]), rcond=None)[0].T
    assert_allclose(fitted.numpy(), (X - c) @ Delta.T, rtol=1e-4, atol=1e-4)
    shift = rng.normal(size=2)
    new_state, moved = solver.lift(state, T(S), T(shift), T(np.linalg.pinv(W)))
    assert torch.is_tensor(moved) and moved.dtype == torch.float64
    lifted = solver.build(new_state).apply(T(X)).numpy()
    assert_allclose(lifted, mapped.numpy() + moved.numpy(), rtol=1e-4, atol=1e-4)
    assert_allclose((lifted - mapped.numpy()) @ W.T, (X - c) @ Delta.T + shift,
                    rtol=1e-4, atol=1e-4)


def test_invert_map_inverts_an_ill_conditioned_map_exactly():
    """An invertible map is inverted, not pseudo-inverted, however ill-conditioned
    (the pseudo-inverse would drop the 1e-17 direction); a map whose inverse
    overflows falls back to the pseudo-inverse."""
    m = np.array([1.0, -2.0])
    A, b = invert_map(np.diag([2.0, 1e-17]), m)
    assert_allclose(np.diag(A), [0.5, 1e17], rtol=1e-15)
    assert_allclose(b, [-0.5, 2e17], rtol=1e-15)
    with np.errstate(all="ignore"):
        A, b = invert_map(np.diag([2.0, 1e-320]), m)
    assert_allclose(A, np.diag([0.5, 0.0]), rtol=1e-15)
    assert np.all(np.isfinite(b))


# --- Task-relatedness by an independent route (issue 19, transport/_relatedness) ------
from sklearn_taskrel.transport._relatedness import (  # noqa: E402
    _blocks,
    transport_with_weights,
)


def _split_by_hand(n, chunk_size, rng):
    """Chunks of ``range(n)``: a permutation by ``rng`` (or none) in near-equal parts."""
    idx = np.arange(n) if rng is None else rng.permutation(n)
    return [c for c in np.array_split(idx, max(1, -(-n // chunk_size))) if len(c)]


def _plans_by_emd(problems, X, *, squared=False, chunk_size=10 ** 6, rng=None):
    """Class-wise transport solved by POT's ``ot.emd`` on float64 costs.

    ``problems``: ``(Z_src, src_weights, target_indices, mass)`` per class, built by
    the test. Returns ``W = sum mass * sum_chunks frac * cost``, the global plan
    ``P`` (stacked sources x n, scaled by mass and chunk fraction), the stacked
    sources and each target point's cost ``n_chunk sum_i G_ij C_ij``."""
    n = len(X)
    Zs = np.vstack([p[0] for p in problems])
    P, costs, W, off = np.zeros((len(Zs), n)), np.full(n, np.nan), 0.0, 0
    for Zr, a, idx, mass in problems:
        a = np.full(len(Zr), 1 / len(Zr)) if a is None else a
        for c in _split_by_hand(len(idx), chunk_size, rng):
            cols = idx[c]
            C = ((Zr[:, None, :] - X[cols][None]) ** 2).sum(-1)
            C = C if squared else np.sqrt(C)
            G = ot.emd(a, np.full(len(cols), 1 / len(cols)), C)
            frac = len(cols) / len(idx)
            W += mass * frac * float((G * C).sum())
            P[off:off + len(Zr), cols] += mass * frac * G
            costs[cols] = len(cols) * (G * C).sum(0)
        off += len(Zr)
    return W, P, Zs, costs


def test_blocks_by_hand():
    """One problem per target class with its reference mixture weights
    ``Gamma[r, t] / n_r`` (normalised), a single reference class unweighted; classes
    without points or prior skipped, empty reference classes dropped; label-free:
    every reference point weighted by ``D_r / n_r``, zero-prior classes dropped."""
    rng = np.random.RandomState(1)
    Z = [rng.normal(size=(n, 2)) for n in (3, 1, 0, 2)]
    joint = np.array([[0.1, 0.05, 0.2, 0.1], [0.3, 0.0, 0.0, 0.0],
                      [0.1, 0.05, 0.0, 0.0], [0.0, 0.0, 0.1, 0.0]])
    prior = np.array([0.5, 0.1, 0.3, 0.1])
    y = np.array([0, 2, 0, 1, 2, 2, 0])  # class 3 has no point
    tr = Transformation(None, joint, joint.sum(1), FeatureMap.identity(2))
    out = _blocks(Z, y, tr, prior)
    assert len(out) == 3
    Zb, a, idx, mass = out[0]
    assert_allclose(Zb, np.vstack([Z[0], Z[1]]))
    expected = np.array([0.1 / 3] * 3 + [0.3])
    assert_allclose(a, expected / expected.sum(), rtol=1e-15)
    assert idx.tolist() == [0, 2, 6] and mass == 0.5 and type(mass) is float
    Zb, a, idx, mass = out[1]  # reference classes 2 (empty) dropped: only class 0
    assert Zb is Z[0] and a is None and idx.tolist() == [3] and mass == 0.1
    Zb, a, idx, mass = out[2]
    assert_allclose(Zb, np.vstack([Z[0], Z[3]]))
    expected = np.array([0.2 / 3] * 3 + [0.05, 0.05])
    assert_allclose(a, expected / expected.sum(), rtol=1e-15)
    assert idx.tolist() == [1, 4, 5] and mass == 0.3
    # a target class of zero prior is skipped even with points
    out = _blocks(Z, y, tr, np.array([0.5, 0.0, 0.3, 0.2]))
    assert [b[2].tolist() for b in out] == [[0, 2, 6], [1, 4, 5]]
    # label-free
    free = Transformation(None, None, np.array([0.2, 0.3, 0.0, 0.0]), FeatureMap.identity(2))
    Z2 = [Z[0], Z[1], Z[2], Z[3]]
    (Zb, a, idx, mass), = _blocks(Z2, y, free, None)
    assert_allclose(Zb, np.vstack([Z[0], Z[1]]))
    expected = np.array([0.2 / 3] * 3 + [0.3])
    assert_allclose(a, expected / expected.sum(), rtol=1e-15)
    assert idx.tolist() == list(range(7)) and mass == 1.0
    free = Transformation(None, None, np.array([0.2, 0.3, 0.5, 0.0]), FeatureMap.identity(2))
    (Zb, a, idx, mass), = _blocks(Z2, y, free, None)  # an empty class of positive prior
    assert_allclose(a, expected / expected.sum(), rtol=1e-15)
    assert_allclose(a.sum(), 1.0, rtol=1e-15)


def _soft_problem(seed=3):
    rng = np.random.RandomState(seed)
    d = 3
    Z = [rng.normal(size=(n, d)) + 2 * r for r, n in enumerate((7, 5, 6))]
    X = rng.normal(size=(19, d)) * 0.8
    y = np.array([0] * 7 + [1] * 5 + [2] * 7)[rng.permutation(19)]
    joint = np.array([[0.2, 0.0, 0.1], [0.1, 0.25, 0.0], [0.0, 0.0, 0.35]])
    prior = joint.sum(0)
    fmap = FeatureMap(shift=rng.normal(size=d), center=np.zeros(d),
                      scale_delta=rng.uniform(-0.3, 0.3, size=d))
    tr = Transformation(None, joint, joint.sum(1), fmap)
    # the same problems built by hand from the joint
    problems = []
    for t in range(3):
        rs = np.flatnonzero(joint[:, t] > 0)
        a = np.concatenate([np.full(len(Z[r]), joint[r, t] / len(Z[r])) for r in rs])
        problems.append((np.vstack([Z[r] for r in rs]), a / a.sum(),
                         np.flatnonzero(y == t), prior[t]))
    return Z, X, y, tr, prior, fmap, problems


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("chunk_size", [100, 3])
def test_transport_with_weights_is_the_mass_weighted_emd_of_each_class(squared, chunk_size):
    """W, ``Y = P^T Z`` and ``w = P^T 1`` of the class-wise plans (soft label map,
    mapped per block by ``feature_map``) against POT's plans per class and chunk
    (shuffled by the same generator); ``on_block`` sees every block, mapped, and
    ``point_costs`` holds every point's cost."""
    Z, X, y, tr, prior, fmap, problems = _soft_problem()
    seen, costs = [], np.full(len(X), np.nan)
    W, Y, w = transport_with_weights(
        Z, X, y, tr, prior, chunk_size=chunk_size, rng=np.random.RandomState(5),
        squared=squared, feature_map=fmap, point_costs=costs,
        on_block=lambda i, Xb: seen.append((i.copy(), np.array(Xb))))
    U = fmap.apply(X)
    W_ref, P, Zs, costs_ref = _plans_by_emd(problems, U, squared=squared,
                                            chunk_size=chunk_size,
                                            rng=np.random.RandomState(5))
    rtol = 1e-5 if squared else 1e-12  # squared costs are float32
    assert W == pytest.approx(W_ref, rel=rtol)
    assert_allclose(w, P.sum(0), rtol=1e-12)
    assert_allclose(w, prior[y] / np.bincount(y)[y], rtol=1e-12)
    assert_allclose(Y, P.T @ Zs, rtol=1e-9, atol=1e-12)
    assert_allclose(costs, costs_ref, rtol=rtol, atol=1e-6 if squared else 1e-12)
    assert [s[0].tolist() for s in seen] == [p[2].tolist() for p in problems]
    for (i, Xb) in seen:
        assert_allclose(Xb, U[i], rtol=1e-14)
    # without weights: the same W, no statistics
    out = transport_with_weights(Z, U, y, tr, prior, chunk_size=chunk_size,
                                 rng=np.random.RandomState(5), want_weights=False,
                                 squared=squared)
    assert out[0] == pytest.approx(W, rel=1e-6) and out[1:] == (None, None)


def test_transport_with_weights_on_torch_tensors_matches_numpy():
    torch = pytest.importorskip("torch")
    Z, X, y, tr, prior, fmap, _ = _soft_problem(4)
    U = fmap.apply(X)
    W, Y, w = transport_with_weights(Z, U, y, tr, prior, chunk_size=4,
                                     rng=np.random.RandomState(2))
    Wt, Yt, wt = transport_with_weights([torch.as_tensor(Zr) for Zr in Z], torch.as_tensor(U),
                                        y, tr, prior, chunk_size=4,
                                        rng=np.random.RandomState(2))
    assert Wt == pytest.approx(W, rel=1e-12)
    assert_allclose(Yt.numpy(), Y, rtol=1e-10, atol=1e-14)
    assert_allclose(wt.numpy(), w, rtol=1e-12)


def test_transport_with_weights_forwards_the_simplex_limit():
    Z, X, y, tr, prior, fmap, _ = _soft_problem()
    with pytest.warns(ConvergenceWarning):
        transport_with_weights(Z, X, y, tr, prior, chunk_size=100, max_iter=1)


def test_evaluate_transformation_reprojects_and_measures_by_hand():
    """A sample of another class prior (the default: the sample's frequencies): the
    assignment keeps each class's reference class with the new mass, and every term
    is the bound's formula with POT's W1 of each (chunked) class; the chunk size,
    generator, simplex limit, ``on_block`` and ``point_costs`` reach the solver."""
    rng = np.random.RandomState(6)
    d = 2
    Z = [rng.normal(size=(n, d)) + 3 * r for r, n in enumerate((6, 8, 5))]
    y = np.array([1] * 3 + [0] * 9 + [2] * 4)
    X = rng.normal(size=(16, d)) + y[:, None]
    a = np.array([2, 2, 0])
    fmap = FeatureMap(shift=np.array([0.5, -0.2]), center=np.zeros(d),
                      scale_delta=np.array([0.3, -0.1]))
    tr = Transformation(a, joint_from_assignment(a, np.full(3, 1 / 3), 3), None, fmap)
    L, tau = np.array([0.7, 1.1, 0.4]), 0.6
    seen, costs = [], np.zeros(16)
    terms, out = evaluate_transformation(Z, X, y, tr, L, tau, chunk_size=4,
                                         rng=np.random.RandomState(9),
                                         on_block=lambda i, Xb: seen.append(i.tolist()),
                                         point_costs=costs)
    pi = np.array([9, 3, 4]) / 16
    assert_allclose(out.joint, joint_from_assignment(a, pi, 3), rtol=1e-15)
    assert_allclose(out.class_prior, [4 / 16, 0.0, 12 / 16], rtol=1e-15)
    assert out.assignment is a and out.feature_map is fmap
    problems = [(Z[a[t]], None, np.flatnonzero(y == t), pi[t]) for t in range(3)]
    W, _, _, costs_ref = _plans_by_emd(problems, fmap.apply(X), chunk_size=4,
                                       rng=np.random.RandomState(9))
    D = out.class_prior
    H = -sum(pi[t] * np.log(pi[t] / D[a[t]]) for t in range(3))
    assert terms["wasserstein"] == pytest.approx(W, rel=1e-12)
    assert terms["lipschitz"] == tau
    assert terms["reweighted_reference_loss"] == pytest.approx(pi @ L[a], rel=1e-12)
    assert terms["conditional_entropy"] == pytest.approx(H, rel=1e-12)
    assert terms["task_relatedness"] == pytest.approx(pi @ L[a] + H + tau * W, rel=1e-12)
    assert seen == [p[2].tolist() for p in problems]
    assert_allclose(costs, costs_ref, rtol=1e-12)
    # an explicit prior is used as given; the simplex limit is forwarded
    terms2, out2 = evaluate_transformation(Z, X, y, tr, L, tau, np.array([0.2, 0.5, 0.3]))
    assert_allclose(out2.joint.sum(0), [0.2, 0.5, 0.3], rtol=1e-15)
    with pytest.warns(ConvergenceWarning):
        evaluate_transformation(Z, X, y, tr, L, tau, max_iter=1)
    # the default prior counts every class, a missing class 0 included
    y3 = np.where(y == 0, 1, y)
    _, out3 = evaluate_transformation(Z, X, y3, tr, L, tau)
    assert_allclose(out3.joint.sum(0), [0.0, 12 / 16, 4 / 16], rtol=1e-15)


def test_chunked_wasserstein_default_chunk_is_2000_points():
    rng = np.random.RandomState(0)
    Z = rng.normal(size=(3, 2))
    for n, n_plans in [(2000, 1), (2001, 2)]:
        _, plans = chunked_wasserstein(Z, rng.normal(size=(n, 2)), return_plans=True)
        assert len(plans) == n_plans


def test_class_pair_costs_subsample_at_most_100_points_and_keep_a_full_class_whole():
    """The default cut is 100 points; a class of exactly ``max_per_class`` points is
    kept whole without drawing from the generator (the later draws, that cut the
    pairs, are those of a larger limit)."""
    rng = np.random.RandomState(1)
    refs = [rng.normal(size=(101, 2)), rng.normal(size=(7, 2)) + 1]
    tgts = [rng.normal(size=(50, 2)), rng.normal(size=(3, 2))]
    C = class_pair_costs(refs, tgts, rng=np.random.RandomState(4))
    assert_allclose(C, class_pair_costs(refs, tgts, rng=np.random.RandomState(4),
                                        max_per_class=100), rtol=0)
    assert not np.allclose(C, class_pair_costs(refs, tgts, rng=np.random.RandomState(4),
                                               max_per_class=101))
    small = [refs[1], refs[1] + 2]
    C7 = class_pair_costs(small, tgts[1:], rng=np.random.RandomState(4), max_per_class=7)
    assert_allclose(C7, class_pair_costs(small, tgts[1:], rng=np.random.RandomState(4),
                                         max_per_class=1000), rtol=0)


def test_class_pair_costs_are_those_of_the_float32_points():
    """The distances are computed in float32 (a documented speed choice): rounding
    either side to float32 first changes nothing, not even in the last bit."""
    rng = np.random.RandomState(2)
    refs = [rng.normal(size=(6, 3)) + 1e3 for _ in range(2)]
    tgts = [rng.normal(size=(4, 3)) + 1e3 + 0.5 for _ in range(3)]

    def r32(A):
        return [x.astype(np.float32).astype(np.float64) for x in A]

    C = class_pair_costs(refs, tgts, rng=np.random.RandomState(0))
    assert_allclose(class_pair_costs(r32(refs), tgts, rng=np.random.RandomState(0)), C, rtol=0)
    assert_allclose(class_pair_costs(refs, r32(tgts), rng=np.random.RandomState(0)), C, rtol=0)


def _fit_by_hand(Z, X, y, L, tau, prior, *, kind="affine", alpha=1.0, max_iter=30, tol=1e-3,
                 chunk_size=2000, pair_max=64, desc_max=128, seed=0, label_free=False,
                 ref_prior=None, measure_kept=True, fixed=None, head=None):
    """The block descent of ``fit_transformation`` written out: the same draws of the
    seeds, the label map by brute force over every assignment on the class-pair
    costs, POT's squared-Euclidean plans, the map step by lstsq on one row per pair,
    and the bound's W1 of both candidate maps by POT."""
    rng = np.random.RandomState(seed)
    K_R, (n, d) = len(Z), X.shape
    big = np.iinfo(np.int32).max
    pair_seed, chunk_seed = rng.randint(big), rng.randint(big)
    if label_free:
        a, joint, D = None, None, np.asarray(ref_prior, float)
    else:
        K_T = len(prior)
        if fixed is None:
            C = class_pair_costs(Z, [X[y == t] for t in range(K_T)],
                                 rng=np.random.RandomState(pair_seed), max_per_class=pair_max)

            def objective(a):
                D = np.array([prior[a == r].sum() for r in range(K_R)])
                H = -sum(prior[t] * np.log(prior[t] / D[a[t]]) for t in range(K_T))
                return sum(prior[t] * (L[a[t]] + tau * C[a[t], t]) for t in range(K_T)) + H

            a = min((np.array(p) for p in itertools.product(range(K_R), repeat=K_T)),
                    key=objective)
        else:
            a = np.asarray(fixed).astype(int)
        joint = joint_from_assignment(a, prior, K_R)
        D = joint.sum(1)
    sub = np.random.RandomState(rng.randint(big))
    Zd = [Zr if len(Zr) <= desc_max
          else Zr[np.sort(sub.choice(len(Zr), desc_max, replace=False))] for Zr in Z]

    def problems(Zs):
        if label_free:
            w = np.concatenate([np.full(len(Zr), D[r] / len(Zr)) for r, Zr in enumerate(Zs)])
            return [(np.vstack(Zs), w / w.sum(), np.arange(n), 1.0)]
        return [(Zs[a[t]], None, np.flatnonzero(y == t), prior[t]) for t in range(K_T)]

    history, U, prev = [], X, np.inf
    M, m = np.eye(d), np.zeros(d)
    if kind != "identity":
        for it in range(1, max_iter + 1):
            W2, P, Zs, _ = _plans_by_emd(problems(Zd), U, squared=True, chunk_size=chunk_size,
                                         rng=np.random.RandomState(chunk_seed))
            history.append({"iteration": it, "squared_transport": W2})
            if prev - W2 <= tol * W2:
                break
            prev = W2
            M, m = _plan_ridge_by_lstsq(Zs, X, P, alpha * d / n, kind)
            U = X @ M.T + m
    candidates = [(np.eye(d), np.zeros(d), X)] + ([] if kind == "identity" else [(M, m, U)])
    if head is not None and kind == "affine" and K_R > 1:
        # the logit stage: the ridge fit of the logit residuals on the centred target
        # (lstsq, one row per pair), lifted by the pseudo-inverse of the head
        M2, m2 = _logit_stage_by_hand(problems, Zd, X, U, M, m, head, max_iter, tol,
                                      alpha * d / n, chunk_size, chunk_seed, history)
        candidates.append((M2, m2, X @ M2.T + m2))
    best = None
    for Mc, mc, Uc in candidates:
        Zb = Z if measure_kept else Zd
        if head is not None:
            Zb, Uc, tau = [Zr @ head[0].T + head[1] for Zr in Zb], Uc @ head[0].T + head[1], \
                np.sqrt(2)
        W = _plans_by_emd(problems(Zb), Uc, chunk_size=chunk_size,
                          rng=np.random.RandomState(chunk_seed))[0]
        H = 0.0 if joint is None else -sum(
            joint[r, t] * np.log(joint[r, t] / D[r])
            for r in range(K_R) for t in range(joint.shape[1]) if joint[r, t] > 0)
        total = D @ L + max(H, 0.0) + tau * W
        if best is None or total < best[0]:
            best = (total, Mc, mc, X @ Mc.T + mc, W, H)
    return a, D, history, best


def _logit_stage_by_hand(problems, Zd, X, U, M, m, head, max_iter, tol, lam, chunk_size,
                         chunk_seed, history):
    """The logit stage of the descent from the map ``(M, m)`` (``U`` its image): POT's
    plans between logits, the ridge fit of the logit residuals on the centred target
    by lstsq (one row per pair), lifted by the head's pseudo-inverse."""
    d, K = X.shape[1], head[0].shape[0]
    Wh, ch = head
    lblocks = [Zr @ Wh.T + ch for Zr in Zd]
    base = U @ Wh.T + ch
    logits, prev, fitted = base, np.inf, None
    for _ in range(max_iter):
        W2, P, Ls, _ = _plans_by_emd(problems(lblocks), logits, squared=True,
                                     chunk_size=chunk_size,
                                     rng=np.random.RandomState(chunk_seed))
        history.append({"iteration": len(history) + 1, "squared_logit_transport": W2})
        if prev - W2 <= tol * W2:
            break
        prev = W2
        w = P.sum(0)
        Xc = X - w @ X / w.sum()
        i, j = np.nonzero(P > 0)
        sq = np.sqrt(P[i, j])[:, None]
        A = np.vstack([sq * np.column_stack([Xc[j], np.ones(len(j))]),
                       np.sqrt(lam) * np.eye(d, d + 1)])
        B = np.linalg.lstsq(A, np.vstack([sq * (Ls[i] - base[j]), np.zeros((d, K))]),
                            rcond=None)[0]
        fitted = (B[:d].T, B[d], w @ X / w.sum())
        logits = base + B[d] + Xc @ B[:d]
    Delta, delta, center = fitted
    back = np.linalg.pinv(Wh)
    M2, m2 = M + back @ Delta, m + back @ (delta - Delta @ center)
    return M2, m2


FIT_CASES = {  # kind, label_free, measure_kept, alpha, max_iter, tol, fixed assignment
    "affine": ("affine", False, True, 1.0, 30, 1e-3, None),
    "diagonal-subsample": ("diagonal", False, False, 2.5, 30, 1e-3, None),
    "translation-free": ("translation", True, True, 1.0, 30, 1e-3, None),
    "max-iter": ("affine", False, True, 0.3, 2, 0.0, None),
    "tol": ("affine", False, True, 1.0, 30, 0.5, None),
    "identity": ("identity", False, True, 1.0, 30, 1e-3, None),
    "fixed": ("affine", False, True, 1.0, 30, 1e-3, np.array([2.0, 0.0, 0.0])),
}


@pytest.mark.parametrize("case", list(FIT_CASES))
def test_fit_transformation_is_the_block_descent_by_hand(case):
    """Label map, map descent (its squared costs in ``history`` and the callback),
    stopping by ``tol`` or ``max_iter``, the kept candidate with its terms and
    mapped target: all as the descent written out with POT and lstsq (classes larger
    than ``pair_max_samples`` and ``descent_max_per_class``, chunked targets)."""
    kind, free, kept, alpha, max_iter, tol, fixed = FIT_CASES[case]
    rng = np.random.RandomState(21)
    d = 3
    # reference classes above, at and below descent_max_per_class (10)
    Z = [rng.normal(size=(k, d)) + 2.5 * np.eye(d)[r] for r, k in enumerate((14, 10, 11))]
    A = np.eye(d) + 0.3 * rng.normal(size=(d, d))
    sizes = (10, 8, 12)
    X = np.vstack([(rng.normal(size=(k, d)) + 2.5 * np.eye(d)[(t + 1) % 3]) @ A.T + 0.7
                   for t, k in enumerate(sizes)])
    y = np.repeat(np.arange(3), sizes)
    prior = np.array(sizes) / 30
    L, tau = np.array([0.3, 0.2, 0.5]), 0.8
    ref_prior = np.array([0.5, 0.2, 0.3])
    kw = dict(feature_map=kind, alpha=alpha, max_iter=max_iter, tol=tol, chunk_size=7,
              pair_max_samples=8, descent_max_per_class=10, measure_kept=kept)
    calls = []
    if free:
        tr = fit_transformation(Z, X, np.zeros(30, int), L, tau, None, label_free=True,
                                ref_prior=list(ref_prior), rng=np.random.RandomState(3),
                                callback=lambda *c: calls.append(c), **kw)
        y_ref = np.zeros(30, int)
    else:
        tr = fit_transformation(Z, X, y, list(L), tau, prior, rng=np.random.RandomState(3),
                                learn_label_map=fixed is None, assignment=fixed,
                                callback=lambda *c: calls.append(c), **kw)
        y_ref = y
    a, D, history, (total, M, m, U, W, H) = _fit_by_hand(
        Z, X, y_ref, L, tau, prior, kind=kind, alpha=alpha, max_iter=max_iter, tol=tol,
        chunk_size=7, pair_max=8, desc_max=10, seed=3, label_free=free,
        ref_prior=ref_prior, measure_kept=kept, fixed=fixed)
    if free:
        assert tr.assignment is None and tr.joint is None
    else:
        assert tr.assignment.tolist() == a.tolist()
        assert_allclose(tr.joint, joint_from_assignment(a, prior, 3), rtol=1e-15)
    assert_allclose(tr.class_prior, D, rtol=1e-15)
    # the map algebra runs in float32
    assert_allclose(tr.feature_map.M, M, atol=2e-5)
    assert_allclose(tr.feature_map.m, m, atol=2e-5)
    assert_allclose(tr.mapped_target, U, atol=5e-5)
    assert tr.n_iter == len(tr.history) == len(history) + 1
    for got, want in zip(tr.history, history):
        assert got.keys() == want.keys() and got["iteration"] == want["iteration"]
        assert got["squared_transport"] == pytest.approx(want["squared_transport"], rel=1e-5)
        assert type(got["squared_transport"]) is float
    assert calls == [(h["iteration"], h["squared_transport"]) for h in tr.history[:-1]]
    if max_iter == 2:
        assert len(history) == 2
    if tol == 0.5:
        assert len(history) < 30
    last = tr.history[-1]
    assert last["iteration"] == len(history) + 1
    assert last["objective"] == last["task_relatedness"]
    assert last["task_relatedness"] == pytest.approx(total, rel=1e-5)
    assert last["wasserstein"] == pytest.approx(W, rel=1e-5)
    assert last["lipschitz"] == tau
    assert last["conditional_entropy"] == pytest.approx(max(H, 0.0), abs=1e-12)
    assert last["reweighted_reference_loss"] == pytest.approx(D @ L, rel=1e-12)
    if kept:
        assert "reference_subsample" not in last
        assert tr.terms == {k: v for k, v in last.items()
                            if k not in ("iteration", "objective")}
    else:
        assert last["reference_subsample"] is True and tr.terms is None


def test_fit_transformation_defaults_and_forwarded_limits():
    """``rng=None`` is ``RandomState(0)``; the simplex limit reaches every solve; the
    default descent subsample is 128 points per class and the class-pair sample 64."""
    rng = np.random.RandomState(22)
    Z = [rng.normal(size=(130, 2)) + 3 * r for r in range(2)]
    X = np.vstack([rng.normal(size=(66, 2)) + 3 * (1 - t) + 0.4 for t in range(2)])
    y = np.repeat([0, 1], 66)
    prior, L = np.full(2, 0.5), np.array([0.2, 0.4])
    tr = fit_transformation(Z, X, y, L, 1.0, prior, max_iter=3)
    a, D, history, best = _fit_by_hand(Z, X, y, L, 1.0, prior, max_iter=3)
    assert tr.assignment.tolist() == a.tolist() == [1, 0]
    assert [h["squared_transport"] for h in tr.history[:-1]] == pytest.approx(
        [h["squared_transport"] for h in history], rel=1e-5)
    assert tr.terms["task_relatedness"] == pytest.approx(best[0], rel=1e-5)
    same = fit_transformation(Z, X, y, L, 1.0, prior, max_iter=3,
                              rng=np.random.RandomState(0))
    assert same.history == tr.history
    with pytest.warns(ConvergenceWarning):
        fit_transformation(Z[:1], X[:5], np.zeros(5, int), L[:1], 1.0, np.ones(1),
                           max_iter=1, ot_max_iter=1)


def test_local_search_needs_a_gain_above_1e_13():
    """A move or a swap that gains exactly 1e-13 is not taken (nor one that gains
    nothing): the threshold is strict."""
    from sklearn_taskrel.transport._assignment import _local_search

    pi = np.array([0.5, 0.5])
    # moving class 0 alone to the empty class 2 gains 0.5 * 2e-13 = 1e-13 exactly
    C = np.array([[2e-13, 9.0], [9.0, 0.0], [0.0, 9.0]])
    assert _local_search(C, pi, np.array([0, 1]), 100)[0].tolist() == [0, 1]
    C = np.array([[0.0, 9.0], [9.0, 0.0], [0.0, 9.0]])  # a move that gains nothing
    assert _local_search(C, pi, np.array([0, 1]), 100)[0].tolist() == [0, 1]
    # swapping the two classes gains 0.5 * 2e-13 = 1e-13 exactly
    C = np.array([[2e-13, 0.0], [0.0, 0.0]])
    assert _local_search(C, pi, np.array([0, 1]), 100)[0].tolist() == [0, 1]
    C = np.array([[1e-3, 0.0], [0.0, 0.0]])  # a real gain is taken
    assert _local_search(C, pi, np.array([0, 1]), 100)[0].tolist() == [1, 0]


def test_search_restarts_perturb_a_quarter_of_the_classes(monkeypatch):
    """Each restart reassigns ``max(1, K_T // 4)`` distinct classes of the best map at
    random (``RandomState(0)``: a choice without replacement, then one draw per moved
    class)."""
    from sklearn_taskrel.transport import _assignment

    seen = []
    real = _assignment._local_search

    def spy(C, pi, a, max_sweeps):
        seen.append(np.array(a))
        return real(C, pi, a, max_sweeps)

    monkeypatch.setattr(_assignment, "_local_search", spy)
    rng = np.random.RandomState(3)
    K_R, K_T = 3, 9
    C, pi = rng.uniform(size=(K_R, K_T)), np.full(K_T, 1 / K_T)
    best, _ = _assignment._search(C, pi, None, 100, 3)
    assert len(seen) == 4
    draws = np.random.RandomState(0)
    best0 = real(C, pi, seen[0].copy(), 100)[0]
    for start in seen[1:]:
        moved = draws.choice(K_T, size=2, replace=False)
        expected = best0.copy()
        expected[moved] = draws.randint(0, K_R, size=2)
        assert start.tolist() == expected.tolist()


@pytest.mark.parametrize("label_free", [False, True])
def test_fit_transformation_logit_stage_by_hand(label_free):
    """With a head, the descent goes on in logits (history entries
    ``squared_logit_transport``, numbered on), and the kept map of the three is the
    one of least logit bound (``sqrt(2)`` times the logit W1)."""
    rng = np.random.RandomState(23)
    d = 4
    Z = [rng.normal(size=(k, d)) + 2.5 * np.eye(d)[r] for r, k in enumerate((14, 9, 11))]
    A = np.eye(d) + 0.3 * rng.normal(size=(d, d))
    X = np.vstack([(rng.normal(size=(k, d)) + 2.5 * np.eye(d)[(t + 1) % 3]) @ A.T + 0.7
                   for t, k in enumerate((10, 8, 12))])
    y = np.repeat(np.arange(3), (10, 8, 12)) if not label_free else np.zeros(30, int)
    prior = np.array([10, 8, 12]) / 30
    L, tau = np.array([0.3, 0.2, 0.5]), 0.8
    head = (0.7 * rng.normal(size=(3, d)), np.array([0.1, -0.2, 0.0]))
    kw = dict(chunk_size=7, pair_max_samples=8, descent_max_per_class=10, max_iter=6)
    calls = []
    if label_free:
        tr = fit_transformation(Z, X, y, L, tau, None, label_free=True, ref_prior=prior,
                                rng=np.random.RandomState(3), logit_head=head,
                                callback=lambda *c: calls.append(c), **kw)
    else:
        tr = fit_transformation(Z, X, y, L, tau, prior, rng=np.random.RandomState(3),
                                logit_head=head, callback=lambda *c: calls.append(c), **kw)
    a, D, history, (total, M, m, U, W, H) = _fit_by_hand(
        Z, X, y, L, tau, prior, chunk_size=7, pair_max=8, desc_max=10, max_iter=6, seed=3,
        label_free=label_free, ref_prior=prior, head=head)
    assert any("squared_logit_transport" in h for h in history)
    assert len(tr.history) == len(history) + 1
    for got, want in zip(tr.history, history):
        assert got.keys() == want.keys() and got["iteration"] == want["iteration"]
        key = next(k for k in want if k != "iteration")
        assert got[key] == pytest.approx(want[key], rel=1e-4)
    assert calls == [(h["iteration"], next(v for k, v in h.items() if k != "iteration"))
                     for h in tr.history[:-1]]
    assert tr.terms["lipschitz"] == pytest.approx(np.sqrt(2))
    assert tr.terms["task_relatedness"] == pytest.approx(total, rel=1e-4)
    assert (tr.assignment is None) if label_free else (tr.assignment.tolist() == a.tolist())
    assert_allclose(tr.feature_map.M, M, atol=1e-4)
    assert_allclose(tr.feature_map.m, m, atol=1e-4)
    assert_allclose(tr.mapped_target, U, atol=1e-4)


def test_squared_chunked_costs_are_those_of_the_float32_points():
    """The squared costs of the map descent are computed in float32 (a documented
    speed choice): rounding either side to float32 first changes nothing."""
    rng = np.random.RandomState(5)
    Z, X = rng.normal(size=(6, 3)) + 1e3, rng.normal(size=(9, 3)) + 1e3 + 0.5
    r32 = np.float32
    W = chunked_wasserstein(Z, X, chunk_size=4, squared=True)
    assert chunked_wasserstein(Z.astype(r32).astype(float), X, chunk_size=4,
                               squared=True) == W
    assert chunked_wasserstein(Z, X.astype(r32).astype(float), chunk_size=4,
                               squared=True) == W


def test_bound_terms_report_a_signed_zero_entropy_as_plus_zero():
    """A one-to-one label map has H(T|R) = 0, computed as -0.0: reported as 0.0."""
    import math

    joint = joint_from_assignment([1, 0], np.array([0.3, 0.7]), 2)
    from sklearn_taskrel.transport import bound_terms

    terms = bound_terms(joint.sum(1), joint, np.ones(2), 1.0, 1.0)
    assert terms["conditional_entropy"] == 0.0
    assert math.copysign(1.0, terms["conditional_entropy"]) == 1.0


def test_project_joint_leaves_an_empty_column_empty():
    out = project_joint(np.array([[0.2, 0.0], [0.2, 0.0]]), np.array([0.5, 0.5]))
    assert_allclose(out, [[0.25, 0.0], [0.25, 0.0]], rtol=0, atol=0)


def test_reproject_transformation_keeps_history_and_iterations():
    from sklearn_taskrel.transport._relatedness import reproject_transformation

    tr = Transformation(np.array([0, 1]), joint_from_assignment([0, 1], np.full(2, .5), 2),
                        np.full(2, .5), FeatureMap.identity(2), history=[{"a": 1}], n_iter=7)
    out = reproject_transformation(tr, np.array([0.2, 0.8]), 2)
    assert out.history is tr.history and out.n_iter == 7


def _small_task(K_R=2, seed=30, n=6):
    rng = np.random.RandomState(seed)
    Z = [rng.normal(size=(n, 2)) + 3 * r for r in range(K_R)]
    X = np.vstack([rng.normal(size=(n, 2)) + 3 * t + 0.5 for t in range(K_R)])
    return Z, X, np.repeat(np.arange(K_R), n), np.full(K_R, 1 / K_R), np.linspace(.2, .5, K_R)


def test_fit_transformation_documented_defaults_reach_the_solvers(monkeypatch):
    """Defaults (chunks of 2000 points, simplex limit 1e6, 64 points per class for
    the class-pair costs with their own generator, the given assignment as a start
    of the label map search, 30 outer iterations) reach the solvers."""
    from sklearn_taskrel.transport import _relatedness

    calls = {"cw": [], "pairs": [], "assign": []}
    real_cw, real_pairs = _relatedness.chunked_wasserstein, _relatedness.class_pair_costs
    real_assign = _relatedness.solve_assignment

    def cw(*args, **kw):
        calls["cw"].append((kw["chunk_size"], kw["max_iter"]))
        return real_cw(*args, **kw)

    def pairs(*args, **kw):
        calls["pairs"].append((kw["max_per_class"], kw["rng"].randint(10 ** 9)))
        return real_pairs(*args, **kw)

    def assign(*args, **kw):
        calls["assign"].append(None if kw.get("init") is None else list(kw["init"]))
        return real_assign(*args, **kw)

    monkeypatch.setattr(_relatedness, "chunked_wasserstein", cw)
    monkeypatch.setattr(_relatedness, "class_pair_costs", pairs)
    monkeypatch.setattr(_relatedness, "solve_assignment", assign)
    Z, X, y, prior, L = _small_task()
    tr = fit_transformation(Z, X, y, L, 1.0, prior, tol=-np.inf, assignment=[1, 0],
                            feature_map="translation", rng=np.random.RandomState(4))
    assert len(tr.history) == 31
    assert set(calls["cw"]) == {(2000, 1_000_000)}
    pair_seed = np.random.RandomState(4).randint(np.iinfo(np.int32).max)
    assert calls["pairs"] == [(64, np.random.RandomState(pair_seed).randint(10 ** 9))]
    assert calls["assign"] == [[1, 0]]
    calls["cw"].clear()
    evaluate_transformation(Z, X, y, tr, L, 1.0)
    assert set(calls["cw"]) == {(2000, 1_000_000)}
    calls["cw"].clear()
    transport_with_weights(Z, X, y, tr, prior, chunk_size=5)
    assert set(calls["cw"]) == {(5, 1_000_000)}


@pytest.mark.parametrize("head", [False, True])
def test_every_transport_solve_of_a_fit_gets_the_simplex_limit(head):
    """With ``ot_max_iter=1`` every exact solve of the fit stops early and warns:
    each descent step and each candidate's bound, one problem per class."""
    import warnings

    Z, X, y, prior, L = _small_task()
    kw = dict(logit_head=(np.array([[1.0, 0.5], [-0.3, 1.0]]), np.array([0.2, -0.1])))
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        tr = fit_transformation(Z, X, y, L, 1.0, prior, max_iter=2, tol=-np.inf,
                                ot_max_iter=1, **(kw if head else {}))
    n_warn = sum(issubclass(r.category, ConvergenceWarning) for r in rec)
    n_descent = sum("squared_transport" in h or "squared_logit_transport" in h
                    for h in tr.history)
    assert n_descent == (4 if head else 2)
    assert n_warn == 2 * (n_descent + (3 if head else 2))


def test_fit_transformation_without_steps_keeps_the_identity():
    Z, X, y, prior, L = _small_task()
    tr = fit_transformation(Z, X, y, L, 1.0, prior, max_iter=0)
    assert_allclose(tr.feature_map.apply(X), X, rtol=0, atol=0)
    assert len(tr.history) == 1 and "objective" in tr.history[0]


def test_logit_bound_of_one_reference_class_has_no_transport_term():
    """With one reference class the logit bound's Lipschitz constant is 0 (a constant
    head) and no logit descent runs; with two it is sqrt(2) and the descent runs."""
    Z, X, y, prior, L = _small_task(K_R=2)
    head = (np.array([[1.0, 0.5], [-0.3, 1.0]]), np.array([0.2, -0.1]))
    tr = fit_transformation(Z, X, y, L, 1.0, prior, logit_head=head, max_iter=3)
    assert tr.terms["lipschitz"] == pytest.approx(np.sqrt(2))
    assert any("squared_logit_transport" in h for h in tr.history)
    tr = fit_transformation(Z[:1], X[:6], y[:6], L[:1], 1.0, np.ones(1),
                            logit_head=(head[0][:1], head[1][:1]), max_iter=3)
    assert tr.terms["lipschitz"] == 0.0 and tr.terms["transport"] == 0.0
    assert not any("squared_logit_transport" in h for h in tr.history)


def test_fit_transformation_label_free_prior_is_float64():
    Z, X, y, prior, L = _small_task()
    tr = fit_transformation(Z, X, np.zeros(12, int), L, 1.0, None, label_free=True,
                            ref_prior=np.array([0.25, 0.75], dtype=np.float32), max_iter=2)
    assert tr.class_prior.dtype == np.float64


@pytest.mark.parametrize("head", [False, True])
def test_descent_with_zero_tolerance_stops_when_the_cost_stops_decreasing(head):
    """``tol=0``: the descent stops at the first step whose squared cost is not below
    the previous one (a fixed point repeats its cost exactly)."""
    Z, X, y, prior, L = _small_task(seed=31, n=8)
    kw = dict(logit_head=(np.array([[1.0, 0.5], [-0.3, 1.0]]), np.array([0.2, -0.1])))
    tr = fit_transformation(Z, X, y, L, 1.0, prior, tol=0.0, max_iter=60,
                            **(kw if head else {}))
    for key in ["squared_transport"] + (["squared_logit_transport"] if head else []):
        costs = [h[key] for h in tr.history if key in h]
        assert 2 <= len(costs) < 60
        assert all(b < a for a, b in zip(costs[:-2], costs[1:-1]))
        assert costs[-1] >= costs[-2]


def test_local_search_visits_classes_by_prior_then_cost_column(monkeypatch):
    """The canonical order of the target classes: by prior, ties by the cost column
    read from reference class 0 on (lexicographically)."""
    from sklearn_taskrel.transport import _assignment

    seen = {}
    real = _assignment._search

    def spy(C, pi, init, max_sweeps, n_restarts):
        seen["C"], seen["pi"] = C.copy(), pi.copy()
        return real(C, pi, init, max_sweeps, n_restarts)

    monkeypatch.setattr(_assignment, "_search", spy)
    rng = np.random.RandomState(7)
    K_R, K_T = 3, 11
    pi = np.array([2, 1, 2, 1, 1, 2, 2, 1, 1, 2, 2], float)
    pi /= pi.sum()
    C = rng.randint(0, 2, size=(K_R, K_T)).astype(float)  # many ties row by row
    solve_assignment(C, pi)
    order = sorted(range(K_T), key=lambda t: (pi[t], *C[:, t]))
    assert_allclose(seen["pi"], pi[order], rtol=0)
    assert_allclose(seen["C"], C[:, order], rtol=0)


def test_descend_in_logits_from_a_map_off_the_logit_means():
    """The logit stage from a map whose logits are far from the reference logits'
    mean (a large common shift): history, callback and the lifted map as the stage
    written out with POT and lstsq."""
    from sklearn_taskrel.transport._relatedness import _descend_in_logits

    rng = np.random.RandomState(24)
    d, n = 3, 16
    Z = [rng.normal(size=(8, d)) + 2 * np.eye(d)[r] for r in range(2)]
    X = rng.normal(size=(n, d))
    y = np.repeat([0, 1], 8)
    prior = np.array([0.5, 0.5])
    w = prior[y] / 8
    head = (np.array([[1.0, 0.5, -0.2], [-0.3, 1.0, 0.4]]), np.array([0.2, -0.1]))
    solver = RidgeMapSolver(X, w, "affine", 0.4, dtype="float64")
    state, U = solver.step(w[:, None] * (X + 3.0))  # the map x + 3
    fmap = solver.build(state)
    tr = Transformation(np.array([0, 1]), joint_from_assignment([0, 1], prior, 2), prior,
                        FeatureMap.identity(d))
    history, calls = [{"iteration": 1}], []
    state2, U2 = _descend_in_logits(
        solver, state, U, head, Z, y, tr, prior, max_iter=4, tol=-np.inf, chunk_size=5,
        chunk_seed=11, ot_max_iter=10 ** 6, history=history,
        callback=lambda *c: calls.append(c))
    ref_history = [{"iteration": 1}]
    M2, m2 = _logit_stage_by_hand(
        lambda Zs: [(Zs[t], None, np.flatnonzero(y == t), prior[t]) for t in range(2)],
        Z, X, U, fmap.M, fmap.m, head, 4, -np.inf, 0.4, 5, 11, ref_history)
    assert [h["iteration"] for h in history] == [1, 2, 3, 4, 5]
    got = [h["squared_logit_transport"] for h in history[1:]]
    assert got == pytest.approx([h["squared_logit_transport"] for h in ref_history[1:]],
                                rel=1e-6)  # squared costs in float32
    assert got[0] > 1.0 and got[-1] < 0.5 * got[0]
    assert calls == [(h["iteration"], h["squared_logit_transport"]) for h in history[1:]]
    lifted = solver.build(state2)
    assert_allclose(lifted.M, M2, atol=1e-9)
    assert_allclose(lifted.m, m2, atol=1e-9)
    assert_allclose(U2, X @ M2.T + m2, atol=1e-9)


def test_descend_in_logits_stops_by_the_relative_tolerance():
    """``tol`` is relative to the current squared cost: with tol = 0.1 the stage stops
    where the written-out stage stops."""
    from sklearn_taskrel.transport._relatedness import _descend_in_logits

    rng = np.random.RandomState(24)
    d = 3
    Z = [rng.normal(size=(8, d)) + 2 * np.eye(d)[r] for r in range(2)]
    X = rng.normal(size=(16, d))
    y, prior = np.repeat([0, 1], 8), np.array([0.5, 0.5])
    w = prior[y] / 8
    head = (np.array([[1.0, 0.5, -0.2], [-0.3, 1.0, 0.4]]), np.array([0.2, -0.1]))
    solver = RidgeMapSolver(X, w, "affine", 0.4, dtype="float64")
    state, U = solver.step(w[:, None] * (X + 3.0))
    fmap = solver.build(state)
    tr = Transformation(np.array([0, 1]), joint_from_assignment([0, 1], prior, 2), prior,
                        FeatureMap.identity(d))
    history, ref_history = [], []
    _descend_in_logits(solver, state, U, head, Z, y, tr, prior, max_iter=30, tol=0.1,
                       chunk_size=5, chunk_seed=11, ot_max_iter=10 ** 6, history=history,
                       callback=None)
    _logit_stage_by_hand(
        lambda Zs: [(Zs[t], None, np.flatnonzero(y == t), prior[t]) for t in range(2)],
        Z, X, U, fmap.M, fmap.m, head, 30, 0.1, 0.4, 5, 11, ref_history)
    assert 3 <= len(history) == len(ref_history) < 30


def test_a_label_map_onto_empty_reference_classes_only_is_refused():
    """A hand-built transformation whose target class has mass only on reference classes
    without points: a clear error naming the class, not an IndexError from an empty
    concatenation."""
    Z = [np.zeros((0, 2)), np.ones((3, 2))]
    X, y = np.zeros((4, 2)), np.array([0, 0, 1, 1])
    joint = np.array([[0.5, 0.0], [0.0, 0.5]])
    tr = Transformation(None, joint, joint.sum(1), FeatureMap.identity(2))
    with pytest.raises(ValueError, match=r"^The label map sends target class 0 only to "
                       r"reference classes without points \(\[0\]\); give it mass on a "
                       r"reference class that has points\.$"):
        evaluate_transformation(Z, X, y, tr, np.zeros(2), 1.0)


# --- Property: duplicated classes (issue 19 item 4) -----------------------------------
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(t=st.integers(0, 2),
       assignment=st.lists(st.integers(0, 3), min_size=3, max_size=3),
       seed=st.integers(0, 2 ** 16))
def test_a_duplicated_target_class_costs_its_mass_times_ln2_in_entropy_only(
        t, assignment, seed):
    """Copying every point of target class ``t`` under a new label ``t'`` (sent to the
    same reference class) against repeating them under ``t``: the same points and
    the same class prior over {t, t'} together, so the reference loss and the
    Wasserstein term are equal, and the conditional entropy grows by exactly
    ``pi(t u t') ln 2`` (one fair bit for which copy)."""
    rng = np.random.RandomState(seed)
    d, K_R = 3, 4
    Z = [rng.normal(size=(n, d)) + 2 * r for r, n in enumerate((9, 7, 8, 6))]
    X = [rng.normal(size=(n, d)) * 0.7 + s for s, n in enumerate((5, 7, 4))]
    L = rng.uniform(0.2, 2.0, size=K_R)
    fmap = FeatureMap(shift=rng.normal(size=d), center=np.zeros(d),
                      scale_delta=rng.uniform(-0.3, 0.3, size=d))
    X_all = np.vstack(X + [X[t]])
    a = np.asarray(assignment)

    def terms(y, a):
        prior = np.bincount(y) / len(y)
        tr = Transformation(a, joint_from_assignment(a, prior, K_R), None, fmap)
        return evaluate_transformation(Z, X_all, y, tr, L, 0.3, chunk_size=10_000)[0]

    y_base = np.concatenate([np.full(len(Xs), s) for s, Xs in enumerate(X)])
    repeated = terms(np.concatenate([y_base, np.full(len(X[t]), t)]), a)
    duplicated = terms(np.concatenate([y_base, np.full(len(X[t]), 3)]), np.append(a, a[t]))
    mass = 2 * len(X[t]) / len(X_all)
    assert duplicated["reweighted_reference_loss"] == pytest.approx(
        repeated["reweighted_reference_loss"], rel=1e-12)
    assert duplicated["wasserstein"] == pytest.approx(repeated["wasserstein"], rel=1e-9)
    assert duplicated["conditional_entropy"] == pytest.approx(
        repeated["conditional_entropy"] + mass * np.log(2), abs=1e-12)
    assert duplicated["task_relatedness"] == pytest.approx(
        repeated["task_relatedness"] + mass * np.log(2), rel=1e-9)
