"""The encoder protocol.

An *encoder* turns a batch of raw inputs into a 2-D array of embeddings. The
estimators accept:

- ``None``: the inputs already are embeddings;
- a :class:`torch.nn.Module` (its ``forward`` is the embedding);
- a fitted :class:`skorch.NeuralNet` (its ``module_``);
- an :class:`Encoder` (the adapters of :mod:`sklearn_taskrel.encoders`);
- any callable ``f(batch) -> array``;
- a zero-argument factory (a function or an ``nn.Module`` class) that returns one of
  the above. Factories are what a zoo grid should hold: cloning an estimator
  deep-copies its parameters, and a factory is copied for free while a module's
  weights are not.
"""

import hashlib
import inspect


class Encoder:
    """Base class of encoder adapters.

    Subclasses implement :meth:`encode` on one batch and may override
    :meth:`fingerprint`. Adapters are shared, not copied, by :func:`copy.deepcopy`
    (and so by :func:`sklearn.base.clone`): they hold loaded models that the
    estimators only read.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.encoders import Encoder, extract_embeddings
    >>> class Doubler(Encoder):
    ...     def encode(self, batch):
    ...         return 2 * np.asarray(batch)
    >>> extract_embeddings(Doubler(), np.ones((3, 2), np.float32)).tolist()
    [[2.0, 2.0], [2.0, 2.0], [2.0, 2.0]]
    """

    #: Whether :meth:`encode` expects torch tensors on ``self.device``.
    takes_tensors = False

    def encode(self, batch):  # pragma: no cover - interface
        raise NotImplementedError

    def __call__(self, batch):
        return self.encode(batch)

    def fingerprint(self):
        """A stable identity for caches: class name plus repr by default."""
        return hashlib.sha1(f"{type(self).__qualname__}:{self!r}".encode()).hexdigest()

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self


def is_factory(obj):
    """True if ``obj`` is a zero-argument callable that builds an encoder.

    ``nn.Module`` instances and :class:`Encoder` instances are encoders, not
    factories; an ``nn.Module`` *class* is a factory.

    Examples
    --------
    >>> import torch
    >>> from sklearn_taskrel.encoders import is_factory
    >>> is_factory(lambda: torch.nn.Linear(2, 2)), is_factory(torch.nn.Linear(2, 2))
    (True, False)
    >>> is_factory(torch.nn.Identity), is_factory(lambda batch: batch)
    (True, False)
    """
    try:
        import torch

        if isinstance(obj, torch.nn.Module):
            return False
        if inspect.isclass(obj) and issubclass(obj, torch.nn.Module):
            return True
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, Encoder) or not callable(obj) or inspect.isclass(obj):
        return False
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return False
    required = [
        p for p in sig.parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return len(required) == 0 and not any(
        p.kind == p.VAR_POSITIONAL for p in sig.parameters.values())


def encoder_fingerprint(encoder):
    """Identity of an encoder for embedding caches.

    Adapters provide :meth:`Encoder.fingerprint`; modules are hashed by their class
    and parameter values (a hash of the state dict); other callables by qualified name.

    Examples
    --------
    >>> import torch
    >>> from sklearn_taskrel.encoders import encoder_fingerprint
    >>> torch.manual_seed(0) is not None
    True
    >>> a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    >>> encoder_fingerprint(a) == encoder_fingerprint(a), encoder_fingerprint(a) == encoder_fingerprint(b)
    (True, False)
    """
    if encoder is None:
        return "identity"
    if hasattr(encoder, "fingerprint"):
        return encoder.fingerprint()
    try:
        import torch

        if isinstance(encoder, torch.nn.Module):
            h = hashlib.sha1(type(encoder).__qualname__.encode())
            for name, tensor in encoder.state_dict().items():
                h.update(name.encode())
                t = tensor.detach().cpu().contiguous()
                h.update(str(tuple(t.shape)).encode())
                h.update(t.view(-1).view(torch.uint8).numpy().tobytes()
                         if t.numel() else b"")
            return h.hexdigest()
    except ImportError:  # pragma: no cover
        pass
    name = getattr(encoder, "__qualname__", type(encoder).__qualname__)
    module = getattr(encoder, "__module__", "")
    return hashlib.sha1(f"{module}.{name}".encode()).hexdigest()

