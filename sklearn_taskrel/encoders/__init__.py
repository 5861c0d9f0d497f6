"""Encoders: the protocol, embedding extraction and adapters."""

from sklearn_taskrel.encoders._base import (
    Encoder,
    build_encoder,
    encoder_fingerprint,
    is_factory,
)
from sklearn_taskrel.encoders._extract import extract_embeddings

__all__ = [
    "Encoder",
    "build_encoder",
    "encoder_fingerprint",
    "extract_embeddings",
    "is_factory",
]
