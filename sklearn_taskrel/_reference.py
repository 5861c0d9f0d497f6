"""The reference task: a labelled sample the target is compared with."""

import hashlib

import numpy as np


class ReferenceTask:
    """A labelled reference task, shared (not copied) by every clone of an estimator.

    ``clone`` deep-copies every non-estimator parameter, so a ``(X, y)`` tuple in a
    grid of 20 encoders and 5 folds would be copied 100 times. A ``ReferenceTask``
    is treated as immutable and shares its arrays with its copies.

    It also remembers the reference heads fitted on it (keyed by a hash of the
    reference embeddings and the head's parameters), so the folds of a
    cross-validation, or several targets ranked with one encoder, fit the head
    once. The head fit is deterministic, so a cached head is the head a refit
    would give. :meth:`clear_cache` forgets them.

    Parameters
    ----------
    X : array-like, tensor or list of length n_samples
        Raw inputs (encoded with the estimator's encoder) or, when the estimator
        has ``encoder=None``, embeddings of shape (n_samples, n_features).
    y : array-like of shape (n_samples,)
        Reference labels (any sortable type).
    X_eval, y_eval : optional
        A held-out reference sample on which the per-class losses of the reference
        head are measured (the authors use the reference test split). By default
        the losses are measured on ``X, y``.
    name : str or None
        Shown in reports.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel import ReferenceTask
    >>> ref = ReferenceTask(np.zeros((4, 2)), [0, 1, 0, 1], name="toy")
    >>> ref
    ReferenceTask(name='toy', n_samples=4)
    >>> import copy; copy.deepcopy(ref) is ref
    True
    """

    def __init__(self, X, y, *, X_eval=None, y_eval=None, name=None):
        self.X = X
        self.y = y
        self.X_eval = X_eval
        self.y_eval = y_eval
        self.name = name
        self._heads = {}

    #: Fitted heads kept per reference task (oldest dropped first).
    max_cached_heads = 32

    def cached_head(self, key, compute):
        """``compute()`` once per ``key``; later calls return the stored result."""
        heads = self.__dict__.setdefault("_heads", {})
        if key not in heads:
            if len(heads) >= self.max_cached_heads:
                heads.pop(next(iter(heads)))
            heads[key] = compute()
        return heads[key]

    def clear_cache(self):
        """Forget the cached reference heads."""
        self.__dict__["_heads"] = {}

    def __getstate__(self):
        # Pickled copies (joblib workers) start with an empty cache.
        state = dict(self.__dict__)
        state["_heads"] = {}
        return state

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self

    def __len__(self):
        return len(self.y)

    def __repr__(self):
        return f"ReferenceTask(name={self.name!r}, n_samples={len(self.y)})"

    def fingerprint(self):
        """Hash of the reference data (for caches)."""
        h = hashlib.sha1()
        for part in (self.X, self.y, self.X_eval, self.y_eval):
            if part is None:
                h.update(b"none")
                continue
            arr = np.asarray(part)
            if arr.dtype == object:
                h.update(repr(arr.tolist()).encode())
            else:
                h.update(str(arr.shape).encode())
                h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()


def as_reference_task(reference):
    """Turn the ``reference`` parameter into a :class:`ReferenceTask` (or ``None``)."""
    if reference is None or isinstance(reference, ReferenceTask):
        return reference
    if isinstance(reference, str):
        return named_reference(reference)
    if isinstance(reference, dict) and {"X", "y"} <= set(reference):
        return ReferenceTask(**reference)
    if isinstance(reference, (tuple, list)) and len(reference) in (2, 4):
        if len(reference) == 2:
            return ReferenceTask(reference[0], reference[1])
        return ReferenceTask(reference[0], reference[1], X_eval=reference[2],
                             y_eval=reference[3])
    raise TypeError(
        "reference must be None, a built-in task name ('digits', 'tweets', ...), a "
        "ReferenceTask, a (X_ref, y_ref) tuple, a "
        "(X_ref, y_ref, X_eval, y_eval) tuple or a dict with keys 'X' and 'y'; "
        f"got {type(reference).__name__}."
    )


_NAMED = {}


def named_reference(name):
    """The built-in task ``name`` as a :class:`ReferenceTask` (1000 stratified samples,
    images at 64 pixels), loaded once per process and shared, so its fitted heads are
    reused across fits.

    Examples
    --------
    >>> from sklearn_taskrel._reference import named_reference
    >>> named_reference("digits") is named_reference("digits")
    True
    """
    if name not in _NAMED:
        from sklearn_taskrel.datasets import load_task

        X, y = load_task(name)
        _NAMED[name] = ReferenceTask(X, y, name=name)
    return _NAMED[name]
