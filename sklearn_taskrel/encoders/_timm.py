"""timm models (``timm:NAME`` specs): preprocessing from the model's own configuration."""

import os

from sklearn_taskrel.encoders._optional import hub_cache, hub_offline, import_optional
from sklearn_taskrel.encoders._vision import _TorchVisionEncoder


class _EvalTransformEncoder(_TorchVisionEncoder):
    """Image models whose inputs get their weights' evaluation transform
    (``_data_config``: resize, crop, interpolation, mean, std)."""

    def _data_config(self):  # pragma: no cover - interface
        raise NotImplementedError

    def _checkpoint_file(self, purpose):
        """The local ``checkpoint`` file, None without one; missing: FileNotFoundError."""
        if self.checkpoint is None:
            return None
        path = os.path.expanduser(os.fspath(self.checkpoint))
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{purpose}: no checkpoint file at {path!r}.")
        return path

    def _seeded_init(self, build):
        """``build()`` under the seed ``random_state``, the global torch RNG untouched."""
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.random_state))
            return build()

    def _prepare(self, batch):
        dev = self._device(batch)
        module = self._get_runtime().place(dev, self.channels_last)
        x = resize_crop_normalize(batch, dev, **self._data_config())
        if self.channels_last:
            import torch

            x = x.contiguous(memory_format=torch.channels_last)
        return module, x, dev


class TimmEncoder(_EvalTransformEncoder):
    """A `timm <https://github.com/huggingface/pytorch-image-models>`_ image model.

    The embedding is the pooled pre-logits feature vector
    (``forward_head(forward_features(x), pre_logits=True)``). Images in [0, 1] are
    resized to the model's input size (``pretrained_cfg``; shorter side to
    ``size / crop_pct``, then a centre crop, with its interpolation) and normalised
    by its mean and deviation, as timm's own evaluation transform does.

    Weights come from the Hugging Face cache (``pretrained=True``; nothing is
    downloaded: a model that is not cached fails at once with how to fetch it), a
    local checkpoint file (``checkpoint=``), or a seeded random initialisation
    (``pretrained=False``).

    Parameters
    ----------
    model_name : str
        A timm model name (``"resnet18"``, ``"convnext_tiny.fb_in1k"``).
    pretrained : bool, default=True
    checkpoint : str, path or None, default=None
        A local weights file (``.pth`` or ``.safetensors``) to load instead.
    layer : str, list of str or None, default=None
        Submodule(s) whose pooled output is the embedding instead (``"layer3"``;
        see :func:`list_layers`).
    pool : {"avg", "max", "flatten"}, default="avg"
        Pooling of ``layer`` outputs.
    image_size : int or None, default=None
        Input size; ``None`` takes the model's pretrained input size.
    stop_early : bool, default=True
        With ``layer``, skip the rest of the network.
    random_state : int, default=0
        Seed of the random initialisation (``pretrained=False``).
    device : str, torch.device or None, default=None
    mixed_precision : bool, default=False
    channels_last : bool, default=False

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.encoders import TimmEncoder
    >>> enc = TimmEncoder("resnet18", pretrained=False, image_size=64, device="cpu")
    >>> enc(np.random.rand(2, 3, 64, 64).astype(np.float32)).shape
    (2, 512)
    """

    _runtime_params = ("model_name", "pretrained", "checkpoint", "random_state")
    _path_params = ("checkpoint",)

    def __init__(self, model_name, *, pretrained=True, checkpoint=None, layer=None,
                 pool="avg", image_size=None, stop_early=True, random_state=0, device=None,
                 mixed_precision=False, channels_last=False):
        self.model_name = model_name
        self.pretrained = pretrained
        self.checkpoint = checkpoint
        self.layer = layer
        self.pool = pool
        self.image_size = image_size
        self.stop_early = stop_early
        self.random_state = random_state
        self.device = device
        self.mixed_precision = mixed_precision
        self.channels_last = channels_last

    def _load_model(self):
        purpose = f"TimmEncoder({self.model_name!r})"
        timm = import_optional("timm", purpose=purpose)  # guards torchvision first
        hub_offline()
        path = self._checkpoint_file(purpose)
        if path is None and self.pretrained:
            # Found in a local cache, or refused at once: timm itself would retry the
            # network for minutes before failing.
            path = self._cached_weights()
        if path is not None:
            model = timm.create_model(self.model_name, pretrained=True,
                                      pretrained_cfg_overlay={"file": path})
        else:
            model = self._seeded_init(
                lambda: timm.create_model(self.model_name, pretrained=False))
        return model.eval()

    def _cached_weights(self):
        """The local file of the pretrained weights (Hugging Face cache, then torch hub
        cache), or ``FileNotFoundError`` saying where it looked and how to fetch it."""
        import torch
        from huggingface_hub import try_to_load_from_cache
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(self.model_name)
        if cfg is None:
            raise ValueError(f"TimmEncoder: timm has no pretrained weights for "
                             f"{self.model_name!r}; pass pretrained=False or checkpoint=PATH.")
        places = []
        if cfg.hf_hub_id:
            for name in ([cfg.hf_hub_filename] if cfg.hf_hub_filename else
                         ["model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"]):
                hit = try_to_load_from_cache(cfg.hf_hub_id, name, cache_dir=hub_cache())
                if isinstance(hit, str) and os.path.isfile(hit):
                    return hit
            places.append(f"the Hugging Face cache ({hub_cache()}, {cfg.hf_hub_id})")
        if cfg.url:
            path = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(cfg.url))
            if os.path.isfile(path):
                return path
            places.append(f"the torch hub cache ({path})")
        raise FileNotFoundError(
            f"TimmEncoder({self.model_name!r}): its pretrained weights are not in "
            f"{' nor in '.join(places) or 'any local cache'}, and nothing is downloaded at "
            "run time. Pre-download them on a machine with network access (`python -c "
            f"\"import timm; timm.create_model('{self.model_name}', pretrained=True)\"`, "
            "then copy the cache folder), or pass checkpoint=PATH (a local weights file) "
            "or pretrained=False.")

    def _data_config(self):
        cfg = dict(getattr(self.module_, "pretrained_cfg", {}) or {})
        size = int(self.image_size or cfg.get("input_size", (3, 224, 224))[-1])
        return {"crop": size,
                "resize": int(round(size / float(cfg.get("crop_pct", 1.0) or 1.0))),
                "interpolation": cfg.get("interpolation", "bilinear"),
                "mean": tuple(cfg.get("mean", (0.485, 0.456, 0.406))),
                "std": tuple(cfg.get("std", (0.229, 0.224, 0.225)))}

    @staticmethod
    def _features(module, x):
        return module.forward_head(module.forward_features(x), pre_logits=True)

    @staticmethod
    def _head(module):
        return module.get_classifier()


def resize_crop_normalize(batch, device, *, resize, crop, interpolation, mean, std):
    """Images in [0, 1] as a model's evaluation transform prepares them: the shorter
    side resized to ``resize`` (antialiased when shrinking), a centre crop of
    ``crop`` pixels, then ``(x - mean) / std`` per channel."""
    import torch
    import torch.nn.functional as F

    from sklearn_taskrel.encoders._vision import to_image_tensor

    x = to_image_tensor(batch, device)
    h, w = x.shape[-2:]
    short = min(h, w)
    new = (max(resize, round(h * resize / short)), max(resize, round(w * resize / short)))
    if tuple(x.shape[-2:]) != new:
        mode = "bicubic" if str(interpolation).lower().endswith("bicubic") else "bilinear"
        x = F.interpolate(x, size=new, mode=mode, align_corners=False,
                          antialias=new[0] < h or new[1] < w).clamp_(0.0, 1.0)
    top, left = (x.shape[-2] - crop) // 2, (x.shape[-1] - crop) // 2
    x = x[..., top:top + crop, left:left + crop]
    mean = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std
