"""Plotting helpers: each renders to a PNG file and draws the expected artists."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from scipy.stats import kendalltau  # noqa: E402

from sklearn_taskrel import TaskRelatednessScorer  # noqa: E402
from sklearn_taskrel.plotting import (  # noqa: E402
    plot_bound_terms,
    plot_class_prior,
    plot_label_map,
    plot_ranking,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _task(n_per_class, classes, shift, rng, n_features=4):
    y = np.repeat(np.arange(len(classes)), n_per_class)
    X = rng.normal(size=(len(y), n_features)) + 4 * np.eye(n_features)[np.asarray(classes)[y]]
    return X + shift, y


@pytest.fixture(scope="module")
def fitted():
    """Two estimators: a 3-class target against a 4-class reference, near and far."""
    rng = np.random.RandomState(0)
    X_ref, y_ref = _task(20, [0, 1, 2, 3], 0.0, rng)
    X_near, y_near = _task([24, 12, 6], [1, 2, 3], 0.0, rng)
    X_far, y_far = _task([24, 12, 6], [1, 2, 3], 3.0, rng)
    ests = {}
    for name, (X, y) in {"near": (X_near, y_near), "far": (X_far, y_far)}.items():
        ests[name] = TaskRelatednessScorer(reference=(X_ref, y_ref), random_state=0).fit(X, y)
    return ests


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _save(ax, path):
    ax.figure.savefig(path, dpi=60)
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 2000  # a real drawing, not an empty canvas
    return data


# ---------------------------------------------------------------- bound terms
def test_bound_terms_from_estimators(fitted, tmp_path):
    ax = plot_bound_terms(fitted)
    _save(ax, tmp_path / "terms.png")
    assert len(ax.patches) == 3 * len(fitted)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(fitted)
    assert [t.get_text() for t in ax.texts] == [
        f"{est.task_relatedness_:.2f}" for est in fitted.values()]
    # The stacked heights of each bar add up to TR.
    heights = np.array([p.get_height() for p in ax.patches]).reshape(3, len(fitted))
    np.testing.assert_allclose(heights.sum(axis=0),
                               [e.task_relatedness_ for e in fitted.values()], rtol=1e-12)
    # One marker per encoder for the empirical target loss.
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(np.asarray(offsets)[:, 1],
                               [e.target_loss_ for e in fitted.values()])
    assert len(ax.get_legend().get_texts()) == 4


def test_bound_terms_from_rows_skips_failed_and_uses_given_ax(tmp_path):
    pd = pytest.importorskip("pandas")
    table = pd.DataFrame([
        {"encoder": "good", "reweighted_reference_loss": 1.0, "conditional_entropy": 0.2,
         "transport": 0.3, "target_loss": 0.9},
        {"encoder": "broken", "reweighted_reference_loss": np.nan,
         "conditional_entropy": np.nan, "transport": np.nan, "target_loss": np.nan},
    ])
    fig, ax = plt.subplots()
    out = plot_bound_terms(table, ax=ax, show_target_loss=False)
    assert out is ax
    _save(out, tmp_path / "rows.png")
    assert len(ax.patches) == 3
    assert [t.get_text() for t in ax.texts] == ["1.50"]
    assert not ax.collections


def test_bound_terms_single_estimator_and_labels(fitted):
    ax = plot_bound_terms(list(fitted.values()), labels=["x", "y"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y"]
    ax = plot_bound_terms(fitted["near"])
    assert len(ax.patches) == 3


@pytest.mark.parametrize("bad, error", [
    ([{"encoder": "a", "transport": 1.0}], ValueError),
    ([object()], TypeError),
])
def test_bound_terms_bad_input(bad, error):
    with pytest.raises(error):
        plot_bound_terms(bad)


def test_bound_terms_label_count_checked(fitted):
    with pytest.raises(ValueError, match="labels has 1 entries"):
        plot_bound_terms(fitted, labels=["only one"])


# ---------------------------------------------------------------- label map
def test_label_map_heatmap(fitted, tmp_path):
    est = fitted["near"]
    ax = plot_label_map(est, ["t0", "t1", "t2"], ["r0", "r1", "r2", "r3"])
    _save(ax, tmp_path / "label_map.png")
    image = ax.images[0].get_array()
    assert image.shape == (3, 4)
    used = est.class_prior_ > 0
    np.testing.assert_allclose(image[:, used], est.label_map_[:, used])
    assert np.ma.getmaskarray(image)[:, ~used].all()  # unused columns greyed out
    assert [t.get_text() for t in ax.get_yticklabels()] == ["t0", "t1", "t2"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["r0", "r1", "r2", "r3"]
    n_cells = int(((est.label_map_ >= 0.01) & used[None, :]).sum())
    assert len(ax.texts) == n_cells
    # The near target maps each class to its own reference class: 1, 2, 3.
    assert np.argmax(est.label_map_, axis=1).tolist() == [1, 2, 3]


def test_label_map_defaults_and_names_checked(fitted):
    est = fitted["near"]
    ax = plot_label_map(est, mask_unused=False, annotate=False)
    assert not np.ma.getmaskarray(ax.images[0].get_array()).any()
    assert not ax.texts
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1", "2"]
    with pytest.raises(ValueError, match="target_names has 2 names for 3 classes"):
        plot_label_map(est, target_names=["a", "b"])


# ---------------------------------------------------------------- class prior
def test_class_prior_bars(fitted, tmp_path):
    est = fitted["near"]
    ax = plot_class_prior(est, target_names=["a", "b", "c"])
    _save(ax, tmp_path / "prior.png")
    heights = np.array([p.get_height() for p in ax.patches])
    K_R, K_T = len(est.class_prior_), len(est.classes_)
    assert len(heights) == 2 * K_R + K_T
    np.testing.assert_allclose(heights[:K_R], est.reference_prior_)
    np.testing.assert_allclose(heights[K_R:2 * K_R], est.class_prior_)
    # Prior matching is exact: B D is the target's class frequency (24, 12, 6).
    np.testing.assert_allclose(heights[2 * K_R:], np.array([24, 12, 6]) / 42)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[-3:] == ["a", "b", "c"]


def test_class_prior_label_free(fitted):
    rng = np.random.RandomState(1)
    X_ref, y_ref = _task(20, [0, 1, 2], 0.0, rng, n_features=3)
    X, _ = _task(15, [0, 1, 2], 0.0, rng, n_features=3)
    est = TaskRelatednessScorer(reference=(X_ref, y_ref), pseudo_labels="none",
                                random_state=0).fit(X)
    ax = plot_class_prior(est)
    heights = np.array([p.get_height() for p in ax.patches])
    np.testing.assert_allclose(heights[-3:], est.class_prior_)  # B = identity


# ---------------------------------------------------------------- ranking
def test_ranking_scatter_and_tau(tmp_path):
    scores = [-2.0, -2.6, -2.2, -2.4, np.nan]
    acc = [0.90, 0.70, 0.80, 0.85, 0.5]
    ax = plot_ranking(scores, acc, labels=list("abcde"))
    _save(ax, tmp_path / "ranking.png")
    tau = kendalltau(scores[:4], acc[:4]).statistic
    assert ax.get_title().startswith(f"Kendall $\\tau$ = {tau:.2f}")
    assert "(n = 4)" in ax.get_title()
    assert sorted(t.get_text() for t in ax.texts) == list("abcd")  # NaN row left out
    pick = ax.collections[1].get_offsets()
    np.testing.assert_allclose(np.asarray(pick), [[-2.0, 0.90]])


def test_ranking_degenerate_and_checked():
    ax = plot_ranking([1.0, 1.0], [0.5, 0.6])
    assert "undefined" in ax.get_title()
    with pytest.raises(ValueError, match="same length"):
        plot_ranking([1.0, 2.0], [0.5])
    with pytest.raises(ValueError, match="labels has 1 entries"):
        plot_ranking([1.0, 2.0], [0.5, 0.6], labels=["a"])


def test_plotting_imports_matplotlib_lazily():
    """No module-level matplotlib import: ``import sklearn_taskrel.plotting`` is free."""
    import ast
    import inspect

    import sklearn_taskrel.plotting as plotting

    tree = ast.parse(inspect.getsource(plotting))
    top = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    names += [n.module for n in top if isinstance(n, ast.ImportFrom)]
    assert names and not [n for n in names if n.split(".")[0] == "matplotlib"]
