"""Optimal transport and the bound of task-relatedness (numpy, scipy and POT only).

The OT and bound code needs numpy, scipy and POT only (torch tensors pass through
POT's backend when given); the solver (:class:`TaskRelatedness`) imports the
reference head's trainer (:mod:`sklearn_taskrel._head`, skorch) only when it fits a
head, and encoders live above this layer.
"""

from sklearn_taskrel.transport._assignment import (
    conditional_entropy,
    joint_from_assignment,
    prior_and_label_map,
    solve_assignment,
)
from sklearn_taskrel.transport._classwise import chunked_wasserstein, class_pair_costs
from sklearn_taskrel.transport._feature_map import (
    FEATURE_MAPS,
    FeatureMap,
    LogitMap,
    apply_map,
    invert_map,
)
from sklearn_taskrel.transport._lipschitz import (
    certified_lipschitz,
    empirical_lipschitz,
)
from sklearn_taskrel.transport._relatedness import (
    Transformation,
    bound_terms,
    evaluate_transformation,
    fit_transformation,
)
from sklearn_taskrel.transport._solver import PRESETS, SolverOptions, TaskRelatedness
from sklearn_taskrel.transport._solvers import (
    entropic_transport,
    euclidean_cost,
    exact_transport,
)

__all__ = [
    "FEATURE_MAPS",
    "FeatureMap",
    "LogitMap",
    "PRESETS",
    "SolverOptions",
    "TaskRelatedness",
    "Transformation",
    "apply_map",
    "bound_terms",
    "certified_lipschitz",
    "chunked_wasserstein",
    "empirical_lipschitz",
    "class_pair_costs",
    "conditional_entropy",
    "entropic_transport",
    "euclidean_cost",
    "evaluate_transformation",
    "exact_transport",
    "fit_transformation",
    "invert_map",
    "joint_from_assignment",
    "prior_and_label_map",
    "solve_assignment",
]
