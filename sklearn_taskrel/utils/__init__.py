"""Validation and helper utilities (numpy and scikit-learn only)."""

from sklearn_taskrel.utils._scaling import FlooredStandardScaler, GlobalScaler
from sklearn_taskrel.utils._validation import (
    check_class_prior,
    check_embeddings,
    check_labels,
    check_reference_width,
)

__all__ = [
    "FlooredStandardScaler",
    "GlobalScaler",
    "check_class_prior",
    "check_embeddings",
    "check_labels",
    "check_reference_width",
]
