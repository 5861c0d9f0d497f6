"""Ground truth per (encoder, target): fine-tuned accuracy (skorch) and linear probe.

* Fine-tuning: the pretrained encoder plus a new linear head, every weight
  trained end to end with AdamW (encoder learning rate ``lr``, head ``head_lr``)
  for a few epochs on the target's train part, then evaluated once on its test
  part. Repeated for each seed (the seed sets the head's initialisation and the
  batch order); the mean and the spread over seeds are reported.
* Linear probe: standardised frozen embeddings, logistic regression
  (``C=probe_C``) fitted on the train part, accuracy on the test part.

The test parts are used for nothing else. Every result is cached as JSON keyed
on the encoder, the data and the settings, so reruns are cheap.
"""

import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn


def _subset(X, idx):
    if isinstance(X, dict):
        return {k: v[idx] for k, v in X.items()}
    return X[idx]


def finetune_once(module, X_train, y_train, X_test, y_test, ft, seed):
    """Fine-tune ``module`` (with a ``head`` submodule) and return the test accuracy.

    Parameters
    ----------
    module : nn.Module
        Fresh encoder-plus-head network; trained in place.
    X_train, X_test : ndarray or dict of ndarray
    y_train, y_test : ndarray of int
    ft : settings.FineTune
    seed : int

    Returns
    -------
    result : dict
        ``accuracy``, ``train_loss`` (last epoch), ``seconds``.
    """
    from skorch import NeuralNetClassifier

    torch.manual_seed(seed)
    with torch.no_grad():  # the new head: seeded initialisation
        module.head.reset_parameters()
    net = NeuralNetClassifier(
        module, criterion=nn.CrossEntropyLoss, optimizer=torch.optim.AdamW,
        lr=ft.lr, optimizer__weight_decay=ft.weight_decay,
        optimizer__param_groups=[("head.*", {"lr": ft.head_lr})],
        batch_size=ft.batch_size, max_epochs=ft.epochs, train_split=None,
        iterator_train__shuffle=True, device="cpu", verbose=0)
    t0 = time.perf_counter()
    net.fit(X_train, np.asarray(y_train, dtype=np.int64))
    seconds = time.perf_counter() - t0
    pred = net.predict(X_test)
    return {"accuracy": float(np.mean(pred == y_test)),
            "train_loss": float(net.history[-1, "train_loss"]), "seconds": seconds}


def linear_probe_accuracy(Z_train, y_train, Z_test, y_test, *, C):
    """Test accuracy of a logistic-regression probe on standardised embeddings."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000))
    clf.fit(Z_train, y_train)
    return float(clf.score(Z_test, y_test))


def summarise_seeds(runs):
    """Mean, standard deviation, min and max of the per-seed accuracies."""
    acc = np.array([r["accuracy"] for r in runs], dtype=float)
    return {"mean": float(acc.mean()), "std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
            "min": float(acc.min()), "max": float(acc.max()),
            "per_seed": acc.tolist(), "seconds": float(sum(r["seconds"] for r in runs))}
