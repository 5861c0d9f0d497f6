"""TorchEncoder / LayerEncoder: forward, layer hooks, pooling, skorch, clones, devices."""

import copy
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sklearn_taskrel import TaskRelatednessScorer
from sklearn_taskrel.encoders import (
    LayerEncoder,
    TorchEncoder,
    encoder_fingerprint,
    extract_embeddings,
    list_layers,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"))]


def make_cnn(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 5))


def make_mlp(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.ReLU(),
                               torch.nn.Linear(32, 16), torch.nn.Tanh(),
                               torch.nn.Linear(16, 3))


def one_split(y):
    """A single train/test split: one fit per grid candidate keeps the tests fast."""
    return [next(StratifiedKFold(2, shuffle=True, random_state=0).split(y, y))]


def scorer(reference, **kw):
    return TaskRelatednessScorer(reference=reference, device="cpu", random_state=0,
                                 head_max_iter=50, max_iter=5, **kw)


@pytest.fixture
def images():
    return np.random.RandomState(0).rand(7, 3, 12, 12).astype(np.float32)


@pytest.fixture
def blobs():
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1, 2], 30)
    X = (rng.normal(size=(90, 6)) + 2.5 * np.eye(6)[y]).astype(np.float32)
    return X, y


def test_forward_matches_module(images):
    net = make_cnn()
    Z = TorchEncoder(net, device="cpu")(images)
    with torch.no_grad():
        ref = net(torch.from_numpy(images)).numpy()
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z, ref, rtol=1e-6, atol=1e-6)


def test_layer_hook_matches_manual_forward(images):
    net = make_cnn()
    Z = LayerEncoder(net, layer="3", device="cpu")(images)
    with torch.no_grad():
        ref = net[:4](torch.from_numpy(images)).mean((2, 3)).numpy()
    np.testing.assert_allclose(Z, ref, rtol=1e-6, atol=1e-6)
    Zmax = LayerEncoder(net, layer="3", pool="max", device="cpu")(images)
    with torch.no_grad():
        np.testing.assert_allclose(Zmax, net[:4](torch.from_numpy(images)).amax((2, 3)).numpy(),
                                   rtol=1e-6)
    flat = LayerEncoder(net, layer="1", pool="flatten", device="cpu")(images)
    assert flat.shape == (7, 8 * 12 * 12)


def test_several_layers_concatenate(images):
    net = make_cnn()
    Z = LayerEncoder(net, layer=["1", "3"], device="cpu")(images)
    assert Z.shape == (7, 8 + 16)
    np.testing.assert_allclose(Z[:, 8:], LayerEncoder(net, layer="3", device="cpu")(images),
                               rtol=1e-6)


def test_stop_early_skips_the_rest():
    class Boom(torch.nn.Module):
        def forward(self, x):
            raise AssertionError("should not run")

    net = torch.nn.Sequential(torch.nn.Linear(4, 3), Boom())
    Z = LayerEncoder(net, layer="0", device="cpu")(np.ones((2, 4), np.float32))
    assert Z.shape == (2, 3)
    with pytest.raises(AssertionError, match="should not run"):
        LayerEncoder(net, layer="0", stop_early=False, device="cpu")(np.ones((2, 4), np.float32))
    # the hook is removed after each call
    assert not net[0]._forward_hooks


def test_unknown_layer_suggests_names(images):
    with pytest.raises(ValueError, match=r"layer='feature.1'.*Did you mean"):
        LayerEncoder(torch.nn.ModuleDict({"features": torch.nn.Sequential(torch.nn.ReLU(),
                                                                           torch.nn.ReLU())}),
                     layer="feature.1", device="cpu")(images)
    with pytest.raises(ValueError, match="pool must be"):
        TorchEncoder(make_cnn(), layer="1", pool="median", device="cpu")(images)


def test_list_layers():
    net = make_cnn()
    assert list_layers(net) == [str(i) for i in range(7)]
    assert list_layers(net, types=torch.nn.Conv2d) == ["0", "2"]
    assert LayerEncoder(net).available_layers(types="ReLU") == ["1", "3"]


def test_token_poolings():
    class Seq(torch.nn.Module):
        def forward(self, x):
            return x  # (N, L, C)

    x = np.random.RandomState(0).rand(3, 5, 4).astype(np.float32)
    np.testing.assert_allclose(TorchEncoder(Seq(), pool="token_avg", device="cpu")(x),
                               x.mean(1), rtol=1e-6)
    np.testing.assert_allclose(TorchEncoder(Seq(), pool="first", device="cpu")(x), x[:, 0])


def test_method_and_preprocess(images):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 2)

        def forward(self, x):  # pragma: no cover - not called
            raise AssertionError

        def embed(self, x):
            return self.lin(x.mean((2, 3)))

    net = Net()
    enc = TorchEncoder(net, method="embed", preprocess=lambda t: t * 2, device="cpu")
    with torch.no_grad():
        ref = net.embed(torch.from_numpy(images) * 2).numpy()
    np.testing.assert_allclose(enc(images), ref, rtol=1e-6)
    with pytest.raises(ValueError, match="method='nope'"):
        TorchEncoder(net, method="nope", device="cpu")(images)


def test_training_flag_restored_and_no_grad(images):
    net = make_cnn().train()
    net.register_forward_hook(lambda m, i, o: setattr(m, "grad_on", torch.is_grad_enabled()))
    TorchEncoder(net, device="cpu")(images)
    assert net.training and net.grad_on is False


def test_factory_is_built_once_and_shared_by_clones(images):
    calls = []

    def factory():
        calls.append(1)
        return make_cnn()

    enc = LayerEncoder(factory, layer="1", device="cpu")
    enc(images)
    other = clone(enc).set_params(layer="3")
    assert other.module_ is enc.module_ and len(calls) == 1
    assert enc.layer == "1" and other.layer == "3"
    assert other(images).shape == (7, 16)


def test_clone_copy_deepcopy_share_weights_not_params(images):
    net = make_cnn()
    enc = LayerEncoder(net, layer="1", device="cpu")
    for twin in (clone(enc), copy.copy(enc), copy.deepcopy(enc)):
        assert twin is not enc and twin.module is net
        twin.set_params(layer="3")
        assert enc.layer == "1"
    est = TaskRelatednessScorer(encoder=enc)
    assert clone(est).encoder.module is net  # cloning an estimator copies no weights


def test_pickle_roundtrip(images):
    enc = LayerEncoder(make_cnn(), layer="3", device="cpu")
    Z = enc(images)
    back = pickle.loads(pickle.dumps(enc))
    np.testing.assert_allclose(back(images), Z, rtol=1e-6)
    assert back.fingerprint() == enc.fingerprint()


def test_fingerprint_is_stable_and_sensitive(images):
    net = make_cnn()
    enc = LayerEncoder(net, layer="1", device="cpu")
    fp = enc.fingerprint()
    assert fp == clone(enc).fingerprint() == LayerEncoder(net, layer="1").fingerprint()
    assert fp == encoder_fingerprint(enc)
    assert fp != enc.set_params(layer="3").fingerprint()
    assert fp == enc.set_params(layer="1", device="cuda").fingerprint()  # device is not identity
    assert LayerEncoder(make_cnn(seed=1), layer="1").fingerprint() != fp
    with torch.no_grad():
        net[0].bias.add_(1.0)
    assert LayerEncoder(net, layer="1").fingerprint() != fp  # weights changed in place


def test_skorch_net_module(blobs):
    skorch = pytest.importorskip("skorch")
    X, y = blobs
    net = skorch.NeuralNetClassifier(make_mlp, max_epochs=3, lr=0.1, train_split=None,
                                     verbose=0, criterion=torch.nn.CrossEntropyLoss).fit(X, y)
    Z = TorchEncoder(net, layer="3", device="cpu")(X[:5])
    with torch.no_grad():
        ref = net.module_[:4](torch.from_numpy(X[:5])).numpy()
    np.testing.assert_allclose(Z, ref, rtol=1e-6, atol=1e-6)
    unfitted = skorch.NeuralNetClassifier(make_mlp)
    with pytest.raises(TypeError, match="not initialized"):
        TorchEncoder(unfitted, device="cpu")(X[:5])


def test_skorch_nets_ranked_in_grid(blobs):
    skorch = pytest.importorskip("skorch")
    X, y = blobs
    nets = [skorch.NeuralNetClassifier(make_mlp, max_epochs=e, lr=0.1, train_split=None,
                                       verbose=0, criterion=torch.nn.CrossEntropyLoss,
                                       iterator_train__shuffle=False).fit(X, y)
            for e in (1, 10)]
    encoders = [TorchEncoder(n, layer="3", device="cpu") for n in nets]
    grid = GridSearchCV(scorer((X, y)), {"encoder": encoders}, cv=one_split(y))
    grid.fit(X, y)
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    assert grid.best_estimator_.encoder.module is nets[grid.best_index_]


def test_layers_ranked_in_grid(blobs):
    X, y = blobs
    enc = LayerEncoder(make_mlp(), device="cpu")
    layers = ["1", "3", "4"]
    grid = GridSearchCV(scorer((X, y), encoder=enc), {"encoder__layer": layers},
                        cv=one_split(y), refit=False).fit(X, y)
    scores = grid.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and len(scores) == 3
    assert grid.best_params_["encoder__layer"] == layers[int(np.argmax(scores))]
    assert enc.layer is None  # the user's adapter was never mutated


@pytest.mark.parametrize("device", DEVICES)
def test_device_and_mixed_precision(images, device):
    net = make_cnn()
    ref = TorchEncoder(net, device="cpu")(images)
    Z = TorchEncoder(net, device=device)(images)
    np.testing.assert_allclose(Z, ref, rtol=1e-4, atol=1e-5)
    Zmp = TorchEncoder(net, device=device, mixed_precision=True)(images)
    assert Zmp.dtype == np.float32
    np.testing.assert_allclose(Zmp, ref, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("device", DEVICES)
def test_follows_the_batch_device_inside_extraction(images, device):
    net = make_cnn()
    Z = extract_embeddings(TorchEncoder(net), images, batch_size=3, device=device)
    assert Z.shape == (7, 5)
    assert next(net.parameters()).device.type == device


def test_rejects_non_modules():
    with pytest.raises(TypeError, match="module must be"):
        TorchEncoder("not a module", device="cpu")(np.zeros((1, 3), np.float32))


def test_extraction_context_sets_device_and_mixed_precision(images):
    from sklearn_taskrel.encoders import extraction_context

    net = make_cnn()
    enc = TorchEncoder(net)
    ref = enc(images)
    seen = []
    net.register_forward_hook(lambda m, i, o: seen.append((o.device.type, o.dtype)))
    with extraction_context(device="cpu", mixed_precision=True):
        Z = enc(images)
    assert seen[-1] == ("cpu", torch.bfloat16) and Z.dtype == np.float32
    np.testing.assert_allclose(Z, ref, rtol=0.05, atol=0.05)
    enc(images)
    assert seen[-1][1] == torch.float32  # outside the block: full precision again


def test_shared_models_are_not_searchable(blobs):
    skorch = pytest.importorskip("skorch")
    X, y = blobs
    net = skorch.NeuralNetClassifier(make_mlp, max_epochs=1, train_split=None, verbose=0,
                                     criterion=torch.nn.CrossEntropyLoss).fit(X, y)
    params = TaskRelatednessScorer(encoder=TorchEncoder(net, layer="1")).get_params(deep=True)
    assert params["encoder__layer"] == "1" and params["encoder__module"] is net
    assert not any(k.startswith("encoder__module__") for k in params)
