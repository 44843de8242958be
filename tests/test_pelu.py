"""PELU's own checks; those it shares with the other learnable
activations are in test_learnable_activations.py."""

import keras
import numpy as np
import pytest

import keras_acts
from keras_acts.layers.pelu import _MinValue
from keras_acts.testing import vector_jacobian_product


def test_a_and_b_are_not_interchangeable():
    # a = 2, b = 1: slope 2 and saturation at -2; a = 1, b = 2: slope 1/2 and
    # saturation at -1.
    x = np.array([[-50.0, 1.0]], "float32")
    layer = keras_acts.PELU(a_initializer=2.0, b_initializer=1.0, channel_axis=None)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)), [[-2.0, 2.0]], rtol=1e-6
    )


def test_input_gradient_keeps_its_precision_far_left(rng):
    # exp(x), not expm1(x) + 1, which loses all digits of exp(-20) = 2e-9.
    x = np.array([[-5.0, -10.0, -20.0]], "float32")
    gradients = vector_jacobian_product(
        keras_acts.PELU(channel_axis=None), x, np.ones_like(x)
    )
    np.testing.assert_allclose(gradients["inputs"], np.exp(x), rtol=1e-5)


def test_gradient_is_finite_at_infinity():
    x = np.array([[-np.inf, np.inf]], "float32")
    gradients = vector_jacobian_product(
        keras_acts.PELU(channel_axis=None), x, np.ones_like(x)
    )
    np.testing.assert_array_equal(gradients["inputs"], [[0.0, 1.0]])
    assert not np.any(np.isnan(gradients["pelu/b"]))


def test_min_value_constraint_round_trips():
    constraint = keras.constraints.deserialize(
        keras.constraints.serialize(_MinValue(0.5))
    )
    assert isinstance(constraint, _MinValue) and constraint.min_value == 0.5
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(constraint(keras.ops.array([-1.0, 0.2, 3.0]))),
        [0.5, 0.5, 3.0],
    )


def test_invalid_min_value():
    with pytest.raises(ValueError, match="min_value=0"):
        _MinValue(0)
