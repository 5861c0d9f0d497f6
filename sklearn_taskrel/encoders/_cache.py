"""An on-disk embedding cache keyed on the encoder's identity and the data.

A zoo is then encoded once per dataset: TR, the baselines and every fold of a grid
search read the same embeddings. Keys combine :func:`encoder_fingerprint` (class and
weights for modules, :meth:`Encoder.fingerprint` for adapters), :func:`joblib.hash`
of the inputs and the options that change the output (mixed precision).
"""

import hashlib
import os
import threading

import joblib
import numpy as np

from sklearn_taskrel.encoders._base import encoder_fingerprint
from sklearn_taskrel.encoders._extract import extract_embeddings
from sklearn_taskrel.encoders._specs import build_encoder


class EmbeddingCache:
    """Embeddings stored as ``.npy`` files under ``location``.

    Parameters
    ----------
    location : str or path-like
        Directory (created if needed). ``~`` and environment variables
        (``$HOME/...``) are expanded. Several processes may share it: files are
        written atomically.
    verbose : int, default=0
        Print one line per hit or miss (with sizes).

    Attributes
    ----------
    hits, misses : int
        Counters for this object.
    bytes_written : int

    Examples
    --------
    >>> import tempfile, numpy as np, torch
    >>> from sklearn_taskrel.encoders import EmbeddingCache
    >>> cache = EmbeddingCache(tempfile.mkdtemp())
    >>> enc = torch.nn.Linear(3, 2)
    >>> X = np.ones((4, 3), np.float32)
    >>> Z1 = cache.extract(enc, X, device="cpu"); Z2 = cache.extract(enc, X, device="cpu")
    >>> (cache.hits, cache.misses), bool(np.array_equal(Z1, Z2))
    ((1, 1), True)
    """

    def __init__(self, location, verbose=0):
        self.location = os.path.expandvars(os.path.expanduser(os.fspath(location)))
        self.verbose = verbose
        self.hits = 0
        self.misses = 0
        self.bytes_written = 0
        self._lock = threading.Lock()

    def __repr__(self):
        return f"EmbeddingCache({self.location!r})"

    def __deepcopy__(self, memo):
        return self

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_lock", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def key(self, encoder, X, *, mixed_precision=False):
        """Cache key of ``encoder`` applied to ``X``."""
        h = hashlib.sha1()
        h.update(encoder_fingerprint(encoder).encode())
        if isinstance(X, np.ndarray) and type(X) is not np.ndarray:
            # joblib hands large arrays to its workers as np.memmap, which joblib.hash
            # tells apart from the same values in an ndarray: key the values only.
            X = X.view(np.ndarray)
        h.update(joblib.hash(X).encode())
        h.update(b"amp" if mixed_precision else b"fp32")
        return h.hexdigest()

    def extract(self, encoder, X, **kwargs):
        """:func:`extract_embeddings` through the cache (same arguments)."""
        enc = build_encoder(encoder)
        key = self.key(enc, X, mixed_precision=kwargs.get("mixed_precision", False))
        path = os.path.join(self.location, key[:2], key + ".npy")
        if os.path.exists(path):
            Z = np.load(path)
            with self._lock:
                self.hits += 1
            if self.verbose:
                print(f"[EmbeddingCache] hit  {key[:12]} {Z.shape} ({Z.nbytes / 2**20:.1f} MiB)")
            return Z
        Z = extract_embeddings(enc, X, **kwargs)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(tmp, "wb") as fh:
            np.save(fh, Z)
        os.replace(tmp, path)
        with self._lock:
            self.misses += 1
            self.bytes_written += Z.nbytes
        if self.verbose:
            print(f"[EmbeddingCache] miss {key[:12]} {Z.shape} ({Z.nbytes / 2**20:.1f} MiB written)")
        return Z

    def size_bytes(self):
        """Total size of the cached files."""
        total = 0
        for root, _, files in os.walk(self.location):
            total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
        return total


def default_cache_dir():
    """The platform's cache folder for embeddings (what ``cache=True`` uses).

    ``$SKLEARN_TASKREL_CACHE`` if set; else ``$XDG_CACHE_HOME/sklearn_taskrel``
    (``~/.cache/sklearn_taskrel``) on Linux, ``~/Library/Caches/sklearn_taskrel`` on
    macOS and ``%LOCALAPPDATA%\\sklearn_taskrel\\Cache`` on Windows.

    Examples
    --------
    >>> import os
    >>> from sklearn_taskrel.encoders import default_cache_dir
    >>> os.path.basename(default_cache_dir().rstrip(os.sep)) in ("sklearn_taskrel", "Cache")
    True
    """
    import sys

    if os.environ.get("SKLEARN_TASKREL_CACHE"):
        return os.path.expanduser(os.path.expandvars(os.environ["SKLEARN_TASKREL_CACHE"]))
    if sys.platform == "win32":
        root = os.environ.get("LOCALAPPDATA") or os.path.expanduser(r"~\AppData\Local")
        return os.path.join(root, "sklearn_taskrel", "Cache")
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Caches/sklearn_taskrel")
    root = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(root, "sklearn_taskrel")


def as_cache(memory, verbose=0):
    """Resolve a ``memory`` parameter: None, False, True (the platform's cache folder,
    :func:`default_cache_dir`), a path, a joblib.Memory or an EmbeddingCache."""
    if memory is None or memory is False or isinstance(memory, EmbeddingCache):
        return memory or None
    if memory is True:
        return EmbeddingCache(default_cache_dir(), verbose=verbose)
    if isinstance(memory, (str, os.PathLike)):
        return EmbeddingCache(memory, verbose=verbose)
    location = getattr(memory, "location", None)
    if location is not None:  # joblib.Memory
        return EmbeddingCache(os.path.join(location, "sklearn_taskrel_embeddings"),
                              verbose=verbose)
    raise TypeError(
        "memory must be None, True (the platform's cache folder), a directory path, a "
        "joblib.Memory or an EmbeddingCache; "
        f"got {type(memory).__name__}."
    )
