"""The extraction context: defaults that an estimator passes to the adapters it runs."""

import contextlib
import contextvars

_CONTEXT = contextvars.ContextVar("sklearn_taskrel_extraction_context", default=None)


@contextlib.contextmanager
def extraction_context(*, device=None, mixed_precision=False):
    """Defaults for the adapters run inside this block.

    Adapters whose ``device`` is None run on ``device``, and ``mixed_precision``
    turns on autocast for those that support it. This is how an estimator's
    ``device`` and ``mixed_precision`` reach adapters that take strings or
    arrays (text models, ONNX sessions), whose batches cannot carry a device.
    An adapter's own explicit ``device`` still wins.

    Parameters
    ----------
    device : str, torch.device or None, default=None
    mixed_precision : bool, default=False

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn_taskrel.encoders import TorchEncoder, extraction_context
    >>> enc = TorchEncoder(torch.nn.Linear(3, 2))
    >>> with extraction_context(device="cpu"):
    ...     enc(np.ones((1, 3), np.float32)).shape
    (1, 2)
    """
    token = _CONTEXT.set({"device": device, "mixed_precision": bool(mixed_precision)})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current_context():
    """The innermost :func:`extraction_context`'s settings, or ``None`` outside one."""
    return _CONTEXT.get()
