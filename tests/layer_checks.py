"""One small helper that runs the checks every keras_acts layer must pass."""

from __future__ import annotations

import json
from collections.abc import Callable

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


def run_layer_checks(
    make_layer: Callable[[], keras.layers.Layer],
    input_shape: tuple,
    tmp_path,
    seed: int = 0,
) -> None:
    """Config and JSON round trips, symbolic shapes, a fit step, .keras save/load.

    `input_shape` includes the batch size of the data used.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=input_shape).astype("float32")

    layer = make_layer()
    config = layer.get_config()
    json.dumps(config)  # every value must be JSON-serializable
    revived = layer.__class__.from_config(config)
    assert revived.get_config() == config

    symbolic = layer(keras.Input(shape=input_shape[1:]))
    expected = layer.compute_output_shape((None,) + tuple(input_shape[1:]))
    assert tuple(symbolic.shape) == tuple(expected)
    assert tuple(layer(x).shape) == (input_shape[0],) + tuple(expected[1:])

    model = _wrap(make_layer(), input_shape)
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
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, epochs=1, batch_size=input_shape[0], verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(
        not np.array_equal(b, a)
        for b, a in zip(before, model.get_weights(), strict=True)
    )
