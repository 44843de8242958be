"""PReLU's own checks; those it shares with the other learnable
activations are in test_learnable_activations.py."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from layer_checks import np_prelu

import keras_acts


def test_default_alpha_is_the_papers_quarter():
    layer = keras_acts.PReLU()
    layer.build((None, 3))
    np.testing.assert_array_equal(layer.alpha.numpy(), [0.25, 0.25, 0.25])
    assert layer.alpha.path.endswith("alpha")


# A 0-d array too: what NumPy gives for an element or a reduction of an array.
@pytest.mark.parametrize("value", [0.1, np.float32(0.1), np.array(0.1)])
def test_number_initializer_is_a_constant(value):
    layer = keras_acts.PReLU(alpha_initializer=value)
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
