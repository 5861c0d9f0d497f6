"""The input checks of sklearn_taskrel.utils: what they return, recomputed by hand, and
errors that name the parameter and the value (plain Python values, no numpy reprs)."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from numpy.testing import assert_array_equal
from sklearn.exceptions import DataConversionWarning

from sklearn_taskrel.utils import check_class_prior, check_embeddings, check_labels
from sklearn_taskrel.utils._validation import (
    array_digest,
    check_positive_int,
    encode_like,
)


def test_check_embeddings_converts_and_refuses_with_the_name():
    assert check_embeddings([[1, 2], [3, 4]]).dtype == np.float64
    assert check_embeddings(np.ones((2, 2), np.float16), dtype=np.float32).dtype == np.float32
    t = torch.arange(6.0).reshape(3, 2)
    assert_array_equal(check_embeddings(t), t.numpy())
    with pytest.raises(TypeError, match=r"^Z_ref must be a dense array of embeddings; got "
                       r"a sparse matrix \(csr_matrix of shape \(2, 2\)\)"):
        check_embeddings(sp.csr_matrix(np.eye(2)), name="Z_ref")
    with pytest.raises(ValueError, match="Input Z_ref contains NaN"):
        check_embeddings([[np.nan, 1.0]], name="Z_ref")
    with pytest.raises(ValueError, match="Z_ref"):
        check_embeddings(np.ones((1, 2)), name="Z_ref", min_samples=2)


def test_check_labels_encodes_as_sorted_unique_codes():
    rng = np.random.RandomState(0)
    y = rng.choice(np.array(["pear", "fig", "apple", "kiwi"]), size=50)
    classes, codes = check_labels(y)
    assert classes.tolist() == sorted(set(y.tolist()))
    assert [classes[c] for c in codes] == y.tolist()       # decoding gives y back
    assert codes.dtype == np.int64


@pytest.mark.parametrize("y, n_samples, message", [
    (None, None, r"^y is required here; got None\.$"),
    (np.zeros((2, 2)), None, r"^y must be 1-D class labels; got an array of shape \(2, 2\)\.$"),
    ([0, 1, 1], 4, r"^y has 3 labels but X has 4 samples; they must have the same length\.$"),
    ([], None, r"^y is empty; at least one label is required\.$"),
    ([0.0, np.inf], None, r"^y contains NaN or infinity\.$"),
    ([0.0, 0.5, 1.0], None, r"^y must hold class labels; got continuous values "
                            r"\(type_of_target='continuous'\), e\.g\. 0\.5\.$"),
    (np.array(["a", None], dtype=object), None, r"^y contains missing labels"),
])
def test_check_labels_errors(y, n_samples, message):
    with pytest.raises(ValueError, match=message):
        check_labels(y, n_samples=n_samples)


def test_check_labels_mixed_types_and_column_vectors():
    with pytest.raises(TypeError, match=r"^y must hold labels of one sortable type"):
        check_labels(np.array([1, "a"], dtype=object))
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        assert check_labels(np.array([[1], [0]]))[1].tolist() == [1, 0]
    assert check_labels([0.0, 0.5], allow_continuous=True)[0].tolist() == [0.0, 0.5]


def test_check_class_prior():
    assert check_class_prior(np.array([1, 3]) / 4, 2).tolist() == [0.25, 0.75]
    with pytest.raises(ValueError, match=r"^class_prior must be a vector of length 3; "
                       r"got list of length 2\.$"):
        check_class_prior([0.5, 0.5], 3)
    with pytest.raises(ValueError, match=r"^D must be finite and non-negative"):
        check_class_prior([1.5, -0.5], 2, name="D")
    with pytest.raises(ValueError, match=r"^class_prior must sum to 1; got a sum of 0\.8\.$"):
        check_class_prior(np.array([0.4, 0.4]), 2)


def test_check_positive_int():
    assert check_positive_int(np.int64(3), "k") == 3
    assert check_positive_int(None, "k", allow_none=True) is None
    with pytest.raises(ValueError, match=r"^k must be an int >= 1; got 0\.$"):
        check_positive_int(np.int64(0), "k")
    with pytest.raises(TypeError, match=r"^k must be an int >= 2; got True\.$"):
        check_positive_int(True, "k", minimum=2)
    with pytest.raises(TypeError, match=r"^k must be an int >= 1; got 2\.0\.$"):
        check_positive_int(2.0, "k")


def test_encode_like_uses_the_fitted_codes():
    classes = np.array([3, 7, 9])
    assert encode_like([9, 3, 7, 9], classes, "y")[1].tolist() == [2, 0, 1, 2]
    with pytest.raises(ValueError, match=r"^y_new contains labels not seen during fit: "
                       r"\[1, 8\]; known classes are \[3, 7, 9\]\.$"):
        encode_like([8, 3, 1], classes, "y_new")
    with pytest.raises(ValueError, match=r"^y has 2 labels but X has 3 samples\.$"):
        encode_like([3, 7], classes, "y", n_samples=3)


def test_array_digest_sees_values_dtype_and_shape():
    a = np.arange(12.0).reshape(3, 4)
    digests = {array_digest(a), array_digest(a.reshape(4, 3)), array_digest(a.astype(np.float32)),
               array_digest(np.where(a == 5, np.nextafter(5.0, 6.0), a))}
    assert len(digests) == 4
    assert array_digest(a) == array_digest(a.copy()) == array_digest(np.asfortranarray(a))
    assert len(array_digest(a)) == 32
