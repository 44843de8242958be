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


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64"])
@pytest.mark.parametrize(
    "t_left, a_left, t_right, a_right",
    [
        (0.0, 0.0, 1.0, 1.0),  # the plain ReLU
        (0.5, 0.2, 0.0, 1.0),  # a leaky ReLU with its kink at 0.5
        (-1.0, 0.0, 2.0, 0.0),  # a clip to [-1, 1]
        (-1.0, 0.3, 2.0, 2.0),
    ],
)
def test_infinite_inputs_give_the_limits_not_nan(
    t_left, a_left, t_right, a_right, dtype
):
    layer = keras_acts.SReLU(
        t_left_initializer=t_left,
        a_left_initializer=a_left,
        t_right_initializer=t_right,
        a_right_initializer=a_right,
        channel_axis=None,
        dtype=dtype,
    )
    x = np.array([[-np.inf, np.inf, -2.0, 0.25, 3.0]], dtype)
    right = t_left + abs(t_right)
    # The limits: a flat piece stays at its threshold, a sloped one goes to
    # an infinity of its sign.
    expected = [
        t_left if a_left == 0 else -np.inf,
        right if a_right == 0 else np.inf,
    ] + [
        t_left + a_left * (v - t_left)
        if v < t_left
        else right + a_right * (v - right)
        if v > right
        else v
        for v in (-2.0, 0.25, 3.0)
    ]
    outputs = keras.ops.convert_to_numpy(layer(x))
    # float32 parameters (0.2 is not exact), float16 rounding.
    np.testing.assert_allclose(
        outputs.astype(np.float64), [expected], rtol=1e-3, atol=1e-6
    )
    gradients = vector_jacobian_product(layer, x, np.ones_like(x))
    assert not np.isnan(gradients["inputs"]).any()
    np.testing.assert_allclose(gradients["inputs"][0, :2], [a_left, a_right], rtol=1e-3)
