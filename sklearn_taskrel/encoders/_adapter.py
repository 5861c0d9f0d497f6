"""Shared machinery of the encoder adapters.

An adapter is an :class:`~sklearn_taskrel.encoders.Encoder` *and* a scikit-learn
parameter object: ``get_params``/``set_params`` work, so a grid can search
``encoder__layer`` or ``encoder__pooling``.

Copies and clones
-----------------
The :class:`Encoder` base shares itself on ``deepcopy``. That is safe for an
object nobody mutates, but adapters have parameters, and
``GridSearchCV`` does ``clone(estimator).set_params(encoder__layer=...)``: if the
clone were the same adapter, every candidate (and the user's own object) would
see the last layer set. Adapters therefore copy *shallowly*: ``clone``,
``copy.copy`` and ``copy.deepcopy`` return a new adapter with the same parameter
values (the same model objects, not copies of them) that also shares the model
already loaded from a path or factory. Weights are never copied, and
``set_params`` on a copy never reaches the original.
"""

import contextlib
import functools
import hashlib
import inspect
import os
import threading
import types

import numpy as np
from sklearn.base import BaseEstimator

from sklearn_taskrel.encoders._base import Encoder, encoder_fingerprint
from sklearn_taskrel.encoders._batches import embed_batches
from sklearn_taskrel.encoders._context import current_context

_SIMPLE = (type(None), bool, int, float, complex, str, bytes, np.integer, np.floating,
           np.bool_)

_PATH_HASHES = {}
_PATH_LOCK = threading.Lock()


def _hash_file(path, h):
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)


def path_identity(path):
    """Content hash of a file or of every file in a folder (memoised by size and mtime)."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        files = sorted(
            os.path.join(root, f)
            for root, dirs, names in os.walk(path)
            if not any(part.startswith(".") for part in os.path.relpath(root, path).split(os.sep)
                       if part != ".")
            for f in names if not f.startswith(".")
        )
    else:
        files = [path]
    stamp = tuple((f, os.path.getsize(f), os.path.getmtime(f)) for f in files)
    with _PATH_LOCK:
        if _PATH_HASHES.get(path, (None,))[0] == stamp:
            return _PATH_HASHES[path][1]
    h = hashlib.sha1()
    for f in files:
        if f != path:  # a folder: its layout counts; a file: only its bytes
            h.update(os.path.relpath(f, path).encode())
        _hash_file(f, h)
    digest = h.hexdigest()
    with _PATH_LOCK:
        _PATH_HASHES[path] = (stamp, digest)
    return digest


def _callable_identity(obj):
    if isinstance(obj, functools.partial):
        return "partial(%s|%s|%s)" % (
            _callable_identity(obj.func),
            ",".join(value_identity(a) for a in obj.args),
            ",".join(f"{k}={value_identity(v)}" for k, v in sorted(obj.keywords.items())))
    if isinstance(obj, types.MethodType):
        return f"method({_callable_identity(obj.__func__)}|{value_identity(obj.__self__)})"
    name = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"
    code = getattr(obj, "__code__", None)
    if code is not None:  # functions and lambdas: the code itself, and its defaults
        h = hashlib.sha1(code.co_code)
        h.update(repr(code.co_consts).encode("utf-8", "replace"))
        if obj.__defaults__:
            h.update(",".join(value_identity(d) for d in obj.__defaults__).encode())
        if obj.__closure__:
            for cell in obj.__closure__:
                try:
                    h.update(value_identity(cell.cell_contents).encode())
                except ValueError:  # empty cell
                    pass
        name += ":" + h.hexdigest()
    return name


def value_identity(value, *, is_path=False):
    """A string that changes when ``value`` would change the embeddings.

    Handles scalars, containers, paths (content hash), callables (qualified name
    and code), ``nn.Module`` (state-dict hash), skorch nets, adapters, ONNX
    Runtime sessions, tokenizers and spaCy pipelines; other objects are hashed
    with :func:`joblib.hash`.
    """
    if isinstance(value, Encoder):
        return "encoder:" + value.fingerprint()
    if isinstance(value, (str, os.PathLike)) and is_path and os.path.exists(value):
        return "path:" + path_identity(value)
    if isinstance(value, _SIMPLE):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(value_identity(v, is_path=is_path) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k!r}:{value_identity(v)}" for k, v in sorted(
            value.items(), key=lambda kv: repr(kv[0]))) + "}"
    if isinstance(value, np.ndarray):
        h = hashlib.sha1(str((value.dtype, value.shape)).encode())
        h.update(np.ascontiguousarray(value).tobytes() if value.dtype != object
                 else repr(value.tolist()).encode())
        return "array:" + h.hexdigest()
    kind = type(value).__module__.split(".")[0]
    if kind == "skorch" and hasattr(value, "module_"):
        return "skorch:" + encoder_fingerprint(value.module_)
    try:
        import torch

        if isinstance(value, torch.nn.Module):
            return "module:" + encoder_fingerprint(value)
    except ImportError:  # pragma: no cover
        pass
    if kind == "onnxruntime":
        model_path = getattr(value, "_model_path", None)
        if model_path:
            return "onnx:" + path_identity(model_path)
        model_bytes = getattr(value, "_model_bytes", None)
        if model_bytes:
            return "onnx:" + hashlib.sha1(model_bytes).hexdigest()
    if kind == "tokenizers" and hasattr(value, "to_str"):
        return "tokenizer:" + hashlib.sha1(value.to_str().encode()).hexdigest()
    backend = getattr(value, "backend_tokenizer", None)
    if backend is not None and hasattr(backend, "to_str"):  # Hugging Face fast tokenizer
        h = hashlib.sha1(backend.to_str().encode())
        h.update(repr((type(value).__name__, getattr(value, "padding_side", None),
                       getattr(value, "model_max_length", None))).encode())
        return "tokenizer:" + h.hexdigest()
    if kind in ("spacy", "thinc") or type(value).__name__ in ("Language", "English"):
        meta = getattr(value, "meta", {})
        h = hashlib.sha1(repr((meta.get("lang"), meta.get("name"), meta.get("version"),
                               getattr(value, "pipe_names", None))).encode())
        vectors = getattr(getattr(value, "vocab", None), "vectors", None)
        if vectors is not None:
            h.update(repr(vectors.shape).encode())
        return "spacy:" + h.hexdigest()
    if callable(value):
        return "callable:" + _callable_identity(value)
    try:
        import joblib

        return "object:" + joblib.hash(value)
    except Exception:  # pragma: no cover - unpicklable object
        return "object:" + type(value).__qualname__


def _same(a, b):
    return a is b or (isinstance(a, _SIMPLE) and isinstance(b, _SIMPLE)
                      and type(a) is type(b) and a == b)


def resolve_object(value):
    """Call zero-argument factories (functions, partials, classes); return anything else.

    Callable *instances* (tokenizers, models, pipelines) are never called, even
    when all their arguments are optional.
    """
    from sklearn_taskrel.encoders._base import is_factory

    plain = (functools.partial, types.FunctionType, types.MethodType,
             types.BuiltinFunctionType)
    if (isinstance(value, plain) or inspect.isclass(value)) and is_factory(value):
        return value()
    return value


class BaseAdapter(Encoder, BaseEstimator):
    """Base class of the encoder adapters: parameters, shallow clones, caching.

    Subclasses declare in ``_runtime_params`` the parameters that determine the
    loaded model (a path, a factory, a loaded object), implement
    :meth:`_load_runtime` to build it from those, and implement :meth:`encode`.
    The runtime is built on first use and shared by shallow copies while those
    parameters stay the same objects.
    """

    #: parameters that decide what is loaded (a change reloads)
    _runtime_params = ()
    #: parameters that hold paths (hashed by content in :meth:`fingerprint`)
    _path_params = ()
    #: parameters that do not change the embeddings (left out of the fingerprint)
    _fingerprint_exclude = ("device",)

    # ------------------------------------------------------------------ copies
    def get_params(self, deep=True):
        """Parameters of this adapter.

        With ``deep=True`` nested parameters are listed as usual, except those of
        the shared model objects (``_runtime_params``, e.g. a skorch net given as
        ``module``): clones share those objects, so a grid must not set their
        parameters.

        Returns
        -------
        params : dict
        """
        params = super().get_params(deep=False)
        if deep:
            for name, value in list(params.items()):
                if name in self._runtime_params or isinstance(value, type) or \
                        not hasattr(value, "get_params"):
                    continue
                params.update((f"{name}__{k}", v) for k, v in value.get_params().items())
        return params

    def _shallow_copy(self):
        new = type(self)(**self.get_params(deep=False))
        runtime = self.__dict__.get("_runtime")
        if runtime is not None:
            new.__dict__["_runtime"] = runtime
        return new

    def __sklearn_clone__(self):
        return self._shallow_copy()

    def __deepcopy__(self, memo):
        return self._shallow_copy()

    def __copy__(self):
        return self._shallow_copy()

    def __getstate__(self):
        state = super().__getstate__()
        state = dict(state)
        state.pop("_runtime", None)  # rebuilt from the parameters after unpickling
        return state

    # ------------------------------------------------------------------ runtime
    def _runtime_key(self):
        return tuple(getattr(self, name) for name in self._runtime_params)

    def _load_runtime(self):  # pragma: no cover - interface
        raise NotImplementedError

    def _get_runtime(self):
        key = self._runtime_key()
        cached = self.__dict__.get("_runtime")
        if cached is not None and len(cached[0]) == len(key) and all(
                _same(a, b) for a, b in zip(cached[0], key)):
            return cached[1]
        runtime = self._load_runtime()
        self.__dict__["_runtime"] = (key, runtime)
        return runtime

    # ------------------------------------------------------------------ devices
    def _device(self, batch=None):
        """Where to run: ``self.device``, else the :func:`extraction_context`'s,
        else the batch's (a tensor), else CUDA when available."""
        from sklearn_taskrel.utils._device import resolve_device

        device = getattr(self, "device", None)
        if device is None:
            ctx = current_context()
            if ctx is not None and ctx["device"] is not None:
                return resolve_device(ctx["device"])
            if batch is not None and hasattr(batch, "device") and \
                    hasattr(batch, "is_floating_point"):
                return batch.device
        return resolve_device("auto" if device is None else device)

    def _autocast(self, device):
        """``torch.autocast`` when ``mixed_precision`` (float16 on CUDA, bfloat16 on CPU)."""
        ctx = current_context()
        wanted = getattr(self, "mixed_precision", False) or (
            ctx is not None and ctx["mixed_precision"] and hasattr(self, "mixed_precision"))
        if not wanted:
            return contextlib.nullcontext()
        import torch

        dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
        return torch.autocast(device_type=device.type, dtype=dtype)

    # ------------------------------------------------------------------ API
    def fingerprint(self):
        """Stable identity of the embeddings this adapter computes, for caches.

        A SHA-1 over the class, every parameter that changes the embeddings
        (not ``device``), the content of files and folders given as paths, the
        state dict of modules and the code of callables.

        Returns
        -------
        fingerprint : str
        """
        h = hashlib.sha1(f"{type(self).__module__}.{type(self).__qualname__}".encode())
        for name, value in sorted(self.get_params(deep=False).items()):
            if name in self._fingerprint_exclude:
                continue
            h.update(f"|{name}=".encode())
            h.update(value_identity(value, is_path=name in self._path_params).encode())
        extra = self._extra_identity()
        if extra:
            h.update(f"|extra={extra}".encode())
        return h.hexdigest()

    def _extra_identity(self):
        """Identity of what the parameters do not name (e.g. packaged weights)."""
        return ""

    def embed(self, X, *, batch_size=64, verbose=0):
        """Embeddings of ``X`` in batches, as a float32 numpy array.

        A shortcut for :func:`~sklearn_taskrel.encoders.extract_embeddings`.

        Parameters
        ----------
        X : array-like, tensor or list
            Inputs, sliced along the first axis.
        batch_size : int, default=64
        verbose : int, default=0

        Returns
        -------
        Z : ndarray of shape (n_samples, n_features), dtype float32
        """
        device = getattr(self, "device", None)
        return embed_batches(self, X, batch_size=batch_size,
                                  device="auto" if device is None else device,
                                  verbose=verbose, desc=type(self).__name__)


def as_text_list(batch):
    """A batch of texts (list, tuple, array of str, pandas Series) as a list of ``str``."""
    if isinstance(batch, str):
        raise TypeError("a text encoder takes a sequence of strings, got one str; "
                        "wrap it in a list.")
    if hasattr(batch, "tolist"):
        batch = batch.tolist()
    out = list(batch)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"text encoders take strings; item {i} of the batch is "
                            f"{type(t).__name__}: {t!r:.60}.")
    return out


def l2_normalize(Z, eps=1e-12):
    """Row-wise L2 normalisation of a numpy array or tensor."""
    if hasattr(Z, "norm"):
        return Z / Z.norm(dim=-1, keepdim=True).clamp_min(eps)
    return Z / np.maximum(np.linalg.norm(Z, axis=-1, keepdims=True), eps)
