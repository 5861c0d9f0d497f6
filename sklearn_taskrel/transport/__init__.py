"""Optimal transport and the bound of task-relatedness (numpy, scipy and POT only).

This layer never imports torch: the reference head and encoders live above it.
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
from sklearn_taskrel.transport._solvers import (
    entropic_transport,
    euclidean_cost,
    exact_transport,
)

__all__ = [
    "FEATURE_MAPS",
    "FeatureMap",
    "LogitMap",
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
