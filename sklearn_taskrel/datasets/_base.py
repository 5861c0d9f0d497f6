"""Helpers shared by the dataset loaders: subsampling, resizing, return values."""

import importlib.util
import os

import numpy as np
from sklearn.utils import Bunch, check_random_state


def stratified_subsample(y, n=None, *, random_state=0):
    """Indices of a stratified random subsample of exactly ``n`` points.

    Each class keeps its share of the sample (largest-remainder rounding, and at
    least one point per class when ``n`` is at least the number of classes). The
    indices come back in a random order fixed by ``random_state``, so that the
    first samples of a loaded set are never all of one class.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels.
    n : int or None, default=None
        Size of the subsample; ``None`` keeps every sample (shuffled).
    random_state : int, RandomState instance or None, default=0
        Seeds the choice and the order.

    Returns
    -------
    indices : ndarray of shape (n,), dtype int64

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.datasets import stratified_subsample
    >>> y = np.array([0] * 80 + [1] * 20)
    >>> idx = stratified_subsample(y, 10, random_state=0)
    >>> np.bincount(y[idx]).tolist()
    [8, 2]
    """
    y = np.asarray(y)
    n_total = len(y)
    rng = check_random_state(random_state)
    if n is None:
        return rng.permutation(n_total).astype(np.int64)
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int or None; got {n!r}.")
    if not 1 <= n <= n_total:
        raise ValueError(f"n must be between 1 and {n_total} (the number of samples); got {n!r}.")
    classes, codes = np.unique(y, return_inverse=True)
    counts = np.bincount(codes, minlength=len(classes))
    exact = counts * (n / n_total)
    quota = np.floor(exact).astype(int)
    if n >= len(classes):
        quota = np.maximum(quota, 1)
    # hand out what is left by largest remainder; take back from the largest quotas
    while quota.sum() < n:
        room = quota < counts
        k = np.argmax(np.where(room, exact - quota, -np.inf))
        quota[k] += 1
    while quota.sum() > n:
        k = np.argmax(np.where(quota > 1, quota - exact, -np.inf))
        quota[k] -= 1
    keep = [rng.choice(np.flatnonzero(codes == k), size=q, replace=False)
            for k, q in enumerate(quota) if q > 0]
    idx = np.concatenate(keep)
    return idx[rng.permutation(len(idx))].astype(np.int64)


def to_rgb_nchw(images, size=None, *, scale=255.0):
    """Grey or RGB images to a float32 ``(n, 3, size, size)`` array in [0, 1].

    Parameters
    ----------
    images : ndarray of shape (n, H, W) or (n, H, W, 3)
        Pixel values in ``[0, scale]``.
    size : int or None, default=None
        Side of the square output (bilinear, antialiased when shrinking);
        ``None`` keeps the input size.
    scale : float, default=255.0
        Value of a white pixel in ``images``.

    Returns
    -------
    X : ndarray of shape (n, 3, size, size), dtype float32
    """
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(scale)
    if x.ndim == 3:
        x = x[:, None]
    else:
        x = x.permute(0, 3, 1, 2)
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        shrink = size < max(x.shape[-2:])
        out = []
        for start in range(0, len(x), 1024):  # bounded memory for big sets
            out.append(F.interpolate(x[start:start + 1024], size=(size, size),
                                     mode="bilinear", align_corners=False,
                                     antialias=shrink))
        x = torch.cat(out) if out else x
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x.clamp(0.0, 1.0).contiguous().numpy()


def check_size(size, name="size"):
    if size is None:
        return None
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"{name} must be a positive int or None; got {size!r}.")
    return int(size)


def package_dir(module, *, pip_name, pip_args="", extra=None):
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        hint = f"`pip install {pip_args}{pip_name}`"
        if extra is not None:
            hint += f" (or `pip install sklearn-taskrel[{extra}]`)"
        raise ImportError(
            f"this loader needs the pip package {pip_name!r}, which is not installed. "
            f"Install it with {hint}."
        ) from None
    return os.path.dirname(spec.origin)


def apt_file(path, *, apt_name, what):
    """``path`` if it exists, else a ``FileNotFoundError`` with the apt command."""
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{what} was not found at {path!r}. It comes from the Debian/Ubuntu package "
            f"{apt_name!r}: install it with `apt-get install {apt_name}` (as root), "
            "or pass data_home= pointing to a folder that holds the same files."
        ) from None
    return path


def finish(X, y, target_names, descr, return_X_y, **extra):
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, target_names=np.asarray(target_names), DESCR=descr, **extra)
