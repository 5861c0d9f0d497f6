"""Behaviour pinned across refactors: every TR setting and baseline on fixed inputs
equals the recorded values (``tests/value_fixture.py``)."""

import json
import math

import pytest
from value_fixture import FIXTURE, compute_values, machine_fingerprint

#: Elsewhere than on the recording machine a different BLAS or CPU changes the
#: last bits of sums, and an iterative fit can amplify them.
OTHER_MACHINE_RTOL = 1e-6


def _mismatches(expected, got, rtol):
    bad = []
    for zoo, encoders in expected.items():
        for enc, row in encoders.items():
            for key, want in row.items():
                have = got.get(zoo, {}).get(enc, {}).get(key)
                same = (have is not None and (have == want or (
                    math.isnan(want) and math.isnan(have)) or (
                    rtol > 0 and math.isclose(have, want, rel_tol=rtol, abs_tol=rtol))))
                if not same:
                    bad.append(f"{zoo}/{enc}/{key}: recorded {want!r}, now {have!r}")
    return bad


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_every_value_equals_the_recorded_one():
    record = json.loads(FIXTURE.read_text())
    got = compute_values()
    expected = {z: r for z, r in record["values"].items() if z in got}
    assert set(expected) >= {"digits", "gaussian"}
    same_machine = record["fingerprint"] == machine_fingerprint()
    bad = _mismatches(expected, got, 0.0 if same_machine else OTHER_MACHINE_RTOL)
    assert not bad, (f"{len(bad)} values changed "
                     f"({'same machine: bit for bit' if same_machine else 'rtol 1e-6'}):\n"
                     + "\n".join(bad[:40]))
    # Every quantity recorded is still computed (nothing silently dropped).
    for zoo in expected:
        for enc in expected[zoo]:
            assert set(got[zoo][enc]) == set(expected[zoo][enc])


def test_the_comparison_catches_a_change_in_the_last_bit():
    expected = {"z": {"e": {"tr.task_relatedness": 1.0, "nan": float("nan")}}}
    nudged = {"z": {"e": {"tr.task_relatedness": math.nextafter(1.0, 2.0),
                          "nan": float("nan")}}}
    assert _mismatches(expected, nudged, 0.0) == [
        f"z/e/tr.task_relatedness: recorded 1.0, now {math.nextafter(1.0, 2.0)!r}"]
    assert _mismatches(expected, nudged, OTHER_MACHINE_RTOL) == []
    assert _mismatches(expected, {"z": {"e": {}}}, OTHER_MACHINE_RTOL) != []
