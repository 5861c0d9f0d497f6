"""What the benchmark scripts share: the anchor embeddings, the results folder,
thread limits and JSON output. Entry scripts import it as ``from _common import ...``
(they run as ``python benchmarks/NAME.py``, so this folder is on ``sys.path``)."""

import json
import os
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
#: The fixed embeddings of the authors' run (../shared/anchor), or
#: ``$SKLEARN_TASKREL_ANCHOR``.
ANCHOR = Path(os.environ.get("SKLEARN_TASKREL_ANCHOR",
                             ROOT.parent / "shared" / "anchor" / "mnv2_fmnist_digits.npz"))


def load_anchor():
    """The anchor's arrays (``Z_ref_train``, ``y_ref_train``, ``Z_tgt_train``, ...)."""
    if not ANCHOR.exists():
        raise SystemExit(f"anchor embeddings not found at {ANCHOR}; set "
                         "SKLEARN_TASKREL_ANCHOR to the .npz file.")
    return dict(np.load(ANCHOR))


def limit_threads(n=1):
    """``n`` torch threads and ``n`` BLAS/OpenMP threads for the rest of the run: on a
    shared 2-core machine, 2-thread regions stall whenever a neighbour runs."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    threadpool_limits(n)


def write_json(path, obj):
    """Write ``obj`` as indented JSON (numpy scalars as floats) and say where."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1, default=float) + "\n")
    print(f"wrote {path}")
