"""Image classification tasks that load offline from pip or apt packages.

Every loader returns images in one layout, ready for the vision encoders of
:mod:`sklearn_taskrel.encoders`: ``float32`` arrays of shape ``(n, 3, size, size)``
(NCHW), RGB, values in ``[0, 1]``. Grey images are repeated on the three channels.
Each encoder applies its own normalisation (ImageNet mean/std, TF-style scaling,
BGR mean) inside its adapter, so the same array feeds every member of a zoo.
"""

import glob
import gzip
import os

import numpy as np

from sklearn_taskrel.datasets._base import (
    apt_file,
    check_size,
    finish,
    package_dir,
    stratified_subsample,
    to_rgb_nchw,
)

FASHION_MNIST_HOME = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
TEXTILE_CLASSES = ("nominal", "local", "global")


def load_digits_images(n=None, *, size=64, random_state=0, return_X_y=True):
    """scikit-learn's 8x8 digits as RGB images for ImageNet encoders.

    The 1797 digits bundled with scikit-learn (no download) are scaled to
    ``[0, 1]``, upsampled bilinearly to ``size`` pixels and repeated on three
    channels.

    Parameters
    ----------
    n : int or None, default=None
        Stratified random subsample of this size; ``None`` keeps all 1797.
    size : int or None, default=64
        Side of the square output images; ``None`` keeps 8x8.
    random_state : int, RandomState instance or None, default=0
        Seeds the subsample and the (always random) order of the samples.
    return_X_y : bool, default=True
        Return ``(X, y)``; if False a :class:`~sklearn.utils.Bunch` with ``data``,
        ``target``, ``target_names`` and ``DESCR``.

    Returns
    -------
    X : ndarray of shape (n, 3, size, size), dtype float32
        RGB, NCHW, values in ``[0, 1]``.
    y : ndarray of shape (n,), dtype int64
        Digit 0-9.

    Examples
    --------
    >>> from sklearn_taskrel.datasets import load_digits_images
    >>> X, y = load_digits_images(n=50, size=32)
    >>> X.shape, X.dtype, y.shape
    ((50, 3, 32, 32), dtype('float32'), (50,))
    >>> float(X.min()) >= 0.0 and float(X.max()) <= 1.0
    True
    """
    from sklearn.datasets import load_digits

    size = check_size(size)
    digits = load_digits()
    y_all = digits.target.astype(np.int64)
    idx = stratified_subsample(y_all, n, random_state=random_state)
    X = to_rgb_nchw(digits.images[idx], size, scale=16.0)
    descr = ("scikit-learn digits (UCI optical recognition of handwritten digits), "
             f"{len(idx)} of 1797 images upsampled from 8x8 to {size or 8}x{size or 8}, "
             "RGB NCHW float32 in [0, 1].")
    return finish(X, y_all[idx], [str(d) for d in range(10)], descr, return_X_y)


def _textile_root():
    root = os.path.join(package_dir("conformal_clip_data", pip_name="conformal-clip-data==0.1.4",
                                    extra="data"),
                        "data", "textile_images", "simulated")
    if not os.path.isdir(root):  # pragma: no cover - a different package layout
        import conformal_clip_data

        root = str(conformal_clip_data.textile_simulated_root())
    return root


def load_textile_defects(n=None, *, size=112, binary=False, random_state=0,
                         return_X_y=True):
    """Simulated textile images: nominal, local defect or global defect.

    2000 RGB 250x250 JPEG images (grey content) from the pip package
    ``conformal-clip-data`` (MIT): 1000 nominal, 500 with a local defect and 500
    with a global defect. A domain-shifted industrial target for ImageNet
    encoders. Only the sampled files are decoded.

    Parameters
    ----------
    n : int or None, default=None
        Stratified random subsample of this size; ``None`` keeps all 2000.
    size : int or None, default=112
        Side of the square output images (bilinear, antialiased); ``None`` keeps
        250x250.
    binary : bool, default=False
        Two classes, ``nominal`` (0) and ``defect`` (1), instead of three.
    random_state : int, RandomState instance or None, default=0
        Seeds the subsample and the order of the samples.
    return_X_y : bool, default=True
        Return ``(X, y)``; if False a :class:`~sklearn.utils.Bunch` that also holds
        the file names (``filenames``).

    Returns
    -------
    X : ndarray of shape (n, 3, size, size), dtype float32
        RGB, NCHW, values in ``[0, 1]``.
    y : ndarray of shape (n,), dtype int64
        0 nominal, 1 local defect, 2 global defect (or 0 nominal, 1 defect).

    Raises
    ------
    ImportError
        If ``conformal-clip-data`` (or ``pillow``) is not installed.

    Examples
    --------
    >>> from sklearn_taskrel.datasets import load_textile_defects
    >>> X, y = load_textile_defects(n=30, size=64)
    >>> X.shape, sorted(set(y.tolist()))
    ((30, 3, 64, 64), [0, 1, 2])
    """
    size = check_size(size)
    root = _textile_root()
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            "load_textile_defects needs pillow to decode JPEG files: `pip install pillow`."
        ) from None
    files = sorted(glob.glob(os.path.join(root, "*", "*.jpg")))
    y_all = np.array([TEXTILE_CLASSES.index(os.path.basename(os.path.dirname(f)))
                      for f in files], dtype=np.int64)
    idx = stratified_subsample(y_all, n, random_state=random_state)
    chunks = []
    for start in range(0, len(idx), 256):
        batch = np.stack([np.asarray(Image.open(files[i]).convert("RGB"))
                          for i in idx[start:start + 256]])
        chunks.append(to_rgb_nchw(batch, size))
    X = np.concatenate(chunks)
    y = y_all[idx]
    names = list(TEXTILE_CLASSES)
    if binary:
        y = (y > 0).astype(np.int64)
        names = ["nominal", "defect"]
    descr = ("Simulated textile defect images (conformal-clip-data 0.1.4, MIT), "
             f"{len(idx)} of 2000, RGB NCHW float32 in [0, 1] at {size or 250} px.")
    return finish(X, y, names, descr, return_X_y,
                  filenames=np.array([os.path.relpath(files[i], root) for i in idx]))


def _read_idx(path, offset):
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load_fashion_mnist(n=None, *, size=64, subset="train", random_state=0,
                       data_home=None, return_X_y=True):
    """Fashion-MNIST (Zalando, MIT) from the Debian package ``dataset-fashion-mnist``.

    Parameters
    ----------
    n : int or None, default=None
        Stratified random subsample of this size; ``None`` keeps the whole subset.
        Only the sampled images are resized, so small ``n`` is fast.
    size : int or None, default=64
        Side of the square output images; ``None`` keeps 28x28.
    subset : {"train", "test", "all"}, default="train"
        60 000 training images, 10 000 test images, or both.
    random_state : int, RandomState instance or None, default=0
        Seeds the subsample and the order of the samples.
    data_home : str or None, default=None
        Folder with the four original ``*-ubyte.gz`` files; default
        ``/usr/share/datasets/fashion-mnist`` (where the apt package puts them).
    return_X_y : bool, default=True
        Return ``(X, y)``; if False a :class:`~sklearn.utils.Bunch`.

    Returns
    -------
    X : ndarray of shape (n, 3, size, size), dtype float32
        RGB (grey repeated), NCHW, values in ``[0, 1]``.
    y : ndarray of shape (n,), dtype int64
        Class 0-9 (``target_names`` of the Bunch: T-shirt/top ... Ankle boot).

    Raises
    ------
    FileNotFoundError
        If the files are absent, with the ``apt-get install`` command.

    Examples
    --------
    >>> from sklearn_taskrel.datasets import load_fashion_mnist
    >>> X, y = load_fashion_mnist(n=20, size=32)
    >>> X.shape
    (20, 3, 32, 32)
    """
    size = check_size(size)
    if subset not in ("train", "test", "all"):
        raise ValueError(f"subset must be 'train', 'test' or 'all'; got {subset!r}.")
    root = FASHION_MNIST_HOME if data_home is None else os.fspath(data_home)
    parts = {"train": ["train"], "test": ["t10k"], "all": ["train", "t10k"]}[subset]
    images, labels = [], []
    for part in parts:
        img = apt_file(os.path.join(root, f"{part}-images-idx3-ubyte.gz"),
                       apt_name="dataset-fashion-mnist", what="Fashion-MNIST")
        lab = apt_file(os.path.join(root, f"{part}-labels-idx1-ubyte.gz"),
                       apt_name="dataset-fashion-mnist", what="Fashion-MNIST")
        images.append(_read_idx(img, 16).reshape(-1, 28, 28))
        labels.append(_read_idx(lab, 8))
    images = np.concatenate(images)
    y_all = np.concatenate(labels).astype(np.int64)
    idx = stratified_subsample(y_all, n, random_state=random_state)
    X = to_rgb_nchw(images[idx], size)
    descr = (f"Fashion-MNIST ({subset}), {len(idx)} images upsampled from 28x28 to "
             f"{size or 28}x{size or 28}, RGB NCHW float32 in [0, 1].")
    return finish(X, y_all[idx], list(FASHION_MNIST_CLASSES), descr, return_X_y)
