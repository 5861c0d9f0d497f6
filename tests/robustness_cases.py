"""Bad and degenerate inputs for TaskRelatednessScorer, with their expected outcome.

Used by ``tests/test_robustness.py`` (which asserts each outcome) and by
``benchmarks/robustness.py`` (which writes the table shown in the docs). Each case
builds ``(estimator, X, y)``; the outcome is an exception type and a regular
expression its message must match, or ``"ok"`` (a finite TR), optionally with a
warning class.
"""

import numpy as np
import pandas as pd
import scipy.sparse as sp

from sklearn_taskrel import ReferenceTask, TaskRelatednessScorer
from sklearn_taskrel.exceptions import DegenerateTaskWarning, EncoderError


def _task(n_per_class=20, n_classes=3, d=5, seed=0, sep=4.0):
    rng = np.random.RandomState(seed)
    means = rng.normal(size=(n_classes, d))
    means *= sep / np.linalg.norm(means, axis=1, keepdims=True)
    y = np.repeat(np.arange(n_classes), n_per_class)
    return means[y] + rng.normal(size=(len(y), d)), y


X0, Y0 = _task()
XR, YR = _task(seed=1)


def est(**kw):
    kw.setdefault("reference", ReferenceTask(XR, YR))
    kw.setdefault("random_state", 0)
    return TaskRelatednessScorer(**kw)


def _with(X, index, value):
    X = X.copy()
    X[index] = value
    return X


class _Raise:
    def __call__(self, batch):
        raise RuntimeError("boom")


def _case(name, make, outcome, match=None, warning=None):
    return {"name": name, "make": make, "outcome": outcome, "match": match, "warning": warning}


CASES = [
    _case("NaN in X", lambda: (est(), _with(X0, (0, 0), np.nan), Y0), ValueError, "X.*NaN"),
    _case("inf in X", lambda: (est(), _with(X0, (3, 1), np.inf), Y0), ValueError, "X.*infinity"),
    _case("X is 1-D", lambda: (est(), X0[:, 0], Y0), ValueError, "Expected 2D array"),
    _case("X and y of different lengths", lambda: (est(), X0, Y0[:-5]), ValueError,
          "y has 55 labels but X has 60"),
    _case("NaN in y", lambda: (est(), X0, np.where(np.arange(60) == 3, np.nan, Y0)),
          ValueError, "y contains NaN"),
    _case("continuous y", lambda: (est(), X0, Y0 + 0.5), ValueError, "continuous values"),
    _case("single target class", lambda: (est(), X0[Y0 == 0], Y0[Y0 == 0]), "ok",
          warning=DegenerateTaskWarning),
    _case("more target classes than reference classes (K_T > K_R)",
          lambda: (est(), *_task(10, 6, seed=2)), "ok"),
    _case("classes with one sample", lambda: (est(), X0[[0, 20, 40, 41, 42]],
                                              Y0[[0, 20, 40, 41, 42]]), "ok"),
    _case("fewer samples than classes", lambda: (est(), X0[[0, 20]], np.array([0, 1])), "ok"),
    _case("duplicate points", lambda: (est(), np.repeat(X0[:10], 6, axis=0),
                                       np.repeat(Y0[:10] * 0 + np.arange(10) % 3, 6)), "ok"),
    _case("constant feature", lambda: (est(), _with(X0, (slice(None), 2), 7.0), Y0), "ok"),
    _case("d = 1", lambda: (est(reference=ReferenceTask(XR[:, :1], YR)), X0[:, :1], Y0), "ok"),
    _case("d = 4096, n = 50", lambda: (est(reference=ReferenceTask(*_task(20, 3, 4096, 3))),
                                       *_task(17, 3, 4096, 4)), "ok"),
    _case("string labels", lambda: (est(), X0, np.array(["a", "b", "c"])[Y0]), "ok"),
    _case("negative, non-contiguous labels", lambda: (est(), X0, np.array([-7, 3, 100])[Y0]),
          "ok"),
    _case("mixed-type labels", lambda: (est(), X0, np.array([1, "b", 2.5], dtype=object)[Y0]),
          TypeError, "sortable type"),
    _case("pandas DataFrame and Series", lambda: (est(), pd.DataFrame(X0),
                                                  pd.Series(Y0, name="label")), "ok"),
    _case("sparse X", lambda: (est(), sp.csr_matrix(X0), Y0), TypeError, "[Ss]parse"),
    _case("float16 X", lambda: (est(), X0.astype(np.float16), Y0), "ok"),
    _case("float64 X", lambda: (est(), X0.astype(np.float64), Y0), "ok"),
    _case("empty X", lambda: (est(), X0[:0], Y0[:0]), ValueError, "0 sample"),
    _case("label-free without a reference", lambda: (est(reference=None), X0, None),
          ValueError, "reference=None"),
    _case("malformed reference (a string)", lambda: (est(reference="imagenet"), X0, Y0),
          ValueError, "reference"),
    _case("malformed reference (1-tuple)", lambda: (est(reference=(XR,)), X0, Y0),
          TypeError, "reference must be"),
    _case("reference labels of the wrong length",
          lambda: (est(reference=ReferenceTask(XR, YR[:-1])), X0, Y0), ValueError,
          "reference y has 59 labels but X has 60"),
    _case("reference and target of different widths",
          lambda: (est(reference=ReferenceTask(XR[:, :3], YR)), X0, Y0), ValueError,
          "same width"),
    _case("reference with a single class",
          lambda: (est(reference=ReferenceTask(XR[YR == 0], YR[YR == 0])), X0, Y0), "ok",
          warning=DegenerateTaskWarning),
    _case("encoder that raises", lambda: (est(encoder=_Raise(), device="cpu"), X0, Y0),
          EncoderError, "encoder _Raise raised RuntimeError"),
    _case("encoder that returns NaN",
          lambda: (est(encoder=lambda b: np.full((len(b), 3), np.nan), device="cpu"), X0, Y0),
          EncoderError, "NaN or infinite"),
    _case("encoder that returns the wrong shape",
          lambda: (est(encoder=lambda b: np.ones((len(b), 2, 2)), device="cpu"), X0, Y0),
          EncoderError, "shape"),
    _case("encoder of an unsupported kind", lambda: (est(encoder=42), X0, Y0), TypeError,
          "encoder must be"),
    _case("CUDA requested where none exists",
          lambda: (est(encoder=lambda b: b, device="cuda"), X0, Y0), ValueError,
          "device='cuda'"),
    _case("unknown device string", lambda: (est(encoder=lambda b: b, device="tpu9"), X0, Y0),
          ValueError, "device"),
    _case("unknown transforms value", lambda: (est(transforms="all"), X0, Y0), ValueError,
          "transforms"),
    _case("negative alpha", lambda: (est(alpha=-1.0), X0, Y0), ValueError, "alpha"),
    _case("max_iter = 0", lambda: (est(max_iter=0), X0, Y0), ValueError, "max_iter"),
    _case("label_map naming unknown reference classes",
          lambda: (est(transforms="learned_feature", label_map={0: 9, 1: 1, 2: 2}), X0, Y0),
          ValueError, "unknown reference classes"),
]
