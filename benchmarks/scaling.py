"""Zoo selection at scale (issue 5): grid-search memory and Dask wall time.

1. Peak resident memory, each in a fresh subprocess, on real encoders (the offline
   vision zoo) and real data (sklearn digits as reference, textile defects as
   target, 64 px): one ``fit`` with one encoder; ``GridSearchCV`` over the 5 zoo
   factories with 3 folds; the same grid over 5 ``nn.Module`` instances (which
   ``clone`` deep-copies for every candidate and fold).
2. Wall time of ``rank_encoders`` over the 5 encoders with ``n_jobs=1`` against a
   Dask ``LocalCluster`` of 2 worker processes (1 thread each).

Writes ``benchmarks/results/scaling.json``.

    python benchmarks/scaling.py                 # both parts
    python benchmarks/scaling.py --parts dask    # only the Dask timing
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, resource, sys, time, warnings
import numpy as np, torch
warnings.simplefilter("ignore")
mode = sys.argv[1]
from sklearn.model_selection import GridSearchCV
from sklearn_taskrel import ReferenceTask, TaskRelatednessScorer
from sklearn_taskrel.datasets import load_digits_images, load_textile_defects
from sklearn_taskrel.encoders import build_encoder, load_vision_zoo
Xr, yr = load_digits_images(150, size=64)
X, y = load_textile_defects(150, size=64)
zoo = load_vision_zoo()
est = TaskRelatednessScorer(reference=ReferenceTask(Xr, yr), random_state=0, device="cpu",
                            batch_size=50)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t = time.perf_counter()
if mode == "single":
    est.set_params(encoder=zoo["effnet_lite2"]).fit(X, y)
elif mode == "grid_factories":
    GridSearchCV(est, {"encoder": list(zoo.values())}, cv=3).fit(X, y)
elif mode == "grid_modules":
    mods = [build_encoder(f) for f in zoo.values()]
    mods = [m.module_ if hasattr(m, "module_") else m for m in mods]
    # modules (torch) are deep-copied by clone; the ONNX adapter stays an adapter
    GridSearchCV(est, {"encoder": mods}, cv=3).fit(X, y)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"mode": mode, "seconds": time.perf_counter() - t,
                  "peak_rss_mb": peak, "rss_before_mb": base}))
"""

DASK = r"""
import json, time, warnings
import joblib
warnings.simplefilter("ignore")
from dask.distributed import Client, LocalCluster
from sklearn_taskrel import rank_encoders
from sklearn_taskrel.datasets import load_digits_images, load_textile_defects
from sklearn_taskrel.encoders import load_vision_zoo
Xr, yr = load_digits_images(200, size=64)
X, y = load_textile_defects(200, size=64)
zoo = load_vision_zoo()
kw = dict(reference=(Xr, yr), random_state=0, device="cpu", batch_size=50)
rank_encoders({"effnet_lite0": zoo["effnet_lite0"]}, X[:20], y[:20], **kw)  # warm-up
t = time.perf_counter(); serial = rank_encoders(zoo, X, y, n_jobs=1, **kw)
t_serial = time.perf_counter() - t
with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                  dashboard_address=None) as cluster, Client(cluster):
    with joblib.parallel_config(backend="dask"):
        rank_encoders({"effnet_lite0": zoo["effnet_lite0"]}, X[:20], y[:20], n_jobs=-1, **kw)
        t = time.perf_counter(); dask = rank_encoders(zoo, X, y, n_jobs=-1, **kw)
        t_dask = time.perf_counter() - t
print(json.dumps({"serial_seconds": t_serial, "dask_2_workers_seconds": t_dask,
                  "speedup": t_serial / t_dask,
                  "same_ranking": list(serial["encoder"]) == list(dask["encoder"]),
                  "ranking": list(serial["encoder"])}))
"""


def run(code, *args):
    res = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if res.returncode != 0:
        return {"args": args, "error": res.stderr[-3000:]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None):
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", nargs="+", default=["memory", "dask"], choices=["memory", "dask"],
                   help="what to (re)measure; the other parts of an existing file are kept")
    args = p.parse_args(argv)
    path = HERE / "results" / "scaling.json"
    out = json.loads(path.read_text()) if path.exists() else {}
    if "memory" in args.parts:
        out["memory"] = [run(CHILD, m) for m in ("single", "grid_factories", "grid_modules")]
        for row in out["memory"]:
            print(json.dumps(row)[:300], flush=True)
    if "dask" in args.parts:
        out["dask"] = run(DASK)
        print(json.dumps(out["dask"])[:500], flush=True)
    out.setdefault("loadavg_end", {})
    if not isinstance(out["loadavg_end"], dict):
        out["loadavg_end"] = {}
    for part in args.parts:
        out["loadavg_end"][part] = os.getloadavg()
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"{time.perf_counter() - t:.0f} s")
