"""The task-relatedness solver on plain arrays: heads, transformations, bound terms.

:class:`TaskRelatedness` is what :class:`~sklearn_taskrel.TaskRelatednessScorer` runs
once the embeddings are known: a researcher can call it directly on two labelled
sets of embeddings. :class:`SolverOptions` holds every setting (a frozen dataclass,
presets resolved); :meth:`TaskRelatedness.fit` standardises both domains, fits the
reference head, learns the transformations (on cross-fitting folds or on the whole
target) and measures the bound's terms, and the fitted object holds the terms, the
transformations and their history.

Examples
--------
>>> import numpy as np
>>> from sklearn_taskrel.transport import SolverOptions, TaskRelatedness
>>> rng = np.random.RandomState(0)
>>> y = np.repeat([0, 1, 2], 30)
>>> Z = rng.normal(size=(90, 5)) + 3 * np.eye(5)[y]
>>> tr = TaskRelatedness(SolverOptions.from_preset("ranking"), random_state=0).fit(Z, y, Z, y)
>>> sorted(tr.bound_terms_)
['conditional_entropy', 'lipschitz', 'reweighted_reference_loss', 'transport', 'wasserstein']
>>> bool(tr.task_relatedness_ < tr.chance_level_)
True
"""

import time
import warnings
from dataclasses import dataclass, fields, replace
from numbers import Integral

import numpy as np
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state

from sklearn_taskrel.exceptions import DegenerateTaskWarning
from sklearn_taskrel.transport._backend import to_numpy
from sklearn_taskrel.transport._feature_map import (
    LogitMap,
    average_maps,
    invert_map,
)
from sklearn_taskrel.transport._lipschitz import (
    LOGIT_LIPSCHITZ,
    certified_lipschitz,
    empirical_lipschitz,
    softmax,
)
from sklearn_taskrel.transport._losses import (
    per_class_losses,
    per_class_losses_from_logits,
)
from sklearn_taskrel.transport._relatedness import (
    Transformation,
    bound_terms,
    evaluate_transformation,
    fit_transformation,
    joint_from_assignment,
    prior_and_label_map,
    reproject_transformation,
    transport_with_weights,
)
from sklearn_taskrel.utils._device import resolve_device
from sklearn_taskrel.utils._scaling import FlooredStandardScaler, GlobalScaler
from sklearn_taskrel.utils._validation import (
    _plain,
    array_digest,
    check_labels,
    encode_like,
)

__all__ = ["PRESETS", "SolverOptions", "TaskRelatedness"]

TRANSFORMS = ("learned_all", "learned_feature", "fixed")
TRANSPORT_SPACES = ("features", "logits")
PSEUDO_LABELS = ("reference", "cluster", "none")
SCALINGS = ("per_feature", "global")
#: what each preset sets for the parameters left at ``None``
PRESETS = {
    "ranking": {"transport_space": "logits", "scaling": "per_feature", "head_budget": 1.0,
                "cross_fit": 2},
    "paper": {"transport_space": "features", "scaling": "per_feature", "head_lipschitz": 0.02},
}
#: the value of a preset-resolved setting that no preset names
_UNSET_DEFAULTS = {"head_budget_unit": "radius", "rescale_head": False, "cross_fit": "off"}


@dataclass(frozen=True)
class SolverOptions:
    """Every setting of :class:`TaskRelatedness`, presets resolved.

    The fields are the parameters of
    :class:`~sklearn_taskrel.TaskRelatednessScorer` that concern the computation
    (see it for their meaning), with ``cross_fit`` an int (0: off) and the head's
    cap given as ``head_lipschitz`` (absolute) or ``head_budget`` (in units of the
    reference radius or spread). Build one with :meth:`from_preset`.

    Examples
    --------
    >>> from sklearn_taskrel.transport import SolverOptions
    >>> opts = SolverOptions.from_preset("paper")
    >>> opts.transport_space, opts.head_lipschitz, opts.cross_fit
    ('features', 0.02, 0)
    """

    preset: str = "ranking"
    transforms: str = "learned_all"
    pseudo_labels: str = "reference"
    n_clusters: object = None
    n_pseudo_rounds: int = 3
    label_map: object = None
    method: str = "fast"
    feature_map: str = "affine"
    alpha: float = 1.0
    lipschitz: str = "certified"
    transport_space: str = "logits"
    scaling: str = "per_feature"
    variance_floor: float = 0.1
    head_lipschitz: object = None
    head_budget: object = 1.0
    head_budget_unit: str = "radius"
    rescale_head: bool = False
    cross_fit: int = 2
    head_penalty: float = 1e4
    head_max_iter: int = 300
    max_iter: object = None
    tol: float = 2e-2
    max_samples: int = 10000
    ot_batch_size: object = None
    device: object = "cpu"
    transport_backend: str = "auto"
    verbose: int = 0

    @classmethod
    def from_preset(cls, preset="ranking", **params):
        """Options of ``preset`` (``"ranking"`` or ``"paper"``), with ``params`` set
        and those given as ``None`` taken from the preset; unknown names are ignored
        (so an estimator's ``get_params()`` can be passed whole)."""
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}.")
        if params.get("head_lipschitz") is not None and params.get("head_budget") is not None:
            raise ValueError(
                "Give the head's cap either as head_lipschitz (absolute) or as head_budget "
                f"(in units of the reference radius), not both; got head_lipschitz="
                f"{params['head_lipschitz']!r} and head_budget={params['head_budget']!r}.")
        names = {f.name for f in fields(cls)} - {"preset"}
        values = {k: v for k, v in params.items() if k in names}
        chosen = PRESETS[preset]
        for name in ("transport_space", "scaling", "head_budget_unit", "rescale_head",
                     "cross_fit"):
            if values.get(name) is None:
                values[name] = chosen.get(name, _UNSET_DEFAULTS.get(name))
        if values.get("head_lipschitz") is None and values.get("head_budget") is None:
            values["head_lipschitz"] = chosen.get("head_lipschitz")
            values["head_budget"] = chosen.get("head_budget")
        else:  # the cap given, not the other one's default
            values.setdefault("head_lipschitz", None)
            values.setdefault("head_budget", None)
        if values["cross_fit"] == "off":
            values["cross_fit"] = 0
        return cls(preset=preset, **values)


class TaskRelatedness:
    """Task-relatedness of a target to a reference task, on plain arrays.

    Parameters
    ----------
    options : SolverOptions
    random_state : int, RandomState or None
        Seeds the subsamples; with an int every cross-fitting fold starts from it.

    Attributes
    ----------
    The fitted attributes of :class:`~sklearn_taskrel.TaskRelatednessScorer` that
    :data:`FITTED` lists (``task_relatedness_``, ``bound_terms_``,
    ``transformation_``, ``history_``, ...), set by :meth:`fit`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.transport import SolverOptions, TaskRelatedness
    >>> rng = np.random.RandomState(0)
    >>> y_ref, y = np.repeat([0, 1], 40), np.repeat([0, 1], 30)
    >>> Z_ref = rng.normal(size=(80, 4)) + 3 * np.eye(4)[y_ref]
    >>> Z = rng.normal(size=(60, 4)) + 3 * np.eye(4)[y]
    >>> tr = TaskRelatedness(SolverOptions.from_preset(), random_state=0).fit(Z_ref, y_ref, Z, y)
    >>> tr.transformation_.assignment.tolist(), len(tr.fold_terms_)
    ([0, 1], 2)
    >>> terms = tr.bound(Z, y)  # the fitted transformations on a sample
    >>> bool(terms["task_relatedness"] > 0)
    True
    """

    #: The fitted attributes an estimator exposes.
    FITTED = (
        "classes_", "reference_classes_", "reference_scaler_", "target_scaler_",
        "reference_radius_", "reference_spread_", "head_lipschitz_", "head_coef_",
        "head_intercept_", "head_history_", "reference_class_losses_", "reference_prior_",
        "transformation_", "pseudo_labels_", "lipschitz_", "head_scale_", "class_prior_",
        "label_map_", "chance_level_", "n_iter_", "history_", "task_relatedness_",
        "bound_terms_", "beats_chance_", "target_loss_", "fold_terms_", "cv_folds_",
        "point_terms_", "transport_space_", "scaling_", "timings_",
    )

    def __init__(self, options=None, random_state=None):
        self.options = SolverOptions() if options is None else options
        self.random_state = random_state

    def fit(self, Z_ref, y_ref, Z_tgt, y_tgt=None, *, Z_ref_eval=None, y_ref_eval=None,
            head_cache=None):
        """Fit the transformations of ``(Z_ref, y_ref)`` onto ``(Z_tgt, y_tgt)``.

        Parameters
        ----------
        Z_ref, y_ref : ndarray of shape (n_ref, d), array-like of shape (n_ref,)
            Reference embeddings and labels.
        Z_tgt : ndarray of shape (n, d)
            Target embeddings (float32 stays float32).
        y_tgt : array-like of shape (n,) or None
            Target labels; ``None`` runs the label-free mode (``pseudo_labels``).
        Z_ref_eval, y_ref_eval : optional
            Held-out reference sample on which the head's class losses are measured.
        head_cache : callable or None
            ``head_cache(key, fit)`` returns ``fit()``'s ``(W, c, history)`` or a cached
            one for the same key (:meth:`ReferenceTask.cached_head`).

        Returns
        -------
        self : TaskRelatedness
        """
        t_start = time.perf_counter()
        timings = {}
        rng = check_random_state(self.random_state)
        opts = self.options
        if Z_ref.shape[1] != Z_tgt.shape[1]:
            raise ValueError(
                "reference and target embeddings must have the same width; got "
                f"{Z_ref.shape[1]} reference features and {Z_tgt.shape[1]} target features. "
                "A step placed before this estimator in a Pipeline (PCA, say) changes "
                "the target but not the reference: transform the reference with the "
                "same fitted step (reference=(step.transform(X_ref), y_ref)), or make "
                "the step part of the encoder."
            )
        if y_tgt is not None:
            self.classes_, yt = check_labels(y_tgt, n_samples=len(Z_tgt), name="y")
            if len(self.classes_) == 1:
                warnings.warn(
                    f"y has a single class ({_plain(self.classes_[0])!r}): the label map sends it "
                    "to one reference class and TR measures only how the target features "
                    "match that class.", DegenerateTaskWarning, stacklevel=3)
        else:
            yt = None
        self.reference_classes_, yr = check_labels(y_ref, n_samples=Z_ref.shape[0],
                                                   name="reference y")
        K_R = len(self.reference_classes_)
        if K_R < 2:
            warnings.warn(
                "The reference task has a single class: its head is constant, the "
                "reweighted loss and the Lipschitz constant are 0.", DegenerateTaskWarning,
                stacklevel=3)
        self.transport_space_, self.scaling_ = opts.transport_space, opts.scaling
        Zr, Zt, Zr_eval, yr_eval_raw = Z_ref, Z_tgt, Z_ref_eval, y_ref_eval

        # Scale each domain separately (as the authors do). The reference is kept in
        # float64; a float32 target stays float32.
        self.reference_scaler_ = self._make_scaler().fit(Zr)
        self.target_scaler_ = self._make_scaler().fit(Zt)
        for name, Z, scaler in (("reference", Zr, self.reference_scaler_),
                                ("target", Zt, self.target_scaler_)):
            if not np.all(np.isfinite(scaler.var_)):
                raise ValueError(
                    f"The {name} embeddings are too large to standardise: a feature's "
                    f"variance overflows {scaler.var_.dtype} (largest absolute value "
                    f"{float(np.abs(Z).max()):.3g}). Divide them by a constant first: TR "
                    "does not depend on the units of the features.")
        Zr_s = self.reference_scaler_.transform(Zr).astype(np.float64, copy=False)
        Zt_s = self.target_scaler_.transform(Zt)
        del Zt
        # RMS radius of the scaled reference and its between-class spread: the units
        # of the head budget.
        # The scaled features' variances are var / scale^2: no pass over Zr_s.
        sc = self.reference_scaler_
        self.reference_radius_ = float(np.sqrt(np.sum(sc.var_ / sc.scale_ ** 2)))
        self.reference_spread_ = _between_class_spread(Zr_s, yr, K_R)
        self.head_lipschitz_ = self._head_cap(
            self.reference_spread_ if self.options.head_budget_unit == "spread"
            else self.reference_radius_)

        # Reference head.
        t0 = time.perf_counter()
        self._fit_head(Zr_s, yr, K_R, Zr, head_cache)
        if Zr_eval is not None:
            _, yr_eval = encode_like(yr_eval_raw, self.reference_classes_, "reference y_eval")
            loss_sample = (self.reference_scaler_.transform(Zr_eval), yr_eval)
        else:
            loss_sample = (Zr_s, yr)
        L, _ = per_class_losses(*loss_sample, self.head_coef_, self.head_intercept_, K_R)
        self.reference_class_losses_ = L
        self._reference_loss_sample = loss_sample
        self.reference_prior_ = np.bincount(yr, minlength=K_R) / len(yr)
        timings["head"] = time.perf_counter() - t0

        # Reference sample for the transport (stratified cap).
        ref_idx = _stratified_cap(yr, self.options.max_samples, rng)
        Zr_cap, yr_cap = ((Zr_s, yr) if len(ref_idx) == len(yr)
                          else (Zr_s[ref_idx], yr[ref_idx]))
        self._Z_ref_by_class = [Zr_cap[yr_cap == r] for r in range(K_R)]
        tau = certified_lipschitz(self.head_coef_) if K_R > 1 else 0.0

        # Target labels or pseudo-labels, then the transformations. When the terms
        # will be measured out of sample, the fit does not measure its kept map.
        t0 = time.perf_counter()
        y_given = yt
        n_folds = self._n_folds()
        self._measure_kept = not (n_folds and yt is not None
                                  and np.bincount(yt).min() >= n_folds)
        # With labels and held-out terms, a map with a linear part is fitted on the
        # folds only: the fitted state is their mean (bagging), not a third fit.
        bagged = not self._measure_kept and self._feature_family() in ("affine", "diagonal")
        folds = None
        if yt is None:
            yt = self._fit_label_free(Zt_s, tau, rng)
        elif bagged:
            self.pseudo_labels_ = None
            t1 = time.perf_counter()
            folds, splits = self._fit_folds(Zt_s, y_given, yt, tau, rng, n_folds)
            timings["cross_fit"] = time.perf_counter() - t1
            self.transformation_ = self._bagged_transformation(folds, yt)
            self._fit_on_all = False
        else:
            self.pseudo_labels_ = None
            self._fit_labelled(Zt_s, yt, tau, rng)
        timings["transformations"] = time.perf_counter() - t0 - timings.get("cross_fit", 0.0)

        # Final terms on the whole target sample, then out of sample (cross-fitting).
        if n_folds:
            counts = np.bincount(yt) if yt is not None else np.array([len(Zt_s) // 2])
            if counts[counts > 0].min() < n_folds:
                warnings.warn(
                    f"cross_fit={n_folds} needs at least {n_folds} target samples in every "
                    f"{'class' if y_given is not None else 'pseudo-class'}; the smallest "
                    f"has {int(counts[counts > 0].min())}. The terms are measured on the "
                    "fitting sample instead (optimistic for wide embeddings).",
                    DegenerateTaskWarning, stacklevel=2)
                n_folds = 0
        self._finalise(Zt_s, yt, rng, in_sample=n_folds == 0)
        self.fold_terms_, self.cv_folds_, self.point_terms_ = [], [], None
        if n_folds:
            if folds is None:
                t0 = time.perf_counter()
                folds, splits = self._fit_folds(Zt_s, y_given, yt, tau, rng, n_folds)
                timings["cross_fit"] = time.perf_counter() - t0
            self._set_cross_fitted_terms(folds, splits, y_given)
        self._reference_loss_sample = self._measure_kept = None
        timings["total"] = time.perf_counter() - t_start
        self.timings_ = timings
        return self

    def _make_scaler(self):
        if self.scaling_ == "global":
            return GlobalScaler()
        return FlooredStandardScaler(variance_floor=self.options.variance_floor)

    def _head_cap(self, radius):
        """The head's cap on input-gradient norms: ``head_lipschitz``, or
        ``head_budget / radius``."""
        if self.options.head_lipschitz is not None:
            return float(self.options.head_lipschitz)
        return float(self.options.head_budget) / max(radius, np.finfo(float).tiny)

    def _fit_head(self, Zr_s, yr, K_R, Zr, head_cache=None):
        if K_R < 2:
            self.head_coef_ = np.zeros((K_R, Zr_s.shape[1]))
            self.head_intercept_ = np.zeros(K_R)
            self.head_history_ = []
            return
        device = resolve_device(self.options.device)

        def fit():
            from sklearn_taskrel._head import fit_reference_head  # torch, when fitted

            W, c, net = fit_reference_head(
                Zr_s, yr, K_R, lipschitz_cap=self.head_lipschitz_,
                penalty=self.options.head_penalty, max_iter=self.options.head_max_iter,
                device=device, verbose=max(0, self.options.verbose - 1))
            return W, c, [dict(epoch=h["epoch"], train_loss=h["train_loss"])
                          for h in net.history]

        if head_cache is not None:
            # Same embeddings and head parameters: the deterministic fit is reused.
            key = (array_digest(Zr) + array_digest(yr), self.scaling_,
                   self.options.variance_floor, self.head_lipschitz_, self.options.head_penalty,
                   self.options.head_max_iter, device.type)
            W, c, history = head_cache(key, fit)
        else:
            W, c, history = fit()
        self.head_coef_, self.head_intercept_ = W.copy(), c.copy()
        self.head_history_ = [dict(h) for h in history]

    def _fixed_assignment(self, K_T):
        """Target class index -> reference class index for the fixed label maps."""
        ref_classes = list(self.reference_classes_)
        if self.options.label_map is not None:
            if isinstance(self.options.label_map, dict):
                pairs = [self.options.label_map.get(c, None) for c in self.classes_]
                missing = [c for c, p in zip(self.classes_, pairs) if p is None]
                if missing:
                    raise ValueError("label_map has no entry for target classes "
                                     f"{np.asarray(missing).tolist()!r}.")
            else:
                pairs = list(np.asarray(self.options.label_map).ravel())
                if len(pairs) != K_T:
                    raise ValueError(
                        f"label_map must give one reference class per target class "
                        f"({K_T}); got {len(pairs)} entries.")
            unknown = [p for p in pairs if p not in ref_classes]
            if unknown:
                raise ValueError("label_map names unknown reference classes "
                                 f"{np.asarray(unknown).tolist()!r}.")
            return np.array([ref_classes.index(p) for p in pairs])
        if all(c in ref_classes for c in self.classes_):
            return np.array([ref_classes.index(c) for c in self.classes_])
        if K_T <= len(ref_classes):
            return np.arange(K_T)
        raise ValueError(
            f"transforms={self.options.transforms!r} needs label_map when the target has more "
            f"classes ({K_T}) than the reference ({len(ref_classes)}) and their labels differ."
        )

    def _fit_labelled(self, Zt_s, yt, tau, rng, *, pseudo=False):
        K_T = int(yt.max()) + 1
        counts = np.bincount(yt, minlength=K_T)
        target_prior = counts / counts.sum()
        learn = self.options.transforms == "learned_all" or pseudo
        fmap = "identity" if self.options.transforms == "fixed" else self.options.feature_map
        assignment = None if learn else self._fixed_assignment(K_T)
        fit_idx = _stratified_cap(yt, self.options.max_samples, rng)
        self._fit_on_all = len(fit_idx) == len(yt)
        if self.options.method == "paper":
            from sklearn_taskrel._paper import fit_paper_transformation

            tr = fit_paper_transformation(
                self._Z_ref_by_class, Zt_s[fit_idx].astype(np.float64), yt[fit_idx],
                self.reference_class_losses_, self.reference_prior_, target_prior,
                learn_label_map=learn, learn_feature_map=fmap != "identity",
                assignment=assignment,
                n_steps=2001 if self.options.max_iter is None else self.options.max_iter,
                batch_size=1000 if self.options.ot_batch_size is None else self.options.ot_batch_size,
                rng=rng, device=resolve_device(self.options.device), verbose=self.options.verbose)
        else:
            tr = fit_transformation(
                self._ref_blocks(), self._on_backend(Zt_s[fit_idx], np.float64), yt[fit_idx],
                self.reference_class_losses_, tau, target_prior,
                learn_label_map=learn, assignment=assignment, feature_map=fmap,
                alpha=self.options.alpha, max_iter=30 if self.options.max_iter is None else self.options.max_iter,
                tol=self.options.tol, chunk_size=self._chunk_size(), rng=rng,
                callback=self._iteration_callback(), logit_head=self._logit_head(),
                measure_kept=getattr(self, "_measure_kept", True))
            tr = replace(tr, feature_map=tr.feature_map.convert(to_numpy))
        self.transformation_ = tr
        return tr

    def _backend_device(self):
        """The torch device of the transport computations, or None for numpy."""
        if self.options.transport_backend == "numpy":
            return None
        dev = resolve_device(self.options.device)
        if self.options.transport_backend == "torch" or dev.type == "cuda":
            return dev
        return None

    def _on_backend(self, X, dtype=None):
        dev = self._backend_device()
        if dev is None:
            return X if dtype is None else np.asarray(X, dtype=dtype)
        import torch

        X = np.asarray(X, dtype=dtype) if dtype is not None else np.asarray(X)
        return torch.as_tensor(X, device=dev)

    def _ref_blocks(self):
        return [self._on_backend(Z, np.float64) for Z in self._Z_ref_by_class]

    def _tr_on_backend(self, tr):
        """``tr`` with its feature map moved to the working backend."""
        if self._backend_device() is None:
            return tr
        return replace(tr, feature_map=tr.feature_map.convert(self._on_backend))

    def _transport_view(self, tr):
        """Reference blocks and ``tr`` (on the working backend) whose map sends target
        points into the space of the transport term: head inputs, or head logits."""
        trb = self._tr_on_backend(tr)
        if self.transport_space_ == "features":
            return self._ref_blocks(), trb
        W, c = self._logit_head()
        blocks = [Z @ W.T + c for Z in self._ref_blocks()]
        return blocks, replace(trb, feature_map=LogitMap(trb.feature_map, W, c))

    def _terms_without_labels(self, Zt_s, tr, tau, point_costs=None):
        """Bound terms of a transformation without a label map (``pseudo_labels="none"``):
        one transport problem between the reweighted reference and the whole target."""
        blocks, trb = self._transport_view(tr)
        W, _, _ = transport_with_weights(
            blocks, self._on_backend(Zt_s), np.zeros(len(Zt_s), dtype=int), trb, None,
            chunk_size=self._chunk_size(), rng=np.random.RandomState(0),
            want_weights=False, feature_map=trb.feature_map, point_costs=point_costs)
        return bound_terms(tr.class_prior, None, self.reference_class_losses_, W, tau)

    def _logit_head(self):
        """``(W, c)`` on the working backend with ``transport_space="logits"``, else None."""
        if self.transport_space_ != "logits":
            return None
        return (self._on_backend(self.head_coef_, np.float64),
                self._on_backend(self.head_intercept_, np.float64))

    def _lipschitz(self, Zt_s, tr):
        """Certified or empirical Lipschitz constant of the transport term."""
        if len(self.reference_classes_) < 2:
            return 0.0
        logits = self.transport_space_ == "logits"
        if self.options.lipschitz == "certified":
            return self.certified_constant()
        _, B = (None, None) if tr.joint is None else prior_and_label_map(tr.joint)
        W, c = self.head_coef_, self.head_intercept_
        if logits:  # gradients with respect to the logits themselves
            K_R = len(self.reference_classes_)

            def norms(U):
                return empirical_lipschitz(U @ W.T + c, np.eye(K_R), np.zeros(K_R), B)
        else:
            def norms(U):
                return empirical_lipschitz(U, W, c, B)
        return max(norms(np.vstack(self._Z_ref_by_class)),
                   max(norms(tr.map(np.asarray(Zt_s[s:s + 8192], np.float64)))
                       for s in range(0, len(Zt_s), 8192)))

    def _chunk_size(self):
        return 2000 if self.options.ot_batch_size is None else self.options.ot_batch_size

    def _iteration_callback(self):
        if self.options.verbose < 2:
            return None

        def report(it, objective):
            print(f"[TaskRelatednessScorer] iteration {it}: objective {objective:.6f}")

        return report

    def _fit_label_free(self, Zt_s, tau, rng):
        K_R = len(self.reference_classes_)
        if self.options.pseudo_labels == "none":
            self.classes_ = self.reference_classes_.copy()
            tr = fit_transformation(
                self._ref_blocks(), self._on_backend(Zt_s, np.float64),
                np.zeros(len(Zt_s), dtype=int),
                self.reference_class_losses_, tau, None, label_free=True,
                ref_prior=self.reference_prior_,
                feature_map="identity" if self.options.transforms == "fixed" else self.options.feature_map,
                alpha=self.options.alpha, max_iter=30 if self.options.max_iter is None else self.options.max_iter,
                tol=self.options.tol, chunk_size=self._chunk_size(), rng=rng,
                logit_head=self._logit_head(),
                measure_kept=getattr(self, "_measure_kept", True))
            tr = replace(tr, feature_map=tr.feature_map.convert(to_numpy))
            self.transformation_ = tr
            self.pseudo_labels_ = None
            return None
        if self.options.pseudo_labels == "cluster":
            k = self.options.n_clusters or K_R
            k = min(k, len(Zt_s))
            self.kmeans_ = KMeans(n_clusters=k, n_init=3, random_state=rng).fit(Zt_s)
            labels = self.kmeans_.labels_
            classes, yt = np.unique(labels, return_inverse=True)
            self.classes_ = classes
            self._fit_labelled(Zt_s, yt, tau, rng, pseudo=True)
            self.pseudo_labels_ = classes[yt]
            return yt
        # "reference": predictions of the (transformed) reference classifier.
        U = Zt_s
        pred = np.argmax(U @ self.head_coef_.T + self.head_intercept_, axis=1)
        for _ in range(self.options.n_pseudo_rounds):
            classes, yt = np.unique(pred, return_inverse=True)
            self.classes_ = self.reference_classes_[classes]
            tr = self._fit_labelled(Zt_s, yt, tau, rng, pseudo=True)
            proba = self._transformed_proba(Zt_s, tr)
            new = classes[np.argmax(proba, axis=1)]
            if np.array_equal(new, pred):
                break
            pred = new
        classes, yt = np.unique(pred, return_inverse=True)
        if not np.array_equal(self.reference_classes_[classes], self.classes_):
            self.classes_ = self.reference_classes_[classes]
            self._fit_labelled(Zt_s, yt, tau, rng, pseudo=True)
        self.pseudo_labels_ = self.classes_[yt]
        return yt

    def _transformed_proba(self, Zt_s, tr, chunk=8192):
        """``B softmax(W (M x + m) + c)`` for standardised target embeddings (``B``
        the label map of ``tr``'s joint, which is ``label_map_`` for the fitted state)."""
        label_map = None if tr.joint is None else prior_and_label_map(tr.joint)[1]
        out = []
        mapped = getattr(tr, "mapped_target", None)
        if mapped is not None and (not getattr(self, "_fit_on_all", False) or len(mapped) != len(Zt_s)):
            mapped = None  # fitted on a subsample: map the whole sample
        if mapped is None:
            A, b = tr.feature_map.convert(to_numpy).compose(self.head_coef_,
                                                            self.head_intercept_)
        for start in range(0, len(Zt_s), chunk):
            if mapped is None:
                S = np.asarray(Zt_s[start:start + chunk], dtype=np.float64) @ A.T + b
            else:
                S = to_numpy(mapped[start:start + chunk]) @ self.head_coef_.T
                S = S + self.head_intercept_
            q = softmax(S)
            out.append(q if tr.joint is None else q @ label_map.T)
        return np.vstack(out) if out else np.zeros((0, len(self.classes_)))

    def _finalise(self, Zt_s, yt, rng, in_sample=True):
        """Fitted state of the whole-sample fit, and its bound terms and target loss on
        the fitting sample when ``in_sample`` (cross-fitting measures them instead)."""
        tr = self.transformation_
        L = self.reference_class_losses_
        K_R = len(self.reference_classes_)
        if yt is None:
            target_prior = None
            y_eval = np.zeros(len(Zt_s), dtype=int)
        else:
            y_eval = yt
            target_prior = np.bincount(yt, minlength=len(self.classes_)) / len(yt)
        target_loss = None
        tau = self.lipschitz_ = self._lipschitz(Zt_s, tr)
        logits = self.transport_space_ == "logits"
        if tr.joint is None:
            terms = self._terms_without_labels(Zt_s, tr, tau) if in_sample else None
            D, B = tr.class_prior, np.eye(K_R)
        elif (getattr(tr, "terms", None) is not None and self._fit_on_all
              and tr.terms["lipschitz"] == tau):
            # The fit already evaluated the bound on this very sample.
            terms = dict(tr.terms)
            D, B = prior_and_label_map(tr.joint)
        elif not in_sample:
            # Cross-fitting replaces the terms: only the label map on this prior is kept.
            tr = reproject_transformation(tr, target_prior, K_R)
            terms = None
            D, B = prior_and_label_map(tr.joint)
        else:
            # The target loss is computed in the same pass over the mapped blocks.
            nll = np.zeros(len(Zt_s))
            _, B_eval = prior_and_label_map(
                joint_from_assignment(tr.assignment, target_prior, K_R)
                if tr.assignment is not None else tr.joint)

            def block_loss(idx, U):
                S = to_numpy(U)  # mapped inputs, or already the logits
                q = softmax(S if logits else S @ self.head_coef_.T + self.head_intercept_)
                p = q @ B_eval.T
                nll[idx] = -np.log(np.maximum(p[np.arange(len(idx)), y_eval[idx]], 1e-300))

            blocks, trv = self._transport_view(tr)
            terms, trb = evaluate_transformation(
                blocks, self._on_backend(Zt_s), y_eval, trv,
                L, tau, target_prior, chunk_size=self._chunk_size(),
                rng=np.random.RandomState(0), on_block=block_loss if yt is not None else None)
            tr = replace(trb, feature_map=tr.feature_map)
            D, B = prior_and_label_map(tr.joint)
            if yt is not None:
                target_loss = float(nll.mean())
        self.transformation_ = tr
        self.head_scale_ = 1.0
        self.class_prior_ = D
        self.label_map_ = B
        # Chance level: the cross-entropy of predicting the (pseudo-)label prior.
        self.chance_level_ = _entropy(D if target_prior is None else target_prior)
        self.n_iter_ = tr.n_iter
        self.history_ = tr.history
        if in_sample:
            self._set_in_sample_terms(Zt_s, yt, tr, terms, target_loss)
        # The mapped target sample is not kept in the fitted state.
        self.transformation_ = replace(self.transformation_, mapped_target=None)
        self._target_map_cache = self._feature_map_cache = None

    def _set_in_sample_terms(self, Zt_s, yt, tr, terms, target_loss):
        """``task_relatedness_``, ``bound_terms_`` and ``target_loss_`` on the fitting
        sample (the head rescaled first when ``rescale_head``)."""
        if self._rescales_head() and np.isfinite(terms["wasserstein"]):
            terms = self._rescale_head(terms, self.class_prior_)
            target_loss = None  # recomputed below with the rescaled head
        bad = {k: float(v) for k, v in terms.items() if not np.isfinite(v)}
        if bad:  # never a silent NaN
            raise ValueError(
                f"task-relatedness is not finite: the terms {bad} are not finite. Check "
                "the reference and target embeddings for extreme values.")
        self.task_relatedness_ = terms.pop("task_relatedness")
        self.bound_terms_ = terms
        self.beats_chance_ = bool(self.task_relatedness_ < self.chance_level_)
        if target_loss is None:
            if yt is None:  # no labels nor pseudo-labels (pseudo_labels="none")
                target_loss = float("nan")
            else:
                proba = self._transformed_proba(Zt_s, tr)
                target_loss = float(-np.mean(np.log(np.maximum(
                    proba[np.arange(len(yt)), yt], 1e-300))))
        self.target_loss_ = target_loss

    def _n_folds(self):
        """Cross-fitting folds (0: the terms are measured on the fitting sample)."""
        return int(self.options.cross_fit)

    def _feature_family(self):
        """The feature-map family fitted: ``feature_map``, or the identity when fixed."""
        return "identity" if self.options.transforms == "fixed" else self.options.feature_map

    def _fit_folds(self, Zt_s, y_given, codes, tau, rng, n_folds):
        """Out-of-sample TR: the transformations are fitted on ``n_folds - 1`` folds of
        the target and the bound is evaluated on the held-out fold; the terms are the
        size-weighted means over folds (:meth:`_set_cross_fitted_terms`).

        The bound is a statement about expected losses; measured on the very sample
        that fitted the feature map it is optimistic, the more so the wider the
        embedding (an affine map of ``d`` features can fit ``n < d`` target points into
        any reference class). Held-out terms remove that bias. The fitted state
        (transformations, ``predict_proba``, ``score``) stays the fit on the whole
        sample, or with labels and a feature map with a linear part the mean of the
        folds' fits (:meth:`_bagged_transformation`); ``task_relatedness_``,
        ``bound_terms_`` and ``target_loss_`` are the held-out ones, and the head's scale
        is chosen on the held-out terms.

        Returns the folds (dicts: terms, transformation, scaler, measured points) and
        the ``(train, test)`` splits.
        """
        splits = _order_free_folds(Zt_s, codes, n_folds)
        saved = dict(self.__dict__)
        self._measure_kept = False  # the held-out fold measures the bound
        W = self.head_coef_
        folds = []
        try:
            for train, test in splits:
                # Each fold starts from the estimator's seed, as a fit of its own would.
                fold_rng = (np.random.RandomState(self.random_state)
                            if isinstance(self.random_state, Integral)
                            else np.random.RandomState(rng.randint(np.iinfo(np.int32).max)))
                # ... and scales the target with the training part alone.
                raw = self.target_scaler_.inverse_transform(Zt_s[train])
                scaler = self._make_scaler().fit(raw)
                Z_train = scaler.transform(raw).astype(Zt_s.dtype, copy=False)
                # The held-out terms estimate expectations: a large fold is measured
                # on a stratified subsample of at most max_samples points.
                measured = test[_stratified_cap(codes[test] if codes is not None
                                                else np.zeros(len(test), int),
                                                self.options.max_samples, np.random.RandomState(0))]
                Z_test = scaler.transform(
                    self.target_scaler_.inverse_transform(Zt_s[measured])).astype(
                        Zt_s.dtype, copy=False)
                del raw
                if y_given is None:
                    self._fit_label_free(Z_train, tau, fold_rng)
                    tr = self.transformation_
                else:
                    tr = self._fit_labelled(Z_train, y_given[train], tau, fold_rng)
                tr = replace(tr, mapped_target=None)
                costs = np.zeros(len(measured))
                terms = self._terms_on(Z_test, None if y_given is None else y_given[measured],
                                       tr, self._lipschitz(Z_test, tr), point_costs=costs)
                joint, fold_codes = terms.pop("_joint", None), terms.pop("_codes", None)
                prior, B = ((tr.class_prior, None) if joint is None
                            else prior_and_label_map(joint))
                A, b = tr.feature_map.compose(W, np.zeros(len(W)))
                logits = np.vstack([np.asarray(Z_test[i:i + 8192], np.float64) @ A.T + b
                                    for i in range(0, len(Z_test), 8192)])
                folds.append(dict(terms=terms, weight=len(test) / len(Zt_s), prior=prior,
                                  label_map=B, codes=fold_codes, logits=logits,
                                  n_measured=len(measured), measured=measured,
                                  joint=joint, point_costs=costs, transformation=tr,
                                  scaler=scaler))
        finally:
            self.__dict__.clear()
            self.__dict__.update(saved)
        return folds, splits

    def _bagged_transformation(self, folds, codes):
        """The mean of the folds' transformations, on the whole sample's scaling.

        Each fold's map acts on its own standardisation ``x_k = S_k x + t_k`` of the
        whole-sample standardised ``x``; the mean map is :func:`average_maps`. The label
        maps are re-projected onto the whole sample's class prior. When the folds'
        assignments agree, the maps are averaged under that assignment; when they
        differ, the fold with the lower held-out TR is kept whole (its map on its own
        standardisation): the mean of two assignments is a soft label map whose
        conditional entropy (0.3 to 0.5 nats on the anchor, where half-samples of an
        ambiguous task choose different assignments) would be charged to every bound
        measured with the fitted state. Any transformation gives a valid bound, so
        this one is as legitimate as a third fit on the whole sample, and costs
        nothing.
        """
        K_R = len(self.reference_classes_)
        prior = np.bincount(codes) / len(codes)
        trs = [reproject_transformation(f["transformation"], prior, K_R) for f in folds]
        d = len(to_numpy(trs[0].feature_map.shift))
        scales, offsets = [], []
        for f in folds:  # each fold's standardisation at x = 0 and x = 1
            ends = f["scaler"].transform(self.target_scaler_.inverse_transform(
                np.vstack([np.zeros(d), np.ones(d)])))
            offsets.append(ends[0])
            scales.append(ends[1] - ends[0])
        hard = all(tr.assignment is not None for tr in trs)
        keep = list(range(len(trs)))
        if hard and any(not np.array_equal(tr.assignment, trs[0].assignment) for tr in trs):
            keep = [int(np.argmin([f["terms"]["task_relatedness"] for f in folds]))]
        fmap = average_maps([trs[k].feature_map for k in keep], [scales[k] for k in keep],
                            [offsets[k] for k in keep])
        if hard:
            assignment, joint = trs[keep[0]].assignment, trs[keep[0]].joint
        else:  # soft label maps: their mean
            assignment, joint = None, sum(tr.joint for tr in trs) / len(trs)
        history = [dict(h, fold=k) for k, tr in enumerate(trs) for h in tr.history]
        D, _ = prior_and_label_map(joint)
        return Transformation(assignment, joint, D, fmap, history=history,
                              n_iter=max(tr.n_iter for tr in trs))

    def _set_cross_fitted_terms(self, folds, splits, y_given):
        """``task_relatedness_``, ``bound_terms_``, ``fold_terms_``, ``target_loss_``
        and ``point_terms_`` from the held-out terms of the folds."""
        c = self.head_intercept_
        weights = np.array([f["weight"] for f in folds])
        keys = folds[0]["terms"].keys()
        terms = {k: float(sum(w * f["terms"][k] for w, f in zip(weights, folds)))
                 for k in keys}
        prior = sum(w * np.asarray(f["prior"]) for w, f in zip(weights, folds))
        if self._rescales_head() and np.isfinite(terms["wasserstein"]):
            terms = self._rescale_head(terms, prior)
        scale = self.head_scale_
        self.fold_terms_ = [dict(self._terms_at_scale(f["terms"], f["prior"]) if scale != 1.0
                                 else f["terms"], n_samples=len(test),
                                 n_measured=f["n_measured"])
                            for f, (_, test) in zip(folds, splits)]
        self.cv_folds_ = [np.sort(test) for _, test in splits]
        # Held-out cross-entropy of each fold's transformed classifier (rescaled head).
        losses = []
        for f in folds:
            if f["label_map"] is None:
                losses = None
                break
            p = softmax(scale * f["logits"] + c) @ f["label_map"].T
            idx = f["codes"] if y_given is not None else np.argmax(p, axis=1)
            losses.append(-np.mean(np.log(np.maximum(p[np.arange(len(p)), idx], 1e-300))))
        self.target_loss_ = (float("nan") if losses is None
                             else float(np.dot(weights, losses)))
        self.task_relatedness_ = terms.pop("task_relatedness")
        self.bound_terms_ = terms
        self.beats_chance_ = bool(self.task_relatedness_ < self.chance_level_)
        self.point_terms_ = self._point_terms(folds, scale)

    def _point_terms(self, folds, scale):
        """Per held-out point ``j``: ``value_j = sum_r P(r | t_j) L_r + tau s c_j`` (its
        class's reference loss under the label map, plus its transport cost ``c_j``),
        ``weight_j`` (its fold's share over the points measured in it), and the
        constant conditional entropy, so that TR ``= weight @ value + offset``."""
        L = self.reference_class_losses_
        index, weight, value, offset = [], [], [], 0.0
        for f in folds:
            t = f["terms"]
            if f["joint"] is None:
                ref_loss = np.full(f["n_measured"], float(np.asarray(f["prior"]) @ L))
            else:
                cond = f["joint"] / np.maximum(f["joint"].sum(axis=0, keepdims=True),
                                               np.finfo(float).tiny)
                ref_loss = (cond.T @ L)[f["codes"]]
            index.append(f["measured"])
            weight.append(np.full(f["n_measured"], f["weight"] / f["n_measured"]))
            value.append(ref_loss + t["lipschitz"] * scale * f["point_costs"])
            offset += f["weight"] * t["conditional_entropy"]
        return {"index": np.concatenate(index), "weight": np.concatenate(weight),
                "value": np.concatenate(value), "offset": float(offset)}

    def _rescales_head(self):
        """Whether the head's scale is chosen by the bound (certified logit bound only)."""
        return bool(self.options.rescale_head and self.transport_space_ == "logits"
                    and self.options.lipschitz == "certified" and len(self.reference_classes_) > 1)

    def _rescale_head(self, terms, class_prior):
        """Minimise the bound over the head's scale ``s`` (``W -> s W``), all
        transformations fixed, and keep the minimiser.

        Every ``s >= 0`` gives a classifier ``h_s(z) = softmax(s W z + c)`` whose bound
        holds: the certified constant ``sqrt(2)`` does not depend on ``s``, and the
        logit transport scales exactly, ``W1_s = s W1_1`` (the cost is scaled by ``s``,
        so the same coupling stays optimal). The bound

        .. math:: f(s) = \\sum_r D_r L_r(s) + H(Y_T|Y_R) + \\sqrt{2}\\, s\\, W_1

        is convex in ``s`` (each ``L_r`` is a mean of log-sum-exps of logits affine in
        ``s``), so its minimum is found by a bounded scalar search; ``f(0)`` is the
        loss of the intercept alone (about the chance level), so TR never exceeds it.
        """
        from scipy.optimize import minimize_scalar

        Z, y = self._reference_loss_sample
        K_R = len(self.reference_classes_)
        W, c = self.head_coef_, self.head_intercept_
        S = Z @ W.T  # logits without the intercept
        D = np.asarray(class_prior, dtype=np.float64)
        slope = float(terms["lipschitz"] * terms["wasserstein"])

        def losses(scale):
            return per_class_losses_from_logits(scale * S + c, y, K_R)

        def bound(scale):  # up to the conditional entropy, which s does not change
            return float(D @ losses(scale)) + scale * slope

        f1 = bound(1.0)
        hi = max(2.0, min(1e4, f1 / slope if slope > 0 else 1e4))
        res = minimize_scalar(bound, bounds=(0.0, hi), method="bounded")  # xatol 1e-5
        best = min(((res.x, res.fun), (1.0, f1), (0.0, bound(0.0))), key=lambda t: t[1])
        scale = float(best[0])
        self.head_scale_ = scale
        self.head_coef_ = W * scale
        self.reference_class_losses_ = losses(scale)
        return self._terms_at_scale(terms, D)

    def _terms_at_scale(self, terms, class_prior):
        """``terms`` (measured with the unscaled head) for the head scaled by
        ``head_scale_`` (whose per-class losses are ``reference_class_losses_``)."""
        out = dict(terms)
        out["reweighted_reference_loss"] = float(
            np.asarray(class_prior, dtype=np.float64) @ self.reference_class_losses_)
        out["wasserstein"] = float(terms["wasserstein"] * self.head_scale_)
        out["transport"] = float(terms["lipschitz"] * out["wasserstein"])
        out["task_relatedness"] = (out["reweighted_reference_loss"]
                                   + out["conditional_entropy"] + out["transport"])
        return out

    @property
    def target_map_(self):
        """``(M, m)``: the map ``x -> M x + m`` from standardised target embeddings
        into the head's input space (computed on first access)."""
        if getattr(self, "_target_map_cache", None) is None:
            fmap = self.transformation_.feature_map
            self._target_map_cache = (fmap.M, fmap.m)
        return self._target_map_cache

    @property
    def feature_map_(self):
        """``(A, b)``: the reference-side feature map ``z -> A z + b`` of the paper,
        the inverse of :attr:`target_map_` (computed on first access)."""
        if getattr(self, "_feature_map_cache", None) is None:
            self._feature_map_cache = invert_map(*self.target_map_)
        return self._feature_map_cache

    def bound(self, Z, y=None):
        """Terms of the bound on new target embeddings under the fitted transformations.

        Parameters
        ----------
        Z : ndarray of shape (n, d)
            Target embeddings (unscaled, as given to :meth:`fit`).
        y : array-like of shape (n,) or None
            Target labels; required when fitted with labels.

        Returns
        -------
        terms : dict
            ``task_relatedness`` and the keys of ``bound_terms_``.
        """
        Zt_s = self.target_scaler_.transform(Z)
        codes = None
        if y is not None and self.transformation_.joint is not None:
            _, codes = encode_like(y, self.classes_, "y", n_samples=len(Zt_s))
        terms = self._terms_on(Zt_s, codes, self.transformation_, self.lipschitz_)
        return {k: v for k, v in terms.items() if not k.startswith("_")}

    def _terms_on(self, Zt_s, codes, tr, tau, point_costs=None):
        """Bound terms of the transformation ``tr`` on scaled target points, with
        target class codes, or ``None`` for the (pseudo-)labels of the fitted mode."""
        L = self.reference_class_losses_
        if tr.joint is None:
            return self._terms_without_labels(Zt_s, tr, tau, point_costs)
        if codes is None:
            if self.pseudo_labels_ is None:
                raise ValueError(
                    "y is required: this estimator was fitted with target labels; got y=None.")
            if self.options.pseudo_labels == "cluster":
                codes = self.kmeans_.predict(Zt_s)
                codes = np.searchsorted(self.classes_, codes)
            else:
                codes = np.argmax(self._transformed_proba(Zt_s, tr), axis=1)
        prior = np.bincount(codes, minlength=len(self.classes_)) / len(codes)
        blocks, trv = self._transport_view(tr)
        terms, trb = evaluate_transformation(
            blocks, self._on_backend(Zt_s), codes, trv, L, tau, prior,
            chunk_size=self._chunk_size(), rng=np.random.RandomState(0),
            point_costs=point_costs)
        terms["_joint"] = trb.joint
        terms["_codes"] = codes
        return terms

    def predict_proba(self, Z):
        """Class probabilities of the transformed reference classifier on target
        embeddings ``Z`` (unscaled)."""
        Zt_s = self.target_scaler_.transform(Z)
        return self._transformed_proba(Zt_s, self.transformation_)

    def certified_constant(self):
        """The certified constant of the transport term (0 for a one-class head)."""
        if len(self.reference_classes_) < 2:
            return 0.0
        if self.transport_space_ == "logits":
            return LOGIT_LIPSCHITZ
        return certified_lipschitz(self.head_coef_)


def _order_free_folds(Z, codes, n_folds):
    """``(train, test)`` index pairs of ``n_folds`` stratified folds that do not depend
    on the order of the samples: within each class the samples are sorted by a fixed
    random projection of their embeddings and dealt to the folds in turn."""
    v = np.random.RandomState(0).normal(size=Z.shape[1])
    key = np.concatenate([np.asarray(Z[i:i + 8192], dtype=np.float64) @ v
                          for i in range(0, len(Z), 8192)]) if len(Z) else np.zeros(0)
    groups = np.zeros(len(Z), dtype=int) if codes is None else np.asarray(codes)
    fold = np.empty(len(Z), dtype=int)
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        ordered = idx[np.argsort(key[idx], kind="stable")]
        fold[ordered] = np.arange(len(ordered)) % n_folds
    return [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(n_folds)]


def _between_class_spread(Z, y, n_classes):
    """Unbiased RMS distance of the class means to the overall mean (ANOVA).

    ``sqrt((SS_B - (K - 1) MS_W) / n)`` with ``SS_B = sum_k n_k ||mean_k - mean||^2``
    and ``MS_W = SS_W / (n - K)`` (traces): the sampling noise of the class means,
    which grows with the width, is removed, so appending pure-noise features leaves
    it unchanged in expectation. Floored at the noise level itself.
    """
    n = len(y)
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    sums = np.zeros((n_classes, Z.shape[1]))
    for k in range(n_classes):  # row by row, in float64: np.add.at's sums, 10x faster
        np.add.reduce(Z[y == k], axis=0, dtype=np.float64, out=sums[k])
    means = sums / np.maximum(counts, 1)[:, None]
    grand = Z.mean(axis=0)
    ss_between = float(np.sum(counts * np.sum((means - grand) ** 2, axis=1)))
    ss_total = float(np.sum((Z - grand) ** 2))
    k = int(np.sum(counts > 0))
    ms_within = (ss_total - ss_between) / max(n - k, 1)
    noise = (k - 1) * ms_within
    return float(np.sqrt(max(ss_between - noise, noise, np.finfo(float).tiny) / n))


def _entropy(p):
    """Shannon entropy ``-sum p log p`` in nats (0 log 0 = 0)."""
    p = np.asarray(p, dtype=np.float64)
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


def _stratified_cap(y, cap, rng):
    """Indices of a stratified subsample of at most ``cap`` points (all if fewer)."""
    n = len(y)
    if n <= cap:
        return np.arange(n)
    keep = []
    classes, counts = np.unique(y, return_counts=True)
    quota = np.maximum(1, np.floor(counts * cap / n)).astype(int)
    for c, q in zip(classes, quota):
        idx = np.flatnonzero(y == c)
        keep.append(rng.choice(idx, size=min(q, len(idx)), replace=False))
    return np.sort(np.concatenate(keep))
