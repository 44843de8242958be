"""Tools for testing layers: a finite-difference gradient check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np

__all__ = ["check_gradients"]


def _float64_copy(layer: keras.layers.Layer, inputs: np.ndarray):
    """Returns a float64 twin of `layer` holding the same weight values."""
    if not layer.built:
        layer(inputs.astype(layer.compute_dtype))
    config = layer.get_config()
    config["dtype"] = "float64"
    twin = layer.__class__.from_config(config)
    twin(inputs)
    if len(twin.weights) != len(layer.weights):
        raise ValueError(
            f"Could not make a float64 copy of layer {layer.name!r}: it has "
            f"{len(layer.weights)} weights, its copy {len(twin.weights)}."
        )
    for source, target in zip(layer.weights, twin.weights, strict=True):
        target.assign(np.asarray(keras.ops.convert_to_numpy(source), np.float64))
    return twin


def _autodiff(function, inputs, variables, projection):
    import tensorflow as tf

    x = tf.convert_to_tensor(inputs)
    with tf.GradientTape() as tape:
        tape.watch(x)
        scalar = tf.reduce_sum(function(x) * projection)
    gradients = tape.gradient(scalar, [x] + [v.value for v in variables])
    return [
        np.zeros(t.shape) if g is None else np.asarray(g, np.float64)
        for g, t in zip(gradients, [x] + list(variables), strict=True)
    ]


def _central_differences(scalar_of, point: np.ndarray, epsilon: float):
    gradient = np.zeros_like(point)
    for index in np.ndindex(point.shape):
        original = point[index]
        point[index] = original + epsilon
        upper = scalar_of(point)
        point[index] = original - epsilon
        lower = scalar_of(point)
        point[index] = original
        gradient[index] = (upper - lower) / (2 * epsilon)
    return gradient


def _relative_error(autodiff: np.ndarray, numeric: np.ndarray) -> float:
    scale = max(
        np.max(np.abs(numeric), initial=0.0), np.max(np.abs(autodiff), initial=0.0)
    )
    if scale == 0.0:
        return 0.0
    return float(np.max(np.abs(autodiff - numeric)) / scale)


def check_gradients(
    target: keras.layers.Layer | Callable[[Any], Any],
    inputs: Any,
    *,
    epsilon: float = 1e-6,
    tolerance: float | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Compares autodiff gradients with central finite differences in float64.

    The scalar checked is `sum(target(inputs) * P)` for a fixed random
    projection `P` (a plain sum would hide errors that cancel). Its gradient
    with respect to the inputs and to every trainable weight is computed twice,
    by the backend's automatic differentiation (so a custom gradient is what
    gets checked) and by central finite differences, everything in float64: a
    layer is copied from its config with `dtype="float64"` and given the same
    weight values. The error of a tensor is
    `max|autodiff - numeric| / max(max|numeric|, max|autodiff|)`.

    Each element costs two forward passes: keep the inputs and weights small
    (tens to a few hundred elements). Inputs within `epsilon` of a kink (0 for
    ReLU-like functions, ties for a maximum) give large errors by nature.

    Only the TensorFlow backend is supported for now.

    Args:
        target: A Keras layer, or a callable of one tensor that works in float64.
        inputs: The point at which to check, an array.
        epsilon: Step of the central differences. Defaults to `1e-6`.
        tolerance: If given, the largest error allowed; any tensor over it
            raises `AssertionError`. Defaults to `None`.
        seed: Seed of the random projection. Defaults to `0`.

    Returns:
        A dict mapping `"inputs"` and each trainable weight's path to the
        largest relative error found for it.

    Raises:
        AssertionError: If `tolerance` is given and some error exceeds it; the
            message names every such tensor.

    Example:
        ```python
        layer = keras_acts.PReLU()
        x = np.random.default_rng(0).normal(size=(4, 3))
        errors = keras_acts.testing.check_gradients(layer, x, tolerance=1e-6)
        ```
    """
    if keras.backend.backend() != "tensorflow":
        raise NotImplementedError(
            "check_gradients supports the TensorFlow backend only. "
            f"Received: backend={keras.backend.backend()!r}"
        )
    point = np.array(inputs, dtype=np.float64)
    if isinstance(target, keras.layers.Layer):
        twin = _float64_copy(target, point)
        function, variables = twin, list(twin.trainable_weights)
        names = ["inputs"] + [v.path for v in target.trainable_weights]
    elif callable(target):
        function, variables, names = target, [], ["inputs"]
    else:
        raise ValueError(
            f"`target` must be a Keras layer or a callable. Received: {target!r}"
        )

    output = np.asarray(keras.ops.convert_to_numpy(function(point)), np.float64)
    projection = np.random.default_rng(seed).normal(size=output.shape)

    def scalar_at(x):
        out = keras.ops.convert_to_numpy(function(x))
        return float(np.sum(np.asarray(out, np.float64) * projection))

    autodiff = _autodiff(function, point, variables, projection)
    numeric = [_central_differences(scalar_at, point, epsilon)]
    for variable in variables:
        values = np.array(keras.ops.convert_to_numpy(variable), np.float64)

        def scalar_at_weight(w, variable=variable):
            variable.assign(w)
            return scalar_at(point)

        numeric.append(_central_differences(scalar_at_weight, values, epsilon))
        variable.assign(values)

    errors = {
        name: _relative_error(a, n)
        for name, a, n in zip(names, autodiff, numeric, strict=True)
    }
    if tolerance is not None:
        failing = {name: e for name, e in errors.items() if not e <= tolerance}
        if failing:
            listed = ", ".join(f"{name}: {e:.3g}" for name, e in failing.items())
            raise AssertionError(
                f"Gradients differ from finite differences by more than "
                f"tolerance={tolerance}: {listed}"
            )
    return errors
