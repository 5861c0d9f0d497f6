"""Median time of every transferability score on the anchor target embeddings.

Data: ``Z_tgt_train`` / ``y_tgt_train`` of the anchor file (1200 digits images as
1280-d MobileNetV2 embeddings, 10 classes; see ``shared/anchor/README.md``).

- LEEP and NCE need the source model's class probabilities. The anchor has no
  ImageNet head, so the source head is a logistic regression (standardised
  features, lbfgs, C=1, max_iter=1000) fitted on the reference embeddings
  ``Z_ref_train`` / ``y_ref_train`` (5000 Fashion-MNIST images, 10 classes); its
  ``predict_proba`` on the target is computed once, outside the timings.
- OT-NCE uses the same reference embeddings as its source task, with the authors'
  1000 samples per side (``max_samples=1000``).
- Randomised scores (N-LEEP, linear probe, OT-NCE) use ``random_state=0``.

Each score is timed 5 times on the same inputs (``time.perf_counter``, inputs
already in memory); the table shows the median (and the minimum, which is less
sensitive to other jobs on a shared machine) and the value. Results go to
``benchmarks/results/metrics_timing.json``.

BLAS runs on one thread by default (``--blas-threads 1``; ``0`` leaves the
libraries' defaults). On a shared 2-core machine, OpenBLAS threads spin-wait for
each other whenever another job holds a core, and the same call then takes 5 to
20 times longer from one run to the next; one thread gives reproducible numbers,
which a quiet multi-core machine can only improve on. The source head is fitted
with the default threads.

Run: ``python benchmarks/metrics_timing.py [--anchor PATH] [--repeats 5]
[--blas-threads 1]``.
"""

import argparse
import contextlib
import json
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import scipy
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

from sklearn_taskrel.metrics import (
    etran_score,
    gbc_score,
    h_score,
    knn_accuracy_score,
    leep_score,
    linear_probe_score,
    logme_score,
    nce_score,
    nleep_score,
    ot_nce_score,
    regularized_h_score,
    sfda_score,
    transrate_score,
)

HERE = Path(__file__).resolve().parent
DEFAULT_ANCHOR = HERE.parents[1] / "shared" / "anchor" / "mnv2_fmnist_digits.npz"


def scores(Z, y, source_proba, Z_ref, y_ref):
    """(name, zero-argument call) for every score."""
    source_labels = np.argmax(source_proba, axis=1)
    return [
        ("logme", lambda: logme_score(Z, y)),
        ("leep", lambda: leep_score(source_proba, y)),
        ("nce", lambda: nce_score(source_labels, y)),
        ("h_score", lambda: h_score(Z, y)),
        ("regularized_h_score", lambda: regularized_h_score(Z, y)),
        ("nleep", lambda: nleep_score(Z, y, random_state=0)),
        ("gbc (spherical)", lambda: gbc_score(Z, y)),
        ("gbc (diagonal)", lambda: gbc_score(Z, y, gaussian="diagonal")),
        ("transrate", lambda: transrate_score(Z, y)),
        ("sfda", lambda: sfda_score(Z, y)),
        ("ot_nce (1000 per side)",
         lambda: ot_nce_score(Z, y, Z_ref, y_ref, max_samples=1000, random_state=0)),
        ("etran (energy)", lambda: etran_score(Z)),
        ("knn_accuracy (k=5, LOO)", lambda: knn_accuracy_score(Z, y)),
        ("linear_probe (5-fold)", lambda: linear_probe_score(Z, y, random_state=0)),
    ]


def _time_all(calls, repeats):
    rows = []
    for name, call in calls:
        times = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(repeats):
                start = time.perf_counter()
                value = call()
                times.append(time.perf_counter() - start)
        rows.append(dict(score=name, median_seconds=statistics.median(times),
                         min_seconds=min(times), seconds=times, value=float(value)))
        print(f"{name:<26} {statistics.median(times):9.3f} s  (min {min(times):7.3f} s)"
              f"   value {value: .6g}", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchor", default=os.environ.get("SKLEARN_TASKREL_ANCHOR",
                                                          str(DEFAULT_ANCHOR)))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(HERE / "results" / "metrics_timing.json"))
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS/OpenMP threads during the timings (threadpoolctl); "
                             "0 leaves them as they are. Default 1: see the module "
                             "docstring")
    args = parser.parse_args()

    data = np.load(args.anchor)
    Z, y = data["Z_tgt_train"], data["y_tgt_train"]
    Z_ref, y_ref = data["Z_ref_train"], data["y_ref_train"]

    t0 = time.perf_counter()
    head = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(Z_ref, y_ref)
    source_proba = head.predict_proba(Z)
    head_seconds = time.perf_counter() - t0

    load_before = os.getloadavg()
    limit = (threadpool_limits(limits=args.blas_threads) if args.blas_threads > 0
             else contextlib.nullcontext())
    with limit:
        blas_threads = [dict(api=p["internal_api"], threads=p["num_threads"])
                        for p in threadpool_info()]
        rows = _time_all(scores(Z, y, source_proba, Z_ref, y_ref), args.repeats)
    load_after = os.getloadavg()

    result = dict(
        description=("Median wall-clock seconds of each score on the anchor target "
                     "embeddings (Z_tgt_train: 1200 x 1280 float32, 10 classes)."),
        command=f"python benchmarks/metrics_timing.py --blas-threads {args.blas_threads}",
        repeats=args.repeats,
        data=dict(anchor=os.path.basename(args.anchor), n_samples=int(Z.shape[0]),
                  n_features=int(Z.shape[1]), n_classes=int(len(np.unique(y))),
                  dtype=str(Z.dtype)),
        source_head=dict(
            model="StandardScaler + LogisticRegression(max_iter=1000) fitted on "
                  "Z_ref_train / y_ref_train (5000 Fashion-MNIST embeddings, 10 classes)",
            used_by=["leep", "nce (argmax)"],
            fit_and_predict_seconds=head_seconds,
            not_included_in_timings=True),
        ot_nce_source="Z_ref_train / y_ref_train, 1000 samples per side, random_state=0",
        machine=dict(platform=platform.platform(), processor=platform.processor(),
                     cpu_count=os.cpu_count(), python=platform.python_version(),
                     numpy=np.__version__, scipy=scipy.__version__,
                     sklearn=sklearn.__version__,
                     blas_threads=blas_threads,
                     load_average_before=load_before, load_average_after=load_after,
                     note=("load averages above the core count mean other jobs shared "
                           "the CPUs; BLAS-heavy scores then slow down the most")),
        results=rows,
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nsource head fit + predict (not timed above): {head_seconds:.2f} s")
    print(f"load average before/after: {load_before} / {load_after}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
