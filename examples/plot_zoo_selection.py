"""
Pick an encoder from a zoo with GridSearchCV
============================================

:class:`~sklearn_taskrel.TaskRelatednessScorer` is an ordinary scikit-learn
estimator whose ``score`` is ``-TR``, so ranking a zoo of encoders is a grid
search over its ``encoder`` parameter, with no custom scorer. Each fold fits
the transformations on the training part of the target and scores the held-out
part, which tells you whether an encoder's TR is stable across samples.

Put **factories** in the grid, not models: ``clone`` deep-copies every
parameter that is not an estimator, so a grid of models would copy every
weight tensor for each candidate and fold. A factory is copied for free and
builds its model in ``fit``. :func:`~sklearn_taskrel.encoders.load_vision_zoo`
returns factories.
"""

# %%
# A zoo, a reference task and a target task
# -----------------------------------------
# Four ImageNet encoders from pip packages; the digits as reference; simulated
# textile images as target. A held-out target split gives a sanity check that
# the ranking does not use: the accuracy of a linear probe on each encoder.
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sklearn_taskrel import ReferenceTask, TaskRelatednessScorer
from sklearn_taskrel.datasets import load_digits_images, load_textile_defects
from sklearn_taskrel.encoders import load_vision_zoo

zoo = load_vision_zoo(["effnet_lite0", "effnet_lite1", "effnet_lite2", "mobilenet_v2"])
X_ref, y_ref = load_digits_images(150, size=32)
X_all, y_all = load_textile_defects(240, size=32)
X, y, X_test, y_test = X_all[:120], y_all[:120], X_all[120:], y_all[120:]

# %%
# The grid search
# ---------------
# ``GridSearchCV`` treats the estimator as a classifier, so the folds are
# stratified; ``refit=True`` refits the best encoder on the whole target. With
# an :class:`~sklearn_taskrel.encoders.EmbeddingCache` as ``memory``, every fold
# and the refit reuse the reference embeddings of each encoder.
import tempfile

from sklearn_taskrel.encoders import EmbeddingCache

cache = EmbeddingCache(tempfile.mkdtemp(prefix="taskrel-cache-"))
est = TaskRelatednessScorer(reference=ReferenceTask(X_ref, y_ref), memory=cache,
                            random_state=0)
grid = GridSearchCV(est, {"encoder": list(zoo.values())},
                    cv=StratifiedKFold(2, shuffle=True, random_state=0))
grid.fit(X, y)

names = {id(factory): name for name, factory in zoo.items()}
for params, mean, std in zip(grid.cv_results_["params"],
                             grid.cv_results_["mean_test_score"],
                             grid.cv_results_["std_test_score"]):
    print(f"{names[id(params['encoder'])]:>13s}  -TR = {mean:.3f} +/- {std:.3f}")
print("best encoder:", names[id(grid.best_params_["encoder"])])
print(f"its TR on the whole target: {grid.best_estimator_.task_relatedness_:.3f}")

# %%
# One call for the whole zoo, with a cache
# ----------------------------------------
# :func:`~sklearn_taskrel.model_selection.rank_encoders` embeds the target and
# the reference once per encoder and returns a table sorted best first, with
# every term of the bound. One encoder that fails gets a row with its error and
# does not stop the others. Given the same cache, it finds the embeddings the
# grid search computed (every reference, and the whole target for the refitted
# best encoder), and so does the linear probe below, our ground truth on the
# held-out split.
from sklearn_taskrel.model_selection import rank_encoders

table = rank_encoders(zoo, X, y, reference=(X_ref, y_ref), cache=cache, random_state=0)
print(table[["encoder", "rank", "task_relatedness", "reweighted_reference_loss",
             "transport", "seconds"]].round(3).to_string(index=False))

# %%
# Ground truth: a logistic-regression probe trained on the target split and
# tested on the held-out split, on the embeddings from the cache.
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

accuracy = {}
for name, factory in zoo.items():
    encoder = factory()
    Z, Z_test = cache.extract(encoder, X), cache.extract(encoder, X_test)
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    accuracy[name] = probe.fit(Z, y).score(Z_test, y_test)
print({name: round(acc, 3) for name, acc in accuracy.items()})
print("cache:", cache.hits, "hits,", cache.misses, "misses")

# %%
# Does the ranking agree with the probe?
# --------------------------------------
# Four encoders make a very small sample: read the picture, not the tau. The
# :doc:`/benchmarks` page reports rankings on larger zoos. Compare the terms as
# well as the totals: 32-pixel images are far below the resolution these
# networks were trained at, and an encoder whose embedding collapses to few
# active features gets a small transport term (see
# :ref:`sphx_glr_auto_examples_plot_baselines.py`).
import matplotlib.pyplot as plt

from sklearn_taskrel.plotting import plot_bound_terms, plot_ranking

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
plot_bound_terms(table, ax=ax1)
ordered = table.set_index("encoder").loc[list(zoo)]
plot_ranking(ordered["score"], [accuracy[n] for n in zoo], labels=list(zoo), ax=ax2,
             score_name="-TR", accuracy_name="held-out linear-probe accuracy")
fig.tight_layout()
plt.show()
