"""Embedding extraction (sklearn_taskrel.encoders._extract) and the encoder protocol."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from sklearn_taskrel.encoders import (
    build_encoder,
    encoder_fingerprint,
    extract_embeddings,
    is_factory,
)
from sklearn_taskrel.exceptions import EncoderError


def _module():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Dropout(0.5))


@pytest.mark.parametrize("options", [{}, {"prefetch": True}, {"batch_size": 7},
                                     {"mixed_precision": True}])
def test_batched_extraction_matches_one_forward(options):
    enc = _module()
    X = np.random.RandomState(0).normal(size=(50, 5)).astype(np.float32)
    with torch.no_grad():
        expected = enc.eval()(torch.from_numpy(X)).numpy()
    enc.train()
    Z = extract_embeddings(enc, X, device="cpu", **{"batch_size": 16, **options})
    assert Z.dtype == np.float32 and Z.shape == (50, 8)
    tol = 5e-2 if options.get("mixed_precision") else 1e-6
    assert_allclose(Z, expected, atol=tol, rtol=tol)
    assert enc.training  # previous mode restored


def test_compile_option_gives_same_embeddings():
    pytest.importorskip("torch._dynamo")
    enc = _module().eval()
    X = np.random.RandomState(1).normal(size=(20, 5)).astype(np.float32)
    try:
        Z = extract_embeddings(enc, X, device="cpu", compile=True)
    except Exception as exc:  # no C++ toolchain for inductor on this machine
        pytest.skip(f"torch.compile unavailable: {exc}")
    assert_allclose(Z, extract_embeddings(enc, X, device="cpu"), atol=1e-5)


def test_callables_factories_and_fingerprints():
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    assert_allclose(extract_embeddings(lambda b: b * 2, X), X * 2)
    factory = lambda: torch.nn.Linear(2, 3)  # noqa: E731
    assert is_factory(factory) and not is_factory(torch.nn.Linear(2, 3))
    assert is_factory(torch.nn.Identity)
    assert isinstance(build_encoder(factory), torch.nn.Linear)
    a, b = torch.nn.Linear(2, 3), torch.nn.Linear(2, 3)
    assert encoder_fingerprint(a) == encoder_fingerprint(a)
    assert encoder_fingerprint(a) != encoder_fingerprint(b)  # different weights


@pytest.mark.parametrize("encoder, message", [
    (lambda b: np.full((len(b), 2), np.inf), "NaN or infinite"),
    (lambda b: np.ones((len(b) + 1, 2)), "shape"),
    (lambda b: {"x": b}, "dict"),
    (lambda b: np.array([["a"]] * len(b)), "non-numeric"),
])
def test_bad_encoder_outputs(encoder, message):
    with pytest.raises(EncoderError, match=message):
        extract_embeddings(encoder, np.ones((4, 2), np.float32))


def test_width_change_between_batches_is_an_error():
    calls = []

    def enc(b):
        calls.append(1)
        return np.ones((len(b), 2 + len(calls)))

    with pytest.raises(EncoderError, match="width must not change"):
        extract_embeddings(enc, np.ones((10, 2)), batch_size=4)


def test_empty_input_and_bad_factory():
    with pytest.raises(ValueError, match="empty"):
        extract_embeddings(lambda b: b, np.ones((0, 2)))
    with pytest.raises(TypeError, match="must return an encoder"):
        build_encoder(lambda: None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_pinned_prefetch_matches_cpu():
    enc = _module().eval()
    X = np.random.RandomState(2).normal(size=(64, 5)).astype(np.float32)
    cpu = extract_embeddings(enc, X, device="cpu")
    gpu = extract_embeddings(enc, X, device="cuda", pin_memory=True, prefetch=True)
    assert_allclose(gpu, cpu, atol=1e-5)
