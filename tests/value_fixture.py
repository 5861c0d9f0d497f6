"""Every value the package computes on fixed inputs, recorded for refactors.

``compute_values()`` fits TR (default with labels, default label-free, the paper
preset) and every baseline in ``sklearn_taskrel.metrics`` on two small zoos built
from scikit-learn's digits and from seeded Gaussian tasks, plus (when the anchor
embeddings are present) on a slice of the anchor. ``tests/test_value_fixture.py``
compares a fresh computation with ``tests/data/value_fixture.json``: bit for bit on
the machine that recorded it, to a documented tolerance elsewhere.

Re-record (only when a change of values is intended, and say so in the commit)::

    python tests/value_fixture.py
"""

import hashlib
import json
import platform
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "data" / "value_fixture.json"


def machine_fingerprint():
    """What decides floating-point results: CPU model, numpy, scipy, torch, POT."""
    import ot
    import scipy
    import torch

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [platform.machine(), cpu, np.__version__, scipy.__version__,
             torch.__version__, ot.__version__, sys.version.split()[0]]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _digits_zoo():
    """Digits (64 pixels): reference = digits 0-4, target = digits 5-9 (relabelled);
    encoders = identity, a seeded 64->16 projection, a 64->2 squeeze, pure noise."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.RandomState(0)
    ref = np.flatnonzero(y < 5)[::2][:400]
    tgt = np.flatnonzero(y >= 5)[::3][:240]
    P16 = rng.normal(size=(64, 16)) / 8.0
    P2 = rng.normal(size=(64, 2)) / 8.0
    maps = {"identity": lambda A: A, "proj16": lambda A: A @ P16,
            "squeeze2": lambda A: A @ P2}
    zoo = {name: (f(X[tgt]), (f(X[ref]), y[ref])) for name, f in maps.items()}
    zoo["noise"] = (rng.normal(size=(len(tgt), 16)),
                    (rng.normal(size=(len(ref), 16)), y[ref]))
    return zoo, y[tgt] - 5


def _gaussian_zoo():
    """Seeded Gaussian classes (4 reference, 3 target classes, 12 features);
    encoders keep 12, 6 or 3 informative features, or replace them by noise; the
    first also in float32."""
    rng = np.random.RandomState(1)
    means_r = 3.0 * rng.normal(size=(4, 12))
    y_r = np.repeat(np.arange(4), 60)
    X_r = means_r[y_r] + rng.normal(size=(len(y_r), 12))
    y_t = np.repeat(np.arange(3), 50)
    X_t = means_r[[2, 0, 3]][y_t] + 0.5 + 1.2 * rng.normal(size=(len(y_t), 12))
    zoo = {}
    for keep in (12, 6, 3):
        mix = np.eye(12)[:, :keep] + 0.1 * rng.normal(size=(12, keep))
        zoo[f"keep{keep}"] = (X_t @ mix, (X_r @ mix, y_r))
    zoo["noise"] = (rng.normal(size=X_t.shape), (rng.normal(size=X_r.shape), y_r))
    # float32 embeddings (what encoders return; large targets stay float32)
    Z_t, (Z_r, _) = zoo["keep12"]
    zoo["keep12_float32"] = (Z_t.astype(np.float32), (Z_r.astype(np.float32), y_r))
    return zoo, y_t


def _anchor_zoo():
    """A slice of the anchor (MobileNetV2 embeddings; reference digits, target
    Fashion-MNIST), when present: 1000 reference and 400 target points."""
    import os

    path = Path(os.environ.get("SKLEARN_TASKREL_ANCHOR", HERE.parents[1] / "shared"
                               / "anchor" / "mnv2_fmnist_digits.npz"))
    if not path.exists():
        return None
    d = np.load(path)
    return ({"mnv2": (d["Z_tgt_train"][:400], (d["Z_ref_train"][:1000],
                                               d["y_ref_train"][:1000]))},
            d["y_tgt_train"][:400])


def _tr_values(est):
    out = {"task_relatedness": est.task_relatedness_, "target_loss": est.target_loss_,
           "chance_level": est.chance_level_, "lipschitz": est.lipschitz_}
    out.update({f"term_{k}": v for k, v in est.bound_terms_.items()})
    for i, fold in enumerate(est.fold_terms_):
        out.update({f"fold{i}_{k}": v for k, v in fold.items()})
    return out


def _source_head(Z_ref, y_ref):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000).fit(Z_ref, y_ref).predict_proba


#: TR settings recorded: name -> (parameters, fitted with labels)
TR_SETTINGS = {"tr": ({}, True), "tr_label_free": ({}, False),
               "tr_paper": ({"preset": "paper"}, True)}


def fixture_zoos():
    """``{zoo: ({encoder: (Z, (Z_ref, y_ref))}, y)}``: digits, Gaussian, anchor if present."""
    zoos = {"digits": _digits_zoo(), "gaussian": _gaussian_zoo()}
    anchor = _anchor_zoo()
    if anchor is not None:
        zoos["anchor"] = anchor
    return zoos


@contextmanager
def one_thread():
    """One BLAS and one torch thread: a sum split across threads changes its last bits."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)


def tr_values(Z, reference, y, setting):
    """``{"setting.quantity": float}`` of one TR setting on one encoder (``reference``:
    a ReferenceTask, whose cached heads the settings may share)."""
    from sklearn_taskrel import TaskRelatednessScorer

    params, labelled = TR_SETTINGS[setting]
    est = TaskRelatednessScorer(reference, random_state=0, device="cpu", **params)
    est.fit(Z, y if labelled else None)
    return {f"{setting}.{k}": float(v) for k, v in _tr_values(est).items()}


def baseline_values(Z, reference, y):
    """``{baseline: float}`` of every baseline on one encoder."""
    from sklearn_taskrel import metrics

    Z_ref, y_ref = reference
    baselines = {
        "logme": metrics.LogMEScorer(), "hscore": metrics.HScoreScorer(device="cpu"),
        "regularized_hscore": metrics.RegularizedHScoreScorer(device="cpu"),
        "nleep": metrics.NLEEPScorer(random_state=0), "gbc": metrics.GBCScorer(),
        "transrate": metrics.TransRateScorer(device="cpu"),
        "sfda": metrics.SFDAScorer(device="cpu"),
        "etran": metrics.ETranScorer(device="cpu"),
        "knn": metrics.KNNAccuracyScorer(device="cpu"),
        "probe": metrics.LinearProbeScorer(random_state=0),
    }
    row = {name: float(est.fit(Z, y).score_) for name, est in baselines.items()}
    row["otnce"] = float(metrics.OTNCEScorer((Z_ref, y_ref), random_state=0).fit(Z, y).score_)
    head = _source_head(Z_ref, y_ref)
    row["leep"] = float(metrics.LEEPScorer(source_head=head, device="cpu").fit(Z, y).score_)
    row["nce"] = float(metrics.NCEScorer(source_head=head, device="cpu").fit(Z, y).score_)
    return row


def compute_values(zoos=None):
    """``{zoo: {encoder: {quantity: float}}}`` for every TR setting and baseline."""
    from sklearn_taskrel import ReferenceTask

    zoos = fixture_zoos() if zoos is None else zoos
    values = {}
    with one_thread():
        for zoo_name, (zoo, y) in zoos.items():
            values[zoo_name] = {}
            for enc, (Z, reference) in zoo.items():
                row = {}
                task = ReferenceTask(*reference)
                for setting in TR_SETTINGS:
                    row.update(tr_values(Z, task, y, setting))
                row.update(baseline_values(Z, reference, y))
                values[zoo_name][enc] = row
    return values


if __name__ == "__main__":
    record = {"fingerprint": machine_fingerprint(), "values": compute_values()}
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    n = sum(len(r) for z in record["values"].values() for r in z.values())
    print(f"wrote {n} values to {FIXTURE}")
