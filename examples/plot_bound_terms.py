"""
Reading the bound: D, B, the feature map and the three terms
============================================================

TR is the minimum of an upper bound on the target cross-entropy of the
reference classifier after three transformations of the reference task:

1. a new **class prior** ``D`` over the reference classes,
2. a **label map** ``B[t, r] = P(y_T = t | y_R = r)`` from reference to target
   classes,
3. an affine **feature map** that moves the reference embeddings onto the
   target embeddings.

The bound has three terms, one per kind of mismatch:

* the *reweighted reference loss* ``sum_r D_r L_r``: how well the reference
  classifier separates the reference classes that the target uses;
* the *label mismatch* ``H(Y_T | Y_R)``: zero when each reference class maps to
  one target class, positive when target classes must share one;
* the *transport* term ``tau * W1``: how far the transformed reference
  embeddings remain from the target embeddings, times the Lipschitz constant
  ``tau`` of the classifier's loss.

This example fits TR for one encoder and reads every fitted attribute.
"""

# %%
# One encoder, embedded once
# --------------------------
import numpy as np

from sklearn_taskrel import ReferenceTask, TaskRelatednessScorer
from sklearn_taskrel.datasets import load_digits_images, load_textile_defects
from sklearn_taskrel.encoders import build_encoder, extract_embeddings, load_vision_zoo

encoder = build_encoder(load_vision_zoo(["mobilenet_v2"])["mobilenet_v2"])
X_digits, y_digits = load_digits_images(200, size=64)
textile = load_textile_defects(150, size=64, return_X_y=False)
Z_digits = extract_embeddings(encoder, X_digits)
Z_textile, y_textile = extract_embeddings(encoder, textile.data), textile.target
digit_names = [str(d) for d in range(10)]
textile_names = list(textile.target_names)

est = TaskRelatednessScorer(reference=ReferenceTask(Z_digits, y_digits), random_state=0)
est.fit(Z_textile, y_textile)

# %%
# The terms, and what they bound
# ------------------------------
# ``bound_terms_`` holds the three terms (they add up to ``task_relatedness_``)
# and the two factors of the transport term. ``target_loss_`` is the empirical
# cross-entropy of the transformed classifier on the target: the quantity the
# bound covers. The gap says how loose the bound is.
terms = est.bound_terms_
print(f"reweighted reference loss {terms['reweighted_reference_loss']:.3f}"
      f" + label mismatch {terms['conditional_entropy']:.3f}"
      f" + transport {terms['transport']:.3f}"
      f" (tau {terms['lipschitz']:.4f} x W1 {terms['wasserstein']:.2f})"
      f" = TR {est.task_relatedness_:.3f}")
print(f"target loss {est.target_loss_:.3f} <= TR {est.task_relatedness_:.3f}:"
      f" gap {est.task_relatedness_ - est.target_loss_:.3f}")

# %%
# The reference head is trained under a cap on its input gradients: by default
# ``head_budget=1`` in units of the embeddings' radius, so its logit differences
# stay around 1 at a typical point whatever the width of the embedding. The cap
# keeps the transport term in proportion, at the price of less confident
# predictions: the per-class losses stay well above 0. ``est.chance_level_`` is
# the loss of predicting the target prior; a TR below it certifies a transfer.
print(f"chance level {est.chance_level_:.3f}; TR beats it: {est.beats_chance_}")
print("per-class losses of the reference head:", est.reference_class_losses_.round(2))

# %%
# The label map and the class prior
# ---------------------------------
# With three target classes and ten reference classes, TR sends each target
# class to one reference class (the minimum of the bound over label maps is an
# assignment). The reference classes it does not use get ``D_r = 0`` and are
# greyed out. The implied target prior ``B D`` equals the target's class
# frequencies: prior matching is exact.
import matplotlib.pyplot as plt

from sklearn_taskrel.plotting import plot_class_prior, plot_label_map

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.8))
plot_label_map(est, textile_names, digit_names, ax=ax1)
plot_class_prior(est, ax=ax2, target_names=textile_names, reference_names=digit_names)
fig.tight_layout()
plt.show()

# %%
# The feature map
# ---------------
# ``feature_map_`` is ``(A, b)``, the map ``z -> A z + b`` from the standardised
# reference embeddings towards the target; ``target_map_`` is its inverse, which
# the transformed classifier applies to target embeddings. The ridge parameter
# ``alpha`` pulls ``A`` toward the identity when samples are few.
A, b = est.feature_map_
print(f"A: {A.shape}, ||A - I||_F / ||I||_F = "
      f"{np.linalg.norm(A - np.eye(len(A))) / np.sqrt(len(A)):.3f}, ||b|| = {np.linalg.norm(b):.3f}")

# %%
# What each transformation buys
# -----------------------------
# ``transforms`` fixes some transformations: ``"learned_feature"`` keeps the
# label map fixed (target class ``t`` to reference class ``t``) and learns the
# feature map; ``"fixed"`` learns nothing. Learning a transformation gives the
# minimisation more room, so the bound usually goes down.
from sklearn.base import clone

from sklearn_taskrel.plotting import plot_bound_terms

variants = {mode: clone(est).set_params(transforms=mode).fit(Z_textile, y_textile)
            for mode in ("fixed", "learned_feature", "learned_all")}
for mode, fitted in variants.items():
    print(f"{mode:>15s}: TR = {fitted.task_relatedness_:.3f}")
ax = plot_bound_terms(variants)
ax.set_title("The bound with none, one or all transformations learned")
plt.tight_layout()
plt.show()

# %%
# More target classes than reference classes
# ------------------------------------------
# Swap the roles: the ten digits become the target and the three textile classes
# the reference. Several digits must now share a reference class, and the label
# mismatch term ``H(Y_T | Y_R)`` is no longer zero.
swapped = TaskRelatednessScorer(reference=(Z_textile, y_textile), random_state=0)
swapped.fit(Z_digits, y_digits)
print({k: round(v, 3) for k, v in swapped.bound_terms_.items()})

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5),
                               gridspec_kw={"width_ratios": [1, 1.4]})
plot_label_map(swapped, digit_names, textile_names, ax=ax1)
plot_bound_terms({"textile -> digits": est, "digits -> textile": swapped}, ax=ax2)
fig.tight_layout()
plt.show()

# %%
# Convergence and time
# --------------------
# ``history_`` records the squared transport cost of each iteration of the
# feature-map descent (it decreases monotonically until ``tol``), and a last
# entry with the bound's terms for the kept map. With cross-fitting (the
# default) the transformations are fitted on each fold, and each entry names its
# ``fold``. ``timings_`` says where the seconds went.
fig, ax = plt.subplots(figsize=(5, 3))
for fold in sorted({h.get("fold", 0) for h in est.history_}):
    steps = [h["squared_transport"] for h in est.history_
             if "squared_transport" in h and h.get("fold", 0) == fold]
    ax.plot(np.arange(1, len(steps) + 1), steps, marker="o", label=f"fold {fold}")
ax.legend()
ax.set_xlabel("iteration")
ax.set_ylabel("squared transport cost $W_2^2$")
ax.set_title(f"Feature-map descent (at most {est.n_iter_} iterations)")
fig.tight_layout()
plt.show()
print({k: round(v, 3) for k, v in est.timings_.items()})
