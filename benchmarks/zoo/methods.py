"""The scores compared: TR (with and without target labels) and every baseline.

Each method maps a :class:`Case` (one encoder's embeddings of one target's train
part, its labels, the reference samples and the source posteriors) to a score
where greater means better expected transfer. TR methods return ``-TR`` and keep
the terms of the bound, so that the report can say which term ranks well.
"""

import time
import warnings
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Case:
    """What a method may see: never the target's test part."""

    Z: np.ndarray                     # target train embeddings (float64)
    y: np.ndarray                     # target train labels
    references: dict                  # reference name -> (Z_ref, y_ref)
    default_reference: str
    source_proba: np.ndarray = None   # source-task posteriors of the train part, or None
    seed: int = 0
    info: dict = field(default_factory=dict)


@dataclass
class Method:
    """A named score with what it needs."""

    name: str
    family: str                       # "TR", "TR label-free", "baseline", "baseline label-free"
    compute: object                   # Case -> dict with "score" (greater is better)
    needs_source: bool = False
    needs_reference: bool = False
    description: str = ""
    params: dict = field(default_factory=dict)

    def applicable(self, case):
        return not (self.needs_source and case.source_proba is None)

    def __call__(self, case):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self.compute(case)
        out = dict(out)
        out["seconds"] = time.perf_counter() - t0
        if not np.isfinite(out["score"]):
            raise FloatingPointError(f"{self.name} returned {out['score']!r}")
        return out


# ----------------------------------------------------------------------------- TR
#: suffix of the TR rows whose Wasserstein term is measured between head logits
LOGITS = "[logits]"

def _fixed_label_map(y, y_ref):
    """Target class ``t`` -> reference class ``t mod K_R`` (labels are codes 0..K-1).

    With ``transforms`` ``"fixed"`` or ``"learned_feature"`` the estimator needs a
    correspondence; when the target and the reference share class codes (the
    small zoo's Fashion-MNIST targets) it is the true one, otherwise arbitrary.
    """
    k_ref = len(np.unique(y_ref))
    return {int(c): int(c) % k_ref for c in np.unique(y)}


def tr_compute(transforms="learned_all", pseudo_labels=None, reference=None, **params):
    """A TR method: ``pseudo_labels=None`` uses the target labels."""

    def compute(case):
        from sklearn_taskrel import ReferenceTask, TaskRelatednessScorer

        Zr, yr = case.references[reference or case.default_reference]
        kw = dict(params)
        if transforms != "learned_all" and pseudo_labels is None:
            kw.setdefault("label_map", _fixed_label_map(case.y, yr))
        est = TaskRelatednessScorer(ReferenceTask(Zr, yr), transforms=transforms,
                                    pseudo_labels=pseudo_labels or "reference",
                                    random_state=case.seed, device="cpu", **kw)
        est.fit(case.Z, None if pseudo_labels else case.y)
        terms = {k: float(v) for k, v in est.bound_terms_.items()}
        terms.update(task_relatedness=float(est.task_relatedness_),
                     target_loss=float(est.target_loss_),
                     n_reference_classes=int(len(est.reference_classes_)),
                     seconds_head=float(est.timings_.get("head", 0.0)))
        # target_loss is NaN without any labels (pseudo_labels="none"): not reported
        terms = {k: v for k, v in terms.items() if np.isfinite(v)}
        return {"score": -float(est.task_relatedness_), "terms": terms}

    return compute


#: suffix of the rows with the paper preset (the authors' bound)
PAPER = "[paper]"
#: the logit setting of the previous release: the paper preset with the transport
#: term between head logits (head cap 0.02, terms on the fitting sample)
LOGITS_PARAMS = {"preset": "paper", "transport_space": "logits"}


def tr_methods(reference_options=(), default_reference=None):
    """TR with the default (ranking) preset in every mode, the paper preset and the
    previous release's logit setting, and learned_all with each other reference."""
    out = [
        Method("TR learned_all", "TR", tr_compute("learned_all"), needs_reference=True,
               description="the default: D, B and the feature map learned (LearnedAll), "
                           "ranking preset"),
        Method("TR learned_feature", "TR", tr_compute("learned_feature"),
               needs_reference=True,
               description="label map fixed (class t -> reference class t mod K_R), "
                           "feature map learned (LearnedA)"),
        Method("TR fixed", "TR", tr_compute("fixed"), needs_reference=True,
               description="nothing learned (FixedAll), same fixed label map"),
        Method(f"TR learned_all {PAPER}", "TR", tr_compute("learned_all", preset="paper"),
               needs_reference=True, params={"preset": "paper"},
               description="learned_all with the paper preset (the authors' bound)"),
        Method(f"TR learned_all {LOGITS}", "TR", tr_compute("learned_all", **LOGITS_PARAMS),
               needs_reference=True, params=dict(LOGITS_PARAMS),
               description="the previous release's logit setting (paper preset, "
                           "transport_space='logits')"),
    ]
    for pl in ("reference", "cluster", "none"):
        out.append(Method(f"TR label-free ({pl})", "TR label-free",
                          tr_compute("learned_all", pseudo_labels=pl), needs_reference=True,
                          description=f"no target labels; pseudo_labels={pl!r}"))
    for suffix, params in ((PAPER, {"preset": "paper"}), (LOGITS, LOGITS_PARAMS)):
        out.append(Method(f"TR label-free (reference) {suffix}", "TR label-free",
                          tr_compute("learned_all", pseudo_labels="reference", **params),
                          needs_reference=True, params=dict(params),
                          description=f"no target labels; pseudo_labels='reference', {params}"))
    for ref in reference_options:
        if ref == default_reference:
            continue
        out.append(Method(f"TR learned_all [ref={ref}]", "TR (reference option)",
                          tr_compute("learned_all", reference=ref), needs_reference=True,
                          description=f"learned_all with the {ref!r} reference task",
                          params={"reference": ref}))
    return out


# ----------------------------------------------------------------------------- baselines
def baseline_methods():
    """Every score of :mod:`sklearn_taskrel.metrics` (greater is better)."""
    import sklearn_taskrel.metrics as M

    def f(fn, **kw):
        return lambda c: {"score": float(fn(c.Z, c.y, **kw))}

    def source_labels(c):
        return np.argmax(c.source_proba, axis=1)

    def otce(c):
        Zr, yr = c.references[c.default_reference]
        return {"score": float(M.ot_nce_score(c.Z, c.y, Zr, yr, max_samples=1000,
                                              random_state=c.seed))}

    return [
        Method("LogME", "baseline", f(M.logme_score)),
        Method("LEEP", "baseline", lambda c: {"score": float(M.leep_score(c.source_proba, c.y))},
               needs_source=True, description="source-head posteriors"),
        Method("NCE", "baseline",
               lambda c: {"score": float(M.nce_score(source_labels(c), c.y))},
               needs_source=True, description="argmax of the source head"),
        Method("N-LEEP", "baseline", lambda c: {"score": float(M.nleep_score(
            c.Z, c.y, random_state=c.seed))}),
        Method("H-score", "baseline", f(M.h_score)),
        Method("H-score (regularised)", "baseline", f(M.regularized_h_score)),
        Method("GBC", "baseline", f(M.gbc_score)),
        Method("TransRate", "baseline", f(M.transrate_score)),
        Method("SFDA", "baseline", f(M.sfda_score)),
        Method("OT-NCE (OTCE)", "baseline", otce, needs_reference=True,
               description="OT coupling to the default reference"),
        Method("ETran (energy)", "baseline label-free",
               lambda c: {"score": float(M.etran_score(c.Z))}),
        Method("kNN accuracy", "baseline", f(M.knn_accuracy_score)),
        Method("linear probe (CV)", "baseline", lambda c: {"score": float(
            M.linear_probe_score(c.Z, c.y, C=0.1, cv=3, random_state=c.seed))},
            description="3-fold CV accuracy on the target train part (C=0.1)"),
    ]


def all_methods(reference_options=(), default_reference=None, only=()):
    methods = tr_methods(reference_options, default_reference) + baseline_methods()
    if only:
        methods = [m for m in methods if m.name in only]
    return methods


def missing_baselines():
    """Baselines named in the method notes that sklearn_taskrel.metrics lacks."""
    import sklearn_taskrel.metrics as M

    wanted = {"LogME": "logme_score", "LEEP": "leep_score", "NCE": "nce_score",
              "H-score": "h_score", "N-LEEP": "nleep_score", "GBC": "gbc_score",
              "TransRate": "transrate_score", "SFDA": "sfda_score",
              "OTCE": "ot_nce_score", "ETran": "etran_score",
              "kNN": "knn_accuracy_score", "linear probe": "linear_probe_score"}
    return [k for k, fn in wanted.items() if not hasattr(M, fn)]
