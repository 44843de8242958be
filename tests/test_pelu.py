import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_checks import GRADIENT_TOLERANCE, run_layer_checks

import keras_acts
from keras_acts.layers.pelu import _MinValue
from keras_acts.testing import check_gradients, vector_jacobian_product


def np_pelu(x, a, b):
    return np.where(x >= 0, a / b * x, a * np.expm1(np.minimum(x, 0) / b))


@pytest.mark.parametrize(
    "kwargs, input_shape",
    [
        ({}, (4, 5)),
        ({}, (2, 3, 4, 5)),
        ({"channel_axis": 1, "b_initializer": 2.0}, (2, 3, 4, 5)),
        (
            {"channel_axis": None, "a_constraint": None, "b_constraint": "non_neg"},
            (2, 3, 4),
        ),
        (
            {"shared_axes": [1, 2], "a_regularizer": "l1", "b_regularizer": "l2"},
            (2, 3, 4, 5),
        ),
    ],
)
def test_layer_checks(kwargs, input_shape, tmp_path):
    run_layer_checks(keras_acts.PELU, kwargs, input_shape, tmp_path)


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
    layer = keras_acts.PELU(**kwargs)
    layer.build(x.shape)
    assert tuple(layer.a.shape) == shape and tuple(layer.b.shape) == shape
    a = rng.uniform(0.2, 2.0, size=shape).astype("float32")
    b = rng.uniform(0.2, 2.0, size=shape).astype("float32")
    layer.a.assign(a)
    layer.b.assign(b)
    expected = np_pelu(x, np.reshape(a, broadcast), np.reshape(b, broadcast))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-6
    )


def test_a_and_b_one_is_keras_elu(rng):
    x = (5 * rng.normal(size=(4, 6))).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras_acts.PELU()(x)),
        keras.ops.convert_to_numpy(keras.activations.elu(x)),
        rtol=1e-6,
        atol=1e-7,
    )


def test_a_and_b_are_not_interchangeable():
    # a = 2, b = 1: slope 2 and saturation at -2; a = 1, b = 2: slope 1/2 and
    # saturation at -1.
    x = np.array([[-50.0, 1.0]], "float32")
    layer = keras_acts.PELU(a_initializer=2.0, b_initializer=1.0, channel_axis=None)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)), [[-2.0, 2.0]], rtol=1e-6
    )


@pytest.mark.parametrize("kwargs", [{}, {"channel_axis": None}, {"shared_axes": 1}])
def test_gradients(kwargs, rng):
    x = rng.normal(size=(3, 4))
    layer = keras_acts.PELU(a_initializer=0.7, b_initializer=1.3, **kwargs)
    errors = check_gradients(layer, x, tolerance=GRADIENT_TOLERANCE)
    assert set(errors) == {"inputs", "pelu/a", "pelu/b"}


def test_gradient_formula(rng):
    x = (2 * rng.normal(size=(6, 3))).astype("float32")
    upstream = rng.normal(size=x.shape).astype("float32")
    a = np.array([0.5, 1.0, 1.5], "float32")
    b = np.array([2.0, 0.3, 1.0], "float32")
    layer = keras_acts.PELU()
    layer.build(x.shape)
    layer.a.assign(a)
    layer.b.assign(b)
    gradients = vector_jacobian_product(layer, x, upstream)
    exponential = np.exp(np.minimum(x, 0) / b)
    np.testing.assert_allclose(
        gradients["inputs"],
        upstream * np.where(x >= 0, a / b, a / b * exponential),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        gradients["pelu/a"],
        np.sum(upstream * np.where(x >= 0, x / b, exponential - 1), axis=0),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        gradients["pelu/b"],
        np.sum(
            upstream * np.where(x >= 0, -a * x / b**2, -a * x / b**2 * exponential),
            axis=0,
        ),
        rtol=1e-5,
    )


@pytest.mark.parametrize("dtype", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_gradient_stays_finite_for_large_inputs(dtype):
    layer = keras_acts.PELU(dtype=dtype)
    x = np.array([[30.0, 100.0, 1e4, -1e4, -30.0]], "float32")
    gradients = vector_jacobian_product(layer, x, np.ones_like(x))
    dx, da, db = gradients["inputs"], gradients["pelu/a"], gradients["pelu/b"]
    assert da.dtype == db.dtype == np.float32
    for values in (dx, da, db):
        assert np.all(np.isfinite(values))
    np.testing.assert_allclose(dx, [[1, 1, 1, 0, 0]], atol=1e-6)
    np.testing.assert_allclose(da, [30, 100, 1e4, -1, -1], rtol=1e-2, atol=1e-6)
    np.testing.assert_allclose(db, [-30, -100, -1e4, 0, 0], rtol=1e-2, atol=1e-6)


def test_input_gradient_keeps_its_precision_far_left(rng):
    # exp(x), not expm1(x) + 1, which loses all digits of exp(-20) = 2e-9.
    x = np.array([[-5.0, -10.0, -20.0]], "float32")
    gradients = vector_jacobian_product(
        keras_acts.PELU(channel_axis=None), x, np.ones_like(x)
    )
    np.testing.assert_allclose(gradients["inputs"], np.exp(x), rtol=1e-5)


@pytest.mark.parametrize("dtype", ["mixed_float16", "mixed_bfloat16"])
def test_parameter_gradients_are_summed_in_float32(dtype):
    # Four elements of 30000: the sums, 1.2e5, are beyond float16's 65504.
    layer = keras_acts.PELU(channel_axis=None, dtype=dtype)
    x = np.full((4, 1), 30000.0, "float32")
    gradients = vector_jacobian_product(layer, x, np.ones_like(x))
    np.testing.assert_allclose(gradients["pelu/a"], 1.2e5, rtol=1e-2)
    np.testing.assert_allclose(gradients["pelu/b"], -1.2e5, rtol=1e-2)


def test_gradient_is_finite_at_infinity():
    x = np.array([[-np.inf, np.inf]], "float32")
    gradients = vector_jacobian_product(
        keras_acts.PELU(channel_axis=None), x, np.ones_like(x)
    )
    np.testing.assert_array_equal(gradients["inputs"], [[0.0, 1.0]])
    assert not np.any(np.isnan(gradients["pelu/b"]))


def _a_and_b_after_one_step_towards_negative(layer):
    # Channel 0 reaches +5 from x = -1 only with a < 0, channel 1 reaches +50
    # from x = 1 faster with a smaller b: one SGD step takes a[0] to about
    # -2.6 and b[1] to about -48 unless the constraints project them back.
    model = keras.Sequential([keras.Input((2,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    x = np.tile(np.array([[-1.0, 1.0]], "float32"), (8, 1))
    y = np.tile(np.array([[5.0, 50.0]], "float32"), (8, 1))
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    return (
        keras.ops.convert_to_numpy(layer.a)[0],
        keras.ops.convert_to_numpy(layer.b)[1],
    )


def test_default_constraints_keep_a_and_b_positive():
    a, b = _a_and_b_after_one_step_towards_negative(keras_acts.PELU())
    np.testing.assert_allclose([a, b], [0.1, 0.1])
    a, b = _a_and_b_after_one_step_towards_negative(
        keras_acts.PELU(a_constraint=None, b_constraint=None)
    )
    assert a < -1.0 and b < -1.0


def test_min_value_constraint_round_trips():
    constraint = keras.constraints.deserialize(
        keras.constraints.serialize(_MinValue(0.5))
    )
    assert isinstance(constraint, _MinValue) and constraint.min_value == 0.5
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(constraint(keras.ops.array([-1.0, 0.2, 3.0]))),
        [0.5, 0.5, 3.0],
    )


def _build(**arguments):
    """The layer, or None after a ValueError naming an argument."""
    try:
        return keras_acts.PELU(**arguments)
    except ValueError as error:
        assert any(f"{name}=" in str(error) for name in arguments), str(error)
        return None


@settings(max_examples=25, deadline=None)
@given(
    a=st.one_of(
        st.floats(0.1, 3.0), st.sampled_from([0.0, -1.0, np.nan, np.inf, True, "ones"])
    ),
    b=st.one_of(st.floats(0.1, 3.0), st.sampled_from([0.0, -0.5, np.nan, None, "x"])),
    dtype=st.sampled_from(["float32", "float16", "int32"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_arguments_give_the_right_value_or_a_clear_error(a, b, dtype, seed):
    arguments = {"a_initializer": a}
    if b is not None:
        arguments["b_initializer"] = b
    layer = _build(**arguments)
    if layer is None:
        return
    x = (3 * np.random.default_rng(seed).normal(size=(2, 3))).astype(dtype)
    outputs = np.asarray(keras.ops.convert_to_numpy(layer(x)), np.float64)
    a_value = np.asarray(keras.ops.convert_to_numpy(layer.a), np.float64)
    b_value = np.asarray(keras.ops.convert_to_numpy(layer.b), np.float64)
    assert np.all(np.isfinite(outputs))
    tolerance = 1e-2 if dtype == "float16" else 1e-5
    np.testing.assert_allclose(
        outputs,
        np_pelu(x.astype(np.float64), a_value, b_value),
        rtol=tolerance,
        atol=tolerance,
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"a_initializer": 0}, "a_initializer=0"),
        ({"b_initializer": -1.0}, "b_initializer=-1.0"),
        ({"a_constraint": "x"}, "a_constraint='x'"),
        ({"b_regularizer": 3}, "b_regularizer=3"),
        ({"channel_axis": "first"}, "channel_axis='first'"),
        ({"shared_axes": -1}, "shared_axes=-1"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_acts.PELU(**kwargs)


def test_invalid_min_value():
    with pytest.raises(ValueError, match="min_value=0"):
        _MinValue(0)


@pytest.mark.parametrize(
    "kwargs, input_shape, match",
    [
        ({"channel_axis": -3}, (None, 4), "channel_axis=-3"),
        ({}, (None, 4, None), "channel axis must be known"),
        ({"shared_axes": [3]}, (None, 4, 5), "shared_axes"),
        ({}, (4,), "rank >= 2"),
    ],
)
def test_invalid_shapes(kwargs, input_shape, match):
    with pytest.raises(ValueError, match=match):
        keras_acts.PELU(**kwargs).build(input_shape)
