"""A small JSON cache for results that are expensive to recompute.

Each entry is one JSON file named by the SHA-1 of its key (a JSON-serialisable
description of everything the value depends on), so that a rerun with the same
data, encoder and settings reads the value instead of recomputing it.
"""

import hashlib
import json
import os
import time


def stable_hash(obj):
    """SHA-1 of a JSON-serialisable object (keys sorted)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


class JSONStore:
    """JSON values under ``root/<namespace>/<hash>.json``.

    Parameters
    ----------
    root : str or path-like or None
        Folder of the cache; ``None`` disables caching (every call computes).
    """

    def __init__(self, root):
        self.root = None if root is None else os.fspath(root)
        self.hits = 0
        self.misses = 0

    def _path(self, namespace, key):
        return os.path.join(self.root, namespace, stable_hash(key) + ".json")

    def get(self, namespace, key):
        """The cached value of ``key`` or ``None``."""
        if self.root is None:
            return None
        path = self._path(namespace, key)
        if not os.path.exists(path):
            return None
        with open(path) as fh:
            self.hits += 1
            return json.load(fh)["value"]

    def put(self, namespace, key, value):
        """Store ``value`` (a JSON-serialisable dict) under ``key``; returns it."""
        self.misses += 1
        if self.root is not None:
            path = self._path(namespace, key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w") as fh:
                json.dump({"key": key, "value": value}, fh, default=_to_builtin)
            os.replace(tmp, path)
        return value

    def get_or_compute(self, namespace, key, compute):
        """The cached value of ``key``, or ``compute()`` stored under it.

        ``compute`` returns a JSON-serialisable dict; the wall time it took is
        stored with it as ``_seconds`` (so reruns report the original cost).
        """
        cached = self.get(namespace, key)
        if cached is not None:
            return cached
        t0 = time.perf_counter()
        value = dict(compute())
        value.setdefault("_seconds", time.perf_counter() - t0)
        return self.put(namespace, key, value)


def _to_builtin(obj):
    """``json.dump`` fallback for numpy scalars and arrays."""
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def code_fingerprint(*patterns):
    """SHA-1 of the contents of the package files matching ``patterns``.

    Part of the cache keys of scores: a change to the estimator or to the metrics
    (by anyone) invalidates the cached scores that depend on it.
    """
    import glob

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    h = hashlib.sha1()
    for pattern in patterns:
        for path in sorted(glob.glob(os.path.join(root, pattern), recursive=True)):
            h.update(os.path.relpath(path, root).encode())
            with open(path, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


TR_CODE = ("sklearn_taskrel/_estimator.py", "sklearn_taskrel/_head.py",
           "sklearn_taskrel/_reference.py", "sklearn_taskrel/transport/*.py",
           "sklearn_taskrel/utils/*.py")
METRICS_CODE = ("sklearn_taskrel/metrics/*.py",)
