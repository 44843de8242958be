"""The shared argument checks of keras_acts._validation, and that every
public layer uses the boolean one for each of its boolean arguments."""

import inspect
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import keras_acts
from keras_acts import _validation
from keras_acts.layers import _registry

NOT_BOOLEANS = st.one_of(
    st.integers(),
    st.integers(0, 1).map(np.int64),
    st.floats(),
    st.text(max_size=4),
    st.none(),
    st.just([True]),
    st.just(np.array([True])),
)


@settings(max_examples=60, deadline=None)
@given(value=NOT_BOOLEANS)
def test_boolean_refuses_anything_but_a_bool(value):
    with pytest.raises(
        ValueError, match=r"`flag` must be True or False\. Received: flag="
    ):
        _validation.boolean("flag", value)


@pytest.mark.parametrize("value", [True, False, np.True_, np.False_])
def test_boolean_takes_python_and_numpy_bools(value):
    result = _validation.boolean("flag", value)
    assert type(result) is bool and result == bool(value)


def _boolean_arguments():
    """(layer class, argument) for every argument of a public layer whose
    default is True or False."""
    found = []
    for layer in _registry.LAYERS:
        cls = getattr(keras_acts, layer.name)
        for name, parameter in inspect.signature(cls.__init__).parameters.items():
            if isinstance(parameter.default, bool):
                found.append((cls, name))
    return found


REQUIRED = {"MaxoutDense": {"units": 2}}


def test_the_layers_have_boolean_arguments():
    # The test below checks something: Standardize's center, scale and
    # invert and MaxoutDense's use_bias at least.
    names = {(cls.__name__, name) for cls, name in _boolean_arguments()}
    assert {
        ("Standardize", "center"),
        ("Standardize", "scale"),
        ("Standardize", "invert"),
        ("MaxoutDense", "use_bias"),
    } <= names


@pytest.mark.parametrize(
    "cls, name", _boolean_arguments(), ids=lambda v: getattr(v, "__name__", v)
)
@pytest.mark.parametrize("value", [1, 0, np.int64(1), 1.0, "True", None])
def test_every_boolean_layer_argument_refuses_non_bools(cls, name, value):
    arguments = {**REQUIRED.get(cls.__name__, {}), name: value}
    with pytest.raises(ValueError, match=re.escape(f"Received: {name}={value!r}")):
        cls(**arguments)


@pytest.mark.parametrize(
    "value", [0.3, 2, np.float32(0.3), np.int64(2), np.array(0.3), np.array(2)]
)
def test_real_takes_python_numpy_and_zero_d_array_numbers(value):
    assert _validation.is_real(value)
    result = _validation.real("epsilon", value)
    assert type(result) is float and result == pytest.approx(float(value))


@pytest.mark.parametrize(
    "value",
    [True, np.True_, np.array(True), np.array([0.3]), np.array("0.3"), "0.3", None],
)
def test_real_refuses_bools_strings_and_arrays_of_several_values(value):
    assert not _validation.is_real(value)
    with pytest.raises(
        ValueError, match=r"`epsilon` must be a finite number\. Received: epsilon="
    ):
        _validation.real("epsilon", value)
