"""Plain callables on numpy arrays as encoders."""

import numpy as np

from sklearn_taskrel.encoders._adapter import BaseAdapter


class FunctionEncoder(BaseAdapter):
    """A function on numpy batches as an encoder (like ``FunctionTransformer``).

    ``func(batch, **kw_args)`` receives each batch as a numpy array (tensors are
    moved to the CPU and converted) and returns ``(batch_size, n_features)``.
    Any extracted feature, a fitted scikit-learn transformer's ``transform``, a
    random projection, or a hand-written descriptor fits here. Its fingerprint
    covers the function's code, its closure, a bound method's object and
    ``kw_args``.

    Parameters
    ----------
    func : callable
        ``func(ndarray, **kw_args) -> array-like``.
    kw_args : dict or None, default=None
        Extra keyword arguments of ``func`` (searchable as ``encoder__kw_args``).
    dtype : str or None, default="float32"
        Cast numeric batches to this dtype before ``func`` (``None`` leaves them);
        batches of strings or objects are passed unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.encoders import FunctionEncoder
    >>> def moments(X, order=2):
    ...     return np.stack([np.mean(X ** k, axis=1) for k in range(1, order + 1)], axis=1)
    >>> enc = FunctionEncoder(moments, kw_args={"order": 3})
    >>> enc(np.arange(6.0).reshape(2, 3)).shape
    (2, 3)

    A fitted PCA as the encoder:

    >>> from sklearn.decomposition import PCA
    >>> pca = PCA(2).fit(np.random.RandomState(0).normal(size=(20, 5)))
    >>> FunctionEncoder(pca.transform)(np.zeros((4, 5))).shape
    (4, 2)
    """

    _fingerprint_exclude = ()

    def __init__(self, func, *, kw_args=None, dtype="float32"):
        self.func = func
        self.kw_args = kw_args
        self.dtype = dtype

    def encode(self, batch):
        """``func(batch)`` as a float32 array.

        Returns
        -------
        Z : ndarray of shape (batch_size, n_features), dtype float32
        """
        if not callable(self.func):
            raise TypeError(f"func must be callable; got {type(self.func).__name__}.")
        if hasattr(batch, "detach"):
            batch = batch.detach().cpu().numpy()
        if self.dtype is not None:
            arr = np.asarray(batch)
            if arr.dtype.kind in "biuf":  # texts and objects are passed as they are
                batch = arr.astype(self.dtype, copy=False)
        out = self.func(batch, **(self.kw_args or {}))
        if hasattr(out, "toarray"):  # scipy sparse
            out = out.toarray()
        return np.asarray(out, dtype=np.float32)
