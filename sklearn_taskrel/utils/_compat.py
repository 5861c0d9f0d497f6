"""The only module that imports private scikit-learn API.

scikit-learn's parameter validation (``_parameter_constraints`` checked by
``_fit_context``) lives in private modules; importing it in one place keeps a future
rename a one-line fix.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Hidden,
    Interval,
    InvalidParameterError,
    StrOptions,
)

__all__ = [
    "HasMethods",
    "Hidden",
    "Interval",
    "InvalidParameterError",
    "StrOptions",
    "_fit_context",
]
