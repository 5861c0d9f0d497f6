"""Robustness figures (issue 7): the table of bad inputs, determinism, memory.

1. Every case of ``tests/robustness_cases.py`` is run and its outcome recorded
   (exception and message, or TR and warnings): the table shown in the docs.
2. Determinism on the anchor embeddings: the same ``random_state`` twice (bit for
   bit) and 5 seeds (spread of TR relative to its value).
3. Memory: a target of 200,000 x 1,280 (float32; the anchor's digits embeddings
   resampled with jitter) fitted in a fresh subprocess; peak resident memory and
   time, against the 1.0 GB the input itself takes.

Writes ``benchmarks/results/robustness.json``.

    python benchmarks/robustness.py [--skip-memory]
"""

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from _common import ANCHOR, HERE, RESULTS, ROOT, load_anchor, write_json


def case_table():
    sys.path.insert(0, str(ROOT / "tests"))
    from robustness_cases import CASES

    rows = []
    for c in CASES:
        expected = c["outcome"] if isinstance(c["outcome"], str) else c["outcome"].__name__
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                est, X, y = c["make"]()
                est.fit(X, y)
                outcome = f"TR = {est.task_relatedness_:.4f}"
                kind = "result"
            except Exception as exc:
                outcome = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
                kind = type(exc).__name__
        warned = sorted({w.category.__name__ for w in caught
                         if "sklearn_taskrel" in getattr(w.category, "__module__", "")})
        rows.append({"case": c["name"], "expected": expected, "kind": kind,
                     "outcome": outcome, "warnings": warned})
    return rows


def determinism(seeds=(0, 1, 2, 3, 4)):
    from sklearn_taskrel import ReferenceTask, TaskRelatednessScorer

    d = load_anchor()
    ref = ReferenceTask(d["Z_ref_train"], d["y_ref_train"])

    def fit(seed):
        return TaskRelatednessScorer(ref, random_state=seed, device="cpu").fit(
            d["Z_tgt_train"], d["y_tgt_train"])

    a, b = fit(0), fit(0)
    same = (a.task_relatedness_ == b.task_relatedness_
            and np.array_equal(a.label_map_, b.label_map_)
            and np.array_equal(a.head_coef_, b.head_coef_)
            and np.array_equal(a.transformation_.feature_map.apply(d["Z_tgt_test"][:50].astype(float)),
                               b.transformation_.feature_map.apply(d["Z_tgt_test"][:50].astype(float))))
    trs = [fit(s).task_relatedness_ for s in seeds]
    return {"same_seed_bit_identical": bool(same), "seeds": list(seeds), "task_relatedness": trs,
            "spread_max_minus_min": float(max(trs) - min(trs)),
            "spread_relative": float((max(trs) - min(trs)) / np.median(trs)),
            "std_relative": float(np.std(trs) / np.mean(trs))}


def memory(n=200_000):
    """Peak memory of a fit on an ``n`` x 1280 target (``speed.py``'s growth child)."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    from speed import fit_resampled_target

    return fit_resampled_target(n)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--out", default=str(RESULTS / "robustness.json"))
    args = p.parse_args(argv)
    t = time.perf_counter()
    out = {"cases": case_table()}
    print(f"{len(out['cases'])} cases", flush=True)
    if ANCHOR.exists():
        out["determinism"] = determinism()
        print("determinism", json.dumps(out["determinism"]), flush=True)
        if not args.skip_memory:
            out["memory"] = memory()
            print("memory", json.dumps(out["memory"]), flush=True)
    out["seconds"] = time.perf_counter() - t
    out["loadavg_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, out)


if __name__ == "__main__":
    main()
