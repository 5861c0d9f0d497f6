"""Your own data: image folders and CSV files of texts."""

import os

import numpy as np
from sklearn.utils import Bunch

from sklearn_taskrel.datasets._base import stratified_subsample

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class ImageFolder:
    """Images listed from a folder, read (and resized) only when indexed.

    A sequence: ``len(folder)``, ``folder[i]`` (one ``(3, size, size)`` array) and
    ``folder[a:b]`` (a stacked ``(b - a, 3, size, size)`` batch), so that
    :func:`~sklearn_taskrel.encoders.extract_embeddings` streams a large folder one
    batch at a time. Values are ``float32`` in ``[0, 1]``.

    Parameters
    ----------
    filenames : list of str
    size : int
        Side of the square images returned (bilinear resize).

    Examples
    --------
    >>> import os, tempfile
    >>> from PIL import Image
    >>> from sklearn_taskrel.datasets import ImageFolder
    >>> root = tempfile.mkdtemp()
    >>> files = [os.path.join(root, f"{i}.png") for i in range(5)]
    >>> for f in files:
    ...     Image.new("RGB", (8, 8), (255, 0, 0)).save(f)
    >>> folder = ImageFolder(files, size=4)
    >>> len(folder), folder[1:3].shape, float(folder[0][0].max())
    (5, (2, 3, 4, 4), 1.0)
    """

    def __init__(self, filenames, size):
        self.filenames = list(filenames)
        self.size = int(size)

    def __len__(self):
        return len(self.filenames)

    def _read(self, path):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as img:
                img = img.convert("RGB").resize((self.size, self.size), Image.BILINEAR)
                return np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"cannot read the image {path!r}: {exc}. Remove it or convert "
                             "it to PNG or JPEG.") from None

    def __getitem__(self, index):
        if isinstance(index, slice):
            files = self.filenames[index]
            if not files:
                return np.zeros((0, 3, self.size, self.size), np.float32)
            return np.stack([self._read(f) for f in files])
        if isinstance(index, (list, np.ndarray)):
            return np.stack([self._read(self.filenames[i]) for i in np.asarray(index)])
        return self._read(self.filenames[index])

    def __repr__(self):
        return f"ImageFolder(n_images={len(self)}, size={self.size})"


def load_image_folder(path, *, size=224, n=None, lazy=False, random_state=0,
                      return_X_y=True):
    """Images from a folder: one subfolder per class, or all in one folder.

    Parameters
    ----------
    path : str or path-like
        ``path/<class>/<image>`` (labelled: the subfolder names are the classes) or
        ``path/<image>`` (unlabelled: ``y`` is None). ``~`` is expanded.
    size : int, default=224
        Side of the square images (bilinear resize).
    n : int or None, default=None
        Stratified random subsample of this size (labelled), or a random subset.
    lazy : bool, default=False
        Return an :class:`ImageFolder` that reads images when indexed (a large
        folder is then streamed batch by batch by the encoders) instead of an array.
    random_state : int, default=0
        Seeds the subsample and the (random) order of the samples.
    return_X_y : bool, default=True

    Returns
    -------
    (X, y) or Bunch
        ``X``: ``float32`` array ``(n, 3, size, size)`` in ``[0, 1]`` or an
        :class:`ImageFolder`; ``y``: ``int64`` codes or None. The Bunch also has
        ``target_names`` and ``filenames``.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from PIL import Image
    >>> from sklearn_taskrel.datasets import load_image_folder
    >>> root = tempfile.mkdtemp()
    >>> for cls in ("cat", "dog"):
    ...     os.makedirs(os.path.join(root, cls))
    ...     for i in range(3):
    ...         Image.new("RGB", (20, 10), (40 * i, 0, 0)).save(
    ...             os.path.join(root, cls, f"{i}.png"))
    >>> X, y = load_image_folder(root, size=16)
    >>> X.shape, np.bincount(y).tolist()
    ((6, 3, 16, 16), [3, 3])
    """
    root = os.path.expandvars(os.path.expanduser(os.fspath(path)))
    if not os.path.isdir(root):
        raise ValueError(f"load_image_folder needs a folder; {root!r} is not one.")

    def images_in(folder):
        return sorted(os.path.join(folder, f) for f in os.listdir(folder)
                      if f.lower().endswith(IMAGE_EXTENSIONS)
                      and os.path.isfile(os.path.join(folder, f)))

    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))
                     and not d.startswith("."))
    per_class = [(c, images_in(os.path.join(root, c))) for c in classes]
    per_class = [(c, files) for c, files in per_class if files]
    if per_class:
        target_names = np.array([c for c, _ in per_class])
        files = [f for _, fs in per_class for f in fs]
        y = np.concatenate([np.full(len(fs), k, np.int64)
                            for k, (_, fs) in enumerate(per_class)])
    else:
        files, y, target_names = images_in(root), None, None
    if not files:
        raise ValueError(
            f"no images in {root!r} (extensions {', '.join(IMAGE_EXTENSIONS)}): put them "
            "in one subfolder per class, or all in the folder itself.")
    idx = (stratified_subsample(y, n, random_state=random_state) if y is not None
           else stratified_subsample(np.zeros(len(files)), n, random_state=random_state))
    files = [files[i] for i in idx]
    y = None if y is None else y[idx]
    folder = ImageFolder(files, size)
    X = folder if lazy else folder[:]
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, target_names=target_names, filenames=files)


def load_text_csv(path, *, text, label=None, n=None, random_state=0, return_X_y=True,
                  **read_csv_kwargs):
    """Texts (and labels) from a CSV file.

    Parameters
    ----------
    path : str or path-like
    text : str
        Name of the column holding the texts.
    label : str or None, default=None
        Name of the column holding the labels; None for unlabelled texts.
    n : int or None, default=None
        Stratified random subsample of this size (labelled), or a random subset.
    random_state : int, default=0
    return_X_y : bool, default=True
    **read_csv_kwargs
        Passed to :func:`pandas.read_csv` (``sep=";"``, ``encoding=...``).

    Returns
    -------
    (X, y) or Bunch
        ``X``: 1-d ``object`` array of ``str``; ``y``: ``int64`` codes or None. The
        Bunch also has ``target_names``.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn_taskrel.datasets import load_text_csv
    >>> path = os.path.join(tempfile.mkdtemp(), "reviews.csv")
    >>> _ = open(path, "w").write("review,stars\\ngreat,5\\nawful,1\\nfine,5\\n")
    >>> X, y = load_text_csv(path, text="review", label="stars")
    >>> sorted(zip(X.tolist(), y.tolist()))
    [('awful', 0), ('fine', 1), ('great', 1)]
    """
    import pandas as pd

    path = os.path.expandvars(os.path.expanduser(os.fspath(path)))
    try:
        frame = pd.read_csv(path, **read_csv_kwargs)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"cannot read {path!r} as a CSV file: {exc}") from None
    for what, col in (("text", text), ("label", label)):
        if col is not None and col not in frame.columns:
            raise ValueError(f"{path!r} has no column {col!r} (the {what} column); its "
                             f"columns are {list(frame.columns)}.")
    keep = frame[text].notna() & (frame[label].notna() if label is not None else True)
    dropped = int((~keep).sum())
    if dropped:
        import warnings

        warnings.warn(f"{dropped} rows of {path!r} have no text or no label and are left "
                      "out.", UserWarning, stacklevel=2)
    frame = frame[keep]
    if frame.empty:
        raise ValueError(f"{path!r} has no row with a text"
                         f"{' and a label' if label is not None else ''}.")
    X = frame[text].astype(str).to_numpy(dtype=object)
    if label is None:
        y, target_names = None, None
    else:
        target_names, y = np.unique(frame[label].to_numpy(), return_inverse=True)
        y = y.astype(np.int64)
    idx = stratified_subsample(y if y is not None else np.zeros(len(X)), n,
                               random_state=random_state)
    X = X[idx]
    y = None if y is None else y[idx]
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, target_names=target_names)


#: Built-in tasks by name: loader, keyword arguments, and whether it holds images.
TASKS = {
    "digits": ("load_digits_images", {}, True),
    "textile": ("load_textile_defects", {}, True),
    "fashion_mnist": ("load_fashion_mnist", {}, True),
    "tweets": ("load_tweet_sentiment", {}, False),
    "wordnet_nouns": ("load_wordnet_supersenses", {"pos": "noun"}, False),
    "wordnet_verbs": ("load_wordnet_supersenses", {"pos": "verb"}, False),
}


def load_task(name, n=1000, *, size=64, random_state=0):
    """A built-in labelled task by name, for a reference (or a target) in one word.

    Parameters
    ----------
    name : str
        ``"digits"``, ``"textile"``, ``"fashion_mnist"`` (images) or ``"tweets"``,
        ``"wordnet_nouns"``, ``"wordnet_verbs"`` (texts).
    n : int or None, default=1000
        Stratified subsample (``None`` or more than the set: every sample).
    size : int, default=64
        Image side in pixels (image tasks).
    random_state : int, default=0

    Returns
    -------
    X, y

    Examples
    --------
    >>> from sklearn_taskrel.datasets import load_task
    >>> X, y = load_task("digits", n=50, size=32)
    >>> X.shape, len(set(y.tolist()))
    ((50, 3, 32, 32), 10)
    """
    from sklearn_taskrel.datasets import _images, _text

    if name not in TASKS:
        raise ValueError(f"no built-in task named {name!r}; the tasks are {sorted(TASKS)}.")
    loader, kwargs, images = TASKS[name]
    load = getattr(_images if images else _text, loader)
    if images:
        kwargs = dict(kwargs, size=size)
    X, y = load(None, random_state=random_state, **kwargs)
    if n is not None and n < len(y):
        idx = stratified_subsample(y, n, random_state=random_state)
        X, y = X[idx], y[idx]
    return X, y
