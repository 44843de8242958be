import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_checks import GRADIENT_TOLERANCE, run_layer_checks

import keras_acts
from keras_acts.testing import check_gradients, vector_jacobian_product

NAMES = ("t_left", "a_left", "t_right", "a_right")


def np_srelu(x, t_left, a_left, t_right, a_right):
    right = t_left + np.abs(t_right)
    return np.where(
        x < t_left,
        t_left + a_left * (x - t_left),
        np.where(x > right, right + a_right * (x - right), x),
    )


def _assign(layer, values):
    for name, value in zip(NAMES, values, strict=True):
        getattr(layer, name).assign(value)


def _random_parameters(rng, shape):
    return [
        rng.uniform(-1.0, 0.5, size=shape).astype("float32"),
        rng.uniform(0.0, 1.0, size=shape).astype("float32"),
        # Negative too: the distance between the thresholds is |t_right|.
        rng.uniform(-3.0, 3.0, size=shape).astype("float32"),
        rng.uniform(0.0, 2.0, size=shape).astype("float32"),
    ]


@pytest.mark.parametrize(
    "kwargs, input_shape",
    [
        ({}, (4, 5)),
        ({}, (2, 3, 4, 5)),
        ({"channel_axis": 1, "a_right_initializer": 0.5}, (2, 3, 4, 5)),
        ({"channel_axis": None, "t_left_initializer": -1.0}, (2, 3, 4)),
        (
            {
                "shared_axes": [1, 2],
                "a_left_regularizer": "l1",
                "t_right_constraint": "non_neg",
            },
            (2, 3, 4, 5),
        ),
    ],
)
def test_layer_checks(kwargs, input_shape, tmp_path):
    # Slopes away from 1 and inputs on every piece, so that every parameter
    # gets a gradient in the fit step.
    kwargs = {
        "a_right_initializer": 0.5,
        "t_left_initializer": -0.5,
        "t_right_initializer": 1.0,
        **kwargs,
    }
    run_layer_checks(keras_acts.SReLU, kwargs, input_shape, tmp_path)


@pytest.mark.parametrize(
    "kwargs, input_shape, shape, broadcast",
    [
        ({}, (2, 3, 4, 5), (5,), (1, 1, 1, 5)),
        ({"channel_axis": 1}, (2, 3, 4), (3,), (1, 3, 1)),
        ({"channel_axis": None}, (3, 4), (), ()),
        ({"shared_axes": [1]}, (2, 3, 4), (1, 4), (1, 4)),
    ],
)
def test_values_against_numpy(kwargs, input_shape, shape, broadcast, rng):
    x = (3 * rng.normal(size=input_shape)).astype("float32")
    layer = keras_acts.SReLU(**kwargs)
    layer.build(x.shape)
    for name in NAMES:
        assert tuple(getattr(layer, name).shape) == shape
    values = _random_parameters(rng, shape)
    _assign(layer, values)
    expected = np_srelu(x, *(np.reshape(v, broadcast) for v in values))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-6
    )


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


@pytest.mark.parametrize("kwargs", [{}, {"channel_axis": None}, {"shared_axes": 1}])
def test_gradients(kwargs, rng):
    x = 2 * rng.normal(size=(3, 4))
    layer = keras_acts.SReLU(
        t_left_initializer=-0.5,
        a_right_initializer=0.5,
        t_right_initializer=keras.initializers.RandomUniform(-2.0, 2.0, seed=1),
        **kwargs,
    )
    errors = check_gradients(layer, x, tolerance=GRADIENT_TOLERANCE)
    assert set(errors) == {"inputs"} | {f"s_re_lu/{name}" for name in NAMES}


def test_gradient_formula(rng):
    x = (2 * rng.normal(size=(8, 3))).astype("float32")
    upstream = rng.normal(size=x.shape).astype("float32")
    t_left = np.array([-0.5, 0.0, -1.0], "float32")
    a_left = np.array([0.1, 0.5, 0.9], "float32")
    t_right = np.array([1.0, -0.5, 2.0], "float32")
    a_right = np.array([0.3, 2.0, 1.5], "float32")
    layer = keras_acts.SReLU()
    layer.build(x.shape)
    _assign(layer, [t_left, a_left, t_right, a_right])
    gradients = vector_jacobian_product(layer, x, upstream)
    right = t_left + np.abs(t_right)
    below, above = x < t_left, x > right
    np.testing.assert_allclose(
        gradients["inputs"],
        upstream * np.where(below, a_left, np.where(above, a_right, 1.0)),
        rtol=1e-6,
    )
    pushed_right = np.sum(upstream * above, axis=0) * (1 - a_right)
    expected = {
        "t_left": np.sum(upstream * below, axis=0) * (1 - a_left) + pushed_right,
        "a_left": np.sum(upstream * np.minimum(x - t_left, 0), axis=0),
        "t_right": np.sign(t_right) * pushed_right,
        "a_right": np.sum(upstream * np.maximum(x - right, 0), axis=0),
    }
    for name, value in expected.items():
        np.testing.assert_allclose(
            gradients[f"s_re_lu/{name}"], value, rtol=1e-5, atol=1e-6, err_msg=name
        )


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


@pytest.mark.parametrize("dtype", ["mixed_float16", "mixed_bfloat16"])
def test_parameter_gradients_are_summed_in_float32(dtype):
    # Four elements of 30000: the sums, 1.2e5, are beyond float16's 65504.
    layer = keras_acts.SReLU(
        t_right_initializer=0.0, a_right_initializer=0.5, channel_axis=None, dtype=dtype
    )
    x = np.full((4, 1), 30000.0, "float32")
    gradients = vector_jacobian_product(layer, x, np.ones_like(x))
    np.testing.assert_allclose(gradients["s_re_lu/a_right"], 1.2e5, rtol=1e-2)


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


@pytest.mark.parametrize("dtype", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_gradient_stays_finite_for_large_inputs(dtype):
    layer = keras_acts.SReLU(
        t_left_initializer=-1.0,
        a_left_initializer=0.25,
        t_right_initializer=2.0,
        a_right_initializer=0.5,
        channel_axis=None,
        dtype=dtype,
    )
    x = np.array([[30.0, 100.0, 1e4, -1e4, -30.0]], "float32")
    outputs = keras.ops.convert_to_numpy(layer(x)).astype("float32")
    gradients = vector_jacobian_product(layer, x, np.ones_like(x))
    assert np.all(np.isfinite(outputs))
    for value in gradients.values():
        assert np.all(np.isfinite(value))
    np.testing.assert_allclose(
        outputs, np_srelu(x, -1.0, 0.25, 2.0, 0.5), rtol=1e-2, atol=1e-6
    )
    np.testing.assert_allclose(gradients["inputs"], [[0.5, 0.5, 0.5, 0.25, 0.25]])
    np.testing.assert_allclose(gradients["s_re_lu/t_left"], 0.75 * 2 + 0.5 * 3)
    np.testing.assert_allclose(gradients["s_re_lu/t_right"], 0.5 * 3)
    np.testing.assert_allclose(gradients["s_re_lu/a_right"], 29 + 99 + 9999, rtol=1e-2)
    np.testing.assert_allclose(gradients["s_re_lu/a_left"], -9999 - 29, rtol=1e-2)


NUMBERS = st.one_of(
    st.floats(-3.0, 3.0), st.sampled_from([np.nan, np.inf, True, "zeros", None, "x"])
)


@settings(max_examples=25, deadline=None)
@given(
    values=st.tuples(NUMBERS, NUMBERS, NUMBERS, NUMBERS),
    dtype=st.sampled_from(["float32", "float16", "int32"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_arguments_give_the_right_value_or_a_clear_error(values, dtype, seed):
    arguments = {
        f"{name}_initializer": value
        for name, value in zip(NAMES, values, strict=True)
        if value is not None
    }
    try:
        layer = keras_acts.SReLU(**arguments)
    except ValueError as error:
        assert any(f"{name}=" in str(error) for name in arguments), str(error)
        return
    x = (3 * np.random.default_rng(seed).normal(size=(2, 3))).astype(dtype)
    outputs = np.asarray(keras.ops.convert_to_numpy(layer(x)), np.float64)
    parameters = [
        np.asarray(keras.ops.convert_to_numpy(getattr(layer, name)), np.float64)
        for name in NAMES
    ]
    assert np.all(np.isfinite(outputs))
    tolerance = 2e-2 if dtype == "float16" else 1e-5
    np.testing.assert_allclose(
        outputs,
        np_srelu(x.astype(np.float64), *parameters),
        rtol=tolerance,
        atol=tolerance,
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"t_left_initializer": np.nan}, "t_left_initializer=nan"),
        ({"a_left_initializer": None}, "a_left_initializer=None"),
        ({"t_right_initializer": "x"}, "t_right_initializer='x'"),
        ({"a_right_constraint": "x"}, "a_right_constraint='x'"),
        ({"t_left_regularizer": 3}, "t_left_regularizer=3"),
        ({"channel_axis": 1.5}, "channel_axis=1.5"),
        ({"shared_axes": [0]}, r"shared_axes=\[0\]"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_acts.SReLU(**kwargs)


@pytest.mark.parametrize(
    "kwargs, input_shape, match",
    [
        ({"channel_axis": 2}, (None, 4), "channel_axis=2"),
        ({}, (None, 4, None), "channel axis must be known"),
        ({"shared_axes": [1]}, (None, 4, None), "needs a known"),
    ],
)
def test_invalid_shapes(kwargs, input_shape, match):
    with pytest.raises(ValueError, match=match):
        keras_acts.SReLU(**kwargs).build(input_shape)
