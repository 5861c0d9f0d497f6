"""scikit-learn's estimator checks on the default instances."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_taskrel import TaskRelatednessScorer

# No expected failure: every check passes on the default instance.
EXPECTED_FAILED_CHECKS = {}


@parametrize_with_checks([TaskRelatednessScorer()],
                         expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
