"""Encoders named by a string, the way their ecosystem names them.

``"zoo:mobilenet_v2"`` (or just ``"mobilenet_v2"``) for the offline zoos of this
package, ``"timm:NAME"`` and ``"torchvision:NAME"`` for image models,
``"hf:NAME_OR_PATH"`` for a Hugging Face ``transformers`` model,
``"st:NAME_OR_PATH"`` for a sentence-transformers model, ``"onnx:PATH"`` for an ONNX
graph and ``"module:package.module:factory"`` for any factory of your own. Every
parameter that accepts an encoder accepts a spec, so a grid over specs shows them in
``best_params_`` and a ranking table names its rows by them.

Nothing is downloaded: a hub name resolves to a snapshot already in the Hugging Face
cache (``HF_HOME``, by default ``~/.cache/huggingface``), and a missing one fails at
once with the folder searched and the command that pre-downloads it.
"""

import glob
import importlib
import os

from sklearn_taskrel.encoders._base import is_factory
from sklearn_taskrel.encoders._optional import hub_cache

__all__ = ["SPEC_KINDS", "build_encoder", "load_encoder"]

#: The prefixes a spec may start with.
SPEC_KINDS = ("zoo", "timm", "torchvision", "hf", "st", "onnx", "module")


def resolve_model_path(spec, name):
    """A local folder for ``name``: the folder itself, or the snapshot of the hub model
    ``name`` in the Hugging Face cache (the one ``refs/main`` names, else the newest). Raises ``FileNotFoundError`` with
    the folder searched and how to pre-download it."""
    path = os.path.expanduser(os.path.expandvars(name))
    if os.path.isdir(path):
        return path
    cache = hub_cache()
    repo = os.path.join(cache, "models--" + name.replace("/", "--"))
    ref = os.path.join(repo, "refs", "main")
    if os.path.isfile(ref):  # the snapshot the hub's "main" pointed to when cached
        with open(ref) as fh:
            snapshot = os.path.join(repo, "snapshots", fh.read().strip())
        if os.path.isdir(snapshot):
            return snapshot
    snapshots = sorted(glob.glob(os.path.join(repo, "snapshots", "*")),
                       key=lambda p: os.lstat(p).st_mtime)
    if snapshots:
        return snapshots[-1]
    raise FileNotFoundError(
        f"encoder spec {spec!r}: {name!r} is neither a local folder nor a model in the "
        f"Hugging Face cache ({cache}); nothing is downloaded at run time. Pre-download it "
        f"on a machine with network access (`huggingface-cli download {name}`, then copy "
        "the cache folder), or save the model with `model.save_pretrained(PATH)` and use "
        "the folder's path in the spec.")


def _zoo_factory(spec, name, kwargs):
    from sklearn_taskrel.encoders._text_zoo import TEXT_ZOO, load_text_zoo
    from sklearn_taskrel.encoders._vision import VISION_ZOO, load_vision_zoo

    if name in VISION_ZOO:
        return load_vision_zoo([name], **kwargs)[name]
    if name in TEXT_ZOO:
        return load_text_zoo([name], **kwargs)[name]
    raise ValueError(f"encoder spec {spec!r}: no zoo encoder named {name!r}; the zoos have "
                     f"{sorted(VISION_ZOO) + sorted(TEXT_ZOO)}.")


def load_encoder(spec, **kwargs):
    """The encoder named by ``spec``; ``kwargs`` go to its adapter.

    Parameters
    ----------
    spec : str
        ``"zoo:NAME"`` (or a bare zoo name: ``"mobilenet_v2"``, ``"minilm_l6"``, ...),
        ``"timm:NAME"`` (:class:`TimmEncoder`: ``pretrained=False`` or
        ``checkpoint=PATH`` when the weights are not cached), ``"torchvision:NAME"``
        (:class:`TorchvisionEncoder`, likewise ``weights=None``), ``"hf:NAME_OR_PATH"`` (:class:`HuggingFaceEncoder`), ``"st:NAME_OR_PATH"``
        (:class:`SentenceTransformerEncoder`), ``"onnx:PATH"`` (:class:`OnnxEncoder`)
        or ``"module:package.module:factory"`` (``factory(**kwargs)`` is called).
    **kwargs
        Parameters of the adapter (``device="cpu"``, ``pooling="cls"``, ...).

    Returns
    -------
    encoder
        An adapter of :mod:`sklearn_taskrel.encoders` (loaded on first use), or what
        the factory returns.

    Examples
    --------
    >>> from sklearn_taskrel.encoders import load_encoder
    >>> load_encoder("zoo:mobilenet_v2", image_size=64)
    MobileNetV2Encoder(image_size=64)
    >>> load_encoder("module:torch.nn:Identity")
    Identity()
    >>> load_encoder("hf:no-such-org/no-such-model")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: encoder spec 'hf:no-such-org/no-such-model': ... nothing is downloaded...
    """
    if not isinstance(spec, str):
        raise TypeError(f"an encoder spec is a string; got {type(spec).__name__}.")
    kind, sep, rest = spec.partition(":")
    if not sep:
        kind, rest = "zoo", spec
    if kind not in SPEC_KINDS:
        raise ValueError(
            f"encoder spec {spec!r} starts with {kind!r}; use one of "
            f"{', '.join(k + ':' for k in SPEC_KINDS)} (e.g. 'hf:sentence-transformers/"
            "all-MiniLM-L6-v2', 'onnx:model.onnx', 'module:mypkg.models:build').")
    if not rest:
        raise ValueError(f"encoder spec {spec!r} names no model after {kind + ':'!r}.")
    if kind == "zoo":
        return _zoo_factory(spec, rest, kwargs)()
    if kind == "timm":
        from sklearn_taskrel.encoders._timm import TimmEncoder

        return TimmEncoder(rest, **kwargs)
    if kind == "torchvision":
        from sklearn_taskrel.encoders._torchvision import TorchvisionEncoder

        return TorchvisionEncoder(rest, **kwargs)
    if kind == "hf":
        from sklearn_taskrel.encoders._huggingface import HuggingFaceEncoder

        return HuggingFaceEncoder(resolve_model_path(spec, rest), **kwargs)
    if kind == "st":
        from sklearn_taskrel.encoders._sentence_transformers import (
            SentenceTransformerEncoder,
        )

        return SentenceTransformerEncoder(resolve_model_path(spec, rest), **kwargs)
    if kind == "onnx":
        from sklearn_taskrel.encoders._onnx import OnnxEncoder

        path = os.path.expanduser(os.path.expandvars(rest))
        if not os.path.isfile(path):
            raise FileNotFoundError(f"encoder spec {spec!r}: no ONNX file at {path!r}.")
        return OnnxEncoder(path, **kwargs)
    module_name, sep, attr = rest.partition(":")
    if not sep or not attr:
        raise ValueError(f"encoder spec {spec!r}: write 'module:package.module:factory'.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"encoder spec {spec!r}: cannot import {module_name!r} ({exc}).") \
            from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise ValueError(f"encoder spec {spec!r}: {module_name!r} has no callable {attr!r}.")
    return factory(**kwargs)


def build_encoder(encoder):
    """Resolve an ``encoder`` parameter to an object that maps batches to arrays.

    Raises ``TypeError`` naming the value if it is none of the accepted kinds.

    Examples
    --------
    >>> import torch
    >>> from sklearn_taskrel.encoders import build_encoder
    >>> build_encoder(lambda: torch.nn.Linear(3, 2))
    Linear(in_features=3, out_features=2, bias=True)
    >>> build_encoder(None) is None
    True
    """
    if encoder is None:
        return None
    if isinstance(encoder, str):  # a spec: "zoo:mobilenet_v2", "hf:...", "onnx:..."
        return load_encoder(encoder)
    if is_factory(encoder):
        built = encoder()
        if built is None or is_factory(built):
            raise TypeError(
                f"encoder factory {encoder!r} must return an encoder (an nn.Module, a "
                f"callable on a batch or an Encoder); it returned {built!r}."
            )
        return built
    try:
        from skorch import NeuralNet

        if isinstance(encoder, NeuralNet):
            if not getattr(encoder, "initialized_", False):
                raise TypeError(
                    f"encoder is a skorch net that is not initialized ({type(encoder).__name__}); "
                    "fit or initialize() it first."
                )
            return encoder.module_
    except ImportError:  # pragma: no cover
        pass
    if callable(encoder):
        return encoder
    raise TypeError(
        "encoder must be None, a spec string ('zoo:mobilenet_v2', 'hf:PATH', ...), a "
        "torch.nn.Module, a skorch NeuralNet, a callable mapping a batch to an array, "
        f"or a zero-argument factory; got {encoder!r}."
    )
