"""Pools of real data, the target tasks derived from them, and reference samples.

A *pool* is one dataset loaded once (and embedded once per encoder) and split
into disjoint, stratified parts: ``train`` and ``test`` for targets, ``ref`` for
reference tasks (and ``pretrain`` for the small zoo). A *target* is a labelled
task on a pool's ``train`` and ``test`` parts, possibly derived: a class subset,
a prior shift, a label permutation or a merge of labels. Target test parts are
used for the ground truth only: every score sees the target's train part.
"""

from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import train_test_split

# Fashion-MNIST class ids
FMNIST_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                "Sneaker", "Bag", "Ankle boot")
FMNIST_TOPS = (0, 2, 4, 6)                     # upper-body garments, the confusable ones
FMNIST_COARSE = {0: 0, 2: 0, 4: 0, 6: 0,       # tops
                 1: 1, 3: 1,                   # trousers and dresses
                 5: 2, 7: 2, 9: 2,             # footwear
                 8: 3}                         # bags


@dataclass
class Pool:
    """One dataset, loaded once, split into disjoint index parts."""

    name: str
    X: object
    y: np.ndarray
    parts: dict
    description: str

    def part(self, name):
        return self.parts[name]


@dataclass
class Target:
    """A labelled target task on a pool (indices into it)."""

    name: str
    pool: str
    train: np.ndarray
    test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    kind: str
    description: str
    parent: str = None
    #: fine-tuned accuracy taken from this target (label permutations: see below)
    finetune_from: str = None
    extra: dict = field(default_factory=dict)

    @property
    def n_classes(self):
        return int(len(np.unique(self.y_train)))

    def summary(self):
        return {"name": self.name, "pool": self.pool, "kind": self.kind,
                "description": self.description, "parent": self.parent,
                "n_train": int(len(self.train)), "n_test": int(len(self.test)),
                "n_classes": self.n_classes,
                "train_prior": np.round(np.bincount(self.y_train) / len(self.y_train), 4).tolist(),
                "finetune_from": self.finetune_from, **self.extra}


def split_parts(y, sizes, *, random_state):
    """Disjoint stratified parts of ``range(len(y))`` with the given sizes.

    ``sizes`` maps a part name to its size; the parts are drawn in order, each
    stratified on ``y`` from what is left.
    """
    rng = np.random.RandomState(random_state)
    left = np.arange(len(y))
    parts = {}
    for name, size in sizes.items():
        if size >= len(left):
            raise ValueError(f"pool of {len(y)} samples cannot hold part {name!r} of {size}.")
        take, left = train_test_split(left, train_size=size, stratify=y[left],
                                      random_state=rng.randint(2**31 - 1))
        parts[name] = np.sort(take)
    return parts


def base_target(pool, name=None, kind="base", description=None):
    """The pool's own task on its train and test parts."""
    tr, te = pool.part("train"), pool.part("test")
    return Target(name or pool.name, pool.name, tr, te, pool.y[tr], pool.y[te], kind,
                  description or pool.description)


def class_subset(parent, classes, name, description):
    """Only the samples of ``classes``, relabelled ``0..len(classes)-1``."""
    code = {c: i for i, c in enumerate(classes)}
    keep_tr = np.isin(parent.y_train, classes)
    keep_te = np.isin(parent.y_test, classes)
    return Target(name, parent.pool, parent.train[keep_tr], parent.test[keep_te],
                  np.array([code[c] for c in parent.y_train[keep_tr]]),
                  np.array([code[c] for c in parent.y_test[keep_te]]),
                  "class_subset", description, parent=parent.name,
                  extra={"classes": [int(c) for c in classes]})


def merged_labels(parent, mapping, name, description):
    """Labels mapped many-to-one (a coarser label set on the same images)."""
    f = np.vectorize(lambda c: mapping[int(c)])
    return Target(name, parent.pool, parent.train, parent.test, f(parent.y_train),
                  f(parent.y_test), "label_merge", description, parent=parent.name,
                  extra={"mapping": {int(k): int(v) for k, v in mapping.items()}})


def permuted_labels(parent, name, *, random_state, reuse_finetune=True):
    """The same task with its class labels permuted (a derangement).

    Fine-tuning a new, randomly initialised linear head is equivariant to a
    permutation of the labels, so the fine-tuned accuracy has the parent's
    distribution; with ``reuse_finetune`` the parent's fine-tuning runs are reused
    (the linear probe is recomputed). Scores that match target classes to
    reference classes by their values (TR with fixed label maps) see a different
    task; label-set-invariant scores do not.
    """
    rng = np.random.RandomState(random_state)
    k = parent.n_classes
    while True:
        perm = rng.permutation(k)
        if not np.any(perm == np.arange(k)):
            break
    return Target(name, parent.pool, parent.train, parent.test, perm[parent.y_train],
                  perm[parent.y_test], "label_permutation",
                  f"{parent.description}; labels permuted by {perm.tolist()}",
                  parent=parent.name, finetune_from=parent.name if reuse_finetune else None,
                  extra={"permutation": perm.tolist()})


def prior_shift(parent, name, *, ratio, random_state):
    """A long-tailed class prior: class ``k`` keeps a share ``ratio**k`` of its samples.

    Both the train and the test parts are thinned the same way, so the target
    task itself has the shifted prior.
    """
    rng = np.random.RandomState(random_state)

    def thin(idx, y):
        keep = []
        for c in np.unique(y):
            members = np.flatnonzero(y == c)
            m = max(2, int(round(len(members) * ratio ** int(c))))
            keep.append(np.sort(rng.choice(members, size=min(m, len(members)), replace=False)))
        keep = np.sort(np.concatenate(keep))
        return idx[keep], y[keep]

    tr, ytr = thin(parent.train, parent.y_train)
    te, yte = thin(parent.test, parent.y_test)
    return Target(name, parent.pool, tr, te, ytr, yte, "prior_shift",
                  f"{parent.description}; long-tailed prior, class k keeps {ratio}**k",
                  parent=parent.name, extra={"ratio": ratio})


# ----------------------------------------------------------------------------- vision
def vision_pools(s):
    """Fashion-MNIST, digits and textile images at ``s.vision_image_size`` pixels."""
    from sklearn_taskrel.datasets import (
        load_digits_images,
        load_fashion_mnist,
        load_textile_defects,
    )

    size, seed = s.vision_image_size, s.seed
    n_tr, n_te, n_ref = s.vision_n_train, s.vision_n_test, s.vision_n_reference
    pools = {}
    Xa, ya = load_fashion_mnist(n_tr + n_ref, size=size, subset="train", random_state=seed)
    Xb, yb = load_fashion_mnist(n_te, size=size, subset="test", random_state=seed)
    parts = split_parts(ya, {"train": n_tr}, random_state=seed)
    parts["ref"] = np.setdiff1d(np.arange(len(ya)), parts["train"])
    parts["test"] = len(ya) + np.arange(len(yb))
    pools["fmnist"] = Pool("fmnist", np.concatenate([Xa, Xb]), np.concatenate([ya, yb]),
                           parts, f"Fashion-MNIST at {size} px (test part from its test split)")
    del Xa, Xb
    X, y = load_digits_images(None, size=size, random_state=seed)
    n_ref_digits = min(n_ref, len(y) - n_tr - n_te - 10)
    pools["digits"] = Pool("digits", X, y, split_parts(
        y, {"test": n_te, "train": n_tr, "ref": n_ref_digits}, random_state=seed),
        f"scikit-learn digits upsampled to {size} px")
    X, y = load_textile_defects(n_tr + n_te + n_ref + 10, size=size, random_state=seed)
    pools["textile"] = Pool("textile", X, y, split_parts(
        y, {"test": n_te, "train": n_tr, "ref": n_ref}, random_state=seed),
        f"simulated textile defects (nominal/local/global) at {size} px")
    return pools


def vision_targets(pools, s):
    """The vision targets named in ``s.vision_targets``."""
    fm = base_target(pools["fmnist"], "fmnist10")
    dg = base_target(pools["digits"], "digits10")
    make = {
        "fmnist10": lambda: fm,
        "digits10": lambda: dg,
        "textile3": lambda: base_target(pools["textile"], "textile3"),
        "fmnist_tops4": lambda: class_subset(
            fm, FMNIST_TOPS, "fmnist_tops4",
            "Fashion-MNIST class subset: T-shirt, pullover, coat, shirt"),
        "digits_longtail": lambda: prior_shift(dg, "digits_longtail", ratio=0.7,
                                               random_state=s.seed),
        "fmnist10_permuted": lambda: permuted_labels(fm, "fmnist10_permuted",
                                                     random_state=s.seed),
    }
    return {name: make[name]() for name in s.vision_targets}


# ----------------------------------------------------------------------------- text
def text_pools(s):
    """Tweets, WordNet noun glosses (targets) and WordNet verb glosses (reference)."""
    from sklearn_taskrel.datasets import load_tweet_sentiment, load_wordnet_supersenses

    seed = s.seed
    n_tr, n_te, n_ref = s.text_n_train, s.text_n_test, s.text_n_reference
    pools = {}
    X, y = load_tweet_sentiment(n_tr + n_te + 10, random_state=seed)
    pools["tweets"] = Pool("tweets", X, y, split_parts(
        y, {"test": n_te, "train": n_tr}, random_state=seed),
        "CrowdFlower tweet sentiment (negative/neutral/positive)")
    X, y = load_wordnet_supersenses(n_tr + n_te + 10, pos="noun", n_classes=10,
                                    random_state=seed)
    pools["wordnet_noun"] = Pool("wordnet_noun", X, y, split_parts(
        y, {"test": n_te, "train": n_tr}, random_state=seed),
        "WordNet 3.0 noun glosses, 10 most frequent supersenses")
    X, y = load_wordnet_supersenses(n_ref, pos="verb", n_classes=10, random_state=seed)
    pools["wordnet_verb"] = Pool("wordnet_verb", X, y, {"ref": np.arange(len(y))},
                                 "WordNet 3.0 verb glosses, 10 most frequent supersenses")
    return pools


def text_targets(pools, s):
    tw = base_target(pools["tweets"], "tweet3")
    make = {
        "tweet3": lambda: tw,
        "tweet_posneg": lambda: class_subset(tw, (0, 2), "tweet_posneg",
                                             "tweet sentiment, negative vs positive only"),
        "wordnet_noun10": lambda: base_target(pools["wordnet_noun"], "wordnet_noun10"),
    }
    return {name: make[name]() for name in s.text_targets}


# ----------------------------------------------------------------------------- small
def small_pools(s):
    """28 px grey images: Fashion-MNIST (pretraining, reference, targets), digits, textile."""
    from sklearn_taskrel.datasets import (
        load_digits_images,
        load_fashion_mnist,
        load_textile_defects,
    )

    seed = s.seed
    n_tr, n_te, n_ref, n_pre = s.small_n_train, s.small_n_test, s.small_n_reference, s.small_n_pretrain

    def grey(X):
        return np.ascontiguousarray(X[:, :1])

    pools = {}
    Xa, ya = load_fashion_mnist(n_pre + n_ref + n_tr, size=None, subset="train",
                                random_state=seed + 1)
    Xb, yb = load_fashion_mnist(n_te, size=None, subset="test", random_state=seed + 1)
    parts = split_parts(ya, {"train": n_tr, "ref": n_ref}, random_state=seed)
    parts["pretrain"] = np.setdiff1d(np.arange(len(ya)), np.concatenate([parts["train"],
                                                                       parts["ref"]]))
    parts["test"] = len(ya) + np.arange(len(yb))
    pools["fmnist"] = Pool("fmnist", grey(np.concatenate([Xa, Xb])), np.concatenate([ya, yb]),
                           parts, "Fashion-MNIST 28 px grey (train/ref/pretrain disjoint; "
                           "test from its test split)")
    del Xa, Xb
    X, y = load_digits_images(None, size=28, random_state=seed)
    pools["digits"] = Pool("digits", grey(X), y, split_parts(
        y, {"test": n_te, "train": n_tr}, random_state=seed),
        "scikit-learn digits upsampled to 28 px grey")
    X, y = load_textile_defects(n_tr + n_te + 10, size=28, random_state=seed)
    pools["textile"] = Pool("textile", grey(X), y, split_parts(
        y, {"test": n_te, "train": n_tr}, random_state=seed),
        "simulated textile defects at 28 px grey")
    return pools


def small_targets(pools, s):
    fm = base_target(pools["fmnist"], "fmnist10",
                     description="Fashion-MNIST, held out from pretraining")
    make = {
        "fmnist10": lambda: fm,
        "fmnist10_permuted": lambda: permuted_labels(fm, "fmnist10_permuted",
                                                     random_state=s.seed),
        "fmnist_coarse4": lambda: merged_labels(
            fm, FMNIST_COARSE, "fmnist_coarse4",
            "Fashion-MNIST held out, 4 coarse classes (tops, trousers+dresses, footwear, bags)"),
        "digits10": lambda: base_target(pools["digits"], "digits10"),
        "textile3": lambda: base_target(pools["textile"], "textile3"),
    }
    return {name: make[name]() for name in s.small_targets}
