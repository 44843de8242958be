import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_acts.testing import check_gradients


@tf.custom_gradient
def sine_with_wrong_gradient(x):
    return tf.sin(x), lambda upstream: upstream * tf.sin(x)


class ScaleWithWrongGradient(keras.layers.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, inputs):
        @tf.custom_gradient
        def scaled(x, scale):
            def grad(upstream):
                # The weight's gradient is off by a factor of 2.
                return upstream * scale, 2 * tf.reduce_sum(upstream * x, axis=0)

            return x * scale, grad

        return scaled(inputs, tf.cast(self.scale, inputs.dtype))


def test_correct_gradient_passes(rng):
    errors = check_gradients(tf.sin, rng.normal(size=(3, 4)), tolerance=1e-7)
    assert errors["inputs"] < 1e-7


def test_wrong_input_gradient_is_caught(rng):
    x = rng.normal(size=(3, 4))
    assert check_gradients(sine_with_wrong_gradient, x)["inputs"] > 0.1
    with pytest.raises(AssertionError, match="inputs"):
        check_gradients(sine_with_wrong_gradient, x, tolerance=1e-4)


def test_wrong_weight_gradient_is_caught_and_named(rng):
    layer = ScaleWithWrongGradient(name="scale_layer")
    x = rng.normal(size=(3, 2))
    errors = check_gradients(layer, x)
    assert errors["inputs"] < 1e-7
    assert errors["scale_layer/variable"] > 0.4
    with pytest.raises(AssertionError, match="scale_layer/variable") as info:
        check_gradients(layer, x, tolerance=1e-4)
    assert "inputs" not in str(info.value)


def test_weights_are_left_unchanged(rng):
    layer = keras.layers.Dense(3)
    x = rng.normal(size=(2, 4))
    layer(x)
    before = [w.copy() for w in layer.get_weights()]
    check_gradients(layer, x, tolerance=1e-6)
    for b, a in zip(before, layer.get_weights(), strict=True):
        np.testing.assert_array_equal(b, a)


def test_rejects_non_callable():
    with pytest.raises(ValueError, match="target"):
        check_gradients(42, np.zeros((1, 1)))
