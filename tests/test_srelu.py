"""SReLU's own checks; those it shares with the other learnable
activations are in test_learnable_activations.py."""

import keras
import numpy as np
import pytest

import keras_acts
from keras_acts.testing import vector_jacobian_product

NAMES = ("t_left", "a_left", "t_right", "a_right")


def _assign(layer, values):
    for name, value in zip(NAMES, values, strict=True):
        getattr(layer, name).assign(value)


def test_identity_between_the_thresholds():
    layer = keras_acts.SReLU(
        t_left_initializer=-1.0,
        a_left_initializer=0.3,
        t_right_initializer=-2.5,  # |t_right|: the right threshold is at 1.5
        a_right_initializer=3.0,
        channel_axis=None,
    )
    x = np.array([[-3.0, -1.0, -0.4, 0.0, 1.2, 1.5, 2.5]], "float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)),
        [[-1.6, -1.0, -0.4, 0.0, 1.2, 1.5, 4.5]],
        rtol=1e-6,
    )


@pytest.mark.parametrize("t_right", [0.0, 2.0, 100.0])
def test_plain_and_leaky_relu_are_special_cases(t_right, rng):
    x = (3 * rng.normal(size=(4, 6))).astype("float32")
    for slope, reference in ((0.0, keras.activations.relu(x)), (0.2, None)):
        layer = keras_acts.SReLU(
            a_left_initializer=slope, t_right_initializer=t_right, channel_axis=None
        )
        if reference is None:
            reference = keras.activations.leaky_relu(x, negative_slope=slope)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(layer(x)),
            keras.ops.convert_to_numpy(reference),
            rtol=1e-6,
        )


def test_default_initializers_are_keras_contrib_ones():
    first, second = keras_acts.SReLU(), keras_acts.SReLU()
    for layer in (first, second):
        layer.build((None, 200))
    t_left, a_left, t_right, a_right = (
        keras.ops.convert_to_numpy(getattr(first, name)) for name in NAMES
    )
    np.testing.assert_array_equal(t_left, 0.0)
    np.testing.assert_array_equal(a_right, 1.0)
    assert 0 <= a_left.min() and a_left.max() <= 1 and a_left.std() > 0.2
    assert 0 <= t_right.min() and t_right.max() <= 5 and t_right.std() > 1.0
    # Each layer draws its own values.
    assert not np.array_equal(a_left, keras.ops.convert_to_numpy(second.a_left))
    assert not np.array_equal(t_right, keras.ops.convert_to_numpy(second.t_right))


def test_thresholds_belong_to_the_middle_piece():
    # As documented: f'(x) = 1 for t_left <= x <= r.
    layer = keras_acts.SReLU(
        t_left_initializer=-1.0,
        a_left_initializer=0.2,
        t_right_initializer=3.0,
        a_right_initializer=0.5,
        channel_axis=None,
    )
    x = np.array([[-1.0, 2.0]], "float32")
    gradients = vector_jacobian_product(layer, x, np.ones_like(x))
    np.testing.assert_array_equal(gradients["inputs"], [[1.0, 1.0]])
    for name in NAMES:
        np.testing.assert_array_equal(gradients[f"s_re_lu/{name}"], 0.0)


def test_zero_gap_can_open():
    # t_right = 0: both thresholds at t_left; the gradient still moves t_right.
    layer = keras_acts.SReLU(
        a_left_initializer=0.5,
        t_right_initializer=0.0,
        a_right_initializer=0.5,
        channel_axis=None,
    )
    x = np.array([[1.0, 2.0]], "float32")
    gradients = vector_jacobian_product(layer, x, np.ones_like(x))
    np.testing.assert_allclose(gradients["s_re_lu/t_right"], 1.0)
