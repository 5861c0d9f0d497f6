"""TorchvisionEncoder and ``torchvision:`` specs: offline, seeded, local checkpoints."""

import importlib.util
import os
import time

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.skipif(importlib.util.find_spec("torchvision") is None,
                       reason="torchvision is not installed (see .ci/install)"),
]


def _images(n=2, size=73, seed=0):
    return np.random.RandomState(seed).rand(n, 3, size, size).astype(np.float32)


def test_pre_logits_features_with_the_weights_own_transform():
    """Brute force: resnet18's transform (resize 256, crop 224, ImageNet mean and
    deviation) at image_size=64 resizes to round(256 * 64 / 224) = 73: 73 px inputs are
    only centre-cropped (offset 4), and the embedding is the network without its fc."""
    from sklearn_taskrel.encoders import TorchvisionEncoder

    enc = TorchvisionEncoder("resnet18", weights=None, image_size=64, device="cpu")
    X = _images()
    Z = enc(X)
    model = enc.module_
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (torch.from_numpy(X)[..., 4:68, 4:68] - mean) / std
    trunk = torch.nn.Sequential(*list(model.children())[:-1])  # up to the average pool
    with torch.no_grad():
        expected = trunk(x).flatten(1).numpy()
    assert Z.shape == (2, 512)
    assert_allclose(Z, expected, rtol=1e-5, atol=1e-5)
    coef, intercept = enc.source_head()
    assert coef.shape == (1000, 512) and intercept.shape == (1000,)


def test_seeded_init_local_checkpoint_and_spec(tmp_path):
    from sklearn_taskrel.encoders import TorchvisionEncoder, load_encoder

    X = _images()
    a = load_encoder("torchvision:resnet18", weights=None, random_state=1, image_size=64,
                     device="cpu")
    b = TorchvisionEncoder("resnet18", weights=None, random_state=1, image_size=64,
                           device="cpu")
    c = TorchvisionEncoder("resnet18", weights=None, random_state=2, image_size=64,
                           device="cpu")
    assert_allclose(a(X), b(X))
    assert not np.allclose(b(X), c(X))
    path = tmp_path / "r18.pth"
    torch.save(b.module_.state_dict(), path)
    local = TorchvisionEncoder("resnet18", checkpoint=str(path), image_size=64, device="cpu")
    assert_allclose(local(X), b(X), rtol=1e-6)
    with pytest.raises(ValueError, match="no weights named 'NOPE'"):
        TorchvisionEncoder("resnet18", weights="NOPE", device="cpu")(X)


def test_uncached_weights_fail_fast_with_the_file_expected(tmp_path, monkeypatch):
    from sklearn_taskrel.encoders import load_encoder

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    t = time.perf_counter()
    with pytest.raises(FileNotFoundError) as err:
        load_encoder("torchvision:resnet18", device="cpu")(_images(1))
    assert time.perf_counter() - t < 10
    msg = str(err.value)
    assert os.path.join(str(tmp_path / "torch"), "hub", "checkpoints",
                        "resnet18-f37072fd.pth") in msg
    assert "weights='IMAGENET1K_V1'" in msg and "weights=None" in msg
