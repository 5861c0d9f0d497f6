"""TimmEncoder and ``timm:`` specs: offline, seeded, local checkpoints (timm 1.0.31)."""

import importlib.util
import os
import time

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.skipif(importlib.util.find_spec("timm") is None,
                       reason="timm is not installed (see .ci/install)"),
]


def _images(n=3, size=67, seed=0):
    return np.random.RandomState(seed).rand(n, 3, size, size).astype(np.float32)


def test_torchvision_imports_here_with_or_without_the_operator_schemas():
    from sklearn_taskrel.encoders._optional import import_torchvision

    tv = import_torchvision("test")
    assert tv.__version__.startswith("0.28")
    assert hasattr(torch.ops.torchvision, "nms")  # real, or declared where the build can't load


def test_pooled_pre_logits_with_the_models_own_preprocessing():
    """Brute force: resnet18's configuration (crop_pct 0.95, ImageNet mean and deviation);
    67 px inputs with image_size=64 are not resized (round(64 / 0.95) = 67), only
    centre-cropped, so the expected embedding is the model on the normalised crop."""
    from sklearn_taskrel.encoders import TimmEncoder

    enc = TimmEncoder("resnet18", pretrained=False, image_size=64, device="cpu")
    X = _images()
    Z = enc(X)
    model = enc.module_
    assert model.pretrained_cfg["crop_pct"] == 0.95
    mean = torch.tensor(model.pretrained_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(model.pretrained_cfg["std"]).view(1, 3, 1, 1)
    x = (torch.from_numpy(X)[..., 1:65, 1:65] - mean) / std
    with torch.no_grad():
        expected = model.forward_head(model.forward_features(x), pre_logits=True).numpy()
    assert Z.shape == (3, 512)
    assert_allclose(Z, expected, rtol=1e-5, atol=1e-5)
    coef, intercept = enc.source_head()
    assert coef.shape == (1000, 512) and intercept.shape == (1000,)
    assert enc.set_params(layer="layer3")(X).shape == (3, 256)  # pooled inner stage


def test_seeded_random_weights_and_a_local_checkpoint(tmp_path):
    from sklearn_taskrel.encoders import TimmEncoder, encoder_fingerprint, load_encoder

    X = _images(2)
    a = load_encoder("timm:resnet18", pretrained=False, random_state=3, image_size=64,
                     device="cpu")
    b = TimmEncoder("resnet18", pretrained=False, random_state=3, image_size=64, device="cpu")
    c = TimmEncoder("resnet18", pretrained=False, random_state=4, image_size=64, device="cpu")
    assert_allclose(a(X), b(X))
    assert not np.allclose(a(X), c(X))
    assert encoder_fingerprint(a) == encoder_fingerprint(b) != encoder_fingerprint(c)
    path = tmp_path / "resnet18_seed3.pth"
    torch.save(b.module_.state_dict(), path)
    local = TimmEncoder("resnet18", checkpoint=str(path), image_size=64, device="cpu")
    assert_allclose(local(X), b(X), rtol=1e-6)
    assert encoder_fingerprint(local) != encoder_fingerprint(b)
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        TimmEncoder("resnet18", checkpoint=str(tmp_path / "missing.pth"))(X)


def test_uncached_pretrained_weights_fail_fast_and_say_how_to_fetch_them(tmp_path,
                                                                         monkeypatch):
    from sklearn_taskrel.encoders import load_encoder

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    enc = load_encoder("timm:resnet18", device="cpu")
    t = time.perf_counter()
    with pytest.raises(FileNotFoundError) as err:
        enc(_images(1))
    assert time.perf_counter() - t < 10  # no network retries
    msg = str(err.value)
    assert "TimmEncoder('resnet18')" in msg and str(tmp_path / "hub") in msg
    assert os.path.join(str(tmp_path / "torch"), "hub", "checkpoints") in msg
    assert "timm.create_model('resnet18', pretrained=True)" in msg
    assert "pretrained=False" in msg
