"""The optimal class prior D and label map B, given per-pair costs.

Write the class prior and label map as one joint distribution
``Gamma[r, t] = D[r] * B[t, r]`` whose target marginal is the target prior
``pi_T`` (exact prior matching). With the Wasserstein term bounded by class-pair
distances ``C[r, t]``, the objective of the bound becomes

.. math::

    F(\\Gamma) = \\sum_{r,t} \\Gamma_{rt} (L_r + \\tau C_{rt})
                 + H(T \\mid R)_\\Gamma ,

linear plus a concave function of ``Gamma`` (conditional entropy is concave in the
joint). Its minimum over the polytope ``{Gamma >= 0, Gamma^T 1 = pi_T}`` is at a
vertex: every target class ``t`` is mapped, whole, to one reference class ``r(t)``.
Then ``D[r] = sum_{t: r(t)=r} pi_T[t]``, ``B[t, r(t)] = pi_T[t] / D[r(t)]`` and
``H(T|R) = H(pi_T) - H(D)``, which is zero when the map is one-to-one.

:func:`solve_assignment` minimises ``F`` over assignments exactly for one-to-one
maps (Hungarian algorithm) and then improves by single-class moves, which is
what lets several target classes share a reference class when ``K_T > K_R`` or when
merging pays.
"""

import itertools
import math

import numpy as np
from scipy.optimize import linear_sum_assignment


def _xlogx(x):
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(x)
    pos = x > 0
    out[pos] = x[pos] * np.log(x[pos])
    return out


def joint_from_assignment(assignment, target_prior, n_ref_classes):
    """Joint ``Gamma`` (K_R x K_T) of an assignment ``t -> r(t)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import joint_from_assignment
    >>> joint_from_assignment([1, 0, 1], np.array([0.2, 0.3, 0.5]), 2).tolist()
    [[0.0, 0.3, 0.0], [0.2, 0.0, 0.5]]
    """
    K_T = len(target_prior)
    G = np.zeros((n_ref_classes, K_T))
    G[np.asarray(assignment), np.arange(K_T)] = target_prior
    return G


def prior_and_label_map(joint):
    """Class prior ``D`` (K_R,) and label map ``B`` (K_T x K_R) of a joint.

    Columns of ``B`` for reference classes with ``D[r] = 0`` are set to the
    uniform distribution (they carry no mass and enter no term).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import joint_from_assignment, prior_and_label_map
    >>> D, B = prior_and_label_map(joint_from_assignment([1, 1], np.array([.25, .75]), 2))
    >>> D.tolist(), B[:, 1].tolist()
    ([0.0, 1.0], [0.25, 0.75])
    """
    D = joint.sum(axis=1)
    K_T = joint.shape[1]
    B = np.full((K_T, joint.shape[0]), 1.0 / K_T)
    used = D > 0
    B[:, used] = (joint[used] / D[used, None]).T
    return D, B


def conditional_entropy(joint):
    """``H(T | R) = -sum_{r,t} Gamma[r,t] log(Gamma[r,t] / D[r])`` in nats.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import conditional_entropy
    >>> float(round(conditional_entropy(np.array([[0.25, 0.25], [0.5, 0.0]])), 4))
    0.3466
    """
    D = joint.sum(axis=1)
    return float(-(_xlogx(joint).sum() - _xlogx(D).sum()))



def assignment_objective(assignment, unit_costs, target_prior):
    """``sum_t pi_T[t] * unit_costs[r(t), t] + H(T | R)``."""
    K_T = len(target_prior)
    lin = float(np.sum(target_prior * unit_costs[np.asarray(assignment), np.arange(K_T)]))
    joint = joint_from_assignment(assignment, target_prior, unit_costs.shape[0])
    return lin + conditional_entropy(joint)


def solve_assignment(unit_costs, target_prior, *, init=None, max_sweeps=100,
                     max_enumeration=50_000, n_restarts=8):
    """Minimise ``sum_t pi_T[t] * unit_costs[r(t), t] + H(T|R)`` over maps ``t -> r``.

    Exact by enumeration when there are at most ``max_enumeration`` maps; otherwise
    a local search (single-class moves and pairwise swaps, each with an exact
    objective change) from the Hungarian one-to-one map (when ``K_T <= K_R``), the
    column-wise argmin, ``init`` and ``n_restarts`` perturbed copies of the best
    map, keeping the best.

    Parameters
    ----------
    unit_costs : ndarray of shape (n_ref_classes, n_target_classes)
        Cost per unit of mass of sending target class ``t`` to reference class ``r``
        (reference loss plus Lipschitz constant times class-pair distance).
    target_prior : ndarray of shape (n_target_classes,)
    init : array of int or None
        An extra starting assignment.
    max_sweeps : int, default=100
        Passes of the local search.
    max_enumeration : int, default=50_000
        Largest number of maps ``K_R ** K_T`` solved by enumeration.
    n_restarts : int, default=8
        Perturbed restarts of the local search (deterministic).

    Returns
    -------
    assignment : ndarray of shape (n_target_classes,), dtype int
    objective : float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import solve_assignment
    >>> costs = np.array([[5.0, 0.0], [0.0, 5.0]])
    >>> solve_assignment(costs, np.array([0.5, 0.5]))[0].tolist()
    [1, 0]
    """
    C = np.asarray(unit_costs, dtype=np.float64)
    pi = np.asarray(target_prior, dtype=np.float64)
    K_R, K_T = C.shape
    if K_R ** K_T <= max_enumeration:
        return _enumerate(C, pi)
    # The local search visits target classes in a canonical order (by prior, then by
    # cost column), so its result does not depend on how the classes are numbered.
    order = np.lexsort(np.vstack([C[::-1], pi[None, :]]))
    a, obj = _search(C[:, order], pi[order], None if init is None
                     else np.asarray(init, dtype=int)[order], max_sweeps, n_restarts)
    out = np.empty(K_T, dtype=int)
    out[order] = a
    return out, obj


def _search(C, pi, init, max_sweeps, n_restarts):
    """Local search from the column-wise argmin, the Hungarian map and ``init``, then
    ``n_restarts`` deterministic perturbations of the best map."""
    K_R, K_T = C.shape
    starts = [np.argmin(C, axis=0)]
    if K_T <= K_R:
        rows, cols = linear_sum_assignment((C * pi[None, :]).T)
        hung = np.empty(K_T, dtype=int)
        hung[rows] = cols
        starts.append(hung)
    if init is not None:
        starts.append(np.asarray(init, dtype=int))
    best, best_obj = None, np.inf
    for start in starts:
        a, obj = _local_search(C, pi, start.copy(), max_sweeps)
        if obj < best_obj - 1e-12:
            best, best_obj = a, obj
    rng = np.random.RandomState(0)
    for _ in range(n_restarts):
        a = best.copy()
        moved = rng.choice(K_T, size=max(1, K_T // 4), replace=False)
        a[moved] = rng.randint(0, K_R, size=len(moved))
        a, obj = _local_search(C, pi, a, max_sweeps)
        if obj < best_obj - 1e-12:
            best, best_obj = a, obj
    return best, best_obj


def _enumerate(C, pi):
    """Exact minimum over all ``K_R ** K_T`` maps (vectorised)."""
    K_R, K_T = C.shape
    maps = np.array(np.meshgrid(*[np.arange(K_R)] * K_T, indexing="ij")).reshape(K_T, -1).T
    lin = (pi[None, :] * C[maps, np.arange(K_T)[None, :]]).sum(axis=1)
    D = np.zeros((len(maps), K_R))
    for t in range(K_T):
        D[np.arange(len(maps)), maps[:, t]] += pi[t]
    obj = lin + _xlogx(D).sum(axis=1) - _xlogx(pi).sum()
    k = int(np.argmin(obj))
    return maps[k].astype(int), assignment_objective(maps[k], C, pi)


def _local_search(C, pi, a, max_sweeps):
    """Single-class moves and pairwise swaps with exact O(1) objective changes.

    The inner loops run on Python floats (``math.log``): numpy scalar arithmetic
    costs a microsecond per operation, and these loops do tens of thousands."""
    K_R, K_T = C.shape
    D = np.bincount(a, weights=pi, minlength=K_R).astype(np.float64).tolist()
    cost, p = C.tolist(), pi.tolist()
    a = [int(r) for r in a]

    def xlogx(v):
        return v * math.log(v) if v > 1e-300 else 0.0

    for _ in range(max_sweeps):
        improved = False
        for t in range(K_T):
            r0, pt = a[t], p[t]
            # objective = sum pi C + H(pi) - H(D) = sum pi C + const + sum_r xlogx(D_r)
            base_r0 = xlogx(D[r0]) - xlogx(D[r0] - pt)
            best_delta, best_r = 0.0, r0
            for r in range(K_R):
                if r == r0:
                    continue
                delta = pt * (cost[r][t] - cost[r0][t])
                delta += xlogx(D[r] + pt) - xlogx(D[r]) - base_r0
                if delta < best_delta - 1e-13:
                    best_delta, best_r = delta, r
            if best_r != r0:
                D[r0] -= pt
                D[best_r] += pt
                a[t] = best_r
                improved = True
        for t, u in itertools.combinations(range(K_T), 2):
            rt, ru = a[t], a[u]
            if rt == ru:
                continue
            delta = p[t] * (cost[ru][t] - cost[rt][t]) + p[u] * (cost[rt][u] - cost[ru][u])
            Dt, Du = D[rt] - p[t] + p[u], D[ru] - p[u] + p[t]
            delta += xlogx(Dt) + xlogx(Du) - xlogx(D[rt]) - xlogx(D[ru])
            if delta < -1e-13:
                a[t], a[u] = ru, rt
                D[rt], D[ru] = Dt, Du
                improved = True
        if not improved:
            break
    a = np.array(a, dtype=int)
    return a, assignment_objective(a, C, pi)
