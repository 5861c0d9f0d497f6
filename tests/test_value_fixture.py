"""Behaviour pinned across refactors: every TR setting and baseline on fixed inputs
equals the recorded values (``tests/value_fixture.py``)."""

import json
import math
from functools import lru_cache

import pytest
from value_fixture import (
    FIXTURE,
    TR_SETTINGS,
    baseline_values,
    fixture_zoos,
    machine_fingerprint,
    one_thread,
    tr_values,
)

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


RECORD = json.loads(FIXTURE.read_text())
SAME_MACHINE = RECORD["fingerprint"] == machine_fingerprint()
RTOL = 0.0 if SAME_MACHINE else OTHER_MACHINE_RTOL
TR_CASES = [(zoo, enc, setting) for zoo, encoders in RECORD["values"].items()
            for enc in encoders for setting in TR_SETTINGS]


@lru_cache(maxsize=None)
def _zoos():
    return fixture_zoos()


def _check(zoo, enc, got):
    """Compare ``got`` with the recorded values of its quantities."""
    want = {k: v for k, v in RECORD["values"][zoo][enc].items() if k in got}
    bad = _mismatches({zoo: {enc: want}}, {zoo: {enc: got}}, RTOL)
    assert not bad, (f"{len(bad)} values changed "
                     f"({'same machine: bit for bit' if SAME_MACHINE else 'rtol 1e-6'}):\n"
                     + "\n".join(bad[:40]))
    return set(want)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("zoo, enc, setting", TR_CASES, ids=["/".join(c) for c in TR_CASES])
def test_tr_values_equal_the_recorded_ones(zoo, enc, setting):
    """One TR setting on one encoder: a change fails the first case it touches."""
    from sklearn_taskrel import ReferenceTask

    if zoo not in _zoos():
        pytest.skip("the anchor embeddings are not here")
    zoo_encoders, y = _zoos()[zoo]
    Z, reference = zoo_encoders[enc]
    with one_thread():
        got = tr_values(Z, ReferenceTask(*reference), y, setting)
    recorded = {k for k in RECORD["values"][zoo][enc] if k.startswith(setting + ".")}
    assert _check(zoo, enc, got) == recorded == set(got)  # nothing dropped or added


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_baseline_values_equal_the_recorded_ones():
    got = {}
    with one_thread():
        for zoo, (zoo_encoders, y) in _zoos().items():
            for enc, (Z, reference) in zoo_encoders.items():
                got[(zoo, enc)] = baseline_values(Z, reference, y)
                _check(zoo, enc, got[(zoo, enc)])
    assert {zoo for zoo, _ in got} >= {"digits", "gaussian"}
    # what is not a TR setting's is a baseline's, and each is still computed
    for (zoo, enc), row in got.items():
        recorded = set(RECORD["values"][zoo][enc])
        assert recorded - {k for k in recorded if k.split(".")[0] in TR_SETTINGS} == set(row)


def test_the_comparison_catches_a_change_in_the_last_bit():
    expected = {"z": {"e": {"tr.task_relatedness": 1.0, "nan": float("nan")}}}
    nudged = {"z": {"e": {"tr.task_relatedness": math.nextafter(1.0, 2.0),
                          "nan": float("nan")}}}
    assert _mismatches(expected, nudged, 0.0) == [
        f"z/e/tr.task_relatedness: recorded 1.0, now {math.nextafter(1.0, 2.0)!r}"]
    assert _mismatches(expected, nudged, OTHER_MACHINE_RTOL) == []
    assert _mismatches(expected, {"z": {"e": {}}}, OTHER_MACHINE_RTOL) != []
