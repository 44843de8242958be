import keras
import numpy as np
import pytest
from layer_checks import GRADIENT_TOLERANCE, run_layer_checks

import keras_acts
from keras_acts.testing import check_gradients


def np_maxout_dense(x, kernel, bias, units, pieces):
    affine = x @ kernel + bias
    return affine.reshape(affine.shape[:-1] + (units, pieces)).max(axis=-1)


@pytest.mark.parametrize(
    "kwargs, input_shape",
    [
        ({"units": 3}, (4, 5)),
        ({"units": 2, "pieces": 4}, (2, 3, 5)),
        ({"units": 3, "use_bias": False, "kernel_regularizer": "l2"}, (4, 5)),
        (
            {"units": 2, "kernel_constraint": "max_norm", "bias_initializer": "ones"},
            (4, 3),
        ),
    ],
)
def test_layer_checks(kwargs, input_shape, tmp_path):
    run_layer_checks(keras_acts.MaxoutDense, kwargs, input_shape, tmp_path)


@pytest.mark.parametrize("input_shape", [(4, 5), (2, 3, 5), (2, 2, 3, 5)])
def test_values_against_numpy(input_shape, rng):
    x = rng.normal(size=input_shape).astype("float32")
    layer = keras_acts.MaxoutDense(3, pieces=4, bias_initializer="random_normal")
    out = layer(x)
    assert layer.kernel.shape == (5, 12) and layer.bias.shape == (12,)
    expected = np_maxout_dense(x, layer.kernel.numpy(), layer.bias.numpy(), 3, 4)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(out), expected, rtol=1e-5, atol=1e-6
    )


def test_equals_dense_followed_by_maxout(rng):
    x = rng.normal(size=(6, 5)).astype("float32")
    layer = keras_acts.MaxoutDense(4, pieces=3, bias_initializer="random_normal")
    out = layer(x)
    dense = keras.layers.Dense(12)
    dense.build(x.shape)
    dense.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(out),
        keras.ops.convert_to_numpy(keras_acts.Maxout(4)(dense(x))),
        rtol=1e-6,
    )


def test_gradients(rng):
    layer = keras_acts.MaxoutDense(2, pieces=3, bias_initializer="random_normal")
    errors = check_gradients(
        layer, rng.normal(size=(3, 4)), tolerance=GRADIENT_TOLERANCE
    )
    assert set(errors) == {"inputs", "maxout_dense/kernel", "maxout_dense/bias"}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"units": 0}, "units=0"),
        ({"units": 3, "pieces": 0}, "pieces=0"),
        ({"units": "8"}, "units='8'"),
        ({"units": 3, "kernel_initializer": "nope"}, "nope"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_acts.MaxoutDense(**kwargs)


def test_unknown_input_dim_is_rejected():
    with pytest.raises(ValueError, match="known size on the last axis"):
        keras_acts.MaxoutDense(3).build((None, None))


@pytest.mark.parametrize("pieces", [1, 2, 3])
@pytest.mark.parametrize("input_shape", [(0, 5), (0, 2, 5)])
def test_an_empty_batch_loses_the_pieces_axis(pieces, input_shape):
    layer = keras_acts.MaxoutDense(4, pieces=pieces)
    outputs = keras.ops.convert_to_numpy(layer(np.zeros(input_shape, "float32")))
    assert outputs.shape == input_shape[:-1] + (4,)
    assert outputs.dtype == np.float32
