"""
Label-free TR: rank encoders before labelling the target
========================================================

Often the target data are not labelled yet. ``fit(X)`` without ``y`` computes
TR from the target inputs alone; ``pseudo_labels`` chooses how the missing
labels are replaced:

* ``"reference"``: the transformed reference classifier labels the target,
  and the transformations are refitted on its labels for a few rounds;
* ``"cluster"``: k-means clusters of the target embeddings serve as classes;
* ``"none"``: no labels at all; one transport problem between the whole
  reference (reweighted by the learned prior) and the whole target, and the
  label map is the identity on reference classes.

This example computes each variant for four encoders and sets it beside TR
with the true labels.
"""

# %%
# Embed once, score many times
# ----------------------------
# Every variant is fitted on the same embeddings (``encoder=None``), so each
# encoder runs once.
import pandas as pd

from sklearn_taskrel import ReferenceTask, TaskRelatednessScorer
from sklearn_taskrel.datasets import load_digits_images, load_textile_defects
from sklearn_taskrel.encoders import build_encoder, extract_embeddings, load_vision_zoo

zoo = load_vision_zoo(["effnet_lite0", "effnet_lite1", "effnet_lite2", "mobilenet_v2"])
X_ref, y_ref = load_digits_images(150, size=64)
X, y = load_textile_defects(150, size=64)

embeddings = {}
for name, factory in zoo.items():
    encoder = build_encoder(factory)
    embeddings[name] = (extract_embeddings(encoder, X_ref), extract_embeddings(encoder, X))

# %%
# TR with and without labels
# --------------------------
# The label-free variants need the reference; the target labels ``y`` are
# used only for the first column and for the agreement of the pseudo-labels.
from sklearn.metrics import adjusted_rand_score

rows = []
for name, (Z_ref, Z) in embeddings.items():
    base = TaskRelatednessScorer(reference=ReferenceTask(Z_ref, y_ref), random_state=0)
    row = {"encoder": name, "labelled": base.fit(Z, y).task_relatedness_}
    for mode in ("reference", "cluster", "none"):
        est = base.set_params(pseudo_labels=mode).fit(Z)
        row[mode] = est.task_relatedness_
        if est.pseudo_labels_ is not None:
            row[f"ARI {mode}"] = adjusted_rand_score(y, est.pseudo_labels_)
    rows.append(row)
table = pd.DataFrame(rows).set_index("encoder")
print(table.round(3).to_string())

# %%
# The adjusted Rand index (ARI) says how well the pseudo-labels recover the true
# classes (1 is perfect, 0 is chance). The ranking of the encoders is what
# matters for model selection: compare the order of each column with the
# labelled one.
from scipy.stats import kendalltau

for mode in ("reference", "cluster", "none"):
    tau = kendalltau(table["labelled"], table[mode]).statistic
    print(f"{mode:>9s}: Kendall tau with labelled TR = {tau:+.2f}")

# %%
# Plot
# ----
# Each line is one label-free variant; points on the diagonal would mean that
# the label-free value equals TR with labels.
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(5.5, 4.5))
for mode, marker in zip(("reference", "cluster", "none"), "osD"):
    ax.scatter(table["labelled"], table[mode], marker=marker, label=f'pseudo_labels="{mode}"')
for name, value in table["labelled"].items():
    ax.annotate(name, (value, table.loc[name, "reference"]), textcoords="offset points",
                xytext=(4, 4), fontsize=8)
low = min(table[["labelled", "reference", "cluster", "none"]].min())
high = max(table[["labelled", "reference", "cluster", "none"]].max())
ax.plot([low, high], [low, high], color="grey", linestyle=":", label="equal")
ax.set_xlabel("TR with target labels")
ax.set_ylabel("label-free TR")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
