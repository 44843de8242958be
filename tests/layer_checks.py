"""What the layers' tests share: the checks every keras_acts layer must pass,
and the NumPy references of the learnable activations."""

from __future__ import annotations

import inspect
import json
from typing import Any

import keras
import numpy as np

# check_gradients tolerance. Only TensorFlow keeps float64 through every op;
# JAX and PyTorch compute type-promoting ops in float32 (see its docstring).
GRADIENT_TOLERANCE = 1e-6 if keras.backend.backend() == "tensorflow" else 1e-3


def _wrap(layer: keras.layers.Layer, input_shape: tuple) -> keras.Model:
    inputs = keras.Input(shape=input_shape[1:], batch_size=None)
    outputs = layer(inputs)
    if len(outputs.shape) > 2:
        outputs = keras.layers.Flatten()(outputs)
    return keras.Model(inputs, keras.layers.Dense(1)(outputs))


def _check_config(layer_class: type, kwargs: dict[str, Any]) -> None:
    """The config names every constructor argument, holds what was passed
    (not what the default would give), and revives to the same config."""
    parameters = {
        name: parameter
        for name, parameter in inspect.signature(
            layer_class.__init__
        ).parameters.items()
        if name != "self" and parameter.kind is parameter.POSITIONAL_OR_KEYWORD
    }
    required = {
        name: kwargs[name]
        for name, parameter in parameters.items()
        if parameter.default is inspect.Parameter.empty
    }
    config = layer_class(**kwargs).get_config()
    json.dumps(config)  # every value must be JSON-serializable
    missing = sorted(set(parameters) - set(config))
    assert missing == [], f"get_config() drops {missing}"
    default_config = layer_class(**required).get_config()
    for name, value in kwargs.items():
        if name not in required and value != parameters[name].default:
            assert config[name] != default_config[name], (
                f"get_config() does not keep {name}={value!r}"
            )
    revived = layer_class.from_config(config)
    assert revived.get_config() == config


def run_layer_checks(
    layer_class: type,
    kwargs: dict[str, Any],
    input_shape: tuple,
    tmp_path,
    seed: int = 0,
) -> None:
    """Config and JSON round trips, symbolic shapes, a fit step that trains
    the layer's own weights, .keras save/load.

    `input_shape` includes the batch size of the data used.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=input_shape).astype("float32")

    _check_config(layer_class, kwargs)

    def make_layer():
        return layer_class(**kwargs)

    layer = make_layer()
    symbolic = layer(keras.Input(shape=input_shape[1:]))
    expected = layer.compute_output_shape((None,) + tuple(input_shape[1:]))
    assert tuple(symbolic.shape) == tuple(expected)
    assert tuple(layer(x).shape) == (input_shape[0],) + tuple(expected[1:])

    own = make_layer()
    model = _wrap(own, input_shape)
    reference = model.predict(x, verbose=0)

    from_json = keras.models.model_from_json(model.to_json())
    from_json.set_weights(model.get_weights())
    np.testing.assert_allclose(from_json.predict(x, verbose=0), reference, rtol=1e-6)

    path = tmp_path / f"{layer.__class__.__name__}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), reference)

    y = rng.normal(size=(input_shape[0], 1)).astype("float32")
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    before = [keras.ops.convert_to_numpy(w).copy() for w in own.trainable_weights]
    history = model.fit(x, y, epochs=1, batch_size=input_shape[0], verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # Every trainable weight of the layer itself moved.
    for weight, value in zip(own.trainable_weights, before, strict=True):
        assert not np.array_equal(keras.ops.convert_to_numpy(weight), value), (
            f"{weight.path} did not train"
        )


# NumPy references, elementwise; the parameters broadcast against x.


def np_prelu(x, alpha):
    return np.where(x > 0, x, alpha * x)


def np_parametric_elu(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def np_pelu(x, a, b):
    return np.where(x >= 0, a / b * x, a * np.expm1(np.minimum(x, 0) / b))


def np_srelu(x, t_left, a_left, t_right, a_right):
    right = t_left + np.abs(t_right)
    return np.where(
        x < t_left,
        t_left + a_left * (x - t_left),
        np.where(x > right, right + a_right * (x - right), x),
    )


def np_sigmoid(z):
    # Without overflow in exp for either sign.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def np_swish(x, beta):
    return x * np_sigmoid(beta * x)


def np_snake(x, alpha):
    x, alpha = np.broadcast_arrays(np.asarray(x, np.float64), alpha)
    safe = np.where(alpha == 0, 1.0, alpha)
    return np.where(alpha == 0, x, x + np.sin(alpha * x) ** 2 / safe)


def np_snake_gradients(x, alpha):
    """d/dx and d/dalpha, elementwise; d/dalpha tends to x**2 at alpha = 0."""
    x, alpha = np.broadcast_arrays(np.asarray(x, np.float64), alpha)
    safe = np.where(alpha == 0, 1.0, alpha)
    dx = 1 + np.sin(2 * alpha * x)
    dalpha = x * np.sin(2 * alpha * x) / safe - np.sin(alpha * x) ** 2 / safe**2
    return dx, np.where(alpha == 0, x**2, dalpha)


# Snake's large, ordinary, small, tiny, zero and negative frequencies.
SNAKE_ALPHAS = np.array([20.0, 1.0, 0.3, 1e-3, 1e-8, 0.0, -1e-8, -0.5], "float32")
