"""The few array operations of the transport core that differ between numpy and torch.

The core works on numpy arrays (CPU) or torch tensors on any device (the estimators
pass tensors when ``device`` resolves to CUDA). Cost matrices, plan statistics and
the feature map's linear algebra then stay on the device; only the exact
network-simplex solve (``ot.emd``) runs on the CPU, on one small class block at a
time. torch is imported only when a tensor is seen.
"""

import numpy as np


def is_torch(x):
    return type(x).__module__.startswith("torch")


def to_numpy(x):
    if is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def like(x, values, dtype=None):
    """``values`` (numpy) as the same kind of array as ``x`` (and on its device)."""
    if is_torch(x):
        import torch

        return torch.as_tensor(np.asarray(values), dtype=dtype or x.dtype, device=x.device)
    return np.asarray(values, dtype=dtype or x.dtype)


def zeros(x, shape):
    if is_torch(x):
        import torch

        return torch.zeros(shape, dtype=x.dtype, device=x.device)
    return np.zeros(shape, dtype=x.dtype)


def eye(x, d):
    if is_torch(x):
        import torch

        return torch.eye(d, dtype=x.dtype, device=x.device)
    return np.eye(d, dtype=x.dtype)


def concat(arrays):
    if is_torch(arrays[0]):
        import torch

        return torch.cat(list(arrays), dim=0)
    return np.concatenate(arrays, axis=0)


def astype(x, dtype):
    """``x`` as ``dtype`` (a numpy dtype name), keeping its kind and device."""
    if is_torch(x):
        import torch

        return x.to(getattr(torch, dtype))
    return np.asarray(x, dtype=dtype)


def as_float64(x):
    return astype(x, "float64")


def einsum(spec, *ops):
    if is_torch(ops[0]):
        import torch

        return torch.einsum(spec, *ops)
    return np.einsum(spec, *ops)


def cholesky_factor(G):
    """A factorisation usable by :func:`cholesky_solve` (lstsq fallback if not SPD)."""
    if is_torch(G):
        import torch

        L, info = torch.linalg.cholesky_ex(G)
        return ("torch", L if int(info) == 0 else None, G)
    from scipy.linalg import cho_factor

    try:
        return ("numpy", cho_factor(G, check_finite=False), G)
    except np.linalg.LinAlgError:
        return ("numpy", None, G)


def cholesky_solve(factor, B):
    kind, f, G = factor
    if kind == "torch":
        import torch

        if f is None:
            return torch.linalg.lstsq(G, B).solution
        return torch.cholesky_solve(B, f)
    from scipy.linalg import cho_solve

    if f is None:
        return np.linalg.lstsq(G, B, rcond=None)[0]
    return cho_solve(f, B, check_finite=False)
