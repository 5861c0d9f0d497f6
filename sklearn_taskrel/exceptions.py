"""Warnings and errors raised by :mod:`sklearn_taskrel`.

They subclass scikit-learn's own classes, so ``except ValueError`` or a filter on
:class:`sklearn.exceptions.ConvergenceWarning` keeps working.
"""

from sklearn.exceptions import ConvergenceWarning

__all__ = ["TaskRelWarning", "DegenerateTaskWarning", "ConvergenceWarning", "EncoderError"]


class TaskRelWarning(UserWarning):
    """Base class of the warnings specific to :mod:`sklearn_taskrel`.

    Examples
    --------
    >>> import warnings
    >>> from sklearn_taskrel.exceptions import DegenerateTaskWarning, TaskRelWarning
    >>> issubclass(DegenerateTaskWarning, TaskRelWarning)
    True
    """


class DegenerateTaskWarning(TaskRelWarning):
    """A task is degenerate (a single class, classes with one sample, ...).

    The computation continues with the documented fallback; the warning says which.

    Examples
    --------
    >>> import warnings, numpy as np
    >>> from sklearn_taskrel import TaskRelatednessScorer
    >>> from sklearn_taskrel.exceptions import DegenerateTaskWarning
    >>> X = np.random.RandomState(0).normal(size=(10, 3))
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     _ = TaskRelatednessScorer(reference=(X, np.arange(10) % 2)).fit(X, np.zeros(10))
    >>> any(issubclass(x.category, DegenerateTaskWarning) for x in w)
    True
    """


class EncoderError(ValueError):
    """The ``encoder`` parameter failed: it raised, or returned non-finite values or an
    array of the wrong shape. A ``ValueError``, so it is caught like the other
    invalid-input errors; the original exception is chained as ``__cause__``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.encoders import extract_embeddings
    >>> from sklearn_taskrel.exceptions import EncoderError
    >>> try:
    ...     extract_embeddings(lambda b: np.full((len(b), 2), np.nan), np.ones((4, 2)))
    ... except EncoderError as exc:
    ...     print(str(exc)[:40])
    encoder returned NaN or infinite values
    """
