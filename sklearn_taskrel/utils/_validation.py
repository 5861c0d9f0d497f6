"""Input checks shared by the transport core, the estimators and the metrics.

Every error names the parameter and the value (or its shape) that was received.
Only numpy and scikit-learn are imported here.
"""

import hashlib
import numbers
import warnings

import numpy as np
from sklearn.exceptions import DataConversionWarning
from sklearn.utils import check_array
from sklearn.utils.multiclass import type_of_target


def _plain(value):
    """A numpy scalar as the Python number it holds (``1.5``, not ``np.float64(1.5)``)."""
    return value.item() if isinstance(value, np.generic) else value


def _describe(value):
    """Short, safe description of a value for an error message."""
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__} of shape {tuple(shape)}"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of length {len(value)}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_embeddings(X, *, name="X", dtype=np.float64, min_samples=1, copy=False):
    """Validate a 2-D array of embeddings.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Embeddings. Sparse matrices and non-finite values are rejected.
    name : str, default="X"
        The parameter name used in error messages.
    dtype : numpy dtype, default=np.float64
        Output dtype; float16 input is upcast.
    min_samples : int, default=1
        Minimum number of rows.
    copy : bool, default=False
        Force a copy.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)

    Examples
    --------
    >>> from sklearn_taskrel.utils import check_embeddings
    >>> check_embeddings([[0, 1], [2, 3]]).dtype
    dtype('float64')
    """
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(
            f"{name} must be a dense array of embeddings; got a sparse matrix "
            f"({_describe(X)}). Call .toarray() first if it fits in memory."
        )
    if hasattr(X, "detach") and hasattr(X, "cpu"):  # torch tensor
        X = X.detach().cpu().numpy()
    try:
        X = check_array(
            X,
            dtype=dtype,
            ensure_2d=True,
            ensure_all_finite=True,
            ensure_min_samples=min_samples,
            input_name=name,
            copy=copy,
        )
    except ValueError as exc:
        msg = str(exc)
        if name not in msg:
            msg = f"{name}: {msg}"
        raise ValueError(msg) from None
    return X


def check_labels(y, *, n_samples=None, name="y", allow_continuous=False):
    """Validate class labels and encode them as ``0..K-1``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels of any hashable, sortable type (ints, strings, ...).
    n_samples : int or None, default=None
        Expected length; a mismatch raises ``ValueError``.
    name : str, default="y"
        Parameter name for error messages.
    allow_continuous : bool, default=False
        Accept float targets that are not integral (regression).

    Returns
    -------
    classes : ndarray of shape (n_classes,)
        Sorted unique labels.
    y_encoded : ndarray of shape (n_samples,), dtype int64
        Index of each label in ``classes``.

    Examples
    --------
    >>> from sklearn_taskrel.utils import check_labels
    >>> classes, codes = check_labels(["cat", "dog", "cat"])
    >>> classes.tolist(), codes.tolist()
    (['cat', 'dog'], [0, 1, 0])
    """
    if y is None:
        raise ValueError(f"{name} is required here; got None.")
    if hasattr(y, "detach") and hasattr(y, "cpu"):
        y = y.detach().cpu().numpy()
    if hasattr(y, "to_numpy"):
        y = y.to_numpy()
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            f"A column-vector {name} was passed when a 1d array was expected; it is "
            "ravelled.", DataConversionWarning, stacklevel=3)
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D class labels; got an array of shape {y.shape}."
        )
    if n_samples is not None and y.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {y.shape[0]} labels but X has {n_samples} samples; "
            "they must have the same length."
        )
    if y.shape[0] == 0:
        raise ValueError(f"{name} is empty; at least one label is required.")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{name} contains NaN or infinity.")
        if not allow_continuous and not np.all(y == np.round(y)):
            kind = type_of_target(y)
            raise ValueError(
                f"{name} must hold class labels; got continuous values "
                f"(type_of_target={kind!r}), e.g. {_plain(y[~(y == np.round(y))][0])!r}."
            )
    if y.dtype.kind == "O":
        if any(v is None or (isinstance(v, float) and np.isnan(v)) for v in y):
            raise ValueError(f"{name} contains missing labels (None or NaN).")
    try:
        classes, y_encoded = np.unique(y, return_inverse=True)
    except TypeError as exc:
        raise TypeError(
            f"{name} must hold labels of one sortable type; got mixed types ({exc})."
        ) from None
    return classes, y_encoded.astype(np.int64).ravel()


def check_class_prior(prior, n_classes, *, name="class_prior"):
    """Validate a probability vector of length ``n_classes``.

    Examples
    --------
    >>> from sklearn_taskrel.utils import check_class_prior
    >>> check_class_prior([0.25, 0.75], 2).tolist()
    [0.25, 0.75]
    """
    p = np.asarray(prior, dtype=np.float64)
    if p.ndim != 1 or p.shape[0] != n_classes:
        raise ValueError(
            f"{name} must be a vector of length {n_classes}; got {_describe(prior)}."
        )
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{name} must be finite and non-negative; got {p!r}.")
    total = p.sum()
    if not np.isclose(total, 1.0, atol=1e-6):
        raise ValueError(f"{name} must sum to 1; got a sum of {_plain(total)!r}.")
    return p / total


def check_reference_width(n_features_ref, n_features_target):
    """Raise if reference and target embeddings have different widths.

    Examples
    --------
    >>> from sklearn_taskrel.utils import check_reference_width
    >>> check_reference_width(8, 8)
    """
    if n_features_ref != n_features_target:
        raise ValueError(
            "reference and target embeddings must have the same width; got "
            f"{n_features_ref} reference features and {n_features_target} target "
            "features. Encode both with the same encoder."
        )


def check_positive_int(value, name, *, minimum=1, allow_none=False):
    """Check an integer parameter at runtime (for helpers without sklearn constraints)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {minimum}; got {_plain(value)!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {_plain(value)!r}.")
    return int(value)


def encode_like(y, classes, name, n_samples=None):
    """Encode ``y`` with known ``classes``; unknown labels raise ``ValueError``."""
    yy = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y).ravel()
    if n_samples is not None and len(yy) != n_samples:
        raise ValueError(f"{name} has {len(yy)} labels but X has {n_samples} samples.")
    idx = np.searchsorted(classes, yy)
    idx = np.clip(idx, 0, len(classes) - 1)
    bad = classes[idx] != yy
    if np.any(bad):
        raise ValueError(
            f"{name} contains labels not seen during fit: {sorted(set(yy[bad].tolist()))[:10]!r}; "
            f"known classes are {np.asarray(classes)[:20].tolist()!r}."
        )
    return classes, idx.astype(np.int64)


def array_digest(a):
    """A short fingerprint of an array's values, dtype and shape."""
    a = np.ascontiguousarray(a)
    # SHA-256 runs on the CPU's SHA extensions where present: twice blake2b's speed
    # on a 25 MB reference embedding.
    h = hashlib.sha256(a.view(np.uint8))
    h.update(f"{a.dtype}{a.shape}".encode())
    return h.hexdigest()[:32]
