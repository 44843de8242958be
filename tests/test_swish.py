"""Swish's own checks; those it shares with the other learnable
activations are in test_learnable_activations.py."""

import keras
import numpy as np
import pytest
from layer_checks import np_sigmoid

import keras_acts
from keras_acts.testing import vector_jacobian_product


def test_beta_zero_is_half_the_identity(rng):
    x = (3 * rng.normal(size=(3, 4))).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras_acts.Swish(beta_initializer=0.0)(x)),
        x / 2,
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    "beta, dtype",
    [
        (0.01, "mixed_float16"),
        (0.01, "mixed_bfloat16"),
        (0.001, "mixed_float16"),
        (0.001, "mixed_bfloat16"),
    ],
)
def test_beta_gradient_of_large_inputs_in_half_precision(beta, dtype):
    # x^2 = 1e6 overflows float16, and 1 - sigmoid(10) rounds to 0 in it: the
    # gradient by beta, x^2 sigmoid'(beta x), is 45.4 at beta = 0.01, and
    # 1.97e5 at beta = 0.001, itself beyond float16's range.
    layer = keras_acts.Swish(beta_initializer=beta, channel_axis=None, dtype=dtype)
    x = np.array([[1000.0]], "float32")
    gradients = vector_jacobian_product(layer, x, np.ones_like(x))
    z = beta * 1000.0
    expected = 1e6 * np_sigmoid(z) * np_sigmoid(-z)
    np.testing.assert_allclose(gradients["swish/beta"], expected, rtol=3e-2)
