"""Lipschitz constants of the transformed classifier's loss (numpy only).

For a linear head ``s = W u + c`` and the transformed classifier
``h(u) = B softmax(s)``, the cross-entropy ``f_t(u) = -log (B softmax(W u + c))_t``
has gradient ``W^T (q - rho)``, where ``q = softmax(s)`` and
``rho_r = B[t, r] q_r / (B q)_t`` are both distributions. ``q - rho`` lies in
``{v : sum(v) = 0, ||v||_1 <= 2}`` whose extreme points are ``e_k - e_l``, so

.. math:: \\sup_u \\|\\nabla f_t(u)\\| \\le \\max_{k,l} \\|w_k - w_l\\|_2 ,

a certified Lipschitz constant for every ``B``, every label and every input.
The authors instead measure the largest gradient norm on sample points, which is a
lower estimate of it.

As a function of the logits ``s`` themselves the gradient is ``q - rho``, whose
norm is at most ``||e_k - e_l|| = sqrt(2)`` (:data:`LOGIT_LIPSCHITZ`) whatever the
head: measuring the transport between head logits instead of head inputs gives a
bound that does not depend on the width of the embeddings.
"""

import numpy as np

#: Certified Lipschitz constant of the transformed cross-entropy in the head's
#: logits (``sqrt(2)``, for every label map and label).
LOGIT_LIPSCHITZ = float(np.sqrt(2.0))


def certified_lipschitz(W):
    """``max_{k,l} ||w_k - w_l||``: the Lipschitz constant of the head's loss.

    Parameters
    ----------
    W : ndarray of shape (n_classes, n_features)
        Weight matrix of the linear head.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import certified_lipschitz
    >>> float(certified_lipschitz(np.array([[0.0, 0.0], [3.0, 4.0]])))
    5.0
    """
    W = np.asarray(W, dtype=np.float64)
    sq = np.sum(W * W, axis=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * W @ W.T
    return float(np.sqrt(max(d2.max(), 0.0)))


def softmax(S):
    S = S - S.max(axis=1, keepdims=True)
    E = np.exp(S)
    return E / E.sum(axis=1, keepdims=True)


def empirical_lipschitz(U, W, c, B=None, *, batch_size=4096):
    """Largest input-gradient norm of the loss over points ``U`` and all labels.

    Parameters
    ----------
    U : ndarray of shape (n, d)
        Points in the head's input space.
    W, c : head weights (K_R, d) and bias (K_R,).
    B : ndarray of shape (K_T, K_R) or None
        Label map; ``None`` is the identity (the head's own loss).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import certified_lipschitz, empirical_lipschitz
    >>> W, c = np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2)
    >>> U = np.array([[0.0, 0.0], [5.0, -5.0]])
    >>> bool(empirical_lipschitz(U, W, c) <= certified_lipschitz(W))
    True
    """
    W = np.asarray(W, dtype=np.float64)
    K_R = W.shape[0]
    B = np.eye(K_R) if B is None else np.asarray(B, dtype=np.float64)
    # rho_t = B[t] q / (B[t] . q) is the posterior of the reference classes given
    # label t, computed as softmax(S + log B[t]) so that it stays exact when every
    # reference class of label t has a probability that underflows to 0.
    with np.errstate(divide="ignore"):
        log_B = np.log(B)
    best = 0.0
    for start in range(0, U.shape[0], batch_size):
        S = U[start:start + batch_size] @ W.T + c                    # (n, K_R)
        q = softmax(S)
        for t in range(B.shape[0]):
            if not np.any(B[t] > 0):  # a label no reference class maps to: no loss
                continue
            rho = softmax(S + log_B[t][None, :])
            g = (q - rho) @ W                                        # (n, d)
            best = max(best, float(np.sqrt((g * g).sum(axis=1)).max()))
    return best
