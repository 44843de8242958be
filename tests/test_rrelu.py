"""RReLU's own checks; those it shares with the other learnable
activations are in test_learnable_activations.py."""

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from layer_checks import GRADIENT_TOLERANCE
from test_properties import (
    FLOATS,
    SETTINGS,
    assert_matches,
    build,
    floating,
    inputs,
    maybe,
)

import keras_acts
from keras_acts.testing import check_gradients, vector_jacobian_product


def np_leaky_relu(x, slope):
    return np.where(x >= 0, x, slope * x)


def _numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def _training_slopes(layer, shape):
    """The slopes a training call draws, seen through negative inputs."""
    return -_numpy(layer(-np.ones(shape, "float32"), training=True))


@pytest.mark.parametrize("lower, upper", [(1 / 8, 1 / 3), (0.1, 0.3), (0.0, 1.0)])
def test_inference_matches_torch(lower, upper, rng):
    torch = pytest.importorskip("torch")
    x = (3 * rng.normal(size=(4, 5, 6))).astype("float32")
    x[0, 0, :3] = [0.0, -0.0, -1e-30]
    expected = torch.nn.RReLU(lower, upper).eval()(torch.from_numpy(x)).numpy()
    layer = keras_acts.RReLU(lower, upper)
    np.testing.assert_array_equal(_numpy(layer(x)), expected)
    np.testing.assert_array_equal(_numpy(layer(x, training=False)), expected)
    np.testing.assert_array_equal(expected, np_leaky_relu(x, (lower + upper) / 2))


def test_training_slopes_are_uniform():
    lower, upper = 0.1, 0.4
    slopes = _training_slopes(keras_acts.RReLU(lower, upper, seed=0), (100, 1000))
    slopes = slopes.ravel().astype("float64")
    assert slopes.min() >= lower and slopes.max() <= upper
    # The standard error of the mean is (upper - lower) / sqrt(12 * 1e5) ~ 3e-4.
    np.testing.assert_allclose(slopes.mean(), (lower + upper) / 2, atol=2e-3)
    np.testing.assert_allclose(slopes.var(), (upper - lower) ** 2 / 12, rtol=3e-2)
    try:
        from scipy import stats
    except ImportError:
        # Twenty bins of about 5000 each: a binomial spread of about 70.
        counts, _ = np.histogram(slopes, bins=20, range=(lower, upper))
        assert np.all(np.abs(counts - len(slopes) / 20) < 500), counts
    else:
        result = stats.kstest(slopes, "uniform", args=(lower, upper - lower))
        assert result.pvalue > 1e-4, result


def test_training_keeps_positive_inputs_and_scales_negative_ones(rng):
    x = (3 * rng.normal(size=(64, 32))).astype("float32")
    x[0, :2] = [0.0, -0.0]
    layer = keras_acts.RReLU(0.1, 0.3, seed=1)
    outputs = _numpy(layer(x, training=True))
    positive = x >= 0
    np.testing.assert_array_equal(outputs[positive], x[positive])
    slopes = outputs[~positive] / x[~positive]
    assert np.all((slopes >= 0.1 - 1e-6) & (slopes <= 0.3 + 1e-6))
    # One slope per element: hardly any two are equal.
    assert len(np.unique(slopes)) > 0.99 * len(slopes)


def test_slopes_are_fresh_at_each_call_and_reproducible_from_the_seed():
    layer = keras_acts.RReLU(seed=5)
    first = _training_slopes(layer, (4, 50))
    second = _training_slopes(layer, (4, 50))
    assert not np.allclose(first, second)
    twin = keras_acts.RReLU(seed=5)
    np.testing.assert_array_equal(_training_slopes(twin, (4, 50)), first)
    np.testing.assert_array_equal(_training_slopes(twin, (4, 50)), second)
    other = keras_acts.RReLU(seed=6)
    assert not np.allclose(_training_slopes(other, (4, 50)), first)


@pytest.mark.parametrize("dtype", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_compute_dtype(dtype):
    layer = keras_acts.RReLU(0.1, 0.3, seed=2, dtype=dtype)
    x = -np.ones((8, 16), "float32")
    for training in (False, True):
        outputs = layer(x, training=training)
        assert keras.backend.standardize_dtype(outputs.dtype) == layer.compute_dtype
        slopes = -_numpy(keras.ops.cast(outputs, "float32"))
        assert np.all((slopes >= 0.1 - 1e-3) & (slopes <= 0.3 + 1e-3))
    integers = layer(np.array([[-4, 0, 3]], "int32"))
    assert keras.backend.standardize_dtype(integers.dtype) == layer.compute_dtype
    np.testing.assert_allclose(
        _numpy(keras.ops.cast(integers, "float32")), [[-0.8, 0.0, 3.0]], rtol=1e-2
    )


def _spread(y_true, y_pred):
    return keras.ops.max(y_pred) - keras.ops.min(y_pred)


def test_fit_uses_the_training_path_and_predict_the_inference_one():
    # All inputs are -1, so the outputs are minus the slopes: spread out in
    # fit, all equal to the mean slope in evaluate and predict.
    model = keras.Sequential(
        [
            keras.Input((16,)),
            # Something to train (at a rate of 0), so that fit does not warn.
            keras.layers.Dense(16, use_bias=False, kernel_initializer="identity"),
            keras_acts.RReLU(0.1, 0.3, seed=0),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse", metrics=[_spread])
    x = -np.ones((32, 16), "float32")
    history = model.fit(x, np.zeros_like(x), batch_size=32, epochs=2, verbose=0)
    assert all(spread > 0.1 for spread in history.history["_spread"])
    assert model.evaluate(x, np.zeros_like(x), verbose=0)[1] == 0.0
    np.testing.assert_allclose(model.predict(x, verbose=0), -0.2, rtol=1e-6)


def test_inference_gradient_is_the_mean_slope(rng):
    x = (2 * rng.normal(size=(5, 6))).astype("float32")
    upstream = rng.normal(size=x.shape).astype("float32")
    gradients = vector_jacobian_product(keras_acts.RReLU(0.1, 0.3), x, upstream)
    assert set(gradients) == {"inputs"}
    np.testing.assert_allclose(
        gradients["inputs"], upstream * np.where(x >= 0, 1.0, 0.2), rtol=1e-6
    )
    check_gradients(keras_acts.RReLU(0.1, 0.3), x, tolerance=GRADIENT_TOLERANCE)


def test_training_gradient_is_the_slope_used(rng):
    # Two layers of the same seed draw the same slopes at their first call:
    # one shows them (output / x), the other's gradient must equal them.
    x = (2 * rng.normal(size=(6, 40))).astype("float32")
    x[0, :2] = [0.0, -0.0]
    upstream = rng.normal(size=x.shape).astype("float32")
    outputs = _numpy(keras_acts.RReLU(seed=9)(x, training=True))
    negative = x < 0
    slopes = np.ones_like(x)
    slopes[negative] = outputs[negative] / x[negative]
    layer = keras_acts.RReLU(seed=9)
    gradients = vector_jacobian_product(
        lambda inputs: layer(inputs, training=True), x, upstream
    )
    np.testing.assert_allclose(gradients["inputs"], upstream * slopes, rtol=1e-5)
    assert len(np.unique(slopes[negative])) > 0.99 * negative.sum()


@pytest.mark.parametrize("training", [False, True])
def test_equal_bounds_give_a_leaky_relu(training, rng):
    x = (3 * rng.normal(size=(4, 8))).astype("float32")
    layer = keras_acts.RReLU(0.25, 0.25)
    np.testing.assert_array_equal(
        _numpy(layer(x, training=training)),
        _numpy(keras.layers.LeakyReLU(negative_slope=0.25)(x)),
    )
    upstream = np.ones_like(x)
    gradients = vector_jacobian_product(
        lambda inputs: layer(inputs, training=training), x, upstream
    )
    np.testing.assert_array_equal(gradients["inputs"], np.where(x >= 0, 1.0, 0.25))


def test_numpy_arguments_are_stored_as_python_numbers():
    config = keras_acts.RReLU(
        np.float32(0.25), np.float64(0.5), np.int64(3)
    ).get_config()
    assert (config["lower"], config["upper"], config["seed"]) == (0.25, 0.5, 3)
    assert type(config["seed"]) is int


@SETTINGS
@given(
    lower=maybe(FLOATS),
    upper=maybe(FLOATS),
    seed=maybe(st.integers(0, 2**31 - 1)),
    x=inputs((3,)),
    training=st.booleans(),
)
def test_properties(lower, upper, seed, x, training):
    layer = build(keras_acts.RReLU, {"lower": lower, "upper": upper, "seed": seed})
    if layer is None:
        return
    outputs = layer(x, training=training)
    values = floating(x)
    dtype = str(x.dtype)
    if dtype in ("int32", "uint8", "bool"):
        assert keras.backend.standardize_dtype(outputs.dtype) == "float32"
    if not training or layer.lower == layer.upper:
        expected = np_leaky_relu(values, (layer.lower + layer.upper) / 2)
        assert_matches(outputs, expected, dtype)
        return
    actual = floating(_numpy(outputs))
    assert_matches(
        np.where(values >= 0, actual, 0), np.where(values >= 0, values, 0), dtype
    )
    negative = values < 0
    slopes = actual[negative] / values[negative]
    tolerance = 1e-3 if dtype == "float16" else 1e-6
    assert np.all(slopes >= layer.lower - tolerance)
    assert np.all(slopes <= layer.upper + tolerance)


def test_built_at_construction_like_keras_stateless_layers():
    assert keras.layers.LeakyReLU().built
    layer = keras_acts.RReLU(seed=0)
    assert layer.built
    assert layer.trainable_weights == []
    # Built or not, it runs on any shape.
    for shape in ((2, 3), (1, 4, 5)):
        x = -np.ones(shape, "float32")
        np.testing.assert_allclose(_numpy(layer(x)), x * (1 / 8 + 1 / 3) / 2, rtol=1e-6)
