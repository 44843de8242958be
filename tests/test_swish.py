import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from layer_checks import GRADIENT_TOLERANCE, run_layer_checks

import keras_acts
from keras_acts.testing import check_gradients, vector_jacobian_product


def np_sigmoid(z):
    # Without overflow in exp for either sign.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def np_swish(x, beta):
    return x * np_sigmoid(beta * x)


@pytest.mark.parametrize(
    "kwargs, input_shape",
    [
        ({}, (4, 5)),
        ({}, (2, 3, 4, 5)),
        ({"channel_axis": 1, "beta_initializer": 0.5}, (2, 3, 4, 5)),
        ({"channel_axis": None, "beta_constraint": "non_neg"}, (2, 3, 4)),
        ({"shared_axes": [1, 2], "beta_regularizer": "l2"}, (2, 3, 4, 5)),
    ],
)
def test_layer_checks(kwargs, input_shape, tmp_path):
    run_layer_checks(keras_acts.Swish, kwargs, input_shape, tmp_path)


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
    layer = keras_acts.Swish(**kwargs)
    layer.build(x.shape)
    assert tuple(layer.beta.shape) == shape
    beta = rng.uniform(-1.0, 3.0, size=shape).astype("float32")
    layer.beta.assign(beta)
    expected = np_swish(x, np.reshape(beta, broadcast))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-6
    )


def test_beta_zero_is_half_the_identity(rng):
    x = (3 * rng.normal(size=(3, 4))).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras_acts.Swish(beta_initializer=0.0)(x)),
        x / 2,
        rtol=1e-6,
    )


@pytest.mark.parametrize("kwargs", [{}, {"channel_axis": None}, {"shared_axes": 1}])
def test_gradients(kwargs, rng):
    x = 2 * rng.normal(size=(3, 4))
    layer = keras_acts.Swish(beta_initializer=1.7, **kwargs)
    errors = check_gradients(layer, x, tolerance=GRADIENT_TOLERANCE)
    assert set(errors) == {"inputs", "swish/beta"}


def test_gradient_formula(rng):
    x = (3 * rng.normal(size=(6, 3))).astype("float32")
    upstream = rng.normal(size=x.shape).astype("float32")
    beta = np.array([0.5, 1.0, 4.0], "float32")
    layer = keras_acts.Swish()
    layer.build(x.shape)
    layer.beta.assign(beta)
    gradients = vector_jacobian_product(layer, x, upstream)
    gate = np_sigmoid(beta * x)
    derivative = gate * np_sigmoid(-beta * x)  # sigmoid'(beta * x)
    np.testing.assert_allclose(
        gradients["inputs"],
        upstream * (gate + beta * x * derivative),
        rtol=1e-5,
        atol=1e-7,
    )
    np.testing.assert_allclose(
        gradients["swish/beta"],
        np.sum(upstream * x**2 * derivative, axis=0),
        rtol=1e-5,
    )


@pytest.mark.parametrize("dtype", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_gradient_stays_finite_for_large_inputs(dtype):
    layer = keras_acts.Swish(dtype=dtype)
    x = np.array([[30.0, 100.0, 1e4, -1e4, -30.0]], "float32")
    gradients = vector_jacobian_product(layer, x, np.ones_like(x))
    dx, dbeta = gradients["inputs"], gradients["swish/beta"]
    assert dbeta.dtype == np.float32
    assert np.all(np.isfinite(dx)) and np.all(np.isfinite(dbeta))
    np.testing.assert_allclose(dx, [[1, 1, 1, 0, 0]], atol=1e-6)
    np.testing.assert_allclose(dbeta, 0, atol=1e-6)


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


@settings(max_examples=25, deadline=None)
@given(
    hnp.arrays(
        "float32",
        hnp.array_shapes(min_dims=2, max_dims=4),
        elements=st.floats(-50, 50, width=32, allow_subnormal=False),
    )
)
def test_beta_one_is_keras_silu(x):
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras_acts.Swish()(x)),
        keras.ops.convert_to_numpy(keras.activations.silu(x)),
        rtol=1e-6,
        atol=1e-7,
    )


@settings(max_examples=25, deadline=None)
@given(
    beta=st.one_of(
        st.floats(-3.0, 3.0),
        st.sampled_from([np.nan, -np.inf, False, "ones", "glorot_uniform", None, "x"]),
    ),
    dtype=st.sampled_from(["float32", "float16", "int32", "bool"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_arguments_give_the_right_value_or_a_clear_error(beta, dtype, seed):
    try:
        layer = keras_acts.Swish(beta_initializer=beta)
    except ValueError as error:
        assert "beta_initializer=" in str(error), str(error)
        return
    x = 3 * np.random.default_rng(seed).normal(size=(2, 3))
    x = x > 0 if dtype == "bool" else x.astype(dtype)
    outputs = np.asarray(keras.ops.convert_to_numpy(layer(x)), np.float64)
    beta_value = np.asarray(keras.ops.convert_to_numpy(layer.beta), np.float64)
    assert np.all(np.isfinite(outputs))
    tolerance = 1e-2 if dtype == "float16" else 1e-5
    np.testing.assert_allclose(
        outputs,
        np_swish(x.astype(np.float64), beta_value),
        rtol=tolerance,
        atol=tolerance,
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"beta_initializer": np.inf}, "beta_initializer=inf"),
        ({"beta_initializer": True}, "beta_initializer=True"),
        ({"beta_constraint": "x"}, "beta_constraint='x'"),
        ({"beta_regularizer": 3}, "beta_regularizer=3"),
        ({"channel_axis": "first"}, "channel_axis='first'"),
        ({"shared_axes": -1}, "shared_axes=-1"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_acts.Swish(**kwargs)


@pytest.mark.parametrize(
    "kwargs, input_shape, match",
    [
        ({"channel_axis": -3}, (None, 4), "channel_axis=-3"),
        ({}, (None, 4, None), "channel axis must be known"),
        ({"shared_axes": [1, 5]}, (None, 4, 5), "shared_axes"),
    ],
)
def test_invalid_shapes(kwargs, input_shape, match):
    with pytest.raises(ValueError, match=match):
        keras_acts.Swish(**kwargs).build(input_shape)
