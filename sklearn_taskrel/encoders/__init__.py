"""Encoders: the protocol, embedding extraction and adapters."""

from sklearn_taskrel.encoders._base import (
    Encoder,
    build_encoder,
    encoder_fingerprint,
    is_factory,
)
from sklearn_taskrel.encoders._extract import extract_embeddings
from sklearn_taskrel.encoders._mobilenet import MobileNetV2, load_mobilenet_v2
from sklearn_taskrel.encoders._onnx import OnnxEncoder
from sklearn_taskrel.encoders._torch import LayerEncoder, TorchEncoder, list_layers
from sklearn_taskrel.encoders._vision import (
    EfficientNetLiteEncoder,
    MobileNetV2Encoder,
    OpenNSFWEncoder,
    load_vision_zoo,
)

__all__ = [
    "EfficientNetLiteEncoder",
    "Encoder",
    "LayerEncoder",
    "MobileNetV2",
    "MobileNetV2Encoder",
    "OnnxEncoder",
    "OpenNSFWEncoder",
    "TorchEncoder",
    "build_encoder",
    "encoder_fingerprint",
    "extract_embeddings",
    "is_factory",
    "list_layers",
    "load_mobilenet_v2",
    "load_vision_zoo",
]
