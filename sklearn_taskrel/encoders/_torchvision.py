"""torchvision classification models (``torchvision:NAME`` specs)."""

import functools
import os

from sklearn_taskrel.encoders._optional import import_torchvision
from sklearn_taskrel.encoders._timm import _EvalTransformEncoder


def _last_linear(module):
    import torch

    linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise ValueError(f"{type(module).__name__} has no linear classifier to take the "
                         "pre-logits features from; pass layer=NAME.")
    return linears[-1]


def _weights_enum(model_name, weights):
    """The torchvision weights ``weights`` of ``model_name`` (``None``: the default's,
    for their transform)."""
    tv = import_torchvision(f"TorchvisionEncoder({model_name!r})")
    try:
        enum = tv.models.get_model_weights(model_name)
    except ValueError as exc:
        raise ValueError(f"TorchvisionEncoder: {exc}") from None
    name = "DEFAULT" if weights is None else weights
    try:
        return enum[name] if name != "DEFAULT" else enum.DEFAULT
    except KeyError:
        raise ValueError(f"TorchvisionEncoder({model_name!r}): no weights named "
                         f"{name!r}; it has {[w.name for w in enum]}.") from None


@functools.lru_cache(maxsize=64)
def _transform_config(model_name, weights, image_size):
    """The evaluation transform of the weights, as ``resize_crop_normalize`` arguments."""
    t = _weights_enum(model_name, weights).transforms()
    crop = int(image_size or t.crop_size[0])
    return {"crop": crop, "resize": int(round(t.resize_size[0] * crop / t.crop_size[0])),
            "interpolation": str(t.interpolation.value), "mean": tuple(t.mean),
            "std": tuple(t.std)}


class TorchvisionEncoder(_EvalTransformEncoder):
    """A ``torchvision.models`` classifier as an encoder.

    The embedding is the input of the model's final linear classifier (its pooled
    pre-logits features: 512-d for ``resnet18``, 768-d for ``vit_b_16``). Images in
    [0, 1] get the weights' own evaluation transform (``weights.transforms()``:
    shorter side to ``resize_size``, centre crop, mean and deviation).

    Weights are read from the torch hub cache (``weights="DEFAULT"`` or a name such as
    ``"IMAGENET1K_V1"``; nothing is downloaded: missing weights fail at once with the
    file expected and how to fetch it), from a local file (``checkpoint=``), or are a
    seeded random initialisation (``weights=None``).

    Parameters
    ----------
    model_name : str
        A name of :func:`torchvision.models.list_models` (``"resnet18"``).
    weights : str or None, default="DEFAULT"
    checkpoint : str, path or None, default=None
        A local state dict to load (the transform is still the ``weights``' one).
    layer, pool, stop_early, device, mixed_precision, channels_last :
        As in :class:`TimmEncoder`.
    image_size : int or None, default=None
        Crop size; ``None`` takes the weights' (the resize keeps its ratio to it).
    random_state : int, default=0
        Seed of the random initialisation (``weights=None``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.encoders import TorchvisionEncoder
    >>> enc = TorchvisionEncoder("resnet18", weights=None, image_size=64, device="cpu")
    >>> enc(np.random.rand(2, 3, 64, 64).astype(np.float32)).shape
    (2, 512)
    """

    _runtime_params = ("model_name", "weights", "checkpoint", "random_state")
    _path_params = ("checkpoint",)

    def __init__(self, model_name, *, weights="DEFAULT", checkpoint=None, layer=None,
                 pool="avg", image_size=None, stop_early=True, random_state=0, device=None,
                 mixed_precision=False, channels_last=False):
        self.model_name = model_name
        self.weights = weights
        self.checkpoint = checkpoint
        self.layer = layer
        self.pool = pool
        self.image_size = image_size
        self.stop_early = stop_early
        self.random_state = random_state
        self.device = device
        self.mixed_precision = mixed_precision
        self.channels_last = channels_last

    def _weights_enum(self):
        return _weights_enum(self.model_name, self.weights)

    def _load_model(self):
        import torch

        purpose = f"TorchvisionEncoder({self.model_name!r})"
        tv = import_torchvision(purpose)
        model = self._seeded_init(lambda: tv.models.get_model(self.model_name, weights=None))
        path = self._checkpoint_file(purpose)
        if path is None and self.weights is not None:
            w = self._weights_enum()
            path = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(w.url))
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"{purpose}: the weights {w} are not in the torch hub cache ({path}) "
                    "and nothing is downloaded at run time. Pre-download them on a machine "
                    f"with network access (`python -c \"import torchvision; "
                    f"torchvision.models.get_model('{self.model_name}', weights='{w.name}')\"`"
                    ", then copy the file), or pass checkpoint=PATH or weights=None.")
        if path is not None:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.eval()

    def _data_config(self):
        # Called for every batch: the weights' transform is looked up once.
        return _transform_config(self.model_name, self.weights, self.image_size)

    @staticmethod
    def _features(module, x):
        captured = []
        hook = _last_linear(module).register_forward_hook(
            lambda mod, inputs, out: captured.append(inputs[0]))
        try:
            module(x)
        finally:
            hook.remove()
        return captured[-1]

    @staticmethod
    def _head(module):
        return _last_linear(module)
