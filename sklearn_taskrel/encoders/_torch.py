"""PyTorch modules (and skorch nets) as encoders, with layer selection by name."""

import difflib
import threading

import numpy as np

from sklearn_taskrel.encoders._adapter import BaseAdapter, resolve_object

POOLINGS = ("avg", "max", "flatten", "first", "token_avg")


class _StopForward(Exception):
    """Raised by a forward hook once every requested layer has been captured."""


def first_tensor(out):
    """The tensor in a module output: itself, the first of a tuple, or ``last_hidden_state``."""
    import torch

    if torch.is_tensor(out):
        return out
    if isinstance(out, dict) or hasattr(out, "keys"):
        if "last_hidden_state" in out:
            return out["last_hidden_state"]
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        for item in out:
            if torch.is_tensor(item):
                return item
    raise TypeError(f"cannot find a tensor in the module output of type {type(out).__name__}.")


def pool_output(out, pool):
    """Reduce a module output to ``(batch, features)``.

    ``"avg"`` / ``"max"`` pool channels-first maps ``(N, C, ...)`` over every axis
    after the channels (convolutional features); ``"token_avg"`` averages a
    ``(N, L, C)`` sequence over its tokens and ``"first"`` takes its first token
    (transformer blocks); ``"flatten"`` keeps everything. 2-D outputs pass through.
    """
    out = first_tensor(out)
    if out.ndim <= 2:
        return out if out.ndim == 2 else out.reshape(len(out), -1)
    if pool == "avg":
        return out.flatten(2).mean(-1)
    if pool == "max":
        return out.flatten(2).amax(-1)
    if pool == "flatten":
        return out.flatten(1)
    if pool == "token_avg":
        return out.flatten(1, -2).mean(1)
    if pool == "first":
        return out[:, 0].flatten(1)
    raise ValueError(f"pool must be one of {POOLINGS}; got {pool!r}.")


def list_layers(module, *, leaves=False, types=None):
    """Names of the submodules of ``module`` that a layer selection can use.

    Parameters
    ----------
    module : nn.Module, skorch NeuralNet or TorchEncoder
    leaves : bool, default=False
        Only modules without children.
    types : type, str or tuple of them, default=None
        Only modules of these classes (classes or class names).

    Returns
    -------
    names : list of str
        Dotted names, in definition order (``"features.14"``, ...).

    Examples
    --------
    >>> import torch
    >>> from sklearn_taskrel.encoders import list_layers
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> list_layers(net)
    ['0', '1', '2']
    >>> list_layers(net, types="Linear")
    ['0', '2']
    """
    if isinstance(module, BaseAdapter):
        module = module.module_ if hasattr(module, "module_") else module._get_runtime()
    module = _as_module(module)
    if types is not None and not isinstance(types, tuple):
        types = (types,)
    names = []
    for name, sub in module.named_modules():
        if not name or (leaves and next(sub.children(), None) is not None):
            continue
        if types is not None and not any(
                (isinstance(t, str) and type(sub).__name__ == t) or
                (isinstance(t, type) and isinstance(sub, t)) for t in types):
            continue
        names.append(name)
    return names


def _as_module(obj):
    import torch

    if type(obj).__module__.split(".")[0] == "skorch" and hasattr(obj, "initialized_"):
        if not obj.initialized_:
            raise TypeError(
                f"the skorch net {type(obj).__name__} is not initialized; fit it or call "
                "initialize() first.")
        obj = obj.module_
    if not isinstance(obj, torch.nn.Module):
        raise TypeError(
            "module must be a torch.nn.Module, a fitted skorch NeuralNet or a "
            f"zero-argument factory returning one; got {type(obj).__name__}.")
    return obj


def get_layer(module, name):
    """The submodule called ``name``, or a ``ValueError`` that suggests close names."""
    try:
        return module.get_submodule(name)
    except AttributeError:
        names = [n for n, _ in module.named_modules() if n]
        close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(
            f"layer={name!r} is not a submodule of {type(module).__name__}.{hint} "
            f"Valid names include {names[:8]}{' ...' if len(names) > 8 else ''} "
            "(see list_layers)."
        ) from None


def run_with_layers(module, call, x, layers, *, stop_early=True):
    """Run ``call(x)`` and capture the outputs of the submodules named ``layers``.

    Forward hooks are registered for this call only and removed afterwards; they
    record only calls made by this thread, so several adapters can share one
    module. With ``stop_early`` the forward pass stops once every layer has been
    captured (the rest of the network is not computed).

    Returns
    -------
    outputs : list
        One output per name, in the order of ``layers`` (first call of each).
    """
    targets = [get_layer(module, name) for name in layers]
    captured = {}
    me = threading.get_ident()

    def make_hook(i):
        def hook(mod, inputs, output):
            if threading.get_ident() != me or i in captured:
                return
            captured[i] = output
            if stop_early and len(captured) == len(targets):
                raise _StopForward
        return hook

    handles = [t.register_forward_hook(make_hook(i)) for i, t in enumerate(targets)]
    try:
        try:
            call(x)
        except _StopForward:
            pass
    finally:
        for handle in handles:
            handle.remove()
    missing = [layers[i] for i in range(len(targets)) if i not in captured]
    if missing:
        raise ValueError(f"layers {missing} were not called during the forward pass.")
    return [captured[i] for i in range(len(targets))]


def to_tensor(batch, device, dtype=None):
    """A batch as a tensor on ``device`` (float64 becomes float32)."""
    import torch

    x = batch if torch.is_tensor(batch) else torch.from_numpy(np.ascontiguousarray(batch))
    if dtype is None and x.dtype == torch.float64:
        dtype = torch.float32
    non_blocking = device.type == "cuda" and x.device.type == "cpu" and x.is_pinned()
    return x.to(device=device, dtype=dtype, non_blocking=non_blocking)


class ModuleRuntime:
    """A loaded module and the device / memory format it was last moved to."""

    def __init__(self, module):
        self.module = module
        self.device = None
        self.channels_last = False
        self.lock = threading.Lock()

    def place(self, device, channels_last=False):
        import torch

        if self.device != device or self.channels_last != channels_last:
            with self.lock:
                fmt = torch.channels_last if channels_last else torch.contiguous_format
                self.module.to(device=device, memory_format=fmt)
                self.device, self.channels_last = device, channels_last
        return self.module


class TorchEncoderMixin:
    """Forward pass of a module with optional layer capture, pooling and autocast."""

    def _check_common(self):
        layers = self._layers()
        if self.pool not in POOLINGS:
            raise ValueError(f"pool must be one of {POOLINGS}; got {self.pool!r}.")
        return layers

    def _layers(self):
        layer = getattr(self, "layer", None)
        if layer is None:
            return None
        if isinstance(layer, str):
            return [layer]
        if isinstance(layer, (list, tuple)) and layer and all(isinstance(n, str) for n in layer):
            return list(layer)
        raise ValueError(
            f"layer must be None, a submodule name or a list of names; got {layer!r}.")

    def _run(self, module, call, x, dev):
        """``call(x)`` under no_grad/eval/autocast, pooled to a float32 numpy array."""
        import torch

        layers = self._check_common()
        was_training = module.training
        if was_training:
            module.eval()
        try:
            with torch.no_grad(), self._autocast(dev):
                if layers is None:
                    feats = [pool_output(call(x), self.pool)]
                else:
                    outs = run_with_layers(module, call, x, layers,
                                           stop_early=getattr(self, "stop_early", True))
                    feats = [pool_output(o, self.pool) for o in outs]
        finally:
            if was_training:
                module.train(True)
        Z = feats[0] if len(feats) == 1 else torch.cat([f.flatten(1) for f in feats], dim=1)
        return Z.float().cpu().numpy()


class TorchEncoder(TorchEncoderMixin, BaseAdapter):
    """A PyTorch module, or a fitted skorch net, as an encoder.

    The module's output (or the output of the submodule(s) named by ``layer``,
    captured with forward hooks) is pooled to ``(batch, features)``. Batches run
    under ``torch.no_grad()`` with the module in ``eval()`` mode (its training flag
    is restored afterwards), optionally under autocast.

    Parameters
    ----------
    module : nn.Module, skorch NeuralNet or zero-argument factory
        The network. A fitted skorch net contributes its ``module_``. A factory is
        called once, on first use; clones share what it built.
    layer : str, list of str or None, default=None
        Dotted name(s) of the submodule(s) whose output is the embedding
        (``"features.14"``; see :func:`list_layers`). ``None`` uses the output of
        ``method``. Several names concatenate their pooled outputs.
    method : str or None, default=None
        Name of the module method to call (``"embed"``, ``"extract_features"``);
        ``None`` calls ``forward``.
    preprocess : callable or None, default=None
        ``f(tensor) -> tensor`` applied to each batch on the device, before the
        module (normalisation, resizing...).
    pool : {"avg", "max", "flatten", "first", "token_avg"}, default="avg"
        How outputs with more than two axes become vectors: ``"avg"``/``"max"`` over
        the spatial axes of ``(N, C, ...)`` maps, ``"token_avg"``/``"first"`` for
        ``(N, L, C)`` token sequences, or ``"flatten"``.
    stop_early : bool, default=True
        With ``layer``, stop the forward pass once the layer(s) ran.
    device : str, torch.device or None, default=None
        Where the module runs. ``None`` follows the batches: inside an estimator
        they arrive on the estimator's ``device``; numpy batches given directly
        run on CUDA when available, else on the CPU.
    mixed_precision : bool, default=False
        Run under :func:`torch.autocast` (float16 on CUDA, bfloat16 on the CPU);
        embeddings come back as float32.
    channels_last : bool, default=False
        Use the channels-last memory format for 4-D inputs (often faster for
        convolutions on the CPU).

    Attributes
    ----------
    module_ : nn.Module
        The resolved module (built on first access).

    See Also
    --------
    LayerEncoder : the same, to rank the layers of one network.
    list_layers : the names ``layer`` accepts.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn_taskrel.encoders import TorchEncoder
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(),
    ...                           torch.nn.Conv2d(8, 4, 3))
    >>> enc = TorchEncoder(net, device="cpu")
    >>> enc(np.zeros((2, 3, 16, 16), np.float32)).shape
    (2, 4)
    >>> enc.set_params(layer="1")(np.zeros((2, 3, 16, 16), np.float32)).shape
    (2, 8)
    """

    takes_tensors = True
    _runtime_params = ("module",)

    def __init__(self, module, *, layer=None, method=None, preprocess=None, pool="avg",
                 stop_early=True, device=None, mixed_precision=False, channels_last=False):
        self.module = module
        self.layer = layer
        self.method = method
        self.preprocess = preprocess
        self.pool = pool
        self.stop_early = stop_early
        self.device = device
        self.mixed_precision = mixed_precision
        self.channels_last = channels_last

    def _load_runtime(self):
        return ModuleRuntime(_as_module(resolve_object(self.module)))

    @property
    def module_(self):
        return self._get_runtime().module

    def _call(self, module):
        if self.method is None:
            return module
        fn = getattr(module, self.method, None)
        if not callable(fn):
            raise ValueError(f"method={self.method!r} is not a method of "
                             f"{type(module).__name__}.")
        return fn

    def encode(self, batch):
        """Embeddings of one batch.

        Parameters
        ----------
        batch : ndarray or tensor
            Inputs in the module's own format.

        Returns
        -------
        Z : ndarray of shape (batch_size, n_features), dtype float32
        """
        import torch

        dev = self._device(batch)
        module = self._get_runtime().place(dev, self.channels_last)
        x = to_tensor(batch, dev)
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.preprocess is not None:
            x = self.preprocess(x)
        return self._run(module, self._call(module), x, dev)


class LayerEncoder(TorchEncoder):
    """Features of an intermediate layer of a network, to rank layers.

    The same as :class:`TorchEncoder` (``layer`` is the point), with
    :meth:`available_layers` to build the grid. Layers are chosen by name with
    forward hooks, so a grid over ``encoder__layer`` ranks the layers of one
    model without copying it: clones share the module.

    Parameters
    ----------
    module : nn.Module, skorch NeuralNet or zero-argument factory
    layer : str, list of str or None, default=None
        Dotted submodule name(s); ``None`` is the module output.
    method, preprocess, pool, stop_early, device, mixed_precision, channels_last
        As in :class:`TorchEncoder`.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn_taskrel.encoders import LayerEncoder
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(),
    ...                           torch.nn.Linear(16, 3))
    >>> enc = LayerEncoder(net, layer="1", device="cpu")
    >>> enc.available_layers()
    ['0', '1', '2']
    >>> enc(np.ones((5, 4), np.float32)).shape
    (5, 16)

    A grid over layers (here with a ready embedding head on the encoder output):

    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn_taskrel import TaskRelatednessScorer
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1], 20)
    >>> X = (rng.normal(size=(40, 4)) + 2 * y[:, None]).astype(np.float32)
    >>> est = TaskRelatednessScorer(reference=(X, y), encoder=enc, device="cpu",
    ...                             random_state=0)
    >>> grid = GridSearchCV(est, {"encoder__layer": ["0", "1", "2"]}, cv=2).fit(X, y)
    >>> grid.best_params_["encoder__layer"] in {"0", "1", "2"}
    True
    """

    def available_layers(self, *, leaves=False, types=None):
        """Names that ``layer`` accepts (see :func:`list_layers`)."""
        return list_layers(self.module_, leaves=leaves, types=types)
