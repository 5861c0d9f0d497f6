"""Reference tasks (sklearn_taskrel._reference): given as arrays, tuples or by name."""

import numpy as np
import pytest

from sklearn_taskrel import ReferenceTask
from sklearn_taskrel._reference import as_reference_task


def test_a_built_in_task_by_name_is_loaded_once_and_shared():
    ref = as_reference_task("digits")
    assert isinstance(ref, ReferenceTask) and ref.name == "digits"
    assert ref.X.shape == (1000, 3, 64, 64) and len(np.unique(ref.y)) == 10
    assert as_reference_task("digits") is ref  # its fitted heads are shared too
    with pytest.raises(ValueError, match="no built-in task named 'imagenet'"):
        as_reference_task("imagenet")


def test_other_forms_and_a_clear_type_error():
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    assert as_reference_task((X, y)).y is y
    assert as_reference_task({"X": X, "y": y}).X is X
    with pytest.raises(TypeError, match="built-in task name"):
        as_reference_task(42)
