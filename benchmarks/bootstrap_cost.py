"""Cost of ``rank_encoders(..., n_bootstrap=200)`` against a plain ranking (issue 16).

On the anchor embeddings (../shared/anchor): a zoo of three encoders of the anchor's
target and reference (the embeddings themselves, a random 1280 -> 256 projection and
the first 64 features), ranked by TR with and without 200 bootstrap resamples,
interleaved, ``--repeats`` times each, 1 thread. TR re-weights its held-out
per-point terms, so the resamples cost a matrix product; LogME (recomputed on a
half-sample per resample) is timed the same way for comparison.

    python benchmarks/bootstrap_cost.py            # writes results/bootstrap_cost.json
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from _common import RESULTS, limit_threads, load_anchor, write_json  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--n-bootstrap", type=int, default=200)
    p.add_argument("--out", default=str(RESULTS / "bootstrap_cost.json"))
    args = p.parse_args()


    limit_threads(1)
    from sklearn_taskrel import ReferenceTask, rank_encoders
    from sklearn_taskrel.metrics import LogMEScorer

    d = load_anchor()
    R = np.random.RandomState(0).normal(size=(1280, 256)).astype(np.float32) / 16
    zoo = {"mobilenet_v2": lambda Z: Z, "projection_256": lambda Z: Z @ R,
           "first_64": lambda Z: Z[:, :64]}
    X, y = d["Z_tgt_train"], d["y_tgt_train"]
    ref = ReferenceTask(d["Z_ref_train"], d["y_ref_train"])
    runs = {"tr": {"plain": [], "bootstrap": []}, "logme": {"plain": [], "bootstrap": []}}
    tables = {}
    for _ in range(args.repeats):
        for score in ("tr", "logme"):
            for kind, n_boot in (("plain", 0), ("bootstrap", args.n_bootstrap)):
                kw = dict(reference=ref) if score == "tr" else dict(scorer=LogMEScorer())
                t = time.perf_counter()
                table = rank_encoders(zoo, X, y, random_state=0, device="cpu",
                                      n_bootstrap=n_boot, **kw)
                runs[score][kind].append(time.perf_counter() - t)
                tables[(score, kind)] = table
                print(f"{score} {kind}: {runs[score][kind][-1]:.2f} s", flush=True)
    result = {"n_bootstrap": args.n_bootstrap, "repeats": args.repeats, "threads": 1,
              "n_target": int(len(y)), "zoo": list(zoo), "nproc": os.cpu_count()}
    for score in runs:
        plain = statistics.median(runs[score]["plain"])
        boot = statistics.median(runs[score]["bootstrap"])
        result[score] = {"seconds": runs[score], "median_plain_s": plain,
                         "median_bootstrap_s": boot, "ratio": boot / plain}
        print(f"{score}: plain {plain:.2f} s, n_bootstrap={args.n_bootstrap} {boot:.2f} s, "
              f"ratio {boot / plain:.2f}x")
    boot_table = tables[("tr", "bootstrap")]
    cols = ["encoder", "rank", "score", "score_low", "score_high", "p_best", "tied_with_best"]
    result["tr_table"] = boot_table[cols].to_dict(orient="records")
    result["tr_summary"] = boot_table.attrs["summary"]
    print(boot_table[cols].to_string(index=False))
    print(boot_table.attrs["summary"])
    write_json(args.out, result)


if __name__ == "__main__":
    main()
