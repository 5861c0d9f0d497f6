"""
Pick an encoder from a zoo with GridSearchCV
============================================

:class:`~sklearn_taskrel.TaskRelatednessScorer` is an ordinary scikit-learn
estimator whose ``score`` is ``-TR``, so ranking a zoo of encoders is a grid
search over its ``encoder`` parameter, with no custom scorer.

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
from sklearn.model_selection import GridSearchCV

from sklearn_taskrel import ReferenceTask, TaskRelatednessScorer
from sklearn_taskrel.datasets import load_digits_images, load_textile_defects
from sklearn_taskrel.encoders import load_vision_zoo

zoo = load_vision_zoo(["effnet_lite0", "effnet_lite1", "effnet_lite2", "mobilenet_v2"])
X_ref, y_ref = load_digits_images(150, size=64)
X_all, y_all = load_textile_defects(240, size=64)
X, y, X_test, y_test = X_all[:120], y_all[:120], X_all[120:], y_all[120:]

# %%
# The grid search
# ---------------
# TR is a property of the target sample, not a model to validate on new data,
# so the grid scores each encoder on the whole sample: one split whose training
# and test parts are both the whole sample. (With k folds, each candidate is
# scored on held-out folds instead: that measures how the fitted
# transformations carry over to new samples, and with small folds it is noisy,
# because features that are almost constant in a training fold get very large
# standardised values on the held-out fold.) With an
# :class:`~sklearn_taskrel.encoders.EmbeddingCache` as ``memory``, the scoring
# and the refit reuse the embeddings computed for the fit.
import tempfile

import numpy as np

from sklearn_taskrel.encoders import EmbeddingCache

cache = EmbeddingCache(tempfile.mkdtemp(prefix="taskrel-cache-"))
est = TaskRelatednessScorer(reference=ReferenceTask(X_ref, y_ref), memory=cache,
                            random_state=0)
whole_sample = [(np.arange(len(y)), np.arange(len(y)))]
grid = GridSearchCV(est, {"encoder": list(zoo.values())}, cv=whole_sample)
grid.fit(X, y)

names = {id(factory): name for name, factory in zoo.items()}
for params, score in zip(grid.cv_results_["params"], grid.cv_results_["mean_test_score"]):
    print(f"{names[id(params['encoder'])]:>13s}  -TR = {score:.3f}")
print("best encoder:", names[id(grid.best_params_["encoder"])])
print(f"its TR on the whole target: {grid.best_estimator_.task_relatedness_:.3f}")

# %%
# One call for the whole zoo, with a cache
# ----------------------------------------
# :func:`~sklearn_taskrel.model_selection.rank_encoders` embeds the target and
# the reference once per encoder and returns a table sorted best first, with
# every term of the bound. One encoder that fails gets a row with its error and
# does not stop the others. Given the same cache, it finds the embeddings the
# grid search computed, and so does the linear probe below, our ground truth on
# the held-out split.
from sklearn_taskrel.model_selection import rank_encoders

table = rank_encoders(zoo, X, y, reference=(X_ref, y_ref), cache=cache, random_state=0)
print(table[["encoder", "rank", "task_relatedness", "reweighted_reference_loss",
             "transport", "seconds"]].round(3).to_string(index=False))

# %%
# How sure is the ranking, and do two scores agree?
# --------------------------------------------------
# ``n_bootstrap`` resamples the target set (the same draws for every encoder)
# and re-scores each encoder on every draw: TR re-weights its held-out
# per-point terms and LogME each point's influence on the evidence, so 200
# draws cost far less than the fit. ``score_low`` and
# ``score_high`` bound the score with 90 % confidence, ``p_best`` is the share
# of draws an encoder wins, and ``tied_with_best`` flags the encoders whose
# paired difference to the winner is within the noise. Several scores in one
# call (``scorer=["tr", "logme"]``) share the embeddings; the table gets a
# column and a rank per score, a consensus rank, and the Kendall agreement
# between the scores in ``table.attrs["agreement"]``. ``table.attrs["summary"]``
# says it in a sentence or three.
sure = rank_encoders(zoo, X, y, reference=(X_ref, y_ref), cache=cache, random_state=0,
                     scorer=["tr", "logme"], n_bootstrap=200)
print(sure[["encoder", "consensus_rank", "score_tr", "score_low_tr", "score_high_tr",
            "p_best_tr", "tied_with_best_tr", "score_logme", "p_best_logme"]]
      .round(3).to_string(index=False))
print(sure.attrs["agreement"].round(2))
print(sure.attrs["summary"])

# %%
# The same ranking as one self-contained report (HTML with the plots embedded,
# or Markdown): :download:`zoo_report.html <../../examples/zoo_report.html>`.
# On the command line, ``sklearn-taskrel rank ... --report PATH`` writes it.
from pathlib import Path

from sklearn_taskrel.report import write_report

here = Path(__file__).parent if "__file__" in globals() else Path.cwd()
write_report(sure, here / "zoo_report.html", title="Vision zoo for the textile target")

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
# well as the totals: an encoder whose embedding collapses to few active
# features (for instance on images far smaller than its training resolution)
# gets a small transport term (see
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
