"""TR and its terms on the anchor embeddings, side by side with the authors' values.

The anchor (``../shared/anchor``) holds MobileNetV2 embeddings of Fashion-MNIST
(reference, 5000 train / 1000 test) and scikit-learn digits (target, 1200 train /
597 test), and the final numbers of the authors' scripts on them
(``mnv2_fmnist_digits_results.json``). This script fits ``TaskRelatednessScorer`` on
the reference train split and the target train split (head losses measured on the
reference test split, as the authors' final evaluation does), and reports:

- the terms on the fitted target sample (TR itself) and on the target test split
  (``bound``, the honest out-of-sample value), with the target cross-entropy of the
  transformed classifier and the gap to the bound;
- for the paper preset (``preset="paper"``, the authors' bound), with
  ``lipschitz="empirical"`` (their way of measuring tau), with
  ``transport_space="logits"`` (the Wasserstein term between head logits, the logit
  setting of the previous release), and for the default ranking preset, whose
  ``task_relatedness_`` is cross-fitted (``fitted_task_relatedness`` in the rows);
- the authors' recorded values (seed 0 and 1 at step 2000, seed 0 at step 1000).

Writes ``benchmarks/results/anchor_compare.json``.

    python benchmarks/anchor_compare.py
"""

import json
import time

import numpy as np
from _common import ANCHOR, RESULTS, load_anchor, write_json


def row_from(est, X, y, split):
    terms = est.bound(X, y)
    proba = est.predict_proba(X)
    codes = np.searchsorted(est.classes_, y)
    ce = float(-np.mean(np.log(np.maximum(proba[np.arange(len(y)), codes], 1e-300))))
    return {"split": split, **{k: float(v) for k, v in terms.items()},
            "target_ce": ce, "gap": terms["task_relatedness"] - ce,
            "target_accuracy": float(np.mean(est.classes_[proba.argmax(1)] == y))}


def main():
    from sklearn_taskrel import ReferenceTask, TaskRelatednessScorer

    d = load_anchor()
    authors = json.load(open(ANCHOR.with_name("mnv2_fmnist_digits_results.json")))["final_values"]
    ref = ReferenceTask(d["Z_ref_train"], d["y_ref_train"], X_eval=d["Z_ref_test"],
                        y_eval=d["y_ref_test"], name="Fashion-MNIST (anchor)")
    out = {"ours": [], "authors": {}}
    for label, params in [("paper preset, certified tau", {"preset": "paper"}),
                          ("paper preset, empirical tau", {"preset": "paper",
                                                           "lipschitz": "empirical"}),
                          ("paper preset, logit transport", {"preset": "paper",
                                                             "transport_space": "logits"}),
                          ("ranking preset (default)", {})]:
        for seed in (0, 1, 2):
            est = TaskRelatednessScorer(ref, random_state=seed, device="cpu", **params)
            t = time.perf_counter()
            est.fit(d["Z_tgt_train"], d["y_tgt_train"])
            seconds = time.perf_counter() - t
            for X, y, split in [(d["Z_tgt_train"], d["y_tgt_train"], "target train (TR)"),
                                (d["Z_tgt_test"], d["y_tgt_test"], "target test")]:
                out["ours"].append({"variant": label, "seed": seed, "seconds": seconds,
                                    "fitted_task_relatedness": est.task_relatedness_,
                                    "fitted_target_loss": est.target_loss_,
                                    "chance_level": est.chance_level_,
                                    **row_from(est, X, y, split)})
    for seed, steps in (("seed0", "epoch_2000"), ("seed1", "epoch_2000"), ("seed0", "epoch_1000")):
        v = authors[seed][steps]
        out["authors"][f"{seed} {steps}"] = {
            "reweighted_reference_loss": v["weighted_ref_loss"],
            "conditional_entropy": v["CE_conditional_entropy"],
            "lipschitz": v["tau_hat"], "wasserstein": v["WD_test_classwise_W1"],
            "transport": v["bound"] - v["weighted_ref_loss"] - v["CE_conditional_entropy"],
            "task_relatedness": v["bound"],
            "target_ce": v["target_test_loss_transformed_classifier"],
            "gap": v["bound"] - v["target_test_loss_transformed_classifier"],
            "target_accuracy": v["target_test_acc_transformed_classifier_pct"] / 100}
    cols = ["reweighted_reference_loss", "conditional_entropy", "lipschitz", "wasserstein",
            "transport", "task_relatedness", "target_ce", "gap", "target_accuracy"]
    head = f"{'':60s}" + "".join(f"{c[:10]:>11s}" for c in cols)
    print(head)
    for name, v in out["authors"].items():
        print(f"{'authors ' + name + ' (test splits)':60s}" + "".join(f"{v[c]:11.4f}" for c in cols))
    for r in out["ours"]:
        name = f"ours {r['variant']} s{r['seed']} {r['split']}"
        print(f"{name:60s}" + "".join(f"{r[c]:11.4f}" for c in cols)
              + f"  fitted TR {r['fitted_task_relatedness']:.4f}")
    write_json(RESULTS / "anchor_compare.json", out)


if __name__ == "__main__":
    main()
