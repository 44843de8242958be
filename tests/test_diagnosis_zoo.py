"""The fast subset of the failure zoo (benchmarks/zoo_cases.py, issue #26)
on the current backend: `keras_acts.diagnose` names each fast broken run by
one of its expected kinds, and raises nothing on a fast healthy run.

The fast subset holds cases of each family (vanishing, exploding, a learning
rate too high or too low, dead, saturated, inputs, non-finite values, a frozen
layer) that diagnose gets right; the whole zoo, misses included, is measured
by benchmarks/diagnosis_zoo.py, not asserted here."""

import importlib.util
import pathlib
import sys

import keras
import pytest

import keras_acts

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(
        name, ROOT / "benchmarks" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


zoo_cases = _load("zoo_cases")
FAST = zoo_cases.fast_cases()


def test_the_zoo_has_the_cases_the_issue_asks_for():
    broken = [case for case in zoo_cases.CASES if case.kind == "broken"]
    healthy = [case for case in zoo_cases.CASES if case.kind == "healthy"]
    assert len(broken) >= 24 and len(healthy) >= 12
    assert all(case.expected for case in broken)
    assert not any(case.expected for case in healthy)
    existing = zoo_cases.existing_kinds()
    assert zoo_cases.KINDS_AT_WRITING <= existing
    known = existing | zoo_cases.NEW_KINDS
    for case in zoo_cases.CASES:
        assert case.expected | case.acceptable <= known, case.name
        assert not case.expected & case.acceptable, case.name
    # The fast cases are ones that a detection of today can get right.
    for case in FAST:
        assert case.kind == "healthy" or case.expected & existing
    assert sum(case.kind == "broken" for case in FAST) >= 6
    assert sum(case.kind == "healthy" for case in FAST) >= 3


@pytest.mark.parametrize("case", FAST, ids=[case.name for case in FAST])
def test_fast_zoo_case(case):
    keras.utils.set_random_seed(0)
    model, x, y = case.build()
    diagnosis = keras_acts.diagnose(
        model, x, y, steps=case.steps, batch_size=case.batch_size, verbose=False
    )
    raised = {flag.kind for flag in diagnosis.flags}
    if case.kind == "broken":
        assert raised & case.expected, (
            f"{case.name}: expected one of {sorted(case.expected)}, "
            f"raised {sorted(raised)}"
        )
        assert raised <= case.expected | case.acceptable, sorted(raised)
    else:
        assert raised == set(), [str(flag) for flag in diagnosis.flags]
