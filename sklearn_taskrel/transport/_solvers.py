"""Thin wrappers over POT's solvers, with scikit-learn parameter names.

POT names (``numItermax``, ``stopThr``) are translated here and nowhere else.
"""

import warnings

import numpy as np
import ot

from sklearn_taskrel.exceptions import ConvergenceWarning
from sklearn_taskrel.transport._backend import is_torch, like, to_numpy


def sqeuclidean_cost(X, Y):
    """Pairwise squared Euclidean distances (POT backend: numpy or torch)."""
    return ot.dist(X, Y, metric="sqeuclidean")


def euclidean_cost(X, Y):
    """Pairwise Euclidean distances ``||x_i - y_j||`` (POT backend: numpy or torch).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import euclidean_cost
    >>> euclidean_cost(np.zeros((1, 2)), np.array([[3.0, 4.0]]))
    array([[5.]])
    """
    return ot.dist(X, Y, metric="euclidean")


def exact_transport(a, b, M, *, max_iter=1_000_000):
    """Exact optimal transport plan and cost (network simplex, ``ot.emd``).

    The solve runs on the CPU (network simplex); a torch cost matrix gives a torch
    plan on its device.

    Parameters
    ----------
    a : array of shape (n,)
        Source weights (sum to 1).
    b : array of shape (m,)
        Target weights (same total mass as ``a``).
    M : array of shape (n, m)
        Ground cost.
    max_iter : int, default=1_000_000
        Maximum number of simplex iterations; reaching it emits a
        :class:`~sklearn.exceptions.ConvergenceWarning`.

    Returns
    -------
    plan : ndarray of shape (n, m)
    cost : float
        ``sum(plan * M)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import exact_transport
    >>> plan, cost = exact_transport(np.full(2, .5), np.full(2, .5), np.array([[0., 1.], [1., 0.]]))
    >>> cost
    0.0
    """
    M_np = np.ascontiguousarray(to_numpy(M), dtype=np.float64)
    a = np.asarray(to_numpy(a), dtype=np.float64)
    b = np.asarray(to_numpy(b), dtype=np.float64)
    # Renormalise the second marginal to the first one's mass to absorb rounding.
    b = b * (a.sum() / b.sum())
    plan, log = ot.emd(a, b, M_np, numItermax=int(max_iter), log=True)
    if log.get("warning"):
        warnings.warn(
            f"exact optimal transport did not converge: {log['warning']} "
            f"(max_iter={max_iter}); increase it for an exact plan.",
            ConvergenceWarning,
            stacklevel=2,
        )
    cost = float(np.sum(plan * M_np))
    if is_torch(M):  # the plan goes back to M's device
        plan = like(M, plan)  # M's dtype
    return plan, cost


def entropic_transport(a, b, M, *, reg, max_iter=1000, tol=1e-9):
    """Entropic OT plan (Sinkhorn, log domain) and its transport cost ``sum(plan * M)``.

    Works on numpy arrays and on torch tensors on any device (POT backend). The
    returned cost is the linear part only, so it upper-bounds the exact cost
    whenever the plan's marginals are exact.

    Parameters
    ----------
    a, b, M : arrays
        Source weights, target weights and ground cost, as in :func:`exact_transport`.
    reg : float
        Entropic regularisation (in the units of ``M``); the log-domain iterations
        stay finite for ``reg`` far below the costs.
    max_iter : int, default=1000
        Largest number of Sinkhorn iterations.
    tol : float, default=1e-9
        Stop when the marginal violation falls below ``tol``.

    Returns
    -------
    plan : array of shape (n, m)
        Same kind of array as ``M``.
    cost : float
        ``sum(plan * M)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import entropic_transport
    >>> M = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> plan, cost = entropic_transport(np.full(2, .5), np.full(2, .5), M, reg=0.05)
    >>> bool(cost < 0.01), plan.sum().round(6)
    (True, np.float64(1.0))
    """
    plan = ot.sinkhorn(
        a, b, M, reg, method="sinkhorn_log", numItermax=int(max_iter), stopThr=tol
    )
    nx = ot.backend.get_backend(M)
    return plan, float(nx.to_numpy(nx.sum(plan * M)))
