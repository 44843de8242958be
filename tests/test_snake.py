"""Snake's own checks; those it shares with the other learnable
activations are in test_learnable_activations.py."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from layer_checks import GRADIENT_TOLERANCE, SNAKE_ALPHAS, np_snake, np_snake_gradients

import keras_acts
from keras_acts.testing import check_gradients, vector_jacobian_product


def _layer(alpha, x, **kwargs):
    layer = keras_acts.Snake(**kwargs)
    layer.build(x.shape)
    layer.alpha.assign(np.asarray(alpha, "float32"))
    return layer


def test_small_zero_and_negative_alpha(rng):
    x = (3 * rng.normal(size=(16, len(SNAKE_ALPHAS)))).astype("float32")
    layer = _layer(SNAKE_ALPHAS, x)
    outputs = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(outputs, np_snake(x, SNAKE_ALPHAS), rtol=1e-6, atol=1e-6)
    # alpha = 0 is exactly the identity.
    np.testing.assert_array_equal(outputs[:, 5], x[:, 5])


def test_series_near_alpha_zero_is_accurate_in_float64():
    # alpha * x on both sides of the 1e-2 threshold of sinc's series: the
    # periodic part f(x) - x to float64 precision (a wrong series term shows
    # as a relative error of t**2 / 3, 3e-5 here; float32 cannot resolve it).
    if keras.backend.backend() == "jax":
        pytest.skip("Keras computes the sine of float64 in float32 on JAX")
    alpha = np.array([1e-4, 5e-3, 9.9e-3, 1.01e-2, 2e-2, -9.9e-3])
    x = np.array([[1.0] * len(alpha), [-0.7] * len(alpha)])
    layer = keras_acts.Snake(dtype="float64")
    layer.build(x.shape)
    layer.alpha.assign(alpha)
    outputs = layer(keras.ops.convert_to_tensor(x, dtype="float64"))
    periodic = keras.ops.convert_to_numpy(outputs) - x
    np.testing.assert_allclose(periodic, np_snake(x, alpha) - x, rtol=1e-9)


def test_negative_alpha_mirrors_the_ripples(rng):
    x = rng.normal(size=(6, 3)).astype("float32")
    alpha = np.array([0.5, 1.0, 2.0], "float32")
    above = keras.ops.convert_to_numpy(_layer(alpha, x)(x))
    below = keras.ops.convert_to_numpy(_layer(-alpha, x)(x))
    np.testing.assert_allclose(above - x, x - below, rtol=1e-5, atol=1e-6)
    assert np.all(below <= x + 1e-6)


@pytest.mark.parametrize("alpha", [0.0, 1e-8, -2.0])
def test_gradients_at_extreme_alpha(alpha, rng):
    x = rng.normal(size=(3, 4))
    layer = keras_acts.Snake(alpha, channel_axis=None)
    check_gradients(layer, x, tolerance=GRADIENT_TOLERANCE)


def test_gradient_at_alpha_zero_is_the_limit(rng):
    # d/dalpha of sin(alpha x)**2 / alpha = alpha x**2 - alpha**3 x**4 / 3 + ...
    # is x**2 at alpha = 0; d/dx is 1.
    x = (2 * rng.normal(size=(4, 3))).astype("float32")
    gradients = vector_jacobian_product(_layer([0.0] * 3, x), x, np.ones_like(x))
    np.testing.assert_allclose(gradients["inputs"], np.ones_like(x))
    np.testing.assert_allclose(gradients["snake/alpha"], np.sum(x**2, 0), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_finite_in_every_precision(dtype, rng):
    alpha = np.array([0.0, 1e-8, 1e-5, -1e-8, 1.0, -3.0, 50.0], "float32")
    x = rng.normal(size=(4, len(alpha))).astype("float32")
    layer = keras_acts.Snake(dtype=dtype)
    layer.build(x.shape)
    layer.alpha.assign(alpha)
    # Large inputs and frequencies: finite values and gradients (x * x = 9e4
    # is past float16's largest value, 65504).
    large = np.concatenate([x, np.full((1, len(alpha)), 300.0, "float32")])
    outputs = keras.ops.convert_to_numpy(keras.ops.cast(layer(large), "float32"))
    gradients = vector_jacobian_product(layer, large, np.ones_like(large))
    for values in (outputs, gradients["inputs"], gradients["snake/alpha"]):
        assert np.all(np.isfinite(values))
    # Moderate ones (alpha * x within a few units, all but alpha = 50): close
    # to the float64 reference, to the compute dtype's precision. The alpha
    # gradient is formed in float32; alpha = 1e-8, 0 in float16, gives its
    # limit there.
    tolerance = 1e-5 if dtype == "float32" else 5e-2
    np.testing.assert_allclose(
        outputs[:4, :6], np_snake(x, alpha)[:, :6], rtol=tolerance, atol=tolerance
    )
    gradients = vector_jacobian_product(layer, x, np.ones_like(x))
    dx, dalpha = np_snake_gradients(x, alpha.astype("float64"))
    np.testing.assert_allclose(
        gradients["inputs"][:, :6], dx[:, :6], rtol=tolerance, atol=tolerance
    )
    np.testing.assert_allclose(
        gradients["snake/alpha"][:6],
        dalpha.sum(0)[:6],
        rtol=tolerance,
        atol=tolerance,
    )


def test_alpha_trains_towards_a_periodic_target():
    # One step of gradient descent on the frequency moves it in the direction
    # that lowers the loss.
    x = np.linspace(-3, 3, 64, dtype="float32").reshape(-1, 1)
    y = x + np.sin(2.0 * x) ** 2 / 2.0
    layer = keras_acts.Snake(alpha_initializer=1.5)
    model = keras.Sequential([keras.Input((1,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=5, batch_size=64, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before
    assert 1.5 < float(keras.ops.convert_to_numpy(layer.alpha)[0]) < 2.5


@settings(max_examples=10, deadline=None)
@given(
    hnp.arrays(
        "float32",
        hnp.array_shapes(min_dims=2, max_dims=4),
        elements=st.floats(-50, 50, width=32, allow_subnormal=False),
    ),
    st.floats(-10, 10, width=32),
)
def test_values_for_any_alpha(x, alpha):
    layer = keras_acts.Snake(alpha, channel_axis=None)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)),
        np_snake(x, np.float64(np.float32(alpha))),
        rtol=1e-5,
        atol=1e-4,
    )


@pytest.mark.parametrize("dtype", ["mixed_float16", "float16"])
def test_finite_near_the_largest_float16(dtype):
    x = np.array([[-65504.0, -65472.0, -65000.0, 65504.0]], "float16")
    outputs = keras_acts.Snake(dtype=dtype)(x)
    reference = np_snake(x.astype("float64"), np.float64(1.0))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.ops.cast(outputs, "float32")),
        reference,
        rtol=1e-3,
    )
