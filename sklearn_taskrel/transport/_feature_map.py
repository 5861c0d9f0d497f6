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
``"identity"``.
"""

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve

FEATURE_MAPS = ("affine", "diagonal", "translation", "identity")


@dataclass
class FeatureMap:
    """Target-to-reference affine map ``u = x + Delta (x - center) + shift``.

    ``Delta`` is stored densely (``delta``, shape (d, d)), as a diagonal
    (``scale_delta``), or in dual form ``Delta = coef.T @ anchors`` with ``anchors``
    and ``coef`` of shape (n, d); all ``None`` is a pure translation.
    """

    shift: np.ndarray
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
        elif self.scale_delta is not None:
            U = U + Xc * self.scale_delta
        else:
            U = U + (Xc @ self.anchors.T) @ self.coef
        return U

    @property
    def M(self):
        """The linear part as a dense ``(d, d)`` array."""
        d = self.shift.shape[0]
        M = np.eye(d)
        if self.delta is not None:
            M += self.delta
        elif self.scale_delta is not None:
            M[np.arange(d), np.arange(d)] += self.scale_delta
        elif self.coef is not None:
            M += self.coef.T @ self.anchors
        return M

    @property
    def m(self):
        """The offset: ``u = M x + m``."""
        if self.center is None:
            return self.shift.copy()
        return self.shift - (self.M - np.eye(self.shift.shape[0])) @ self.center


def apply_map(X, M, m):
    """``X @ M.T + m``; ``M=None`` means the identity."""
    if M is None:
        return X + m if m is not None else X
    return X @ M.T + m


class RidgeMapSolver:
    """Solves the map step repeatedly for fixed target points and weights.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Target points.
    w : ndarray of shape (n,)
        Mass of each target point in the plans (fixed across iterations).
    kind : {"affine", "diagonal", "translation", "identity"}
    alpha : float
        Ridge strength toward the identity.
    """

    def __init__(self, X, w, kind, alpha):
        self.X, self.kind, self.alpha = X, kind, float(alpha)
        n, d = X.shape
        self.w = w
        self.sw = float(w.sum())
        self.center = (w @ X) / self.sw
        self.Xc = X - self.center
        self.dual = False
        if kind == "affine":
            self.dual = n <= d
            sq = np.sqrt(w)
            if self.dual:
                K = self.Xc @ self.Xc.T
                Ks = (sq[:, None] * K) * sq[None, :]
                Ks[np.arange(n), np.arange(n)] += max(self.alpha, 1e-10)
                self.factor = cho_factor(Ks, check_finite=False)
                self.sq = sq
                # Hat matrix: X_c Delta^T = K W^1/2 Ks^-1 W^-1/2 (W S) = H (W S).
                self.H = cho_solve(self.factor, (K * sq[None, :]).T,
                                   check_finite=False).T / sq[None, :]
            else:
                G = (self.Xc * w[:, None]).T @ self.Xc
                G[np.arange(d), np.arange(d)] += max(self.alpha, 1e-10)
                self.factor = cho_factor(G, check_finite=False)
        elif kind == "diagonal":
            self.sxx = w @ (self.Xc * self.Xc)

    def step(self, Y):
        """Map step for plan statistics ``Y[j] = sum_i P_ij z_i``.

        Returns
        -------
        state : tuple
            What :meth:`build` needs to materialise the map (cheap to keep).
        mapped : ndarray of shape (n, d)
            The mapped target points, computed without forming the map.
        """
        if self.kind == "identity":
            return None, self.X
        ybar = Y.sum(axis=0) / self.sw
        shift = ybar - self.center
        if self.kind == "translation":
            return (shift, None), self.X + shift
        # Centered residual targets, weighted: w_j * (yhat_j - ybar - x_jc).
        WS = Y - self.w[:, None] * (ybar + self.Xc)
        if self.kind == "diagonal":
            delta = np.einsum("jk,jk->k", self.Xc, WS) / (self.sxx + self.alpha)
            return (shift, delta), self.X + shift + self.Xc * delta
        if self.dual:
            return (shift, WS), self.X + shift + self.H @ WS
        delta = cho_solve(self.factor, self.Xc.T @ WS, check_finite=False).T
        return (shift, delta), self.X + shift + self.Xc @ delta.T

    def build(self, state):
        """The :class:`FeatureMap` of a state returned by :meth:`step`."""
        d = self.X.shape[1]
        if state is None:
            return FeatureMap.identity(d)
        shift, part = state
        if self.kind == "translation":
            return FeatureMap(shift=shift)
        if self.kind == "diagonal":
            return FeatureMap(shift=shift, center=self.center, scale_delta=part)
        if self.dual:
            # Delta = S_c^T W^1/2 (W^1/2 K W^1/2 + a I)^-1 W^1/2 X_c = coef^T X_c
            coef = self.sq[:, None] * cho_solve(
                self.factor, part / self.sq[:, None], check_finite=False)
            return FeatureMap(shift=shift, center=self.center, anchors=self.Xc, coef=coef)
        return FeatureMap(shift=shift, center=self.center, delta=part)


def invert_map(M, m):
    """The paper's reference-side map ``z -> A z + b`` with ``A = M^{-1}``, ``b = -A m``.

    A singular ``M`` falls back to the pseudo-inverse.
    """
    try:
        A = np.linalg.inv(M)
        if not np.all(np.isfinite(A)):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        A = np.linalg.pinv(M)
    return A, -A @ m
