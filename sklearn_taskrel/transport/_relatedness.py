"""Task-relatedness: the minimum over the three transformations of the bound.

Notation (Mehra, Zhang & Hamm, NeurIPS 2024 [1]_): reference classes ``r`` with
per-class losses ``L_r`` of the reference head, target classes ``t`` with prior
``pi_T``, a joint ``Gamma`` of (reference class, target class) with target
marginal ``pi_T`` (class prior ``D`` and label map ``B``), and an affine map
``u = M x + m`` that pulls target features into the head's input space. The bound
on the target cross-entropy of the transformed classifier
``h(x) = B softmax(W (M x + m) + c)`` is

.. math::

    \\underbrace{\\sum_r D_r L_r}_{\\text{reweighted reference loss}}
    + \\underbrace{H(T \\mid R)}_{\\text{conditional entropy}}
    + \\tau \\underbrace{\\sum_t \\pi_T(t)\\, W_1\\big(P_R(\\cdot \\mid r(t)),
      (M, m)_\\# P_T(\\cdot \\mid t)\\big)}_{\\text{Wasserstein}}

where ``tau`` is a Lipschitz constant of the loss in the head's input space.
:func:`fit_transformation` minimises it by block coordinate descent: the label map
(exact over assignments, :func:`solve_assignment`), the transport plans (exact
OT per class) and the feature map (closed-form reweighted least squares). Each block
is a minimisation of the same objective, so it decreases until ``tol``.

References
----------
.. [1] A. Mehra, Y. Zhang and J. Hamm. "Understanding the Transferability of
   Representations via Task-Relatedness". NeurIPS 2024. arXiv:2307.00823.
"""

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from sklearn_taskrel.transport._assignment import (
    conditional_entropy,
    joint_from_assignment,
    prior_and_label_map,
    solve_assignment,
)
from sklearn_taskrel.transport._backend import (
    as_float64,
    concat,
    is_torch,
    like,
    to_numpy,
    zeros,
)
from sklearn_taskrel.transport._classwise import chunked_wasserstein, class_pair_costs
from sklearn_taskrel.transport._feature_map import FeatureMap, RidgeMapSolver
from sklearn_taskrel.transport._lipschitz import LOGIT_LIPSCHITZ


@dataclass
class Transformation:
    """Fitted transformations of the reference task.

    Attributes
    ----------
    assignment : ndarray of shape (n_target_classes,) or None
        Reference class of each target class (``None``: label-free, no label map).
    joint : ndarray of shape (n_ref_classes, n_target_classes) or None
    class_prior : ndarray of shape (n_ref_classes,)
    feature_map : FeatureMap
        Target-to-reference feature map ``u = x @ M.T + m``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import (FeatureMap, Transformation,
    ...                                        joint_from_assignment)
    >>> joint = joint_from_assignment([1, 0], np.array([0.5, 0.5]), 2)
    >>> tr = Transformation([1, 0], joint, joint.sum(1), FeatureMap.identity(3))
    >>> tr.map(np.ones((1, 3))).tolist()
    [[1.0, 1.0, 1.0]]
    """

    assignment: object
    joint: object
    class_prior: np.ndarray
    feature_map: FeatureMap
    history: list = field(default_factory=list)
    n_iter: int = 0
    terms: object = None
    #: The fitted target sample under the kept feature map (set by
    #: :func:`fit_transformation`, so callers need not map it again).
    mapped_target: object = field(default=None, repr=False, compare=False)

    @property
    def M(self):
        return self.feature_map.M

    @property
    def m(self):
        return self.feature_map.m

    def map(self, X):
        return self.feature_map.apply(X)


def bound_terms(class_prior, joint, class_losses, wasserstein, lipschitz):
    """Assemble the terms of the bound as a dict whose parts sum to the total.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import bound_terms
    >>> t = bound_terms(np.array([0.5, 0.5]), None, np.array([1.0, 2.0]), 3.0, 0.1)
    >>> round(t["task_relatedness"], 6), round(t["transport"], 6)
    (1.8, 0.3)
    """
    rrl = float(np.dot(class_prior, class_losses))
    ce = 0.0 if joint is None else conditional_entropy(joint)
    ce = ce if ce > 0 else 0.0
    transport = float(lipschitz * wasserstein)
    return {
        "reweighted_reference_loss": rrl,
        "conditional_entropy": ce,
        "transport": transport,
        "wasserstein": float(wasserstein),
        "lipschitz": float(lipschitz),
        "task_relatedness": rrl + ce + transport,
    }


def _blocks(Z_ref_by_class, y_tgt, transformation, target_prior):
    """One transport problem per target class (or one for the label-free case).

    Target class ``t`` is compared with the reference mixture
    ``sum_r Gamma[r, t] / pi_T[t] * P_R(. | r)``: one reference class when the label
    map is an assignment, several (with weighted points) for a soft label map.
    """
    if transformation.joint is None:
        Z = concat(Z_ref_by_class)
        a = np.concatenate([
            np.full(len(Zr), transformation.class_prior[r] / max(len(Zr), 1))
            for r, Zr in enumerate(Z_ref_by_class)
        ])
        keep = a > 0
        return [(Z[keep], a[keep] / a[keep].sum(), np.arange(len(y_tgt)), 1.0)]
    joint = transformation.joint
    blocks = []
    for t in range(joint.shape[1]):
        idx = np.flatnonzero(y_tgt == t)
        if len(idx) == 0 or target_prior[t] == 0:
            continue
        rs = [r for r in np.flatnonzero(joint[:, t] > 0) if len(Z_ref_by_class[r])]
        if not rs:
            raise ValueError(
                f"The label map sends target class {t} only to reference classes without "
                f"points ({np.flatnonzero(joint[:, t] > 0).tolist()}); give it mass on a "
                "reference class that has points.")
        if len(rs) == 1:
            blocks.append((Z_ref_by_class[rs[0]], None, idx, float(target_prior[t])))
            continue
        Z = concat([Z_ref_by_class[r] for r in rs])
        a = np.concatenate([np.full(len(Z_ref_by_class[r]), joint[r, t] / len(Z_ref_by_class[r]))
                            for r in rs])
        blocks.append((Z, a / a.sum(), idx, float(target_prior[t])))
    return blocks


def project_joint(joint, target_prior):
    """Rescale each column of ``joint`` to the target prior (exact prior matching).

    ``Gamma'[r, t] = Gamma[r, t] * pi_T[t] / sum_r Gamma[r, t]``: the label map of each
    target class is kept, its mass is corrected. This is how a label map learned
    with approximate prior matching (the authors' penalty) enters a valid bound.
    """
    col = joint.sum(axis=0)
    out = np.zeros_like(joint)
    nz = col > 0
    out[:, nz] = joint[:, nz] * (target_prior[nz] / col[nz])[None, :]
    return out


def transport_with_weights(Z_ref_by_class, X_mapped, y_tgt, transformation,
                           target_prior, *, chunk_size, rng=None, want_weights=True,
                           max_iter=1_000_000, squared=False, feature_map=None,
                           on_block=None, point_costs=None):
    """Wasserstein term for fixed transformations, plus the plan statistics.

    With ``feature_map``, ``X_mapped`` holds unmapped points and each class block is
    mapped (in float64) when it is solved, so no mapped copy of a large target is
    ever held in memory. ``on_block(indices, mapped_block)`` is called for every
    block (e.g. to compute per-point losses in the same pass). ``point_costs`` (an
    array of length ``n``) is filled with each target point's cost in its class's
    problem (the class term is their mean).

    Returns
    -------
    W : float
        The class-wise W1 (or, with ``squared=True``, W2^2).
    Y : ndarray (n, d) or None
        ``sum_i P_ij z_i`` for each target point ``j`` (plans scaled by class mass).
    w : ndarray (n,) or None
        ``sum_i P_ij``, the mass of each target point.
    """
    n, d = X_mapped.shape
    ref = Z_ref_by_class[0]  # float64, numpy or torch on the working device
    Y = zeros(ref, (n, d)) if want_weights else None
    w = zeros(ref, (n,)) if want_weights else None
    W = 0.0
    for Z_src, a, idx, mass in _blocks(Z_ref_by_class, y_tgt, transformation, target_prior):
        X_block = as_float64(X_mapped[idx])
        if feature_map is not None:
            X_block = feature_map.apply(X_block)
        if on_block is not None:
            on_block(idx, X_block)
        costs = None if point_costs is None else np.zeros(len(idx))
        out = chunked_wasserstein(Z_src, X_block, chunk_size=chunk_size, rng=rng,
                                  return_plans=want_weights, src_weights=a,
                                  max_iter=max_iter, squared=squared, point_costs=costs)
        if costs is not None:
            point_costs[idx] = costs
        if not want_weights:
            W += mass * out
            continue
        cost, plans = out
        W += mass * cost
        for cidx, plan in plans:
            rows = idx[cidx]
            if is_torch(plan):  # dense on the device: (n_chunk, n_src) @ (n_src, d)
                P = mass * plan
                Y[rows] += P.T @ Z_src
                w[rows] += P.sum(0)
                continue
            i, j = np.nonzero(plan > 0)
            omega = mass * plan[i, j]
            # Sum omega_ij z_i into the chunk's rows: a sparse (n_chunk x n_src) product.
            S = sparse.csr_matrix((omega, (j, i)), shape=(len(cidx), Z_src.shape[0]))
            Y[rows] += S @ Z_src
            w[rows] += np.asarray(S.sum(axis=1)).ravel()
    return W, Y, w


def reproject_transformation(transformation, target_prior, n_ref_classes):
    """``transformation`` with its label map re-projected onto ``target_prior``: each
    target class keeps its reference class(es), its mass follows the new prior
    (unchanged without a label map)."""
    tr = transformation
    if tr.joint is None:
        return tr
    if tr.assignment is not None:
        joint = joint_from_assignment(tr.assignment, target_prior, n_ref_classes)
    else:
        joint = project_joint(tr.joint, target_prior)
    D, _ = prior_and_label_map(joint)
    return Transformation(tr.assignment, joint, D, tr.feature_map, history=tr.history,
                          n_iter=tr.n_iter)


def evaluate_transformation(Z_ref_by_class, X_tgt, y_tgt, transformation, class_losses,
                            lipschitz, target_prior=None, *, chunk_size=2000, rng=None,
                            max_iter=1_000_000, on_block=None, point_costs=None):
    """Bound terms of fixed transformations on a (possibly new) target sample.

    With a new target sample the label map is re-projected onto its class prior
    (each target class keeps its reference class), which keeps prior matching
    exact and the bound valid.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import (FeatureMap, Transformation,
    ...                                        evaluate_transformation, joint_from_assignment)
    >>> Z = [np.zeros((4, 2)), np.ones((4, 2))]
    >>> X, y = np.vstack(Z) + 0.5, np.repeat([0, 1], 4)
    >>> tr = Transformation(np.array([0, 1]), joint_from_assignment([0, 1], np.full(2, .5), 2),
    ...                     np.full(2, .5), FeatureMap.identity(2))
    >>> terms, _ = evaluate_transformation(Z, X, y, tr, np.zeros(2), 1.0)
    >>> round(terms["wasserstein"], 4)  # each point moved by (0.5, 0.5)
    0.7071
    """
    if target_prior is None:
        target_prior = np.bincount(y_tgt, minlength=len(np.unique(y_tgt))) / len(y_tgt)
    tr = reproject_transformation(transformation, target_prior, len(Z_ref_by_class))
    W, _, _ = transport_with_weights(Z_ref_by_class, X_tgt, y_tgt, tr, target_prior,
                                     chunk_size=chunk_size, rng=rng, want_weights=False,
                                     max_iter=max_iter, feature_map=tr.feature_map,
                                     on_block=on_block, point_costs=point_costs)
    return bound_terms(tr.class_prior, tr.joint, class_losses, W, lipschitz), tr


def fit_transformation(Z_ref_by_class, X_tgt, y_tgt, class_losses, lipschitz,
                       target_prior, *, learn_label_map=True, assignment=None,
                       label_free=False, ref_prior=None, feature_map="affine",
                       alpha=1.0, max_iter=30, tol=1e-3, chunk_size=2000,
                       pair_max_samples=64, descent_max_per_class=128, rng=None,
                       callback=None, ot_max_iter=1_000_000, logit_head=None,
                       measure_kept=True):
    """Minimise the bound over class prior, label map and feature map.

    The label map is chosen exactly given class-pair W1 costs
    (:func:`solve_assignment`); the feature map by alternating exact
    squared-Euclidean plans with the closed-form ridge step
    (:class:`RidgeMapSolver`): both steps decrease the same objective
    ``W2^2 + alpha d/n ||M - I||^2``, so the descent is monotone and does not
    shrink the target the way a least-squares fit to W1 plans does. The bound's own
    Wasserstein term (W1, exact per class) is evaluated on the initial and the final
    map, and the better one is kept.

    Parameters
    ----------
    Z_ref_by_class : list of ndarray
        Standardised reference embeddings of each reference class.
    X_tgt : ndarray of shape (n, d)
        Standardised target embeddings.
    y_tgt : ndarray of shape (n,)
        Target class codes ``0..K_T-1`` (ignored when ``label_free``).
    class_losses : ndarray of shape (n_ref_classes,)
        Mean loss of the reference head on each reference class.
    lipschitz : float
        Lipschitz constant ``tau`` of the loss in the head's input space.
    target_prior : ndarray of shape (n_target_classes,)
    learn_label_map : bool, default=True
        Learn the assignment of target classes to reference classes. If False,
        ``assignment`` is used as given.
    assignment : array of int or None
        Initial (or, with ``learn_label_map=False``, fixed) assignment.
    label_free : bool, default=False
        Ignore target labels: one transport problem between the reference, weighted
        by ``ref_prior``, and the whole target.
    feature_map : {"affine", "diagonal", "translation", "identity"}
    alpha : float, default=1.0
        Ridge strength of the feature map toward the identity. The penalty
        ``alpha * d / n * ||M - I||_F^2`` is added to the plan-weighted squared
        distances (standardised features, so in units of feature variance): strong
        when few samples back each parameter.
    max_iter : int, default=30
        Outer iterations (plans, then map).
    tol : float, default=1e-3
        Stop when the transport cost decreases by less than ``tol`` (relative).
    chunk_size : int, default=2000
        Largest target chunk in one exact transport problem.
    pair_max_samples : int, default=64
        Subsample size per class for the class-pair costs that select the label map;
        they are computed once, on the unmapped target (the map is fitted to the
        label map they choose; recomputing them after the first map step changed no
        assignment in the anchor's cross-fitting folds, and cost 7 % of a fit).
    descent_max_per_class : int, default=128
        Reference points per class in the plans of the feature-map descent (a fixed
        random subsample: a 60-point target class is then transported in 0.8 ms
        instead of 1.8 ms with 256, and each target point's barycentric target
        still averages about two reference points); the bound's W1 is always
        computed on every point.
    rng : numpy.random.RandomState
    callback : callable or None
        Called as ``callback(iteration, cost)`` after every iteration.
    logit_head : tuple (W, c) or None
        With the head's weights, the bound that selects the kept map (and that is
        returned in ``terms``) measures the transport between head logits, times
        ``sqrt(2)`` (``transport_space="logits"``); ``lipschitz`` then only weighs
        the feature-space class-pair costs of the label map. With
        ``feature_map="affine"`` the map descent then continues on the logit
        transport (``_descend_in_logits``), a third candidate map.
    measure_kept : bool, default=True
        Compare the candidate maps by the bound on every reference point and return
        the kept map's terms. With False (when the caller measures the bound
        elsewhere, e.g. on held-out target points) the candidates are compared on
        the descent's reference subsample and ``terms`` is None: about half the
        cost of the comparison.

    Returns
    -------
    transformation : Transformation
        With ``history`` (per iteration: the squared transport cost, or with
        ``logit_head`` in the logit stage ``squared_logit_transport``; last entry: the
        bound's terms for the kept map).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import fit_transformation
    >>> rng = np.random.RandomState(0)
    >>> Z = [rng.normal(size=(20, 2)) + 5 * k for k in range(2)]
    >>> X, y = np.vstack(Z)[:, ::-1] + 1.0, np.repeat([1, 0], 20)  # relabelled, moved
    >>> tr = fit_transformation(Z, X, y, np.zeros(2), 1.0, np.full(2, .5), rng=rng)
    >>> tr.assignment.tolist(), bool(tr.terms["wasserstein"] < 1.0)
    ([1, 0], True)
    """
    rng = np.random.RandomState(0) if rng is None else rng
    K_R = len(Z_ref_by_class)
    n, d = X_tgt.shape
    L = np.asarray(class_losses, dtype=np.float64)
    tau = float(lipschitz)
    if label_free:
        D = np.asarray(ref_prior, dtype=np.float64)
        a, joint, K_T = None, None, 0
    else:
        K_T = len(target_prior)
        a = None if assignment is None else np.asarray(assignment, dtype=int)
    # Fixed subsamples keep the class-pair costs comparable across iterations.
    pair_seed = rng.randint(np.iinfo(np.int32).max)
    chunk_seed = rng.randint(np.iinfo(np.int32).max)

    def label_map(X_mapped, a):
        if label_free:
            return None, None, D
        if learn_label_map:
            C = class_pair_costs(
                Z_ref_by_class, [X_mapped[y_tgt == t] for t in range(K_T)],
                rng=np.random.RandomState(pair_seed), max_per_class=pair_max_samples)
            a, _ = solve_assignment(L[:, None] + tau * C, target_prior, init=a)
        joint = joint_from_assignment(a, target_prior, K_R)
        return a, joint, prior_and_label_map(joint)[0]

    identity = FeatureMap(shift=zeros(Z_ref_by_class[0], (d,)))
    sub_rng = np.random.RandomState(rng.randint(np.iinfo(np.int32).max))
    Z_descent = [Z if len(Z) <= descent_max_per_class
                 else Z[np.sort(sub_rng.choice(len(Z), descent_max_per_class, replace=False))]
                 for Z in Z_ref_by_class]
    Z_bound = Z_ref_by_class if measure_kept else Z_descent
    if logit_head is None:
        bound_blocks, bound_tau = Z_bound, tau
    else:
        W_head, c_head = logit_head
        bound_blocks = [Z @ W_head.T + c_head for Z in Z_bound]
        bound_tau = LOGIT_LIPSCHITZ if K_R > 1 else 0.0

    def bound_of(tr, X_mapped):
        if logit_head is not None:
            X_mapped = X_mapped @ W_head.T + c_head
        W, _, _ = transport_with_weights(
            bound_blocks, X_mapped, y_tgt, tr, target_prior, chunk_size=chunk_size,
            rng=np.random.RandomState(chunk_seed), want_weights=False, max_iter=ot_max_iter)
        return bound_terms(tr.class_prior, tr.joint, L, W, bound_tau)
    a, joint, D = label_map(X_tgt, a)
    start = Transformation(a, joint, D, identity)
    history = []
    candidates = [(start, X_tgt)]
    if feature_map != "identity":
        solver, state, X_mapped, prev = None, None, X_tgt, np.inf
        for it in range(1, max_iter + 1):
            tr = Transformation(a, joint, D, identity)
            W2, Y, w = transport_with_weights(
                Z_descent, X_mapped, y_tgt, tr, target_prior, chunk_size=chunk_size,
                rng=np.random.RandomState(chunk_seed), max_iter=ot_max_iter, squared=True)
            history.append({"iteration": it, "squared_transport": float(W2)})
            if callback is not None:
                callback(it, float(W2))
            if prev - W2 <= tol * W2:
                break
            prev = W2
            if solver is None:
                # Ridge per unit of d / n: stronger when few samples back each parameter.
                solver = RidgeMapSolver(X_tgt, w, feature_map, alpha * d / n)
            state, X_mapped = solver.step(Y)
        final = Transformation(a, joint, D, solver.build(state) if solver else identity)
        candidates.append((final, X_mapped))
        if logit_head is not None and solver is not None and solver.kind == "affine" and K_R > 1:
            state, X_mapped = _descend_in_logits(
                solver, state, X_mapped, logit_head, Z_descent, y_tgt, final, target_prior,
                max_iter=max_iter, tol=tol, chunk_size=chunk_size, chunk_seed=chunk_seed,
                ot_max_iter=ot_max_iter, history=history, callback=callback)
            candidates.append((Transformation(a, joint, D, solver.build(state)), X_mapped))
    best, best_terms = None, None
    for tr, X_mapped in candidates:
        terms = bound_of(tr, X_mapped)
        if best is None or terms["task_relatedness"] < best_terms["task_relatedness"]:
            best, best_terms = tr, terms
    history.append({"iteration": len(history) + 1, "objective": best_terms["task_relatedness"],
                    **best_terms, **({} if measure_kept else {"reference_subsample": True})})
    best.history, best.n_iter = history, len(history)
    best.terms = best_terms if measure_kept else None
    best.mapped_target = dict((id(tr), X_m) for tr, X_m in candidates)[id(best)]
    return best


def _descend_in_logits(solver, state, X_mapped, logit_head, Z_descent, y_tgt, tr,
                       target_prior, *, max_iter, tol, chunk_size, chunk_seed, ot_max_iter,
                       history, callback):
    r"""Continue the map descent on the transport between head logits.

    The logit bound's transport compares ``W z + c`` with ``W (M x + m) + c``, so only
    ``W M`` and ``W m`` matter to it. With the label map fixed, this alternates exact
    squared-Euclidean plans between the logits with the ridge step

    .. math::

        \min_{\Delta, \delta} \sum_{ij} P_{ij} \|l_i - (W u_j + c) - \Delta x_{cj}
        - \delta\|^2 + \alpha \|\Delta\|_F^2

    (``u_j`` the target under the feature-space map, ``l_i`` reference logits), a
    descent of one objective as in feature space, shrunk toward the feature-space
    solution. It is lifted back by ``W^+``: ``M' = M + W^+ Delta`` and
    ``m' = m + W^+ delta`` give ``W M' = W M + Delta`` whenever ``W`` has full row
    rank (``K_R <= d``), so the result is an affine map of the same family; the
    caller evaluates the bound on the lifted map itself.
    """
    W_head, c_head = logit_head
    back = like(W_head, np.linalg.pinv(to_numpy(W_head)))
    blocks = [Z @ W_head.T + c_head for Z in Z_descent]
    base = X_mapped @ W_head.T + c_head
    logits, prev, fitted = base, np.inf, None
    for _ in range(max_iter):
        W2, Y, w = transport_with_weights(
            blocks, logits, y_tgt, tr, target_prior, chunk_size=chunk_size,
            rng=np.random.RandomState(chunk_seed), max_iter=ot_max_iter, squared=True)
        history.append({"iteration": len(history) + 1, "squared_logit_transport": float(W2)})
        if callback is not None:
            callback(len(history), float(W2))
        if prev - W2 <= tol * W2:
            break
        prev = W2
        shift = (Y.sum(0) - w @ base) / w.sum()
        S = Y - w[:, None] * (base + shift)
        logits = base + shift + solver.residual_step(S)
        fitted = (S, shift)
    if fitted is None:
        return state, X_mapped
    state, moved = solver.lift(state, *fitted, back)
    return state, X_mapped + moved
