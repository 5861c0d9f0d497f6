"""Class-conditional transport: the Wasserstein term of the bound, split by class.

The transformed reference task puts each target class ``t`` on the reference class
``r(t)`` it is assigned to (the optimal label maps are assignments, see
:mod:`sklearn_taskrel.transport._assignment`). The Wasserstein term is then a sum of
small problems, one per target class::

    W = sum_t pi_T[t] * W1(reference class r(t), mapped target class t)

Large target classes are split into chunks, each transported from the whole
reference class. The average of the chunk plans is a coupling of the full
empirical measures, so the chunked value is an upper bound of the exact one and the
bound stays valid, with memory ``O(n_ref_class * chunk)`` instead of ``O(n^2)``.
"""

import numpy as np
from scipy.optimize import linear_sum_assignment

from sklearn_taskrel.transport._backend import astype, concat, to_numpy
from sklearn_taskrel.transport._solvers import (
    euclidean_cost,
    exact_transport,
    sqeuclidean_cost,
)


def chunk_indices(n, chunk_size, rng=None):
    """Split ``range(n)`` into consecutive chunks of nearly equal size.

    With ``rng`` the indices are shuffled first (so each chunk is a random subset).
    """
    idx = np.arange(n) if rng is None else rng.permutation(n)
    n_chunks = max(1, int(np.ceil(n / max(1, chunk_size))))
    return [c for c in np.array_split(idx, n_chunks) if len(c)]


def chunked_wasserstein(Z_src, X_tgt, *, chunk_size=2000, rng=None, return_plans=False,
                        src_weights=None, max_iter=1_000_000, squared=False,
                        point_costs=None):
    """W1 between the points ``Z_src`` (kept whole) and ``X_tgt`` (chunked).

    Parameters
    ----------
    Z_src : ndarray of shape (n_src, d)
        Source points, uniform weights unless ``src_weights`` is given.
    X_tgt : ndarray of shape (n_tgt, d)
        Target points (already mapped into the source space), uniform weights.
    chunk_size : int, default=2000
        Largest target chunk solved exactly at once.
    rng : numpy.random.RandomState or None
        Shuffles the target before chunking; ``None`` keeps the order.
    return_plans : bool, default=False
        Also return the list of ``(target_indices, plan)`` with each plan scaled
        so that all plans together have total mass 1.
    src_weights : ndarray of shape (n_src,) or None
        Source weights (sum to 1).
    squared : bool, default=False
        Use the squared Euclidean cost (the W2^2 problem that the feature-map
        descent minimises) instead of the Euclidean one (W1, the bound's term).
    point_costs : ndarray of shape (n_tgt,) or None
        Filled with each target point's transport cost ``n_chunk sum_i P_ij C_ij``
        (the mean over the points is the returned cost).

    Returns
    -------
    cost : float
        Upper bound of (equal to, when one chunk suffices) the exact W1.
    plans : list of (ndarray, ndarray), only if ``return_plans``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import chunked_wasserstein
    >>> Z = np.zeros((3, 2)); X = np.ones((6, 2))
    >>> round(chunked_wasserstein(Z, X, chunk_size=2), 6)  # every point moves sqrt(2)
    1.414214
    """
    n_src, n_tgt = Z_src.shape[0], X_tgt.shape[0]
    a = np.full(n_src, 1.0 / n_src) if src_weights is None else src_weights
    total, plans = 0.0, []
    if squared:
        # The squared costs drive the feature-map descent only (the bound's W1 is
        # always computed in float64): float32 halves the cost of the matrix product.
        Z_src, X_tgt = astype(Z_src, "float32"), astype(X_tgt, "float32")
    for idx in chunk_indices(n_tgt, chunk_size, rng):
        frac = len(idx) / n_tgt
        C = (sqeuclidean_cost if squared else euclidean_cost)(Z_src, X_tgt[idx])
        plan, cost = exact_transport(a, np.full(len(idx), 1.0 / len(idx)), C,
                                     max_iter=max_iter)
        total += frac * cost
        if point_costs is not None:
            point_costs[idx] = len(idx) * to_numpy((plan * C).sum(0))
        if return_plans:
            plans.append((idx, astype(plan, "float64") * frac))
    return (total, plans) if return_plans else total


def class_pair_costs(Z_ref_by_class, X_tgt_by_class, *, rng, max_per_class=100,
                     max_iter=1_000_000):
    """W1 between every reference class and every (mapped) target class.

    Each class is subsampled to at most ``max_per_class`` points and all pairwise
    distances come from one matrix product, so the matrix costs one GEMM and
    ``K_R * K_T`` small exact problems. Two uniform measures of equal size are
    transported by a permutation (Birkhoff), so those pairs are solved as assignment
    problems (``scipy.optimize.linear_sum_assignment``, a few times faster than the
    network simplex at this size, same value); the others by the network simplex.
    It drives the choice of the label map; the reported Wasserstein term is always
    recomputed on all points.

    Returns
    -------
    C : ndarray of shape (n_ref_classes, n_target_classes)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import class_pair_costs
    >>> refs = [np.zeros((5, 2)), np.full((5, 2), 3.0)]
    >>> tgts = [np.full((4, 2), 3.0)]
    >>> class_pair_costs(refs, tgts, rng=np.random.RandomState(0)).round(3).tolist()
    [[4.243], [0.0]]
    """
    def sub(Z):
        if Z.shape[0] <= max_per_class:
            return Z
        return Z[np.sort(rng.choice(Z.shape[0], max_per_class, replace=False))]

    # float32 distances (relative error ~1e-7) rank the class pairs; they pick the
    # label map and never enter the reported bound.
    refs = [astype(sub(Z), "float32") for Z in Z_ref_by_class]
    tgts = [astype(sub(X), "float32") for X in X_tgt_by_class]
    r_off = np.cumsum([0] + [len(Z) for Z in refs])
    D = to_numpy(euclidean_cost(concat(refs), concat([X for X in tgts if len(X)])))
    C = np.zeros((len(refs), len(tgts)))
    t_pos = np.cumsum([0] + [len(X) for X in tgts if len(X)])
    nonempty = [t for t, X in enumerate(tgts) if len(X)]
    for r, Zr in enumerate(refs):
        if len(Zr) == 0:
            C[r] = np.inf
            continue
        ar = np.full(len(Zr), 1.0 / len(Zr))
        for k, t in enumerate(nonempty):
            M = D[r_off[r]:r_off[r + 1], t_pos[k]:t_pos[k + 1]]
            if M.shape[0] == M.shape[1]:
                rows, cols = linear_sum_assignment(M)
                C[r, t] = float(M[rows, cols].mean())
            else:
                _, C[r, t] = exact_transport(ar, np.full(M.shape[1], 1.0 / M.shape[1]), M,
                                             max_iter=max_iter)
    return C
