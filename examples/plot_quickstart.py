"""
Quickstart: how related is my task to what an encoder knows?
============================================================

Task-relatedness (TR) compares a *target* task (yours) with a labelled
*reference* task the encoder handles well, through the encoder's embeddings.
It transforms the reference task into the target task (a new class prior, a
label map and a feature map) and reports the smallest upper bound on the target
cross-entropy that the transformed reference classifier reaches. Lower TR means
more related tasks and a better expected transfer.

Here the encoder is MobileNetV2 (ImageNet weights from a pip package), the
reference task is scikit-learn's handwritten digits and the target task is a
set of simulated textile images with three classes: nominal, local defect,
global defect.
"""

# %%
# Load the two tasks
# ------------------
# Both loaders return RGB images as float32 arrays of shape ``(n, 3, size, size)``
# with values in ``[0, 1]``, the input every vision encoder of
# :mod:`sklearn_taskrel.encoders` accepts. 64-pixel images (the encoders were
# trained at 224 pixels) and a few hundred samples keep this example fast.
import numpy as np

from sklearn_taskrel.datasets import load_digits_images, load_textile_defects

X_ref, y_ref = load_digits_images(200, size=64)
textile = load_textile_defects(150, size=64, return_X_y=False)
X, y = textile.data, textile.target
print("reference:", X_ref.shape, "classes", np.unique(y_ref))
print("target:   ", X.shape, {str(name): int(count) for name, count in
                              zip(textile.target_names, np.bincount(y))})

# %%
# Fit the estimator on raw images
# -------------------------------
# ``encoder`` takes a model, an adapter or a zero-argument factory;
# :func:`~sklearn_taskrel.encoders.load_vision_zoo` returns factories, which
# load the weights on first use. A :class:`~sklearn_taskrel.ReferenceTask`
# holds the reference sample (clones of the estimator share it).
from sklearn_taskrel import ReferenceTask, TaskRelatednessScorer
from sklearn_taskrel.encoders import load_vision_zoo

zoo = load_vision_zoo(["mobilenet_v2"])
reference = ReferenceTask(X_ref, y_ref, name="digits")
est = TaskRelatednessScorer(reference=reference, encoder=zoo["mobilenet_v2"],
                            random_state=0)
est.fit(X, y)
print(f"TR = {est.task_relatedness_:.3f}")

# %%
# The three terms of the bound add up to TR; ``transport`` is the product of
# the Lipschitz constant ``tau`` of the reference classifier's loss and the
# Wasserstein distance ``W1`` between the transformed reference and the target.
for name, value in est.bound_terms_.items():
    print(f"{name:>27s}  {value:8.4f}")
print(f"empirical target loss of the transformed classifier: {est.target_loss_:.3f}"
      f" (bounded by TR = {est.task_relatedness_:.3f})")

# %%
# ``score`` returns ``-TR`` (greater is better, as scikit-learn expects), and
# the transformed reference classifier predicts target classes without any
# training on the target labels beyond choosing the transformations.
print("score:", round(est.score(X, y), 4))
print("accuracy of the transformed reference classifier:",
      round(float(np.mean(est.predict(X) == y)), 3))

# %%
# Precomputed embeddings
# ----------------------
# With ``encoder=None`` (the default) the estimator takes embeddings instead of
# raw inputs. ``transform`` returns the fitted encoder's embeddings, so the
# same TR comes back from stored arrays, which is how to score an encoder you
# run elsewhere (or with :command:`sklearn-taskrel rank FILE.npz`).
Z_ref, Z = est.transform(X_ref), est.transform(X)
print("embeddings:", Z.shape, Z.dtype)
on_embeddings = TaskRelatednessScorer(reference=(Z_ref, y_ref), random_state=0)
on_embeddings.fit(Z, y)
print(f"TR from the embeddings = {on_embeddings.task_relatedness_:.3f}")

# %%
# Plot the terms
# --------------
# :func:`~sklearn_taskrel.plotting.plot_bound_terms` draws the stacked terms;
# the black tick is the empirical target loss, which the bound covers.
import matplotlib.pyplot as plt

from sklearn_taskrel.plotting import plot_bound_terms

ax = plot_bound_terms({"MobileNetV2": est})
plt.tight_layout()
plt.show()
