"""The feature map of the bound, fitted by ridge regression on transport plans.

The target is pulled back into the reference (head-input) space by an affine map
``u = M x + m`` (the inverse of the paper's ``A z + b``). Given the exact W1
transport plans ``P`` between reference points ``z_i`` and target points ``x_j``,
one map step solves

.. math::

    \\min_{M, m} \\sum_{ij} P_{ij} \\|z_i - M x_j - m\\|^2 + \\alpha \\|M - I\\|_F^2 ,

a weighted ridge regression of the barycentric targets ``yhat_j = sum_i P_ij z_i / w_j``
on ``x_j`` (``w_j = sum_i P_ij``), shrunk toward the identity. The authors take
one Adam step on the same squared cost per OT solve; here it is solved exactly.
Because every target point carries the same mass in each plan (``w`` is fixed by
the class prior), the factorisation is computed once per fit
(:class:`RidgeMapSolver`), and with fewer samples than features the dual (kernel)
form makes a step cost one ``n x n`` by ``n x d`` product.

Families: ``"affine"`` (full ``M``), ``"diagonal"``, ``"translation"`` and
``"identity"``. For the affine family the same factorisation also fits residuals
measured in a lower-dimensional image of the map (the head's logits ``W u + c``,
:meth:`RidgeMapSolver.residual_step`) and lifts them back into the map through a
right inverse of ``W`` (:meth:`RidgeMapSolver.lift`).
"""

from dataclasses import dataclass

import numpy as np

from sklearn_taskrel.transport._backend import (
    astype,
    cholesky_factor,
    cholesky_solve,
    einsum,
    eye,
    to_numpy,
)

FEATURE_MAPS = ("affine", "diagonal", "translation", "identity")


@dataclass
class FeatureMap:
    """Target-to-reference affine map ``u = x + Delta (x - center) + shift``.

    ``Delta`` is the sum of the parts given: a dense matrix (``delta``, shape
    (d, d)), a diagonal (``scale_delta``), and a dual form ``coef.T @ anchors`` with
    ``anchors`` and ``coef`` of shape (n, d) (``delta`` and the dual form exclude each
    other); all ``None`` is a pure translation. The arrays are numpy arrays or torch
    tensors (all of one kind).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import FeatureMap
    >>> fmap = FeatureMap(shift=np.array([1.0, 0.0]), center=np.zeros(2),
    ...                   scale_delta=np.array([1.0, 0.0]))
    >>> fmap.apply(np.array([[2.0, 3.0]])).tolist(), fmap.M.tolist()
    ([[5.0, 3.0]], [[2.0, 0.0], [0.0, 1.0]])
    """

    shift: object
    center: object = None
    delta: object = None
    scale_delta: object = None
    anchors: object = None
    coef: object = None

    @classmethod
    def identity(cls, d):
        return cls(shift=np.zeros(d))

    def apply(self, X):
        U = X + self.shift
        if self.delta is None and self.scale_delta is None and self.coef is None:
            return U
        Xc = X - self.center
        if self.delta is not None:
            U = U + Xc @ self.delta.T
        elif self.coef is not None:
            U = U + (Xc @ self.anchors.T) @ self.coef
        if self.scale_delta is not None:
            U = U + Xc * self.scale_delta
        return U

    def convert(self, fn):
        """The same map with ``fn`` applied to every array (e.g. to numpy, to a device)."""
        return FeatureMap(**{k: (None if v is None else fn(v)) for k, v in vars(self).items()})

    def compose(self, W, c):
        """``(A, b)`` with ``W u + c = A x + b`` for ``u`` the image of ``x``.

        ``A = W (I + Delta)`` has the shape of ``W`` (k, d): applying it costs
        ``n d k`` instead of the ``n d^2`` (or ``n n_anchors d``) of mapping first.
        """
        WD = None
        if self.delta is not None:
            WD = W @ self.delta
        elif self.coef is not None:
            WD = (W @ self.coef.T) @ self.anchors
        if self.scale_delta is not None:
            WD = W * self.scale_delta if WD is None else WD + W * self.scale_delta
        if WD is None:  # a pure translation
            return W, self.shift @ W.T + c
        return W + WD, self.shift @ W.T - self.center @ WD.T + c

    @property
    def M(self):
        """The linear part as a dense ``(d, d)`` numpy array."""
        fm = self.convert(to_numpy)
        d = fm.shift.shape[0]
        M = np.eye(d)
        if fm.delta is not None:
            M += fm.delta
        elif fm.coef is not None:
            M += fm.coef.T @ fm.anchors
        if fm.scale_delta is not None:
            M[np.arange(d), np.arange(d)] += fm.scale_delta
        return M

    @property
    def m(self):
        """The offset (numpy): ``u = M x + m``."""
        shift = to_numpy(self.shift)
        if self.center is None:
            return shift.copy()
        return shift - (self.M - np.eye(shift.shape[0])) @ to_numpy(self.center)


@dataclass
class LogitMap:
    """Target points to the head's logits: ``x -> W (M x + m) + c``.

    The composition of a :class:`FeatureMap` with the linear head ``(W, c)``; the
    transport term measured between logits (``transport_space="logits"``) uses it
    in place of the feature map. Reference points map to ``W z + c``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import FeatureMap, LogitMap
    >>> lm = LogitMap(FeatureMap.identity(2), np.array([[1.0, 0.0]]), np.array([0.5]))
    >>> lm.apply(np.array([[2.0, 3.0]])).tolist()
    [[2.5]]
    """

    feature_map: FeatureMap
    coef: object
    intercept: object

    def __post_init__(self):
        # The composed affine map: one (n, d) @ (d, k) product per application.
        self._linear, self._offset = self.feature_map.compose(self.coef, self.intercept)

    def apply(self, X):
        return X @ self._linear.T + self._offset

    def convert(self, fn):
        """The same map with ``fn`` applied to every array."""
        return LogitMap(self.feature_map.convert(fn), fn(self.coef), fn(self.intercept))


def apply_map(X, M, m):
    """``X @ M.T + m``; ``M=None`` means the identity.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import apply_map
    >>> apply_map(np.array([[1.0, 2.0]]), 2 * np.eye(2), np.array([0.0, 1.0])).tolist()
    [[2.0, 5.0]]
    """
    if M is None:
        return X + m if m is not None else X
    return X @ M.T + m


class RidgeMapSolver:
    """Solves the map step repeatedly for fixed target points and weights.

    Parameters
    ----------
    X : array of shape (n, d)
        Target points (numpy, or a torch tensor on any device).
    w : array of shape (n,)
        Mass of each target point in the plans (fixed across iterations).
    kind : {"affine", "diagonal", "translation", "identity"}
    alpha : float
        Ridge strength toward the identity.
    """

    def __init__(self, X, w, kind, alpha, dtype="float32"):
        # The map's linear algebra runs in float32 (the plans and the bound's W1 stay
        # float64): it halves the cost of the n x n (or d x d) products and solves.
        self.out_dtype = str(X.dtype).replace("torch.", "")
        X = astype(X, dtype)
        w = astype(w, dtype)
        self.dtype = dtype
        self.X, self.kind, self.alpha = X, kind, float(alpha)
        n, d = X.shape
        self.w = w
        self.sw = float(w.sum())
        self.center = (w @ X) / self.sw
        self.Xc = X - self.center
        self.dual = False
        ridge = max(self.alpha, 1e-10)
        if kind == "affine":
            self.dual = n <= d
            sq = w ** 0.5
            if self.dual:
                K = self.Xc @ self.Xc.T
                Ks = (sq[:, None] * K) * sq[None, :]
                Ks = Ks + ridge * eye(K, n)
                self.factor = cholesky_factor(Ks)
                self.sq = sq
                # Hat matrix: X_c Delta^T = K W^1/2 Ks^-1 W^-1/2 (W S) = H (W S).
                self.H = cholesky_solve(self.factor, (K * sq[None, :]).T).T / sq[None, :]
            else:
                G = (self.Xc * w[:, None]).T @ self.Xc + ridge * eye(X, d)
                self.factor = cholesky_factor(G)
        elif kind == "diagonal":
            self.sxx = w @ (self.Xc * self.Xc)

    def step(self, Y):
        """Map step for plan statistics ``Y[j] = sum_i P_ij z_i``.

        Returns
        -------
        state : tuple
            What :meth:`build` needs to materialise the map (cheap to keep).
        mapped : array of shape (n, d)
            The mapped target points, computed without forming the map.
        """
        if self.kind == "identity":
            return None, astype(self.X, self.out_dtype)
        state, mapped = self._step(astype(Y, self.dtype))
        return state, astype(mapped, self.out_dtype)

    def _step(self, Y):
        ybar = Y.sum(0) / self.sw
        shift = ybar - self.center
        if self.kind == "translation":
            return (shift, None), self.X + shift
        # Centered residual targets, weighted: w_j * (yhat_j - ybar - x_jc).
        WS = Y - self.w[:, None] * (ybar + self.Xc)
        if self.kind == "diagonal":
            delta = einsum("jk,jk->k", self.Xc, WS) / (self.sxx + self.alpha)
            return (shift, delta), self.X + shift + self.Xc * delta
        part, moved = self._ridge(WS)
        return (shift, part), self.X + shift + moved

    def _ridge(self, WS):
        """Affine ridge solution for weighted centered residuals ``WS`` (n, k).

        Returns the part a state stores (``delta`` of shape (k, d), or ``WS`` itself
        in dual form) and ``X_c @ delta.T``. Both are linear in ``WS``.
        """
        if self.dual:
            return WS, self.H @ WS
        delta = cholesky_solve(self.factor, self.Xc.T @ WS).T
        return delta, self.Xc @ delta.T

    def residual_step(self, WS):
        """The ridge fit of weighted centered residual targets of any width ``k``.

        ``WS[j] = w_j (r_j - rbar)`` for residual targets ``r_j`` in a space of
        dimension ``k`` (e.g. the head's logits); the fit minimises
        ``sum_j w_j ||r_j - rbar - Delta x_cj||^2 + alpha ||Delta||_F^2`` over
        ``Delta`` of shape (k, d) with this solver's factorisation, and the fitted
        residuals ``X_c @ Delta.T`` (n, k) are returned.
        """
        if self.kind != "affine":
            raise ValueError(f"residual_step needs kind='affine', not {self.kind!r}.")
        return astype(self._ridge(astype(WS, self.dtype))[1], self.out_dtype)

    def lift(self, state, WS, shift, back):
        """``state`` with a residual fit lifted into feature space by ``back``.

        For residuals fitted in a space ``k`` reached through a linear map ``W``
        (k, d) and ``back`` (d, k) with ``W @ back = I`` (e.g. the pseudo-inverse),
        the feature map ``u + back (Delta x_c + shift)`` moves the image under ``W``
        by exactly ``Delta x_c + shift``. Returns the new state and the feature-space
        move ``X_c @ (back Delta).T + back shift`` of the target points.
        """
        back = astype(back, self.dtype)
        part, moved = self._ridge(astype(WS, self.dtype) @ back.T)
        old_shift, old_part = state
        extra = astype(shift, self.dtype) @ back.T
        new_state = (old_shift + extra, old_part + part)
        return new_state, astype(moved + extra, self.out_dtype)

    def build(self, state):
        """The :class:`FeatureMap` of a state returned by :meth:`step`.

        Its arrays have the dtype (and kind) of the target points given to the solver.
        """
        return self._build(state).convert(lambda v: astype(v, self.out_dtype))

    def _build(self, state):
        if state is None:
            return FeatureMap(shift=self.center * 0)
        shift, part = state
        if self.kind == "translation":
            return FeatureMap(shift=shift)
        if self.kind == "diagonal":
            return FeatureMap(shift=shift, center=self.center, scale_delta=part)
        if self.dual:
            # Delta = S_c^T W^1/2 (W^1/2 K W^1/2 + a I)^-1 W^1/2 X_c = coef^T X_c
            coef = self.sq[:, None] * cholesky_solve(self.factor, part / self.sq[:, None])
            return FeatureMap(shift=shift, center=self.center, anchors=self.Xc, coef=coef)
        return FeatureMap(shift=shift, center=self.center, delta=part)


def average_maps(maps, scales, offsets):
    """The mean of affine maps, each preceded by its own change of coordinates.

    Map ``k`` acts on ``x_k = scales[k] * x + offsets[k]`` (elementwise, e.g. the
    standardisation of a cross-fitting fold expressed in the whole sample's
    coordinates); the result is the map ``x -> mean_k maps[k](x_k)`` as one
    :class:`FeatureMap` (numpy): dense when any map is dense, otherwise a diagonal
    plus the maps' dual forms stacked. The bagged map of the folds' fits.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import FeatureMap
    >>> from sklearn_taskrel.transport._feature_map import average_maps
    >>> f = FeatureMap(shift=np.zeros(2), center=np.zeros(2), scale_delta=np.ones(2))
    >>> g = FeatureMap.identity(2)
    >>> avg = average_maps([f, g], [np.ones(2), np.full(2, 2.0)], [np.zeros(2), np.ones(2)])
    >>> x = np.array([[1.0, 3.0]])
    >>> avg.apply(x).tolist(), ((f.apply(x) + g.apply(2 * x + 1)) / 2).tolist()
    ([[2.5, 6.5]], [[2.5, 6.5]])
    """
    maps = [fm.convert(to_numpy) for fm in maps]
    k = len(maps)
    d = maps[0].shift.shape[0]
    # u = mean_k [S_k x + t_k + shift_k + Delta_k (S_k x + t_k - c_k)], with center 0:
    # the constant is mean_k map_k(t_k); the linear part mean_k (I + Delta_k) S_k.
    scales = [np.broadcast_to(np.asarray(s, np.float64), (d,)) for s in scales]
    offsets = [np.broadcast_to(np.asarray(t, np.float64), (d,)) for t in offsets]
    shift = sum(fm.apply(t[None, :])[0] for fm, t in zip(maps, offsets)) / k
    diag = sum(s * (1.0 + (0.0 if fm.scale_delta is None else fm.scale_delta))
               for fm, s in zip(maps, scales)) / k - 1.0
    out = FeatureMap(shift=shift, center=np.zeros(d), scale_delta=diag)
    if any(fm.delta is not None for fm in maps):
        out.delta = sum(fm.M * s[None, :] for fm, s in zip(maps, scales)) / k - np.eye(d)
        out.scale_delta = None
    elif any(fm.coef is not None for fm in maps):
        duals = [(fm.anchors * s[None, :], fm.coef / k)
                 for fm, s in zip(maps, scales) if fm.coef is not None]
        out.anchors = np.vstack([a for a, _ in duals])
        out.coef = np.vstack([c for _, c in duals])
    return out


def invert_map(M, m):
    """The paper's reference-side map ``z -> A z + b`` with ``A = M^{-1}``, ``b = -A m``.

    A singular ``M`` falls back to the pseudo-inverse.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import invert_map
    >>> M, m = 2 * np.eye(2), np.array([0.0, 1.0])
    >>> A, b = invert_map(M, m)
    >>> (A @ (M @ np.array([3.0, 4.0]) + m) + b).tolist()
    [3.0, 4.0]
    """
    try:
        A = np.linalg.inv(M)
        if not np.all(np.isfinite(A)):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        A = np.linalg.pinv(M)
    return A, -A @ m
