"""The adapter base: parameters, shallow clones, pickling, fingerprints, optional imports,
packaged paths and plain numpy functions."""

import copy
import os
import pickle
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sklearn_taskrel import TaskRelatednessScorer
from sklearn_taskrel.encoders import (
    Encoder,
    FunctionEncoder,
    PackagedPath,
    build_encoder,
    encoder_fingerprint,
    extract_embeddings,
    is_factory,
)
from sklearn_taskrel.encoders._adapter import BaseAdapter, path_identity, resolve_object
from sklearn_taskrel.encoders._optional import import_optional

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def poly(X, degree=2):
    return np.concatenate([X ** k for k in range(1, degree + 1)], axis=1)


class Loaded(BaseAdapter):
    """A toy adapter whose runtime counts how often it is built."""

    _runtime_params = ("source",)
    built = []

    def __init__(self, source, *, scale=1.0, device=None):
        self.source = source
        self.scale = scale
        self.device = device

    def _load_runtime(self):
        Loaded.built.append(self.source)
        return np.asarray(self.source, dtype=np.float32)

    def encode(self, batch):
        return np.asarray(batch, np.float32) @ self._get_runtime() * self.scale


@pytest.fixture
def blobs():
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1, 2], 20)
    X = rng.normal(size=(60, 4)) + 2.0 * np.eye(4)[y]
    return X, y


def test_adapter_is_an_encoder_not_a_factory():
    enc = FunctionEncoder(poly)
    assert isinstance(enc, Encoder) and not is_factory(enc)
    assert build_encoder(enc) is enc


def test_params_and_shallow_clone():
    Loaded.built.clear()
    W = np.eye(3)
    enc = Loaded(W, scale=2.0)
    enc(np.ones((1, 3)))
    assert enc.get_params() == {"source": W, "scale": 2.0, "device": None}
    for twin in (clone(enc), copy.copy(enc), copy.deepcopy(enc)):
        assert twin is not enc and twin.source is W  # weights shared, not copied
        twin.set_params(scale=5.0)
        assert enc.scale == 2.0
        np.testing.assert_allclose(twin(np.ones((1, 3))), 5.0 * np.ones((1, 3)))
    assert len(Loaded.built) == 1  # clones reuse what the original loaded
    enc.set_params(source=2 * W)  # a new source reloads
    np.testing.assert_allclose(enc(np.ones((1, 3))), 4.0 * np.ones((1, 3)))
    assert len(Loaded.built) == 2


def test_pickle_drops_runtime():
    enc = Loaded(np.eye(2))
    enc(np.ones((1, 2)))
    state = enc.__getstate__()
    assert "_runtime" not in state
    back = pickle.loads(pickle.dumps(enc))
    np.testing.assert_allclose(back(np.ones((1, 2))), np.ones((1, 2)))


def test_estimator_clone_shares_the_adapter_weights():
    W = np.eye(3)
    est = TaskRelatednessScorer(encoder=Loaded(W))
    assert clone(est).encoder.source is W
    assert "encoder__scale" in est.get_params(deep=True)


def test_fingerprint_changes_with_params_not_device():
    a = Loaded(np.eye(3), scale=2.0)
    assert a.fingerprint() == clone(a).fingerprint() == encoder_fingerprint(a)
    assert a.fingerprint() == Loaded(np.eye(3), scale=2.0, device="cpu").fingerprint()
    assert a.fingerprint() != Loaded(np.eye(3), scale=3.0).fingerprint()
    assert a.fingerprint() != Loaded(2 * np.eye(3), scale=2.0).fingerprint()


def test_fingerprint_of_functions():
    def f(X):
        return X

    def g(X):
        return X + 1

    base = FunctionEncoder(poly)
    assert base.fingerprint() == FunctionEncoder(poly).fingerprint()
    assert base.fingerprint() != FunctionEncoder(poly, kw_args={"degree": 3}).fingerprint()
    assert FunctionEncoder(f).fingerprint() != FunctionEncoder(g).fingerprint()
    p1 = PCA(2).fit(np.random.RandomState(0).normal(size=(10, 4)))
    p2 = PCA(2).fit(np.random.RandomState(1).normal(size=(10, 4)))
    assert FunctionEncoder(p1.transform).fingerprint() != FunctionEncoder(p2.transform).fingerprint()


def test_path_identity_is_content(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"abc")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("x")
    h = path_identity(tmp_path)
    assert h == path_identity(str(tmp_path))
    (tmp_path / "sub" / "b.txt").write_text("y")
    assert path_identity(tmp_path) != h


def test_resolve_object_calls_only_factories():
    class CallableThing:
        def __call__(self, text=None):  # like a tokenizer
            raise AssertionError("must not be called")

    thing = CallableThing()
    assert resolve_object(thing) is thing
    assert resolve_object(lambda: 3) == 3
    assert resolve_object("path") == "path"


def test_function_encoder(blobs):
    X, _ = blobs
    Z = FunctionEncoder(poly, kw_args={"degree": 3})(X)
    assert Z.dtype == np.float32 and Z.shape == (60, 12)
    np.testing.assert_allclose(Z[:, 8:], X ** 3, rtol=1e-5)
    texts = np.array(["ab", "abcd"], dtype=object)
    np.testing.assert_array_equal(FunctionEncoder(lambda b: [[len(t)] for t in b])(texts),
                                  [[2], [4]])
    with pytest.raises(TypeError, match="func must be callable"):
        FunctionEncoder(3)(X)


def test_function_encoder_kw_args_ranked_in_grid(blobs):
    X, y = blobs
    est = TaskRelatednessScorer(reference=(X, y), encoder=FunctionEncoder(poly), device="cpu",
                                random_state=0, head_max_iter=50, max_iter=5)
    grid = GridSearchCV(est, {"encoder__kw_args": [{"degree": 1}, {"degree": 2}]},
                        cv=[next(StratifiedKFold(2, shuffle=True, random_state=0).split(X, y))], refit=False).fit(X, y)
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))


def test_embed_shortcut(blobs):
    X, _ = blobs
    enc = FunctionEncoder(poly)
    np.testing.assert_array_equal(enc.embed(X, batch_size=7),
                                  extract_embeddings(enc, X, batch_size=60))


def test_import_optional_messages(monkeypatch):
    with pytest.raises(ImportError, match=r"needs the optional dependency 'no_such_pkg'.*"
                                          r"pip install no_such_pkg`"):
        import_optional("no_such_pkg.sub", purpose="X")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    with pytest.raises(ImportError, match=r"OnnxEncoder needs .*'onnxruntime'.*"
                                          r"pip install onnxruntime.*sklearn-taskrel\[onnx\]"):
        import_optional("onnxruntime", purpose="OnnxEncoder")


def test_packaged_path():
    p = PackagedPath("sklearn", "datasets", "data", "iris.csv")
    assert os.path.isfile(os.fspath(p)) and p.exists()
    assert p == PackagedPath("sklearn", "datasets", "data", "iris.csv")
    assert copy.deepcopy(p) == p and pickle.loads(pickle.dumps(p)) == p
    assert repr(p) == "PackagedPath('sklearn', 'datasets', 'data', 'iris.csv')"
    missing = PackagedPath("no_such_pkg_xyz", "model")
    assert not missing.exists()
    with pytest.raises(ImportError, match="pip install no_such_pkg_xyz"):
        os.fspath(missing)
    with pytest.raises(FileNotFoundError, match="missing from the installed package"):
        os.fspath(PackagedPath("sklearn", "no_such_file"))
