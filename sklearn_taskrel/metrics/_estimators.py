"""Every transferability score as an estimator shaped like TaskRelatednessScorer.

Each estimator embeds ``X`` with its ``encoder`` (``None``: ``X`` already holds
embeddings), computes its score in :meth:`fit` (fitted attribute ``score_``) and
recomputes it on new data in :meth:`score`. Greater is always better, so
:class:`~sklearn.model_selection.GridSearchCV` over ``encoder`` ranks a zoo with
any of them.

LogME, LEEP, NCE, GBC, TransRate, the H-score and the regularised H-score also
keep, from :meth:`fit`, each sample's influence on the score (``point_terms_``),
so that the bootstrap of :func:`~sklearn_taskrel.model_selection.rank_encoders`
re-weights them instead of refitting (the infinitesimal jackknife); the others
(N-LEEP, SFDA, OT-NCE, ETran, k-NN accuracy, the linear probe) have no such terms
and are recomputed there on half-samples.
"""

import inspect
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from sklearn_taskrel._bootstrap import influence_point_terms
from sklearn_taskrel._reference import ReferenceTask, as_reference_task
from sklearn_taskrel.encoders._extract import extract_embeddings
from sklearn_taskrel.encoders._specs import build_encoder
from sklearn_taskrel.metrics._common import softmax
from sklearn_taskrel.metrics._etran import etran_score
from sklearn_taskrel.metrics._gbc import GAUSSIANS, _gbc, gbc_score
from sklearn_taskrel.metrics._hscore import (
    _h_score,
    _regularized_h_score,
    h_score,
    regularized_h_score,
)
from sklearn_taskrel.metrics._leep import (
    _leep_influence,
    _nce_influence,
    leep_score,
    nce_score,
    nleep_score,
)
from sklearn_taskrel.metrics._logme import _logme
from sklearn_taskrel.metrics._otce import ot_label_coupling_terms
from sklearn_taskrel.metrics._probe import _linear_probe, knn_accuracy_score
from sklearn_taskrel.metrics._sfda import sfda_score
from sklearn_taskrel.metrics._transrate import _transrate, transrate_score
from sklearn_taskrel.utils._compat import Interval, StrOptions, _fit_context
from sklearn_taskrel.utils._device import resolve_device
from sklearn_taskrel.utils._validation import check_embeddings

_ENCODER_PARAMS = """encoder : None, nn.Module, skorch NeuralNet, callable or factory, default=None
        Maps a batch of inputs to embeddings (see :mod:`sklearn_taskrel.encoders`).
        ``None``: ``X`` already holds the embeddings. In zoo grids pass
        zero-argument factories, which cloning does not copy."""

_RUN_PARAMS = """device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
        Where the encoder runs. Scores are computed on the CPU in float64.
    batch_size : int, default=256
        Encoder batch size.
    verbose : int, default=0
        0 prints nothing; 1 shows a progress bar while embedding."""

_ATTRIBUTES = """score_ : float
        The score on the data passed to :meth:`fit` (greater is better).
    encoder_ : object or None
        The encoder built from ``encoder`` (factories are called).
    n_features_in_ : int
        Number of features of ``X``; only when ``encoder=None``."""

_POINT_TERMS = """point_terms_ : dict
        The score linearised in the sample weights (the infinitesimal jackknife,
        Jaeckel 1972, Efron 1982), for the bootstrap of
        :func:`~sklearn_taskrel.model_selection.rank_encoders`: ``value[i]`` is
        ``score_ + n (g_i - mean(g))`` with ``g_i`` the derivative of the score in
        sample ``i``'s weight at unit weights, ``weight`` ``1/n``, ``index``
        ``0..n-1``, ``offset`` 0 and ``sign`` +1 (the values are the score; TR's
        terms, without ``sign``, are its loss). A resample with counts ``m`` scores
        ``score_ + sum_i (m_i - 1) g_i``; see
        :func:`sklearn_taskrel._bootstrap.influence_point_terms`."""


_HEAD_PARAMS = """source_head : None, nn.Module, callable or factory, default=None
        Maps a batch of embeddings (the encoder's output) to source-class
        logits or probabilities, e.g. the pre-trained classifier's last layer, or
        a fitted classifier's ``predict_proba``. ``None``: the encoder's output
        (or ``X`` when ``encoder=None``) already is the source model's output,
        e.g. when ``encoder`` is the whole pre-trained classifier.
    source_output : {"auto", "logits", "proba"}, default="auto"
        How to read the source head's output: ``"logits"`` are passed through a
        softmax; ``"auto"`` treats rows that are non-negative and sum to 1
        (within ``1e-4``) as probabilities and anything else as logits."""


#: The example shared by the scores of labelled embeddings alone: three Gaussian
#: classes in five dimensions, and the score it gives (a doctest).
_EXAMPLE = """>>> import numpy as np
    >>> from sklearn_taskrel.metrics import {name}
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1, 2], 20)
    >>> X = rng.normal(size=(60, 5)) + 2 * np.eye(5)[y]
    >>> round({name}().fit(X, y).score_, 4)
    {value}"""


def _fill_doc(cls):
    example = _EXAMPLE.format(name=cls.__name__, value=getattr(cls, "_example_score", ""))
    cls.__doc__ = (cls.__doc__.replace("%(encoder_params)s", _ENCODER_PARAMS)
                   .replace("%(run_params)s", _RUN_PARAMS)
                   .replace("%(attributes)s", _ATTRIBUTES)
                   .replace("%(head_params)s", _HEAD_PARAMS)
                   .replace("%(point_terms)s", _POINT_TERMS)
                   .replace("%(example)s", example))
    return cls


#: Parameters every scorer ends with: ``name -> (default, constraint)``.
_RUN_PARAMETERS = {
    "device": ("auto", "no_validation"),
    "batch_size": (256, [Interval(Integral, 1, None, closed="left")]),
    "verbose": (0, ["verbose"]),
}


def _make_init(leading, keyword):
    """An ``__init__`` that only stores its arguments, with the explicit signature
    ``(self, *leading, *, *keyword)`` that ``get_params`` reads (as a dataclass's)."""
    P = inspect.Parameter
    signature = inspect.Signature(
        [P("self", P.POSITIONAL_OR_KEYWORD)]
        + [P(name, P.POSITIONAL_OR_KEYWORD, default=d) for name, d in leading.items()]
        + [P(name, P.KEYWORD_ONLY, default=d) for name, d in keyword.items()])

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    __init__.__signature__ = signature
    return __init__


class _TransferabilityScorer(TransformerMixin, BaseEstimator):
    """Shared plumbing: encoder, embedding, ``fit``/``score``/``transform``.

    A subclass names its score and its parameters, and nothing else:

    - ``_parameters``: ``name -> (default, constraint)`` of its own keyword
      parameters (a base's come first, the run parameters ``device``, ``batch_size``
      and ``verbose`` last); ``_leading`` the positional ones (``encoder``).
    - ``_score_function``: called as ``f(Z, y, **parameters)`` on float64
      embeddings (``random_state`` passed as the resolved generator), or an override
      of ``_compute(Z, y, rng)``.

    ``__init__`` (storing each parameter, with the explicit signature that
    ``get_params`` reads) and ``_parameter_constraints`` are generated from them.
    """

    _leading = {"encoder": (None, "no_validation")}
    _parameters = {}
    _score_function = None
    #: False for label-free scores.
    _requires_y = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own = {}
        for klass in reversed(cls.__mro__):
            own.update(vars(klass).get("_parameters", {}))
        cls._own_parameters = tuple(own)
        keyword = {**own, **_RUN_PARAMETERS}
        cls._parameter_constraints = {name: c for name, (_, c)
                                      in {**cls._leading, **keyword}.items()}
        cls.__init__ = _make_init({k: d for k, (d, _) in cls._leading.items()},
                                  {k: d for k, (d, _) in keyword.items()})
        cls.__init__.__qualname__ = f"{cls.__name__}.__init__"

    def _score_kwargs(self, rng):
        """The score function's keyword arguments: the scorer's own parameters."""
        kwargs = {name: getattr(self, name) for name in self._own_parameters}
        if "random_state" in kwargs:
            kwargs["random_state"] = rng
        return kwargs

    def _compute(self, Z, y, rng):
        return type(self)._score_function(Z, y, **self._score_kwargs(rng))

    def _embed(self, X, *, reset):
        if self.encoder_ is None:
            return validate_data(self, X, dtype=np.float64, reset=reset)
        Z = extract_embeddings(self.encoder_, X, batch_size=self.batch_size,
                               device=self.device, verbose=self.verbose)
        return Z.astype(np.float64)

    def _check_y(self, y):
        if self._requires_y and y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None.")

    def _prepare(self, rng):
        """Hook run in ``fit`` after the encoder is built (reference tasks, heads)."""

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Embed ``X`` and compute the score against ``y``.

        Parameters
        ----------
        X : array-like, tensor or list
            Target inputs (embeddings when ``encoder=None``).
        y : array-like of shape (n_samples,)
            Target labels (ignored by label-free scores).

        Returns
        -------
        self : object
            The fitted estimator, with ``score_``.
        """
        self._check_y(y)
        rng = check_random_state(getattr(self, "random_state", None))
        if self.encoder is not None:
            resolve_device(self.device)  # fail early on a CUDA request without CUDA
        self.encoder_ = build_encoder(self.encoder)
        Z = self._embed(X, reset=True)
        self._prepare(rng)
        self.score_ = float(self._fit_compute(Z, y, rng))
        return self

    def _fit_compute(self, Z, y, rng):
        """The score in ``fit``; subclasses that store more fitted state override it."""
        return self._compute(Z, y, rng)

    def _with_point_terms(self, score, influence):
        """``score``, keeping its influence terms as ``point_terms_``."""
        self.point_terms_ = influence_point_terms(score, influence)
        return score

    def score(self, X, y=None):
        """The score of ``(X, y)`` under the fitted encoder (greater is better).

        Parameters
        ----------
        X : array-like, tensor or list
            Inputs (embeddings when ``encoder=None``).
        y : array-like of shape (n_samples,)
            Labels (ignored by label-free scores).

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        self._check_y(y)
        rng = check_random_state(getattr(self, "random_state", None))
        return float(self._compute(self._embed(X, reset=False), y, rng))

    def transform(self, X):
        """Embeddings of ``X`` by the fitted encoder, as float32.

        Parameters
        ----------
        X : array-like, tensor or list
            Inputs (embeddings when ``encoder=None``).

        Returns
        -------
        Z : ndarray of shape (n_samples, n_features), dtype float32
        """
        check_is_fitted(self)
        return self._embed(X, reset=False).astype(np.float32)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = self._requires_y
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.non_deterministic = False
        return tags


@_fill_doc
class LogMEScorer(_TransferabilityScorer):
    """LogME of an encoder's embeddings for a target task, as an estimator.

    See :func:`~sklearn_taskrel.metrics.logme_score` for the definition.

    Parameters
    ----------
    %(encoder_params)s
    regression : bool or "auto", default="auto"
        Whether ``y`` holds regression targets; ``"auto"``: when ``y`` is 2-D or
        continuous.
    max_iter : int, default=100
        Fixed-point iterations per target column.
    tol : float, default=1e-5
        Relative tolerance on ``alpha / beta``.
    %(run_params)s

    Attributes
    ----------
    %(attributes)s
    n_iter_ : int
        Fixed-point iterations of the slowest target column.
    %(point_terms)s
        For LogME the evidence is stationary in its hyper-parameters and posterior
        mean at the fixed point, so only its explicit weights count.

    See Also
    --------
    sklearn_taskrel.metrics.logme_score : the function.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.metrics import LogMEScorer, logme_score
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1, 2], 20)
    >>> X = rng.normal(size=(60, 5)) + 2 * np.eye(5)[y]
    >>> est = LogMEScorer().fit(X, y)
    >>> est.score_ == logme_score(X, y) == est.score(X, y)
    True
    """

    _parameters = {
        "regression": ("auto", ["boolean", StrOptions({"auto"})]),
        "max_iter": (100, [Interval(Integral, 1, None, closed="left")]),
        "tol": (1e-5, [Interval(Real, 0, None, closed="neither")]),
    }

    def _compute(self, Z, y, rng):
        return _logme(Z, y, **self._score_kwargs(rng))[0]

    def _fit_compute(self, Z, y, rng):
        score, self.n_iter_, influence = _logme(Z, y, influence=True,
                                                **self._score_kwargs(rng))
        return self._with_point_terms(score, influence)


class _SourceHeadScorer(_TransferabilityScorer):
    """Scores that need the source model's class predictions (LEEP, NCE)."""

    _parameters = {
        "source_head": (None, "no_validation"),
        "source_output": ("auto", [StrOptions({"auto", "logits", "proba"})]),
    }

    def _prepare(self, rng):
        self.source_head_ = build_encoder(self.source_head)

    def source_proba(self, X):
        """Source-class probabilities of ``X`` (the input of LEEP and NCE).

        Parameters
        ----------
        X : array-like, tensor or list
            Inputs (embeddings when ``encoder=None``).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_source_classes)
        """
        check_is_fitted(self)
        return self._proba_from_embeddings(self._embed(X, reset=False))

    def _proba_from_embeddings(self, Z):
        if self.source_head_ is None:
            out = Z
        else:
            out = extract_embeddings(self.source_head_, Z.astype(np.float32),
                                     batch_size=self.batch_size, device=self.device,
                                     verbose=self.verbose, desc="source head")
            out = check_embeddings(out, name="source_head output")
        kind = self.source_output
        if kind == "auto":
            on_simplex = (np.all(out >= 0)
                          and np.allclose(out.sum(axis=1), 1.0, rtol=0, atol=1e-4))
            kind = "proba" if on_simplex else "logits"
        return softmax(out) if kind == "logits" else out


@_fill_doc
class LEEPScorer(_SourceHeadScorer):
    """LEEP of a pre-trained classifier for a target task, as an estimator.

    See :func:`~sklearn_taskrel.metrics.leep_score` for the definition.

    Parameters
    ----------
    %(encoder_params)s
    %(head_params)s
    %(run_params)s

    Attributes
    ----------
    %(attributes)s
    source_head_ : object or None
        The source head built from ``source_head``.
    %(point_terms)s

    See Also
    --------
    sklearn_taskrel.metrics.leep_score : the function.
    NCEScorer : the same with hard source predictions.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_taskrel.metrics import LEEPScorer
    >>> rng = np.random.RandomState(0)
    >>> y_src = np.repeat([0, 1, 2, 3], 25)
    >>> Z_src = rng.normal(size=(100, 4)) + 3 * np.eye(4)[y_src]
    >>> head = LogisticRegression().fit(Z_src, y_src)
    >>> y = np.repeat([0, 1], 30)
    >>> Z = rng.normal(size=(60, 4)) + 3 * np.eye(4)[2 * y]
    >>> est = LEEPScorer(source_head=head.predict_proba).fit(Z, y)
    >>> -0.2 < est.score_ <= 0
    True
    """


    def _compute(self, Z, y, rng):
        return leep_score(self._proba_from_embeddings(Z), y)

    def _fit_compute(self, Z, y, rng):
        return self._with_point_terms(*_leep_influence(self._proba_from_embeddings(Z), y))


@_fill_doc
class NCEScorer(_SourceHeadScorer):
    """NCE of a pre-trained classifier's hard predictions for a target task.

    The source label of each sample is the argmax of the source head's output.
    See :func:`~sklearn_taskrel.metrics.nce_score` for the definition.

    Parameters
    ----------
    %(encoder_params)s
    %(head_params)s
    %(run_params)s

    Attributes
    ----------
    %(attributes)s
    source_head_ : object or None
        The source head built from ``source_head``.
    %(point_terms)s

    See Also
    --------
    sklearn_taskrel.metrics.nce_score : the function.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.metrics import NCEScorer
    >>> y = np.array([0, 0, 1, 1])
    >>> logits = np.array([[2.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    >>> NCEScorer().fit(logits, y).score_
    0.0
    """


    def _compute(self, Z, y, rng):
        return nce_score(np.argmax(self._proba_from_embeddings(Z), axis=1), y)

    def _fit_compute(self, Z, y, rng):
        return self._with_point_terms(*_nce_influence(
            np.argmax(self._proba_from_embeddings(Z), axis=1), y))


@_fill_doc
class NLEEPScorer(_TransferabilityScorer):
    """N-LEEP of an encoder's embeddings for a target task, as an estimator.

    See :func:`~sklearn_taskrel.metrics.nleep_score` for the definition.

    Parameters
    ----------
    %(encoder_params)s
    n_components_per_class : int, default=5
        Mixture components per target class.
    pca_variance : float in (0, 1) or int, default=0.8
        Variance kept by the PCA, or (an int) its number of components.
    random_state : int, RandomState instance or None, default=None
        Seeds the mixture; resolved with ``check_random_state`` at each
        :meth:`fit` and :meth:`score`.
    %(run_params)s

    Attributes
    ----------
    %(attributes)s

    See Also
    --------
    sklearn_taskrel.metrics.nleep_score : the function.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.metrics import NLEEPScorer
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1], 30)
    >>> X = rng.normal(size=(60, 4)) + 2 * np.eye(4)[y]
    >>> round(NLEEPScorer(n_components_per_class=1, random_state=0).fit(X, y).score_, 2)
    -0.38
    """

    _parameters = {
        "n_components_per_class": (5, [Interval(Integral, 1, None, closed="left")]),
        "pca_variance": (0.8, [Interval(Real, 0, 1, closed="neither"),
                               Interval(Integral, 1, None, closed="left")]),
        "random_state": (None, ["random_state"]),
    }
    _score_function = staticmethod(nleep_score)


@_fill_doc
class HScoreScorer(_TransferabilityScorer):
    """H-score of an encoder's embeddings for a target task, as an estimator.

    See :func:`~sklearn_taskrel.metrics.h_score` for the definition.

    Parameters
    ----------
    %(encoder_params)s
    rcond : float or None, default=None
        Relative cut-off of the covariance pseudo-inverse.
    %(run_params)s

    Attributes
    ----------
    %(attributes)s
    %(point_terms)s

    See Also
    --------
    sklearn_taskrel.metrics.h_score : the function.
    RegularizedHScoreScorer : the form that stays informative for small samples.

    Examples
    --------
    %(example)s
    """

    _example_score = 1.1971
    _parameters = {"rcond": (None, [None, Interval(Real, 0, None, closed="left")])}
    _score_function = staticmethod(h_score)

    def _fit_compute(self, Z, y, rng):
        return self._with_point_terms(*_h_score(Z, y, rcond=self.rcond, influence=True))


@_fill_doc
class RegularizedHScoreScorer(_TransferabilityScorer):
    """Regularised (Ledoit-Wolf) H-score of an encoder's embeddings, as an estimator.

    See :func:`~sklearn_taskrel.metrics.regularized_h_score` for the definition.

    Parameters
    ----------
    %(encoder_params)s
    %(run_params)s

    Attributes
    ----------
    %(attributes)s
    %(point_terms)s
        The derivative runs through the Ledoit-Wolf shrinkage too.

    See Also
    --------
    sklearn_taskrel.metrics.regularized_h_score : the function.

    Examples
    --------
    %(example)s
    """

    _example_score = 0.7735
    _score_function = staticmethod(regularized_h_score)

    def _fit_compute(self, Z, y, rng):
        return self._with_point_terms(*_regularized_h_score(Z, y, influence=True))


@_fill_doc
class GBCScorer(_TransferabilityScorer):
    """GBC of an encoder's embeddings for a target task, as an estimator.

    See :func:`~sklearn_taskrel.metrics.gbc_score` for the definition.

    Parameters
    ----------
    %(encoder_params)s
    gaussian : {"spherical", "diagonal"}, default="spherical"
        Covariance model of each class.
    min_variance : float, default=1e-4
        Floor on per-dimension variances.
    %(run_params)s

    Attributes
    ----------
    %(attributes)s
    %(point_terms)s

    See Also
    --------
    sklearn_taskrel.metrics.gbc_score : the function.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_taskrel.metrics import GBCScorer
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1, 2], 20)
    >>> X = rng.normal(size=(60, 5)) + 2 * np.eye(5)[y]
    >>> pipe = make_pipeline(PCA(n_components=3), GBCScorer()).fit(X, y)
    >>> pipe.score(X, y) <= 0
    True
    """

    _parameters = {
        "gaussian": ("spherical", [StrOptions(set(GAUSSIANS))]),
        "min_variance": (1e-4, [Interval(Real, 0, None, closed="neither")]),
    }
    _score_function = staticmethod(gbc_score)

    def _fit_compute(self, Z, y, rng):
        return self._with_point_terms(*_gbc(Z, y, gaussian=self.gaussian,
                                            min_variance=self.min_variance, influence=True))


@_fill_doc
class TransRateScorer(_TransferabilityScorer):
    """TransRate of an encoder's embeddings for a target task, as an estimator.

    See :func:`~sklearn_taskrel.metrics.transrate_score` for the definition.

    Parameters
    ----------
    %(encoder_params)s
    eps : float, default=1e-4
        Distortion of the coding rate.
    %(run_params)s

    Attributes
    ----------
    %(attributes)s
    %(point_terms)s

    See Also
    --------
    sklearn_taskrel.metrics.transrate_score : the function.

    Examples
    --------
    %(example)s
    """

    _example_score = 0.4822
    _parameters = {"eps": (1e-4, [Interval(Real, 0, None, closed="neither")])}
    _score_function = staticmethod(transrate_score)

    def _fit_compute(self, Z, y, rng):
        return self._with_point_terms(*_transrate(Z, y, eps=self.eps, influence=True))


@_fill_doc
class SFDAScorer(_TransferabilityScorer):
    """SFDA of an encoder's embeddings for a target task, as an estimator.

    See :func:`~sklearn_taskrel.metrics.sfda_score` for the definition.

    Parameters
    ----------
    %(encoder_params)s
    shrinkage : "auto" or float in [0, 1], default="auto"
        Shrinkage of the within-class covariance.
    %(run_params)s

    Attributes
    ----------
    %(attributes)s

    See Also
    --------
    sklearn_taskrel.metrics.sfda_score : the function.

    Examples
    --------
    %(example)s
    """

    _example_score = 0.5858
    _parameters = {"shrinkage": ("auto", [StrOptions({"auto"}),
                                          Interval(Real, 0, 1, closed="both")])}
    _score_function = staticmethod(sfda_score)


@_fill_doc
class OTNCEScorer(_TransferabilityScorer):
    """OT-NCE between a reference (source) task and the target task, as an estimator.

    Both tasks are embedded by the same encoder; see
    :func:`~sklearn_taskrel.metrics.ot_nce_score` for the definition.

    Parameters
    ----------
    reference : ReferenceTask, tuple (X_ref, y_ref) or None, default=None
        The labelled source task (raw inputs, or embeddings when
        ``encoder=None``). ``None`` uses the task passed to :meth:`fit` as its own
        reference: ``score_`` is then 0, and :meth:`score` compares new data with
        the fitted one.
    %(encoder_params)s
    max_samples : int or None, default=1000
        Samples drawn from each side before the exact transport (the authors'
        value); ``None`` uses all.
    max_iter : int, default=100_000
        Network simplex iterations.
    random_state : int, RandomState instance or None, default=None
        Seeds the subsampling.
    %(run_params)s

    Attributes
    ----------
    %(attributes)s
    wasserstein_ : float
        Optimal transport cost (squared Euclidean) between the fitted task and the
        reference.
    conditional_entropy_ : float
        :math:`H(Y \\mid Y^s)` under the coupling (``score_`` is its negative).
        OTCE is :math:`\\lambda_1` ``wasserstein_`` + :math:`\\lambda_2`
        ``conditional_entropy_`` + :math:`b` with weights fitted on auxiliary tasks.

    See Also
    --------
    sklearn_taskrel.metrics.ot_nce_score : the function.
    sklearn_taskrel.TaskRelatednessScorer : the transport-based bound of the paper.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.metrics import OTNCEScorer
    >>> X = np.array([[0.0], [1.0], [10.0], [11.0]])
    >>> est = OTNCEScorer(reference=(X + 0.1, ["a", "a", "b", "b"])).fit(X, [0, 0, 1, 1])
    >>> round(est.score_, 4), round(est.wasserstein_, 4)
    (0.0, 0.01)
    """

    _leading = {"reference": (None, [None, ReferenceTask, tuple, list, dict]),
                **_TransferabilityScorer._leading}
    _parameters = {
        "max_samples": (1000, [None, Interval(Integral, 2, None, closed="left")]),
        "max_iter": (100_000, [Interval(Integral, 1, None, closed="left")]),
        "random_state": (None, ["random_state"]),
    }

    def _prepare(self, rng):
        reference = as_reference_task(self.reference)
        if reference is None:
            self._reference_embeddings = None
            return
        if self.encoder_ is None:
            Zr = check_embeddings(reference.X, name="reference X")
        else:
            Zr = extract_embeddings(self.encoder_, reference.X, batch_size=self.batch_size,
                                    device=self.device, verbose=self.verbose,
                                    desc="embedding reference").astype(np.float64)
        self._reference_embeddings = (Zr, reference.y)

    def _terms(self, Z, y, rng):
        Zr, yr = self._reference_embeddings
        return ot_label_coupling_terms(Z, y, Zr, yr, max_samples=self.max_samples,
                                       max_iter=self.max_iter, random_state=rng)

    def _fit_compute(self, Z, y, rng):
        if self._reference_embeddings is None:
            self._reference_embeddings = (Z, np.asarray(y).copy())
        self.wasserstein_, self.conditional_entropy_ = self._terms(Z, y, rng)
        return 0.0 - self.conditional_entropy_

    def _compute(self, Z, y, rng):
        return 0.0 - self._terms(Z, y, rng)[1]


@_fill_doc
class ETranScorer(_TransferabilityScorer):
    """ETran energy score of an encoder's embeddings (label-free), as an estimator.

    See :func:`~sklearn_taskrel.metrics.etran_score` for the definition; ``y``
    is optional and ignored.

    Parameters
    ----------
    %(encoder_params)s
    fraction : float in (0, 1], default=0.005
        Share of lowest-energy samples that are averaged.
    %(run_params)s

    Attributes
    ----------
    %(attributes)s

    See Also
    --------
    sklearn_taskrel.metrics.etran_score : the function.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.metrics import ETranScorer
    >>> X = np.log([[1.0, 1.0], [2.0, 2.0], [4.0, 4.0]])
    >>> round(ETranScorer(fraction=0.5).fit(X).score_, 4)
    0.6931
    """

    _requires_y = False
    _parameters = {"fraction": (0.005, [Interval(Real, 0, 1, closed="right")])}
    _score_function = staticmethod(etran_score)


@_fill_doc
class KNNAccuracyScorer(_TransferabilityScorer):
    """Leave-one-out k-NN accuracy on an encoder's embeddings, as an estimator.

    See :func:`~sklearn_taskrel.metrics.knn_accuracy_score`.

    Parameters
    ----------
    %(encoder_params)s
    n_neighbors : int, default=5
        Number of neighbours.
    metric : str, default="euclidean"
        Distance of :class:`~sklearn.neighbors.NearestNeighbors`.
    %(run_params)s

    Attributes
    ----------
    %(attributes)s

    See Also
    --------
    sklearn_taskrel.metrics.knn_accuracy_score : the function.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.metrics import KNNAccuracyScorer
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    >>> KNNAccuracyScorer(n_neighbors=2).fit(X, [0, 0, 0, 1, 1, 1]).score_
    1.0
    """

    _parameters = {
        "n_neighbors": (5, [Interval(Integral, 1, None, closed="left")]),
        "metric": ("euclidean", [str, callable]),
    }
    _score_function = staticmethod(knn_accuracy_score)


@_fill_doc
class LinearProbeScorer(_TransferabilityScorer):
    """Cross-validated logistic-regression probe accuracy, as an estimator.

    See :func:`~sklearn_taskrel.metrics.linear_probe_score`.

    Parameters
    ----------
    %(encoder_params)s
    C : float, default=1.0
        Inverse L2 strength.
    cv : int, default=5
        Stratified folds.
    max_iter : int, default=1000
        L-BFGS iterations.
    standardize : bool, default=True
        Standardise the features on each training fold.
    random_state : int, RandomState instance or None, default=None
        Shuffles the folds.
    %(run_params)s

    Attributes
    ----------
    %(attributes)s
    n_iter_ : int
        Most L-BFGS iterations over the folds.

    See Also
    --------
    sklearn_taskrel.metrics.linear_probe_score : the function.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.metrics import LinearProbeScorer
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1], 20)
    >>> X = rng.normal(size=(40, 3)) + 4 * y[:, None]
    >>> LinearProbeScorer(random_state=0).fit(X, y).score_
    1.0
    """

    _parameters = {
        "C": (1.0, [Interval(Real, 0, None, closed="neither")]),
        "cv": (5, [Interval(Integral, 2, None, closed="left")]),
        "max_iter": (1000, [Interval(Integral, 1, None, closed="left")]),
        "standardize": (True, ["boolean"]),
        "random_state": (None, ["random_state"]),
    }

    def _compute(self, Z, y, rng):
        return _linear_probe(Z, y, **self._score_kwargs(rng))[0]

    def _fit_compute(self, Z, y, rng):
        score, self.n_iter_ = _linear_probe(Z, y, **self._score_kwargs(rng))
        return score
