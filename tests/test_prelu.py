import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from layer_checks import GRADIENT_TOLERANCE, run_layer_checks

import keras_acts
from keras_acts.testing import check_gradients, vector_jacobian_product


def np_prelu(x, alpha):
    return np.where(x > 0, x, alpha * x)


@pytest.mark.parametrize(
    "kwargs, input_shape",
    [
        ({}, (4, 5)),
        ({}, (2, 3, 4, 5)),
        ({"channel_axis": 1}, (2, 3, 4, 5)),
        ({"channel_axis": None}, (2, 3, 4)),
        ({"shared_axes": [1, 2]}, (2, 3, 4, 5)),
        ({"alpha_regularizer": "l2", "alpha_constraint": "non_neg"}, (4, 6)),
    ],
)
def test_layer_checks(kwargs, input_shape, tmp_path):
    run_layer_checks(keras_acts.PReLU, kwargs, input_shape, tmp_path)


@pytest.mark.parametrize(
    "kwargs, input_shape, alpha_shape, broadcast",
    [
        ({}, (2, 3, 4, 5), (5,), (1, 1, 1, 5)),
        ({"channel_axis": 1}, (2, 3, 4, 5), (3,), (1, 3, 1, 1)),
        ({"channel_axis": -2}, (2, 3, 4), (3,), (1, 3, 1)),
        ({"channel_axis": None}, (2, 3, 4), (), ()),
        ({"shared_axes": [1, 2]}, (2, 3, 4, 5), (1, 1, 5), (1, 1, 5)),
        ({"shared_axes": 2}, (2, 3, 4), (3, 1), (3, 1)),
        ({"shared_axes": []}, (2, 3, 4), (3, 4), (3, 4)),
    ],
)
def test_values_against_numpy(kwargs, input_shape, alpha_shape, broadcast, rng):
    x = rng.normal(size=input_shape).astype("float32")
    layer = keras_acts.PReLU(**kwargs)
    layer.build(x.shape)
    assert tuple(layer.alpha.shape) == alpha_shape
    alpha = rng.uniform(-1, 1, size=alpha_shape).astype("float32")
    layer.alpha.assign(alpha)
    expected = np_prelu(x, np.reshape(alpha, broadcast))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-6
    )


def test_default_alpha_is_the_papers_quarter():
    layer = keras_acts.PReLU()
    layer.build((None, 3))
    np.testing.assert_array_equal(layer.alpha.numpy(), [0.25, 0.25, 0.25])
    assert layer.alpha.path.endswith("alpha")


def test_number_initializer_is_a_constant():
    layer = keras_acts.PReLU(alpha_initializer=0.1)
    layer.build((None, 2))
    np.testing.assert_allclose(layer.alpha.numpy(), [0.1, 0.1])
    assert keras_acts.PReLU.from_config(layer.get_config()).alpha_initializer.value == (
        pytest.approx(0.1)
    )


def test_unknown_spatial_dimensions_work():
    inputs = keras.Input(shape=(None, None, 3))
    model = keras.Model(inputs, keras_acts.PReLU()(inputs))
    for size in (5, 9):
        x = np.random.default_rng(0).normal(size=(2, size, size, 3))
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(model(x)), np_prelu(x, 0.25), rtol=1e-6
        )


@pytest.mark.parametrize(
    "kwargs, input_shape",
    [({}, (3, 4)), ({"channel_axis": 1}, (2, 3, 2)), ({"shared_axes": [1]}, (2, 2, 3))],
)
def test_gradients(kwargs, input_shape, rng):
    x = rng.normal(size=input_shape)
    errors = check_gradients(
        keras_acts.PReLU(**kwargs), x, tolerance=GRADIENT_TOLERANCE
    )
    assert set(errors) == {"inputs", "p_re_lu/alpha"}


def test_gradient_formula(rng):
    x = rng.normal(size=(6, 3)).astype("float32")
    upstream = rng.normal(size=(6, 3)).astype("float32")
    layer = keras_acts.PReLU()
    gradients = vector_jacobian_product(layer, x, upstream)
    dx, dalpha = gradients["inputs"], gradients["p_re_lu/alpha"]
    np.testing.assert_allclose(dx, upstream * np.where(x > 0, 1.0, 0.25), rtol=1e-6)
    np.testing.assert_allclose(
        dalpha, np.sum(upstream * np.minimum(x, 0), axis=0), rtol=1e-5
    )


# TensorFlow on CPU flushes subnormal floats to zero in arithmetic.
finite = st.floats(-1e3, 1e3, width=32, allow_subnormal=False)


@settings(max_examples=25, deadline=None)
@given(hnp.arrays("float32", hnp.array_shapes(min_dims=2, max_dims=4), elements=finite))
def test_alpha_zero_is_relu_and_one_is_identity(x):
    relu_like = keras_acts.PReLU(alpha_initializer=0.0)
    identity = keras_acts.PReLU(alpha_initializer=1.0)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(relu_like(x)), np.maximum(x, 0)
    )
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(identity(x)), x)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"channel_axis": "last"}, "channel_axis"),
        ({"channel_axis": 1.0}, "channel_axis"),
        ({"shared_axes": 0}, "shared_axes"),
        ({"shared_axes": [1, "2"]}, "shared_axes"),
        ({"alpha_initializer": "no_such_initializer"}, "initializer"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_acts.PReLU(**kwargs)


@pytest.mark.parametrize(
    "kwargs, input_shape, match",
    [
        ({"channel_axis": 3}, (None, 4, 5), "channel_axis=3"),
        ({"channel_axis": 0}, (None, 4, 5), "channel_axis=0"),
        ({}, (None, None), "channel axis must be known"),
        ({}, (None,), "rank >= 2"),
        ({"shared_axes": [3]}, (None, 4, 5), "shared_axes"),
        ({"shared_axes": [1]}, (None, 4, None), "Axis 2 is not in `shared_axes`"),
    ],
)
def test_invalid_shapes(kwargs, input_shape, match):
    with pytest.raises(ValueError, match=match):
        keras_acts.PReLU(**kwargs).build(input_shape)


def test_wrong_channel_count_after_build_is_rejected():
    layer = keras_acts.PReLU()
    layer(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="axis -1|axis 1"):
        layer(np.zeros((1, 4)))


@pytest.mark.parametrize("input_shape", [(2, 5), (2, 3, 4), (2, 4, 4, 3)])
def test_per_element_slopes_migrate_keras_prelu_exactly(input_shape, rng):
    # keras.layers.PReLU() learns one slope per element, whatever the rank.
    x = rng.normal(size=input_shape).astype("float32")
    theirs = keras.layers.PReLU(alpha_initializer="random_uniform")
    ours = keras_acts.PReLU(shared_axes=[])
    theirs.build(x.shape)
    ours.build(x.shape)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(ours(x)), keras.ops.convert_to_numpy(theirs(x))
    )
    with pytest.raises(ValueError, match="Axis 2 is not in `shared_axes`"):
        keras_acts.PReLU(shared_axes=[]).build((None, 3, None))


@pytest.mark.parametrize("layer_class", [keras_acts.PReLU, keras_acts.ParametricELU])
def test_slope_gradient_beyond_float16_range_under_mixed_precision(layer_class):
    # The slopes' gradient, sum(upstream * min(x, 0)) = -1.2e5 here, is summed
    # in float32: a float16 slope in between (Keras's autocast) turned it into
    # -inf on PyTorch.
    layer = layer_class(channel_axis=None, dtype="mixed_float16")
    x = np.full((4, 1), -30000.0, "float32")
    gradients = vector_jacobian_product(layer, x, np.ones_like(x))
    (slope_gradient,) = [v for k, v in gradients.items() if k != "inputs"]
    expected = -120000.0 if layer_class is keras_acts.PReLU else -4.0
    np.testing.assert_allclose(slope_gradient, expected, rtol=1e-3)
