"""Results: agreement tables, the JSON document, plots and the markdown page.

Nothing here types a number: the page and the plots are generated from the JSON
document that :func:`zoo_result` and :func:`summarise` build from the runs.
"""

import json
import math

import numpy as np

from benchmarks.zoo.agreement import METRICS, agreement, average, seed_ceiling

TERMS = ("reweighted_reference_loss", "conditional_entropy", "transport", "wasserstein",
         "lipschitz", "target_loss")


def primary_ground_truth(zd):
    """Fine-tuned accuracy when at least 3 members can be fine-tuned, else the probe."""
    n_ft = sum(zd.zoo.why_not_finetuned(e) is None for e in zd.encoders)
    return "finetune" if n_ft >= 3 else "linear_probe"


def truth_table(zd, kind):
    """target -> encoder -> accuracy for one kind of ground truth."""
    out = {}
    for t, rows in zd.ground_truth.items():
        out[t] = {}
        for e, r in rows.items():
            if kind == "linear_probe":
                out[t][e] = r["linear_probe"]
            elif r.get("finetune"):
                out[t][e] = r["finetune"]["mean"]
    return out


def zoo_result(zd, scores, methods):
    """The JSON section of one zoo."""
    kinds = ["finetune", "linear_probe"]
    truths = {k: truth_table(zd, k) for k in kinds}
    res = {
        "primary_ground_truth": primary_ground_truth(zd),
        "encoders": {},
        "targets": {t: zd.targets[t].summary() for t in zd.targets},
        "references": {"default": zd.default_reference, "options": list(zd.reference_options),
                       **zd.reference_info},
        "ground_truth": zd.ground_truth,
        "scores": {m: {t: {e: _clean(v) for e, v in row.items()} for t, row in per.items()}
                   for m, per in scores.items()},
        "methods": {m.name: {"family": m.family, "description": m.description,
                             "needs_source_head": m.needs_source,
                             "needs_reference": m.needs_reference} for m in methods},
        "agreement": {}, "term_agreement": {}, "seed_ceiling": {},
        "probe_vs_finetune": {},
    }
    for e in zd.encoders:
        info = {"source_task": zd.zoo.source_task(e),
                "embedding_dim": int(next(iter(zd.Z[e].values())).shape[1]),
                "embed_seconds": zd.embed_seconds.get(e),
                "finetuned": zd.zoo.why_not_finetuned(e) is None,
                "why_not_finetuned": zd.zoo.why_not_finetuned(e)}
        if hasattr(zd.zoo, "pretrain_info"):
            info["pretraining"] = zd.zoo.pretrain_info[e]
        res["encoders"][e] = info
    for kind in kinds:
        res["agreement"][kind] = {}
        for m in methods:
            per_t = {}
            for t in zd.targets:
                row = scores[m.name].get(t, {})
                s = {e: v["score"] for e, v in row.items() if "score" in v}
                per_t[t] = agreement(s, truths[kind][t])
            res["agreement"][kind][m.name] = {"per_target": per_t, "mean": average(per_t),
                                              "seconds_per_encoder": _mean_seconds(
                                                  scores[m.name])}
        # which term of the bound ranks well: each term alone, lower = better
        for m in methods:
            if not m.family.startswith("TR"):
                continue
            res["term_agreement"].setdefault(kind, {})[m.name] = {}
            for term in TERMS:
                per_t = {}
                for t in zd.targets:
                    row = scores[m.name].get(t, {})
                    s = {e: -v["terms"][term] for e, v in row.items()
                         if term in v.get("terms", {})}
                    per_t[t] = agreement(s, truths[kind][t])
                res["term_agreement"][kind][m.name][term] = average(per_t)
    for t in zd.targets:
        per_seed = {e: r["finetune"]["per_seed"] for e, r in zd.ground_truth[t].items()
                    if r.get("finetune")}
        res["seed_ceiling"][t] = seed_ceiling(per_seed)
        lp = truths["linear_probe"][t]
        res["probe_vs_finetune"][t] = agreement(lp, truths["finetune"][t])
    return res


def _mean_seconds(per_method):
    secs = [v["seconds"] for row in per_method.values() for v in row.values()
            if "seconds" in v]
    return float(np.mean(secs)) if secs else None


def _clean(v):
    out = {k: v[k] for k in ("score", "seconds", "terms", "error") if k in v}
    return out


def summarise(zoos):
    """Per method: the mean of each agreement metric over every target of every zoo,
    each zoo judged against its primary ground truth."""
    methods = {}
    for zname, z in zoos.items():
        kind = z["primary_ground_truth"]
        for m, a in z["agreement"][kind].items():
            d = methods.setdefault(m, {"family": z["methods"][m]["family"], "per_zoo": {},
                                       "rows": [], "seconds": []})
            d["per_zoo"][zname] = a["mean"]
            d["rows"] += [r for r in a["per_target"].values() if r is not None]
            if a["seconds_per_encoder"] is not None:
                d["seconds"].append(a["seconds_per_encoder"])
    out = {}
    for m, d in methods.items():
        rows = d.pop("rows")
        secs = d.pop("seconds")
        d["mean"] = ({k: float(np.mean([r[k] for r in rows])) for k in METRICS}
                     | {"n_targets": len(rows)}) if rows else None
        d["seconds_per_encoder"] = float(np.mean(secs)) if secs else None
        out[m] = d
    return out


def headline_records(summary, zoo_names):
    """One flat record per method, best mean weighted tau first (the docs table)."""
    rows = []
    for m, s in summary.items():
        if s["mean"] is None:
            continue
        rec = {"method": m, "family": s["family"]}
        rec.update({k: s["mean"][k] for k in METRICS})
        rec["n_targets"] = s["mean"]["n_targets"]
        for z in zoo_names:
            rec[f"weighted_tau_{z}"] = (s["per_zoo"].get(z) or {}).get("weighted_tau")
        rec["seconds_per_encoder"] = s["seconds_per_encoder"]
        rows.append(rec)
    rows.sort(key=lambda r: -r["weighted_tau"])
    return rows


def goals(summary):
    """The issue's two goals, judged on the mean weighted tau over all targets."""
    def wt(m):
        s = summary.get(m)
        return None if s is None or s["mean"] is None else s["mean"]["weighted_tau"]

    baselines = {m: wt(m) for m, s in summary.items()
                 if s["family"].startswith("baseline") and wt(m) is not None}
    best = max(baselines, key=baselines.get) if baselines else None
    free = {m: wt(m) for m, s in summary.items() if s["family"] == "TR label-free"
            and wt(m) is not None}
    labelled = {m: wt(m) for m, s in summary.items() if s["family"] == "TR"
                and wt(m) is not None}
    out = {"tr": "TR learned_all", "tr_weighted_tau": wt("TR learned_all"),
           "best_baseline": best, "best_baseline_weighted_tau": baselines.get(best),
           "logme_weighted_tau": wt("LogME"),
           "label_free_default": "TR label-free (reference)",
           "label_free_default_weighted_tau": wt("TR label-free (reference)"),
           "best_label_free": max(free, key=free.get) if free else None}
    out["best_label_free_weighted_tau"] = free.get(out["best_label_free"])
    out["best_tr"] = max(labelled, key=labelled.get) if labelled else None
    out["best_tr_weighted_tau"] = labelled.get(out["best_tr"])
    if out["best_tr_weighted_tau"] is not None and best is not None:
        out["best_tr_at_least_best_baseline"] = bool(
            out["best_tr_weighted_tau"] >= baselines[best])
    if out["best_label_free_weighted_tau"] is not None and out["logme_weighted_tau"] is not None:
        out["best_label_free_at_least_logme"] = bool(
            out["best_label_free_weighted_tau"] >= out["logme_weighted_tau"])
    if out["tr_weighted_tau"] is not None and best is not None:
        out["tr_at_least_best_baseline"] = bool(out["tr_weighted_tau"] >= baselines[best])
    if out["label_free_default_weighted_tau"] is not None and out["logme_weighted_tau"] is not None:
        out["label_free_at_least_logme"] = bool(
            out["label_free_default_weighted_tau"] >= out["logme_weighted_tau"])
    return out


# ----------------------------------------------------------------------------- checks
def non_finite_numbers(obj, path="$"):
    """Paths of every float in ``obj`` that is NaN or infinite."""
    bad = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            bad += non_finite_numbers(v, f"{path}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            bad += non_finite_numbers(v, f"{path}[{i}]")
    elif isinstance(obj, float) and not math.isfinite(obj):
        bad.append(path)
    return bad


# ----------------------------------------------------------------------------- plots
FAMILY_COLORS = {"TR": "#1f77b4", "TR label-free": "#17becf", "TR (reference option)": "#aec7e8",
                 "baseline": "#7f7f7f", "baseline label-free": "#bcbd22",
                 "TR (ablation)": "#2ca02c"}


def plot_tr_vs_accuracy(doc, path, method="TR learned_all"):
    """One panel per (zoo, target): TR (lower = better) against the primary accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(z, t) for z, zr in doc["zoos"].items() for t in zr["targets"]]
    ncol = min(4, max(1, len(panels)))
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.1 * nrow), squeeze=False)
    for ax, (z, t) in zip(axes.flat, panels):
        zr = doc["zoos"][z]
        kind = zr["primary_ground_truth"]
        row = zr["scores"].get(method, {}).get(t, {})
        for e, v in row.items():
            g = zr["ground_truth"][t][e]
            if "score" not in v:
                continue
            if kind == "finetune" and g.get("finetune"):
                acc, err = g["finetune"]["mean"], g["finetune"]["std"]
            elif kind == "linear_probe":
                acc, err = g["linear_probe"], 0.0
            else:
                continue
            ax.errorbar(-v["score"], acc, yerr=err, fmt="o", ms=4, capsize=2)
            ax.annotate(e, (-v["score"], acc), fontsize=6, xytext=(2, 2),
                        textcoords="offset points")
        a = zr["agreement"][kind][method]["per_target"].get(t)
        title = f"{z}: {t}"
        if a:
            title += f"\nwτ={a['weighted_tau']:.2f} τ={a['kendall_tau']:.2f}"
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("TR (lower = more related)", fontsize=7)
        ax.set_ylabel("fine-tuned acc." if kind == "finetune" else "linear-probe acc.",
                      fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_method_bars(doc, path):
    """Mean weighted tau per method (all targets, primary ground truth), best first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = [(m, s) for m, s in doc["summary"].items() if s["mean"] is not None]
    items.sort(key=lambda x: -x[1]["mean"]["weighted_tau"])
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(items) + 1.2))
    names = [m for m, _ in items]
    vals = [s["mean"]["weighted_tau"] for _, s in items]
    colors = [FAMILY_COLORS.get(s["family"], "#333333") for _, s in items]
    ax.barh(range(len(items)), vals, color=colors)
    ax.set_yticks(range(len(items)))
    ax.set_yticklabels(names, fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("mean weighted Kendall tau over all targets (primary ground truth)",
                  fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in FAMILY_COLORS.values()]
    ax.legend(handles, list(FAMILY_COLORS), fontsize=6, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_json(doc, path):
    with open(path, "w") as fh:
        json.dump(doc, fh, indent=1, default=_builtin)


def _builtin(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)
