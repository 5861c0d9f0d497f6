"""ONNX Runtime sessions as encoders (image or text models)."""

import os

import numpy as np

from sklearn_taskrel.encoders._adapter import (
    BaseAdapter,
    as_text_list,
    l2_normalize,
    resolve_object,
)
from sklearn_taskrel.encoders._optional import import_optional

_ORT_TYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8, "tensor(bool)": np.bool_,
}
ONNX_POOLINGS = ("mean", "cls", "last", "max", "flatten", "none")


def default_providers(device=None):
    """ONNX Runtime providers for ``device``: CUDA first when available and allowed."""
    ort = import_optional("onnxruntime", purpose="OnnxEncoder")
    available = ort.get_available_providers()
    want_cuda = device is None or str(device) == "auto" or str(device).startswith("cuda")
    if want_cuda and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device is not None and str(device).startswith("cuda"):
        raise ValueError(
            f"device={device!r} but onnxruntime has no CUDAExecutionProvider here "
            f"(available: {available}); install onnxruntime-gpu or use device='cpu'.")
    return ["CPUExecutionProvider"]


def _expose_outputs(model, names, purpose):
    """The serialised model with the graph tensors ``names`` added as outputs."""
    onnx = import_optional("onnx", purpose=f"{purpose} (to expose an inner tensor as output)")
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(
            os.fspath(model))
    present = {o.name for o in model.graph.output}
    produced = {t for node in model.graph.node for t in node.output}
    for name in names:
        if name in present:
            continue
        if name not in produced:
            raise ValueError(
                f"{purpose}: output={name!r} is neither an output nor a tensor of the "
                f"graph (outputs: {sorted(present)}).")
        model.graph.output.append(
            onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    return model.SerializeToString()


class OnnxRuntime:
    def __init__(self, session, input_names, output_names, tokenizer):
        self.session = session
        self.input_names = input_names
        self.input_types = {i.name: _ORT_TYPES.get(i.type, np.float32)
                            for i in session.get_inputs()}
        self.output_names = output_names
        self.tokenizer = tokenizer


def build_session(model, *, outputs=(), providers=None, device=None,
                  intra_op_num_threads=None, purpose="OnnxEncoder"):
    """An ``InferenceSession`` for a path, bytes, ``ModelProto`` or session.

    Graph tensors named in ``outputs`` that are not outputs yet are exposed (this
    needs ``onnx`` and a model given as a path, bytes or ``ModelProto``).
    """
    ort = import_optional("onnxruntime", purpose=purpose)
    model = resolve_object(model)
    if isinstance(model, ort.InferenceSession):
        have = {o.name for o in model.get_outputs()}
        missing = [o for o in outputs if o not in have]
        if missing:
            raise ValueError(
                f"{purpose}: {missing} are not outputs of the given InferenceSession "
                f"(outputs: {sorted(have)}). Pass the model path instead, so that inner "
                "tensors can be exposed as outputs.")
        return model
    if isinstance(model, (str, os.PathLike)) and not os.path.exists(model):
        raise FileNotFoundError(f"{purpose}: ONNX model {os.fspath(model)!r} does not exist.")
    if not isinstance(model, (str, os.PathLike, bytes)) and \
            type(model).__module__.split(".")[0] != "onnx":
        raise TypeError(
            f"{purpose}: session must be an onnxruntime.InferenceSession, a path to a "
            f".onnx file, the model bytes, an onnx.ModelProto or a factory; got "
            f"{type(model).__name__}.")
    options = ort.SessionOptions()
    if intra_op_num_threads is not None:
        options.intra_op_num_threads = int(intra_op_num_threads)
    providers = providers or default_providers(device)

    def open_session(source):
        if type(source).__module__.split(".")[0] == "onnx":
            source = source.SerializeToString()
        return ort.InferenceSession(source if isinstance(source, bytes) else os.fspath(source),
                                    sess_options=options, providers=providers)

    session = open_session(model)
    have = {o.name for o in session.get_outputs()}
    if any(o not in have for o in outputs):  # expose inner tensors, then reopen
        session = open_session(_expose_outputs(model, outputs, purpose))
    return session


class OnnxEncoder(BaseAdapter):
    """An ONNX Runtime model as an encoder, for images, tables or texts.

    Without a ``tokenizer`` each batch (a numpy array) feeds the model's single
    input (or ``input_name``), after ``preprocess``. With a ``tokenizer`` batches
    are lists of strings, tokenized (padding to the longest text, attention
    mask) and fed to the inputs the graph declares among ``input_ids``,
    ``attention_mask`` and ``token_type_ids``.

    Parameters
    ----------
    session : InferenceSession, path, bytes, onnx.ModelProto or factory
        The model. A path is opened on first use; clones share the session.
    output : str, int or None, default=None
        The output whose value is the embedding, by name or position; ``None`` is
        the first output. A name that is an inner tensor of the graph (e.g.
        ``"Reshape:0"``) is added as an output when the model is given as a path,
        bytes or ``ModelProto`` (needs ``onnx``).
    input_name : str or None, default=None
        The input that receives image/array batches when the model has several.
    tokenizer : tokenizers.Tokenizer, HF tokenizer, path or None, default=None
        Makes this a text encoder. A path is a ``tokenizer.json`` file or a folder.
    max_length : int or None, default=None
        Truncation length for texts; ``None`` keeps the tokenizer's own setting.
    pooling : {"mean", "cls", "last", "max", "flatten", "none"}, default="mean"
        For outputs with more than two axes: text models average the token
        vectors under the attention mask (``"mean"``), or take the first
        (``"cls"``) or last real token; image models average (``"mean"``) or max
        over the axes after the channels, or flatten. 2-D outputs pass through.
    normalize : bool, default=False
        L2-normalise each embedding.
    preprocess : callable or None, default=None
        ``f(ndarray) -> ndarray`` applied to non-text batches before the model.
    providers : list of str or None, default=None
        ONNX Runtime execution providers; ``None`` picks CUDA when available (and
        ``device`` allows it), else the CPU.
    intra_op_num_threads : int or None, default=None
        Threads of the session (``None``: ONNX Runtime's default).
    device : {"auto", "cpu", "cuda"} or None, default=None
        Used only when ``providers`` is None; ``None`` means ``"auto"``.

    Notes
    -----
    Mixed precision is a property of an ONNX graph (export it in float16); the
    adapter casts inputs to the types the graph declares. The device is chosen
    when the session opens (``providers``, else ``device``). An
    ``InferenceSession`` object cannot be pickled: give a path (or bytes) when a
    grid runs with ``n_jobs > 1`` in processes; each worker then opens its own.

    Examples
    --------
    A tiny graph built with ``onnx`` (``y = relu(x W)``):

    >>> import numpy as np, onnx
    >>> from onnx import helper, TensorProto, numpy_helper
    >>> W = numpy_helper.from_array(np.eye(4, 3, dtype=np.float32), "W")
    >>> graph = helper.make_graph(
    ...     [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
    ...     "toy", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
    ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])], [W])
    >>> model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    >>> from sklearn_taskrel.encoders import OnnxEncoder
    >>> enc = OnnxEncoder(model.SerializeToString(), device="cpu")
    >>> enc(np.array([[1., -2., 3., 4.]], np.float32))
    array([[1., 0., 3.]], dtype=float32)
    >>> OnnxEncoder(model.SerializeToString(), output="h", device="cpu")(
    ...     np.array([[1., -2., 3., 4.]], np.float32))
    array([[ 1., -2.,  3.]], dtype=float32)
    """

    _runtime_params = ("session", "output", "tokenizer", "max_length", "providers",
                       "intra_op_num_threads", "device")
    _path_params = ("session", "tokenizer")
    _fingerprint_exclude = ("device", "providers", "intra_op_num_threads")

    def __init__(self, session, *, output=None, input_name=None, tokenizer=None,
                 max_length=None, pooling="mean", normalize=False, preprocess=None,
                 providers=None, intra_op_num_threads=None, device=None):
        self.session = session
        self.output = output
        self.input_name = input_name
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.pooling = pooling
        self.normalize = normalize
        self.preprocess = preprocess
        self.providers = providers
        self.intra_op_num_threads = intra_op_num_threads
        self.device = device

    def _requested_outputs(self):
        return [self.output] if isinstance(self.output, str) else []

    def _load_runtime(self):
        session = build_session(self.session, outputs=self._requested_outputs(),
                                providers=self.providers, device=self.device,
                                intra_op_num_threads=self.intra_op_num_threads,
                                purpose=type(self).__name__)
        names = [o.name for o in session.get_outputs()]
        if self.output is None:
            out = [names[0]]
        elif isinstance(self.output, str):
            out = [self.output]
        elif isinstance(self.output, (int, np.integer)) and -len(names) <= self.output < len(names):
            out = [names[self.output]]
        else:
            raise ValueError(f"output must be None, an output name or an index < {len(names)}; "
                             f"got {self.output!r} (outputs: {names}).")
        tokenizer = None
        if self.tokenizer is not None:
            from sklearn_taskrel.encoders._tokenize import load_tokenizer

            tokenizer = load_tokenizer(self.tokenizer, max_length=self.max_length,
                                       purpose=type(self).__name__)
        inputs = [i.name for i in session.get_inputs()]
        return OnnxRuntime(session, inputs, out, tokenizer)

    @property
    def session_(self):
        """The ``onnxruntime.InferenceSession`` (opened on first access)."""
        return self._get_runtime().session

    def _feed(self, rt, batch):
        if rt.tokenizer is not None:
            enc = rt.tokenizer(as_text_list(batch))
            feed = {}
            for name in rt.input_names:
                if name not in enc:
                    raise ValueError(
                        f"the ONNX model needs input {name!r}, which the tokenizer does not "
                        f"produce (it gives {sorted(enc)}).")
                feed[name] = enc[name].astype(rt.input_types[name], copy=False)
            return feed, enc["attention_mask"]
        x = batch.detach().cpu().numpy() if hasattr(batch, "detach") else np.asarray(batch)
        if self.preprocess is not None:
            x = np.asarray(self.preprocess(x))
        name = self.input_name
        if name is None:
            if len(rt.input_names) != 1:
                raise ValueError(f"the ONNX model has inputs {rt.input_names}; say which one "
                                 "receives the batch with input_name=.")
            name = rt.input_names[0]
        return {name: np.ascontiguousarray(x, dtype=rt.input_types.get(name, np.float32))}, None

    def encode(self, batch):
        """Embeddings of one batch.

        Parameters
        ----------
        batch : ndarray, tensor or list of str
            Arrays for image/array models; strings when a ``tokenizer`` is set.

        Returns
        -------
        Z : ndarray of shape (batch_size, n_features), dtype float32
        """
        if self.pooling not in ONNX_POOLINGS:
            raise ValueError(f"pooling must be one of {ONNX_POOLINGS}; got {self.pooling!r}.")
        rt = self._get_runtime()
        feed, mask = self._feed(rt, batch)
        out = rt.session.run(rt.output_names, feed)[0]
        Z = pool_numpy(np.asarray(out, dtype=np.float32), self.pooling, mask)
        return l2_normalize(Z) if self.normalize else Z


def pool_numpy(out, pooling, mask=None):
    """Pool a numpy model output to 2-D (masked over tokens when ``mask`` is given)."""
    if out.ndim <= 2:
        return out if out.ndim == 2 else out.reshape(len(out), -1)
    if pooling == "none":
        raise ValueError(f"the output has shape {out.shape}; choose a pooling to make it 2-D.")
    if pooling == "flatten":
        return out.reshape(len(out), -1)
    if mask is not None and out.ndim == 3:  # (N, L, C) token vectors
        m = mask[:, :out.shape[1]].astype(np.float32)
        if pooling == "mean":
            return (out * m[..., None]).sum(1) / np.maximum(m.sum(1, keepdims=True), 1e-9)
        if pooling == "cls":
            return out[:, 0]
        if pooling == "last":
            last = m.shape[1] - 1 - np.argmax(m[:, ::-1], axis=1)
            return out[np.arange(len(out)), last]
        if pooling == "max":
            return np.where(m[..., None] > 0, out, -np.inf).max(1)
    flat = out.reshape(out.shape[0], out.shape[1], -1)
    if pooling == "mean":
        return flat.mean(-1)
    if pooling == "max":
        return flat.max(-1)
    raise ValueError(f"pooling={pooling!r} needs a text model (a tokenizer).")
