"""Tokenizers for the text adapters: ``tokenizers.Tokenizer`` or Hugging Face, from objects or local paths."""

import os

import numpy as np

from sklearn_taskrel.encoders._adapter import resolve_object
from sklearn_taskrel.encoders._optional import import_optional


class TokenizerRuntime:
    """One interface over a ``tokenizers.Tokenizer`` and a Hugging Face tokenizer.

    A ``tokenizers.Tokenizer`` given by the user is copied before its padding and
    truncation are set, so the caller's object is left as it was.
    """

    def __init__(self, tokenizer, max_length=None):
        self.max_length = max_length
        self.fast = type(tokenizer).__module__.split(".")[0] == "tokenizers"
        if self.fast:
            tokenizers = import_optional("tokenizers", purpose="a tokenizer.json tokenizer")
            tok = tokenizers.Tokenizer.from_str(tokenizer.to_str())
            pad = tok.padding or {}
            tok.enable_padding(pad_id=pad.get("pad_id", 0), pad_token=pad.get("pad_token", "[PAD]"),
                               pad_type_id=pad.get("pad_type_id", 0),
                               direction=pad.get("direction", "right"))
            if max_length is not None:
                tok.enable_truncation(max_length)
            self.tokenizer = tok
        elif callable(tokenizer):
            self.tokenizer = tokenizer
        else:
            raise TypeError(
                "tokenizer must be a tokenizers.Tokenizer, a Hugging Face tokenizer, a path "
                f"to tokenizer.json or to a folder, or a factory; got {type(tokenizer).__name__}.")

    @property
    def padding_side(self):
        if self.fast:
            pad = self.tokenizer.padding or {}
            return pad.get("direction", "right")
        return getattr(self.tokenizer, "padding_side", "right")

    def __call__(self, texts):
        """``{"input_ids", "attention_mask", "token_type_ids"}`` as int64 numpy arrays."""
        if self.fast:
            enc = self.tokenizer.encode_batch(texts)
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            return {"input_ids": ids,
                    "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                    "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}
        kwargs = dict(padding=True, truncation=True, return_tensors="np")
        if self.max_length is not None:
            kwargs["max_length"] = self.max_length
        out = self.tokenizer(texts, **kwargs)
        return {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}


def load_tokenizer(spec, *, max_length=None, purpose="this encoder", trust_remote_code=False,
                   prefer="tokenizers"):
    """A :class:`TokenizerRuntime` from an object, a factory or a local path.

    A ``tokenizer.json`` file is read with the ``tokenizers`` library alone, and
    so is a folder that holds one when ``prefer="tokenizers"``; other folders go
    through ``transformers.AutoTokenizer`` with ``local_files_only=True``.
    """
    spec = resolve_object(spec)
    if isinstance(spec, (str, os.PathLike)):
        path = os.fspath(spec)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"{purpose}: tokenizer path {path!r} does not exist (adapters load "
                "local files only; nothing is downloaded).")
        json_path = path if os.path.isfile(path) else os.path.join(path, "tokenizer.json")
        use_json = os.path.isfile(path) or prefer == "tokenizers"
        if use_json and os.path.isfile(json_path) and json_path.endswith(".json"):
            tokenizers = import_optional("tokenizers", purpose=purpose)
            spec = tokenizers.Tokenizer.from_file(json_path)
        else:
            transformers = import_optional("transformers", purpose=purpose)
            spec = transformers.AutoTokenizer.from_pretrained(
                path, local_files_only=True, trust_remote_code=trust_remote_code)
    return TokenizerRuntime(spec, max_length=max_length)
