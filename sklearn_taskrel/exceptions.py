"""Warnings and errors raised by :mod:`sklearn_taskrel`.

They subclass scikit-learn's own classes, so ``except ValueError`` or a filter on
:class:`sklearn.exceptions.ConvergenceWarning` keeps working.
"""

from sklearn.exceptions import ConvergenceWarning

__all__ = ["TaskRelWarning", "DegenerateTaskWarning", "ConvergenceWarning", "EncoderError"]


class TaskRelWarning(UserWarning):
    """Base class of the warnings specific to :mod:`sklearn_taskrel`."""


class DegenerateTaskWarning(TaskRelWarning):
    """A task is degenerate (a single class, classes with one sample, ...).

    The computation continues with the documented fallback; the warning says which.
    """


class EncoderError(ValueError):
    """The ``encoder`` parameter failed: it raised, or returned non-finite values or an
    array of the wrong shape. A ``ValueError``, so it is caught like the other
    invalid-input errors; the original exception is chained as ``__cause__``."""
