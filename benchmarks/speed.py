"""Speed and memory of TR, measured side by side in one run (issue 8).

1. Anchor embeddings (../shared/anchor): default ``method="fast"`` against
   ``method="paper"`` (the authors' loop), 3 seeds each: time, TR, ratio. The authors'
   SGD head is timed as well (their pipeline trains it; both methods here share the
   L-BFGS head).
   The paper path is timed over ``--paper-steps`` steps (default 200) and its time
   for the authors' 2001 steps extrapolated from the per-step time; its TR is read
   from ``results/paper_tr.json`` (complete 2001-step runs of
   ``benchmarks/paper_tr.py``) when present.
2. TR time against LogME on the same target embeddings, interleaved, 5 repeats:
   cold (the reference head fitted inside the timed fit) and warm (the head
   cached on the ReferenceTask).
3. Growth: target of 1k, 10k, 100k samples (d=1280, 10 classes; the anchor's digits
   embeddings resampled with jitter), each fit in a fresh subprocess: wall time and
   peak resident memory.
4. Embedding extraction: ``extract_embeddings`` against a bare ``torch.no_grad()``
   loop on MobileNetV2 (same batch size and inputs).

Writes ``benchmarks/results/speed.json``. ``--quick`` shortens the paper runs
(``--paper-steps``) and skips 100k; ratios are then labelled as such.

    python benchmarks/speed.py                 # full (about 30 minutes on 2 cores)
    python benchmarks/speed.py --quick         # minutes
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import ANCHOR, HERE, RESULTS, limit_threads, load_anchor, write_json


def fit_tr(d, seed, reference=None, **params):
    from sklearn_taskrel import ReferenceTask, TaskRelatednessScorer

    ref = reference or ReferenceTask(d["Z_ref_train"], d["y_ref_train"])
    est = TaskRelatednessScorer(ref, random_state=seed, device="cpu", **params)
    t = time.perf_counter()
    est.fit(d["Z_tgt_train"], d["y_tgt_train"])
    return time.perf_counter() - t, est


def bench_anchor(d, seeds, paper_steps):
    """The default (ranking preset), the paper preset's fast method and the authors'
    loop (paper preset, ``method="paper"``). The TR ratio compares the two paper-preset
    paths (the same bound); the speed-up, the default against the authors' loop."""
    out = {"fast": [], "fast_paper": [], "paper": []}
    fit_tr(d, 0)  # warm-up (imports, first torch call)
    for key, params in (("fast", {}), ("fast_paper", {"preset": "paper"})):
        for seed in seeds:
            t, est = fit_tr(d, seed, **params)
            out[key].append({"seed": seed, "seconds": t,
                             "task_relatedness": est.task_relatedness_,
                             "terms": est.bound_terms_, "target_loss": est.target_loss_,
                             "timings": est.timings_, "n_iter": est.n_iter_})
            print(f"{key} seed {seed}: {t:.2f} s, TR {est.task_relatedness_:.4f}", flush=True)
    for seed in seeds:
        t, est = fit_tr(d, seed, preset="paper", method="paper", max_iter=paper_steps)
        out["paper"].append({"seed": seed, "seconds": t, "steps": paper_steps,
                             "task_relatedness": est.task_relatedness_,
                             "terms": est.bound_terms_, "target_loss": est.target_loss_,
                             "timings": est.timings_})
        print(f"paper seed {seed}: {t:.1f} s ({paper_steps} steps), TR {est.task_relatedness_:.4f}",
              flush=True)
    # The authors' own head: 2001 SGD steps with the gradient penalty.
    from sklearn.preprocessing import StandardScaler

    from sklearn_taskrel._paper import fit_paper_head

    Z = StandardScaler().fit_transform(d["Z_ref_train"])
    t = time.perf_counter()
    try:
        fit_paper_head(Z, d["y_ref_train"], 10, rng=np.random.RandomState(0), n_iter=2001)
        out["paper_sgd_head_diverged"] = False
    except FloatingPointError:  # the 2001 steps ran; their schedule diverged
        out["paper_sgd_head_diverged"] = True
    out["paper_sgd_head_seconds"] = time.perf_counter() - t
    fast_t = statistics.median(r["seconds"] for r in out["fast"])
    fast_paper_t = statistics.median(r["seconds"] for r in out["fast_paper"])
    paper_t = statistics.median(r["seconds"] for r in out["paper"])
    per_step = statistics.median((r["timings"]["transformations"]) / r["steps"] for r in out["paper"])
    paper_full = (statistics.median(r["timings"]["total"] - r["timings"]["transformations"]
                                    for r in out["paper"]) + 2001 * per_step)
    fast_tr = statistics.median(r["task_relatedness"] for r in out["fast_paper"])
    paper_tr = statistics.median(r["task_relatedness"] for r in out["paper"])
    paper_tr_source = f"this run ({paper_steps} steps)"
    if paper_steps != 2001:
        paper_tr, paper_tr_source = full_paper_tr(paper_tr, paper_tr_source)
    out["summary"] = {
        "fast_median_seconds": fast_t, "fast_paper_preset_median_seconds": fast_paper_t,
        "paper_median_seconds": paper_t,
        "default_median_tr": statistics.median(r["task_relatedness"] for r in out["fast"]),
        "paper_steps": paper_steps, "paper_seconds_per_step": per_step,
        "paper_seconds_2001_steps": paper_full if paper_steps != 2001 else paper_t,
        "speedup": (paper_full if paper_steps != 2001 else paper_t) / fast_t,
        "speedup_measured_steps_only": paper_t / fast_t,
        "speedup_paper_preset": (paper_full if paper_steps != 2001 else paper_t) / fast_paper_t,
        "fast_median_tr": fast_tr, "paper_median_tr": paper_tr,
        "paper_tr_source": paper_tr_source,
        "tr_ratio_fast_over_paper": fast_tr / paper_tr,
    }
    return out


def full_paper_tr(default, source):
    """Median TR of complete 2001-step paper runs (``benchmarks/paper_tr.py``).

    TR values do not depend on machine load, so those runs go in the background.
    """
    full = RESULTS / "paper_tr.json"
    runs = ([r for r in json.loads(full.read_text())["runs"] if r["steps"] == 2001]
            if full.exists() else [])
    if not runs:
        return default, source
    return (statistics.median(r["task_relatedness"] for r in runs),
            f"{full.name}: 2001 steps, seeds {sorted(r['seed'] for r in runs)}")


def refresh_paper_tr(path):
    """Update the TR comparison of an existing speed.json from paper_tr.json."""
    result = json.loads(Path(path).read_text())
    summary = result["anchor"]["summary"]
    summary["paper_median_tr"], summary["paper_tr_source"] = full_paper_tr(
        summary["paper_median_tr"], summary["paper_tr_source"])
    summary["tr_ratio_fast_over_paper"] = summary["fast_median_tr"] / summary["paper_median_tr"]
    Path(path).write_text(json.dumps(result, indent=1, default=float))
    print(json.dumps(summary, indent=1))


def bench_logme(d, repeats=5):
    """TR against LogME on the same target embeddings, interleaved (same load).

    *cold*: a fresh ReferenceTask, so the reference head is fitted inside the timed
    fit; *warm*: a ReferenceTask that already holds the head (every fit after the
    first on one reference and encoder: the other folds of a cross-validation, the
    other targets of a study). *cold* and *warm* are the default (ranking preset);
    the same two with the paper preset.
    """
    from sklearn_taskrel import ReferenceTask
    from sklearn_taskrel.metrics import logme_score

    Z, y = d["Z_tgt_train"], d["y_tgt_train"]
    shared = ReferenceTask(d["Z_ref_train"], d["y_ref_train"])
    logme_score(Z, y)
    fit_tr(d, 0, reference=shared)  # fills the shared head cache
    paper = {"preset": "paper"}
    fit_tr(d, 0, reference=shared, **paper)
    times = {"cold": [], "warm": [], "cold_paper": [], "warm_paper": [], "logme": []}
    for _ in range(repeats):
        times["cold"].append(fit_tr(d, 0)[0])
        times["warm"].append(fit_tr(d, 0, reference=shared)[0])
        times["cold_paper"].append(fit_tr(d, 0, **paper)[0])
        times["warm_paper"].append(fit_tr(d, 0, reference=shared, **paper)[0])
        times["logme"].append(_timeit(lambda: logme_score(Z, y)))
    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    out = {"seconds": times, "median_seconds": med, "min_seconds": best}
    for k in ("cold", "warm", "cold_paper", "warm_paper"):
        out[f"tr_over_logme_{k}_median"] = med[k] / med["logme"]
        out[f"tr_over_logme_{k}_min"] = best[k] / best["logme"]
    return out


GROWTH_CHILD = r"""
import json, os, resource, sys, time, numpy as np, torch
from threadpoolctl import threadpool_limits
if "SKLEARN_TASKREL_BENCH_THREADS" in os.environ:  # set by speed.py's main
    _threads = int(os.environ["SKLEARN_TASKREL_BENCH_THREADS"])
    torch.set_num_threads(_threads); threadpool_limits(_threads)
sys.path.insert(0, {root!r})
n = int(sys.argv[1])
with np.load({anchor!r}) as f:
    Zt, yt, Zr, yr = f["Z_tgt_train"], f["y_tgt_train"], f["Z_ref_train"], f["y_ref_train"]
rng = np.random.default_rng(0)
idx = rng.integers(0, len(yt), n)
X = Zt[idx]                       # float32, n x 1280
for s in range(0, n, 10000):      # jitter in float32 chunks: no float64 copy
    X[s:s + 10000] += 0.05 * rng.standard_normal((min(10000, n - s), X.shape[1]), dtype=np.float32)
y = yt[idx]
del Zt, idx
from sklearn_taskrel import ReferenceTask, TaskRelatednessScorer
est = TaskRelatednessScorer(ReferenceTask(Zr, yr), random_state=0, device="cpu")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter(); est.fit(X, y); el = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"n": n, "d": X.shape[1], "seconds": el, "peak_rss_mb": peak / 1024,
                   "rss_before_fit_mb": base / 1024, "input_mb": X.nbytes / 2**20,
                   "max_samples": est.max_samples, "task_relatedness": est.task_relatedness_,
                   "timings": est.timings_}}))
"""


def fit_resampled_target(n):
    """Fit TR on an ``n``-sample target resampled from the anchor, in a fresh process.

    Returns the child's row (wall time, peak resident memory, TR), or
    ``{"n": n, "error": ...}``. Also used by ``benchmarks/robustness.py``.
    """
    code = GROWTH_CHILD.format(root=str(HERE.parent), anchor=str(ANCHOR))
    res = subprocess.run([sys.executable, "-c", code, str(n)], capture_output=True,
                         text=True, check=False)
    if res.returncode != 0:
        return {"n": n, "error": res.stderr[-2000:]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def bench_growth(sizes):
    rows = []
    for n in sizes:
        row = fit_resampled_target(n)
        rows.append(row)
        if "error" in row:
            print(f"growth n={n}: FAILED\n{row['error']}", flush=True)
            continue
        print(f"growth n={n}: {row['seconds']:.2f} s, peak RSS {row['peak_rss_mb']:.0f} MB", flush=True)
    ok = {r["n"]: r for r in rows if "seconds" in r}
    summary = {}
    if 10_000 in ok and 100_000 in ok:
        summary["time_ratio_100k_over_10k"] = ok[100_000]["seconds"] / ok[10_000]["seconds"]
    return {"rows": rows, "summary": summary}


def bench_extraction(n=512, batch_size=64, size=64, repeats=3):
    import torch

    from sklearn_taskrel.encoders import extract_embeddings
    try:
        from sklearn_taskrel.encoders import MobileNetV2Encoder
        enc = MobileNetV2Encoder()
        model = enc.module_
    except Exception as exc:  # assets not installed
        return {"error": f"MobileNetV2 weights unavailable: {exc}"}
    rng = np.random.RandomState(0)
    X = rng.uniform(0, 1, size=(n, 3, size, size)).astype(np.float32)
    model.eval()

    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def bare():  # what a user would write: normalise, forward, pool, to numpy
        outs = []
        with torch.no_grad():
            for s in range(0, n, batch_size):
                xb = (torch.from_numpy(X[s:s + batch_size]) - mean) / std
                outs.append(model.features(xb).mean((2, 3)).numpy())
        return np.concatenate(outs)

    def ours():
        return extract_embeddings(enc, X, batch_size=batch_size, device="cpu")

    bare()
    ours()
    tb = statistics.median(_timeit(bare) for _ in range(repeats))
    to = statistics.median(_timeit(ours) for _ in range(repeats))
    agree = float(np.abs(bare() - ours()).max())
    return {"n": n, "batch_size": batch_size, "image_size": size,
            "bare_images_per_s": n / tb, "ours_images_per_s": n / to,
            "ratio_ours_over_bare": tb / to, "max_abs_diff": agree}


def _timeit(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short paper runs, no 100k target")
    p.add_argument("--paper-steps", type=int, default=None, help="steps of each paper run")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", default=str(RESULTS / "speed.json"))
    p.add_argument("--skip", nargs="*", default=[], choices=["anchor", "growth", "extraction"])
    p.add_argument("--threads", type=int, default=1,
                   help="torch and BLAS threads for every method (default 1: on a shared "
                        "2-core machine 2-thread regions stall whenever a neighbour runs)")
    p.add_argument("--refresh-paper-tr", action="store_true",
                   help="only update the TR comparison of --out from results/paper_tr.json")
    args = p.parse_args(argv)
    if args.refresh_paper_tr:
        return refresh_paper_tr(args.out)
    import torch

    limit_threads(args.threads)
    os.environ["SKLEARN_TASKREL_BENCH_THREADS"] = str(args.threads)  # for the subprocesses
    steps = args.paper_steps or (50 if args.quick else 200)
    result = {"machine": {"nproc": os.cpu_count(), "python": sys.version.split()[0],
                          "loadavg_start": os.getloadavg()},
              "quick": args.quick, "threads": args.threads}
    result["machine"]["torch"] = torch.__version__
    result["machine"]["torch_threads"] = torch.get_num_threads()
    if ANCHOR.exists() and "anchor" not in args.skip:
        d = load_anchor()
        result["anchor"] = bench_anchor(d, args.seeds, steps)
        result["logme"] = bench_logme(d)
        print(json.dumps(result["anchor"]["summary"], indent=1), json.dumps(result["logme"]), flush=True)
    if "growth" not in args.skip:
        result["growth"] = bench_growth([1000, 10_000] if args.quick else [1000, 10_000, 100_000])
    if "extraction" not in args.skip:
        result["extraction"] = bench_extraction()
        print("extraction", json.dumps(result["extraction"]), flush=True)
    result["peak_rss_mb_parent"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["machine"]["loadavg_end"] = os.getloadavg()
    write_json(args.out, result)


if __name__ == "__main__":
    main()
