"""Cost of ``rank_encoders(..., n_bootstrap=200)`` against a plain ranking (issue 16).

On the anchor embeddings (../shared/anchor): a zoo of three encoders of the anchor's
target and reference (the embeddings themselves, a random 1280 -> 256 projection and
the first 64 features), ranked with and without 200 bootstrap resamples,
interleaved, ``--repeats`` times each, 1 thread, by TR (which re-weights its
held-out per-point terms), LogME, the H-score, the regularised H-score, GBC and
TransRate (which re-weight their per-point influence terms, the infinitesimal
jackknife; the H-score of the 1280-wide embeddings is saturated at n_classes - 1,
its regularised form is not), and, for comparison, LogME recomputed on a half-sample
per resample (the route every score without influence terms still takes). The ratio
bootstrap / plain is what matters on a loaded machine: both timings of each score
come from the same run.

    python benchmarks/bootstrap_cost.py            # writes results/bootstrap_cost.json
"""

import argparse
import os
import statistics
import time
import warnings

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
    warnings.filterwarnings("ignore", message=".*any labelling")  # the saturated H-score
    from sklearn_taskrel import ReferenceTask, rank_encoders
    from sklearn_taskrel.metrics import (
        GBCScorer,
        HScoreScorer,
        LogMEScorer,
        RegularizedHScoreScorer,
        TransRateScorer,
    )

    class HalfSampleLogME(LogMEScorer):
        """LogME without influence terms: the bootstrap recomputes it on half-samples
        (what every score took before issue 16)."""

        def _fit_compute(self, Z, y, rng):
            score = super()._fit_compute(Z, y, rng)
            del self.point_terms_
            return score

    d = load_anchor()
    R = np.random.RandomState(0).normal(size=(1280, 256)).astype(np.float32) / 16
    zoo = {"mobilenet_v2": lambda Z: Z, "projection_256": lambda Z: Z @ R,
           "first_64": lambda Z: Z[:, :64]}
    X, y = d["Z_tgt_train"], d["y_tgt_train"]
    ref = ReferenceTask(d["Z_ref_train"], d["y_ref_train"])
    scorers = {"tr": dict(reference=ref), "logme": dict(scorer=LogMEScorer()),
               "hscore": dict(scorer=HScoreScorer()),
               "regularized_hscore": dict(scorer=RegularizedHScoreScorer()),
               "gbc": dict(scorer=GBCScorer()), "transrate": dict(scorer=TransRateScorer()),
               "logme_half_samples": dict(scorer=HalfSampleLogME())}
    runs = {score: {"plain": [], "bootstrap": []} for score in scorers}
    tables = {}
    for _ in range(args.repeats):
        for score, kw in scorers.items():
            for kind, n_boot in (("plain", 0), ("bootstrap", args.n_bootstrap)):
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
    cols = ["encoder", "rank", "score", "score_low", "score_high", "p_best", "tied_with_best"]
    for score in scorers:
        boot_table = tables[(score, "bootstrap")]
        result[f"{score}_table"] = boot_table[cols].to_dict(orient="records")
        result[f"{score}_summary"] = boot_table.attrs["summary"]
        print(boot_table[cols].to_string(index=False))
        print(boot_table.attrs["summary"])
    write_json(args.out, result)


if __name__ == "__main__":
    main()
