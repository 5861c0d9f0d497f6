"""Plots that explain a task-relatedness result.

Four helpers, each drawing on one matplotlib ``Axes`` and returning it:

- :func:`plot_bound_terms`: the three terms of the bound, stacked, per encoder;
- :func:`plot_label_map`: the learned label map ``B`` as a heatmap with class names;
- :func:`plot_class_prior`: the learned class prior ``D`` against the reference
  prior, and the target prior it implies (``B D``);
- :func:`plot_ranking`: a zoo's scores against measured accuracies, with Kendall's
  tau in the title.

matplotlib is imported inside the functions only, so ``import sklearn_taskrel``
never needs it.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["plot_bound_terms", "plot_class_prior", "plot_label_map", "plot_ranking"]

#: The three additive terms of the bound, in stacking order, with legend labels.
BOUND_TERMS = (
    ("reweighted_reference_loss", "reweighted reference loss  $\\sum_r D_r L_r$"),
    ("conditional_entropy", "label mismatch  $H(Y_T \\mid Y_R)$"),
    ("transport", "transport  $\\tau\\, W_1$"),
)
_COLORS = ("#4c72b0", "#dd8452", "#55a868")


def _get_ax(ax, figsize=None):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _is_estimator(obj):
    return hasattr(obj, "bound_terms_") and hasattr(obj, "task_relatedness_")


def _row_from(obj):
    """Bound terms (dict) of a fitted estimator or a result row."""
    if _is_estimator(obj):
        row = dict(obj.bound_terms_)
        row["task_relatedness"] = obj.task_relatedness_
        row["target_loss"] = getattr(obj, "target_loss_", np.nan)
        return row
    if hasattr(obj, "keys"):
        return dict(obj)
    raise TypeError(
        "each result must be a fitted TaskRelatednessScorer or a mapping with the "
        f"keys {[k for k, _ in BOUND_TERMS]}; got {type(obj).__name__}.")


def _named_rows(results, labels):
    """``(names, rows)`` from any accepted form of ``results``."""
    if hasattr(results, "to_dict") and hasattr(results, "columns"):  # DataFrame
        records = results.to_dict("records")
        names = [r.get("encoder", i) for i, r in enumerate(records)]
        items = list(zip(names, records))
    elif _is_estimator(results):
        items = [(type(results).__name__, results)]
    elif isinstance(results, dict) and not any(k == BOUND_TERMS[0][0] for k in results):
        items = list(results.items())
    elif isinstance(results, dict):
        items = [("result", results)]
    else:
        items = []
        for i, obj in enumerate(results):
            name = obj.get("encoder", str(i)) if hasattr(obj, "get") else str(i)
            items.append((name, obj))
    rows = [_row_from(obj) for _, obj in items]
    names = [str(n) for n, _ in items]
    if labels is not None:
        names = [str(n) for n in labels]
        if len(names) != len(rows):
            raise ValueError(f"labels has {len(names)} entries for {len(rows)} results.")
    missing = [k for k, _ in BOUND_TERMS for r in rows if k not in r]
    if missing:
        raise ValueError(f"results lack the bound terms {sorted(set(missing))}.")
    keep = [i for i, r in enumerate(rows)
            if all(np.isfinite(float(r[k])) for k, _ in BOUND_TERMS)]
    return [names[i] for i in keep], [rows[i] for i in keep]


def plot_bound_terms(results, ax=None, *, labels=None, show_target_loss=True):
    """Stacked bars of the three terms of the bound, one bar per encoder.

    Each bar is the task-relatedness (TR) of one encoder, split into the
    reweighted reference loss, the label mismatch ``H(Y_T | Y_R)`` and the
    transport term ``tau * W1``; the total is written on top. Lower is better.

    Parameters
    ----------
    results : estimator, list, dict or DataFrame
        Fitted :class:`~sklearn_taskrel.TaskRelatednessScorer` (one, a list, or a
        dict name -> estimator), or result rows with the keys of
        :attr:`~sklearn_taskrel.TaskRelatednessScorer.bound_terms_` (a list of
        dicts with an ``"encoder"`` key, a dict name -> dict, or the DataFrame of
        :func:`~sklearn_taskrel.model_selection.rank_encoders`). Rows whose terms
        are not finite (failed encoders) are left out.
    ax : matplotlib Axes or None, default=None
        Where to draw; ``None`` creates a new figure.
    labels : list of str or None, default=None
        Bar labels; by default the names found in ``results``.
    show_target_loss : bool, default=True
        Mark the empirical target loss of the transformed classifier (what the
        bound bounds) with a black tick where it is known.

    Returns
    -------
    ax : matplotlib Axes

    See Also
    --------
    plot_ranking : scores of a zoo against measured accuracy.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_taskrel.plotting import plot_bound_terms
    >>> rows = [
    ...     {"encoder": "a", "reweighted_reference_loss": 1.2,
    ...      "conditional_entropy": 0.1, "transport": 0.5},
    ...     {"encoder": "b", "reweighted_reference_loss": 1.0,
    ...      "conditional_entropy": 0.0, "transport": 0.3},
    ... ]
    >>> ax = plot_bound_terms(rows)
    >>> len(ax.patches), [t.get_text() for t in ax.get_xticklabels()]
    (6, ['a', 'b'])
    >>> [t.get_text() for t in ax.texts]
    ['1.80', '1.30']
    """
    names, rows = _named_rows(results, labels)
    ax = _get_ax(ax, figsize=(max(4.0, 0.9 * len(rows) + 2.5), 4.0))
    x = np.arange(len(rows))
    bottom = np.zeros(len(rows))
    for (key, label), color in zip(BOUND_TERMS, _COLORS):
        values = np.array([float(r[key]) for r in rows])
        ax.bar(x, values, 0.6, bottom=bottom, label=label, color=color)
        bottom += values
    for xi, total in zip(x, bottom):
        ax.text(xi, total, f"{total:.2f}", ha="center", va="bottom", fontsize=9)
    if show_target_loss:
        loss = np.array([float(r.get("target_loss", np.nan)) for r in rows])
        if np.isfinite(loss).any():
            ax.scatter(x, loss, marker="_", s=600, color="black", zorder=3,
                       label="target loss of the transformed classifier")
    ax.set_xticks(x, names, rotation=30 if len(rows) > 4 else 0,
                  ha="right" if len(rows) > 4 else "center")
    ax.set_ylabel("task-relatedness (lower is better)")
    # Head room above the bars for the legend, so that it hides no bar.
    ax.set_ylim(0, 1.6 * max(bottom.max(initial=0.0), 1e-12))
    ax.set_title("Terms of the bound")
    ax.legend(loc="upper center", ncol=2, fontsize=7, framealpha=0.9)
    return ax


def _class_names(names, default, what):
    if names is None:
        return [str(c) for c in default]
    names = [str(n) for n in names]
    if len(names) != len(default):
        raise ValueError(f"{what} has {len(names)} names for {len(default)} classes.")
    return names


def plot_label_map(estimator, target_names=None, reference_names=None, ax=None, *,
                   mask_unused=True, annotate=True):
    """Heatmap of the learned label map ``B[t, r] = P(y_T = t | y_R = r)``.

    Rows are target classes, columns reference classes; each used column is a
    distribution over target classes. A one-to-one label map shows one 1 per row
    and column; several target classes sharing a reference class split its
    column, which is what the label-mismatch term ``H(Y_T | Y_R)`` charges for.

    Parameters
    ----------
    estimator : TaskRelatednessScorer
        Fitted estimator (uses ``label_map_``, ``class_prior_``, ``classes_`` and
        ``reference_classes_``).
    target_names, reference_names : list of str or None, default=None
        Class names for the rows and columns; by default the class labels.
    ax : matplotlib Axes or None, default=None
        Where to draw; ``None`` creates a new figure.
    mask_unused : bool, default=True
        Grey out reference classes that the learned prior does not use
        (``D_r = 0``): their column of ``B`` carries no mass and enters no term.
    annotate : bool, default=True
        Write the values of ``B`` (at least 0.01) in the cells.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_taskrel import TaskRelatednessScorer
    >>> from sklearn_taskrel.plotting import plot_label_map
    >>> rng = np.random.RandomState(0)
    >>> y_ref = np.repeat([0, 1, 2], 20)
    >>> X_ref = rng.normal(size=(60, 3)) + 4 * np.eye(3)[y_ref]
    >>> y = np.repeat([0, 1], 20)
    >>> X = rng.normal(size=(40, 3)) + 4 * np.eye(3)[y + 1]
    >>> est = TaskRelatednessScorer(reference=(X_ref, y_ref), random_state=0).fit(X, y)
    >>> ax = plot_label_map(est, ["cat", "dog"], ["a", "b", "c"])
    >>> ax.images[0].get_array().shape
    (2, 3)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['cat', 'dog']
    """
    check_is_fitted(estimator, "label_map_")
    B = np.asarray(estimator.label_map_, dtype=float)
    K_T, K_R = B.shape
    rows = _class_names(target_names, estimator.classes_[:K_T], "target_names")
    cols = _class_names(reference_names, estimator.reference_classes_[:K_R],
                        "reference_names")
    ax = _get_ax(ax, figsize=(max(4.0, 0.55 * K_R + 2.5), max(2.5, 0.45 * K_T + 1.5)))
    shown = np.ma.masked_array(B, mask=np.zeros_like(B, dtype=bool))
    if mask_unused:
        unused = np.asarray(estimator.class_prior_) <= 0
        shown.mask[:, unused] = True
    import matplotlib

    cmap = matplotlib.colormaps["Blues"].with_extremes(bad="#dddddd")
    image = ax.imshow(shown, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    ax.figure.colorbar(image, ax=ax, label="$B[t, r]$", fraction=0.05, pad=0.03)
    if annotate:
        for t, r in zip(*np.nonzero(~np.ma.getmaskarray(shown) & (B >= 0.01))):
            ax.text(r, t, f"{B[t, r]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if B[t, r] > 0.6 else "black")
    ax.set_xticks(np.arange(K_R), cols, rotation=45 if K_R > 5 else 0,
                  ha="right" if K_R > 5 else "center")
    ax.set_yticks(np.arange(K_T), rows)
    ax.set_xlabel("reference class $r$")
    ax.set_ylabel("target class $t$")
    ax.set_title("Label map $B[t, r] = P(y_T = t \\mid y_R = r)$")
    return ax


def plot_class_prior(estimator, ax=None, *, target_names=None, reference_names=None):
    """The learned class prior ``D`` against the reference prior, and ``B D``.

    Left group, over reference classes: the prior of the reference sample and the
    learned prior ``D`` (the reweighting of the reference loss). Right group, over
    target classes: the target prior the transformation implies, ``B D``; with
    labels it equals the target's class frequencies (prior matching is exact).

    Parameters
    ----------
    estimator : TaskRelatednessScorer
        Fitted estimator (uses ``class_prior_``, ``label_map_`` and, when present,
        ``reference_prior_``).
    ax : matplotlib Axes or None, default=None
        Where to draw; ``None`` creates a new figure.
    target_names, reference_names : list of str or None, default=None
        Class names; by default the class labels.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_taskrel import TaskRelatednessScorer
    >>> from sklearn_taskrel.plotting import plot_class_prior
    >>> rng = np.random.RandomState(0)
    >>> y_ref = np.repeat([0, 1, 2], 20)
    >>> X_ref = rng.normal(size=(60, 3)) + 4 * np.eye(3)[y_ref]
    >>> y = np.repeat([0, 1], [30, 10])
    >>> X = rng.normal(size=(40, 3)) + 4 * np.eye(3)[y]
    >>> est = TaskRelatednessScorer(reference=(X_ref, y_ref), random_state=0).fit(X, y)
    >>> ax = plot_class_prior(est)
    >>> len(ax.patches)  # 3 reference prior + 3 learned D + 2 implied target prior
    8
    >>> [round(float(p.get_height()), 2) for p in ax.patches[-2:]]
    [0.75, 0.25]
    """
    check_is_fitted(estimator, "class_prior_")
    D = np.asarray(estimator.class_prior_, dtype=float)
    B = np.asarray(estimator.label_map_, dtype=float)
    implied = B @ D
    K_R, K_T = len(D), len(implied)
    ref_names = _class_names(reference_names, estimator.reference_classes_[:K_R],
                             "reference_names")
    tgt_names = _class_names(target_names, estimator.classes_[:K_T], "target_names")
    ax = _get_ax(ax, figsize=(max(5.0, 0.5 * (K_R + K_T) + 3.0), 3.8))
    xr = np.arange(K_R)
    xt = K_R + 1 + np.arange(K_T)
    ref_prior = getattr(estimator, "reference_prior_", None)
    width = 0.4
    if ref_prior is not None:
        ax.bar(xr - width / 2, ref_prior, width, color="#bbbbbb",
               label="reference prior $\\pi_R$")
        ax.bar(xr + width / 2, D, width, color=_COLORS[0], label="learned prior $D$")
    else:
        ax.bar(xr, D, 2 * width, color=_COLORS[0], label="learned prior $D$")
    ax.bar(xt, implied, 2 * width, color=_COLORS[1], label="implied target prior $B D$")
    ax.axvline(K_R, color="black", linewidth=0.8, linestyle=":")
    ax.set_xticks(np.concatenate([xr, xt]), ref_names + tgt_names,
                  rotation=45 if K_R + K_T > 8 else 0,
                  ha="right" if K_R + K_T > 8 else "center")
    ax.set_ylabel("probability")
    ax.set_xlabel("reference classes  |  target classes")
    ax.set_title("Class prior: reference, learned $D$ and implied target prior")
    ax.legend(fontsize=8)
    return ax


def plot_ranking(scores, accuracies, labels=None, ax=None, *, score_name="score",
                 accuracy_name="accuracy"):
    """Scatter of a zoo's scores against the accuracies they should predict.

    The title gives Kendall's tau and the weighted tau
    (:func:`scipy.stats.weightedtau`, which weighs the top of the ranking most)
    between scores and accuracies. The encoder with the best score (the pick) is
    circled.

    Parameters
    ----------
    scores : array-like of shape (n_encoders,)
        Greater-is-better scores, e.g. ``est.score(X, y)`` or ``-task_relatedness_``.
    accuracies : array-like of shape (n_encoders,)
        Measured accuracies (fine-tuned, linear probe...).
    labels : list of str or None, default=None
        Encoder names written next to the points.
    ax : matplotlib Axes or None, default=None
        Where to draw; ``None`` creates a new figure.
    score_name, accuracy_name : str
        Axis labels.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_taskrel.plotting import plot_ranking
    >>> ax = plot_ranking([-2.1, -2.5, -2.3], [0.91, 0.80, 0.85], ["a", "b", "c"])
    >>> print(ax.get_title())
    Kendall $\\tau$ = 1.00, weighted $\\tau$ = 1.00 (n = 3)
    >>> sorted(t.get_text() for t in ax.texts)
    ['a', 'b', 'c']
    """
    from scipy.stats import kendalltau, weightedtau

    s = np.asarray(scores, dtype=float).ravel()
    a = np.asarray(accuracies, dtype=float).ravel()
    if s.shape != a.shape:
        raise ValueError(f"scores and accuracies must have the same length; got "
                         f"{s.size} and {a.size}.")
    if labels is not None and len(labels) != s.size:
        raise ValueError(f"labels has {len(labels)} entries for {s.size} scores.")
    ok = np.isfinite(s) & np.isfinite(a)
    ax = _get_ax(ax, figsize=(5.0, 4.0))
    ax.scatter(s[ok], a[ok], s=40, color=_COLORS[0], zorder=2)
    if labels is not None:
        for xi, yi, name, good in zip(s, a, labels, ok):
            if good:
                ax.annotate(str(name), (xi, yi), textcoords="offset points",
                            xytext=(5, 4), fontsize=8)
    n = int(ok.sum())
    if n >= 1:
        pick = np.flatnonzero(ok)[np.argmax(s[ok])]
        ax.scatter([s[pick]], [a[pick]], s=160, facecolors="none", edgecolors="black",
                   zorder=3, label="pick (best score)")
        ax.legend(fontsize=8, loc="best")
    if n >= 2 and np.ptp(s[ok]) > 0 and np.ptp(a[ok]) > 0:
        tau = kendalltau(s[ok], a[ok]).statistic
        wtau = weightedtau(s[ok], a[ok]).statistic
        ax.set_title(f"Kendall $\\tau$ = {tau:.2f}, weighted $\\tau$ = {wtau:.2f} (n = {n})")
    else:
        ax.set_title(f"Kendall $\\tau$ undefined (n = {n})")
    ax.set_xlabel(f"{score_name} (greater is better)")
    ax.set_ylabel(accuracy_name)
    return ax

