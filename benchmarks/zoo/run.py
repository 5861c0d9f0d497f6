"""Zoo benchmark entry point: TR and every baseline against fine-tuned accuracy.

    python benchmarks/zoo/run.py                 # full run (results/zoo.json, docs page)
    python benchmarks/zoo/run.py --quick --out /tmp/zoo   # CI smoke test

Embeddings are cached with :class:`sklearn_taskrel.encoders.EmbeddingCache` and
fine-tuning runs, probes and scores as JSON, all under ``benchmarks/_cache``, so a
rerun only recomputes what changed. Nothing is downloaded: the encoders and the
data come from installed pip and apt packages.
"""

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="small slices, few encoders and targets (CI smoke test)")
    p.add_argument("--out", default=None,
                   help="output folder (default: benchmarks/results; --quick: required "
                        "unless --write-results)")
    p.add_argument("--cache", default=str(ROOT / "benchmarks" / "_cache"),
                   help="cache folder ('none' to disable)")
    p.add_argument("--zoos", nargs="+", default=None, choices=("small", "vision", "text"))
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS/torch threads per process (default 1)")
    p.add_argument("--jobs", type=int, default=None,
                   help="worker processes (default 2)")
    p.add_argument("--docs", default=None,
                   help="markdown page to write (default: docs/benchmark_zoo.md for the "
                        "full run into benchmarks/results; none otherwise)")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--methods", nargs="+", default=None,
                   help="score only these methods (names as in the results), e.g. to "
                        "fill the cache with the ground truth and one baseline")
    return p.parse_args(argv)


def prepare_process(threads=1):
    """Offline hubs, ``threads`` BLAS/OpenMP threads, the repository importable.

    Call before numpy is imported. The environment is inherited by the worker
    processes. On a busy 2-core machine 2 BLAS threads made a logistic regression
    80x slower than 1.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])


def main(argv=None):
    args = parse_args(argv)
    prepare_process(args.threads or 1)
    from benchmarks.zoo.settings import full_settings, quick_settings

    s = quick_settings() if args.quick else full_settings()
    if args.zoos:
        s.zoos = tuple(args.zoos)
    if args.threads:
        s.threads = args.threads
    if args.jobs:
        s.n_jobs = args.jobs
    if args.methods:
        s.methods = tuple(args.methods)
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results"
    if args.quick and args.out is None:
        raise SystemExit("--quick writes a smoke-test result: pass --out FOLDER")
    out.mkdir(parents=True, exist_ok=True)
    prefix = "zoo" if not args.quick else "zoo_quick"
    docs = args.docs
    if docs is None and not args.quick and args.out is None:
        docs = str(ROOT / "docs" / "benchmark_zoo.md")

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(s.threads)
    with threadpool_limits(s.threads):
        doc = run(s, out, prefix, None if args.cache == "none" else args.cache,
                  plots=not args.no_plots)
    if docs and docs != "none":
        from benchmarks.zoo.markdown import write_page

        write_page(doc, docs, results_dir=out)
    return doc


def run(s, out, prefix, cache_dir, plots=True):
    from benchmarks.zoo import report
    from benchmarks.zoo.methods import all_methods, missing_baselines
    from benchmarks.zoo.pipeline import log, prepare_zoo, score_methods
    from benchmarks.zoo.store import JSONStore
    from sklearn_taskrel.encoders import EmbeddingCache

    t_start, cpu_start = time.perf_counter(), _cpu_seconds()
    emb_cache = EmbeddingCache(os.path.join(cache_dir, "embeddings") if cache_dir
                               else os.path.join(out, "_embeddings_tmp"))
    store = JSONStore(None if cache_dir is None else os.path.join(cache_dir, "results"))
    zoos, timings = {}, {}
    for zname in s.zoos:
        t0 = time.perf_counter()
        zd = prepare_zoo(zname, s, emb_cache=emb_cache, store=store, cache_dir=cache_dir)
        t1 = time.perf_counter()
        methods = all_methods(zd.reference_options, zd.default_reference, s.methods)
        scores = score_methods(zd, methods, store)
        t2 = time.perf_counter()
        zoos[zname] = report.zoo_result(zd, scores, methods)
        timings[zname] = {"prepare_seconds": t1 - t0, "scoring_seconds": t2 - t1}
        log(f"{zname}: done in {t2 - t0:.0f} s")
    summary = report.summarise(zoos)
    doc = {
        "description": "Zoo benchmark: transferability scores against end-to-end fine-tuned "
                       "and linear-probe test accuracy (benchmarks/zoo).",
        "command": " ".join(["python", "benchmarks/zoo/run.py"] + sys.argv[1:]),
        "settings": s.as_dict(),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "threads": s.threads, "n_jobs": s.n_jobs, "python": platform.python_version(),
                    "loadavg_end": list(os.getloadavg()), **_versions()},
        "timing": {"wall_seconds": time.perf_counter() - t_start,
                   "cpu_seconds": _cpu_seconds() - cpu_start, "per_zoo": timings,
                   "cache": {"embedding_hits": emb_cache.hits,
                             "embedding_misses": emb_cache.misses,
                             "result_hits": store.hits, "result_misses": store.misses}},
        "code": _code_state(),
        "missing_baselines": missing_baselines(),
        "goals": report.goals(summary),
        "headline": report.headline_records(summary, list(zoos)),
        "zoos": zoos, "summary": summary,
    }
    bad = report.non_finite_numbers(doc)
    if bad:
        raise FloatingPointError(f"non-finite numbers in the results: {bad[:10]}")
    report.write_json(doc, out / f"{prefix}.json")
    if plots:
        report.plot_tr_vs_accuracy(doc, out / f"{prefix}_tr_vs_accuracy.png")
        report.plot_method_bars(doc, out / f"{prefix}_weighted_tau.png")
    log(f"wrote {out / (prefix + '.json')} in {doc['timing']['wall_seconds']:.0f} s "
        f"(CPU {doc['timing']['cpu_seconds']:.0f} s)")
    return doc


def _cpu_seconds():
    """CPU seconds of this process, its reaped children and the worker tasks."""
    from benchmarks.zoo.pipeline import WORKER_CPU

    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime + WORKER_CPU["seconds"]


def _code_state():
    """The commit and whether the package had uncommitted changes during the run."""
    import subprocess

    from benchmarks.zoo.store import METRICS_CODE, TR_CODE, code_fingerprint

    def git(*a):
        try:
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    return {"commit": git("rev-parse", "HEAD"),
            "package_changes_uncommitted": bool(git("status", "--porcelain",
                                                    "sklearn_taskrel")),
            "tr_code_sha1": code_fingerprint(*TR_CODE),
            "metrics_code_sha1": code_fingerprint(*METRICS_CODE)}


def _versions():
    import numpy
    import scipy
    import sklearn
    import torch

    return {"numpy": numpy.__version__, "scipy": scipy.__version__,
            "sklearn": sklearn.__version__, "torch": torch.__version__}


if __name__ == "__main__":
    main()
