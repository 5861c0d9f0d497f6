"""
TR beside the established transferability scores
================================================

:mod:`sklearn_taskrel.metrics` implements the usual transferability scores
(LogME, LEEP, NCE, H-score, N-LEEP, GBC, TransRate, SFDA, OT-NCE, ETran, k-NN
and linear-probe accuracy) as functions and as estimators with the same API as
:class:`~sklearn_taskrel.TaskRelatednessScorer`: greater is better, and
``GridSearchCV`` over ``encoder`` works with any of them.

This example scores a zoo of four encoders with TR and several baselines on the
same embeddings, and compares each ranking with the accuracy of a linear probe
on a held-out split. With four encoders and 150 images it shows *how* to
compare methods; whether TR ranks better is measured on larger zoos in the
benchmark (:doc:`/benchmarks`).
"""

# %%
# Embeddings, source posteriors and a held-out split
# --------------------------------------------------
# LEEP and NCE need the encoder's source classifier (ImageNet posteriors), which
# every vision adapter exposes as ``predict_source_proba``.
import numpy as np

from sklearn_taskrel.datasets import load_digits_images, load_textile_defects
from sklearn_taskrel.encoders import build_encoder, extract_embeddings, load_vision_zoo

zoo = load_vision_zoo(["effnet_lite0", "effnet_lite1", "effnet_lite2", "mobilenet_v2"])
X_ref, y_ref = load_digits_images(150, size=64)
X_all, y_all = load_textile_defects(240, size=64)
X, y, X_test, y_test = X_all[:150], y_all[:150], X_all[150:], y_all[150:]

data = {}
for name, factory in zoo.items():
    encoder = build_encoder(factory)
    data[name] = {"Z_ref": extract_embeddings(encoder, X_ref),
                  "Z": extract_embeddings(encoder, X),
                  "Z_test": extract_embeddings(encoder, X_test),
                  "source_proba": encoder.predict_source_proba(X)}

# %%
# Scores
# ------
# Every function takes the embeddings (or the source posteriors) and the target
# labels and returns a greater-is-better float; TR enters as ``-TR``. With fewer
# samples than features the plain H-score is the same for any labelling, so the
# regularised (Ledoit-Wolf) H-score stands in for it.
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_taskrel import ReferenceTask, TaskRelatednessScorer
from sklearn_taskrel.metrics import (
    leep_score,
    logme_score,
    nce_score,
    regularized_h_score,
    sfda_score,
    transrate_score,
)

rows = []
for name, d in data.items():
    tr = TaskRelatednessScorer(reference=ReferenceTask(d["Z_ref"], y_ref), random_state=0)
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    rows.append({
        "encoder": name,
        "-TR": tr.fit(d["Z"], y).score(d["Z"], y),
        "LogME": logme_score(d["Z"], y),
        "LEEP": leep_score(d["source_proba"], y),
        "NCE": nce_score(np.argmax(d["source_proba"], axis=1), y),
        "reg. H-score": regularized_h_score(d["Z"], y),
        "TransRate": transrate_score(d["Z"], y),
        "SFDA": sfda_score(d["Z"], y),
        "probe accuracy": probe.fit(d["Z"], y).score(d["Z_test"], y_test),
        "active features": int(np.sum(d["Z"].std(axis=0) > 1e-6)),
    })
table = pd.DataFrame(rows).set_index("encoder")
print(table.round(3).to_string())

# %%
# Rank agreement with the probe
# -----------------------------
# Kendall's tau between each score and the held-out probe accuracy (1: same
# order, -1: reversed), and whether the score picks the encoder with the best
# probe accuracy.
from scipy.stats import kendalltau

methods = [c for c in table.columns if c not in ("probe accuracy", "active features")]
best = table["probe accuracy"].idxmax()
for method in methods:
    tau = kendalltau(table[method], table["probe accuracy"]).statistic
    print(f"{method:>13s}  tau = {tau:+.2f}  picks {table[method].idxmax():>13s}"
          f"{'  (best)' if table[method].idxmax() == best else ''}")

# %%
# Look at the embeddings before trusting any score. These networks were trained
# on 224 to 260 pixel images; fed much smaller ones (try ``size=32`` above), some
# of them keep only a few active (non-constant) features. Scores react to that in
# different ways; for TR, fewer active features make the transported distances,
# and so the transport term, smaller, which can favour a collapsed embedding.
print(table[["active features", "-TR", "probe accuracy"]].round(3).to_string())

# %%
# The same comparison as plots, one panel per method.
import matplotlib.pyplot as plt

from sklearn_taskrel.plotting import plot_ranking

fig, axes = plt.subplots(2, 4, figsize=(16, 7))
axes[-1, -1].axis("off")
for method, ax in zip(methods, axes.ravel()):
    plot_ranking(table[method], table["probe accuracy"], labels=list(table.index), ax=ax,
                 score_name=method, accuracy_name="probe accuracy")
    ax.set_title(f"{method}: {ax.get_title()}", fontsize=9)
fig.tight_layout()
plt.show()
