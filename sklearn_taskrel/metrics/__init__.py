"""Established transferability scores, as functions and as estimators.

Every function takes its inputs positionally as (features, or source-class
probabilities, or source labels; target labels) and returns a float where greater
means better expected transfer. Every estimator has the shape of
:class:`~sklearn_taskrel.TaskRelatednessScorer`: ``fit(X, y)`` sets ``score_``,
``score(X, y)`` recomputes the score on new data and ``transform(X)`` returns the
embeddings.
"""

from sklearn_taskrel.metrics._estimators import (
    ETranScorer,
    GBCScorer,
    HScoreScorer,
    KNNAccuracyScorer,
    LEEPScorer,
    LinearProbeScorer,
    LogMEScorer,
    NCEScorer,
    NLEEPScorer,
    OTNCEScorer,
    RegularizedHScoreScorer,
    SFDAScorer,
    TransRateScorer,
)
from sklearn_taskrel.metrics._etran import etran_score
from sklearn_taskrel.metrics._gbc import gbc_score
from sklearn_taskrel.metrics._hscore import h_score, regularized_h_score
from sklearn_taskrel.metrics._leep import leep_score, nce_score, nleep_score
from sklearn_taskrel.metrics._logme import logme_score
from sklearn_taskrel.metrics._otce import ot_nce_score
from sklearn_taskrel.metrics._probe import knn_accuracy_score, linear_probe_score
from sklearn_taskrel.metrics._sfda import sfda_score
from sklearn_taskrel.metrics._transrate import transrate_score

__all__ = [
    "ETranScorer",
    "GBCScorer",
    "HScoreScorer",
    "KNNAccuracyScorer",
    "LEEPScorer",
    "LinearProbeScorer",
    "LogMEScorer",
    "NCEScorer",
    "NLEEPScorer",
    "OTNCEScorer",
    "RegularizedHScoreScorer",
    "SFDAScorer",
    "TransRateScorer",
    "etran_score",
    "gbc_score",
    "h_score",
    "knn_accuracy_score",
    "leep_score",
    "linear_probe_score",
    "logme_score",
    "nce_score",
    "nleep_score",
    "ot_nce_score",
    "regularized_h_score",
    "sfda_score",
    "transrate_score",
]
