"""Tools for testing layers: a finite-difference gradient check."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from keras_acts import _backends, _validation

__all__ = ["check_gradients", "vector_jacobian_product"]


def _is_graph_model(layer: keras.layers.Layer) -> bool:
    """Whether `layer` is a Sequential or Functional model, which Keras clones
    layer by layer (a subclassed model has no `inputs`)."""
    return isinstance(layer, keras.Model) and hasattr(layer, "inputs")


def _float64_inputs(model: keras.Model, batch_shape=None):
    """New inputs for a clone of `model`, in its inputs' structure, float64
    where they are floating-point."""

    def like(tensor):
        dtype = tensor.dtype
        if keras.backend.is_float_dtype(dtype):
            dtype = "float64"
        shape = tensor.shape if batch_shape is None else batch_shape
        return keras.Input(batch_shape=shape, dtype=dtype)

    # A Sequential has one input and no `input` structure until called.
    if isinstance(model, keras.Sequential):
        return like(model.inputs[0])
    return keras.tree.map_structure(like, model.input)


def _float64_clone(layer: keras.layers.Layer, input_tensors=None):
    """A float64 clone of `layer`, with fresh weights; call it while the
    global dtype policy is float64. A model's dtype does not reach the layers
    inside it, nor the dtype its inputs are converted to (that of its `Input`
    layers): Sequential and Functional models, nested ones included, are
    cloned layer by layer onto float64 inputs."""
    if _is_graph_model(layer):
        if input_tensors is None:
            input_tensors = _float64_inputs(layer)
        return keras.models.clone_model(
            layer, input_tensors=input_tensors, clone_function=_float64_clone
        )
    # Sublayers that a layer makes in `__init__` or `build` take the global
    # policy, not the layer's own dtype.
    config = layer.get_config()
    config["dtype"] = "float64"
    return layer.__class__.from_config(config)


def _check_one_input(caller: str, target) -> None:
    """Refuses a model of several inputs, which Keras would otherwise fail
    to clone or call on one array with an error about structures."""
    if _is_graph_model(target) and len(target.inputs) != 1:
        raise ValueError(
            f"{caller} takes a layer or model with one input and one output. "
            f"Received: model {target.name!r} with {len(target.inputs)} inputs."
        )


def _one_output(caller: str, target, function):
    """`function`, returning its only output tensor (a model built on a list
    of one output returns a list of one tensor)."""

    what = (
        f"layer {target.name!r}"
        if isinstance(target, keras.layers.Layer)
        else f"callable {target!r}"
    )

    def single(inputs):
        outputs = keras.tree.flatten(function(inputs))
        if len(outputs) != 1:
            raise ValueError(
                f"{caller} takes a layer or model with one input and one "
                f"output. Received: {what} returning {len(outputs)} tensors."
            )
        if not keras.ops.is_tensor(outputs[0]):
            raise ValueError(
                f"{caller} differentiates the tensor that its target returns, "
                f"computed from the inputs. Received: {what} returning "
                f"{outputs[0]!r}."
            )
        return outputs[0]

    return single


def _float64_copy(layer: keras.layers.Layer, inputs: np.ndarray):
    """Returns a float64 twin of `layer` holding the same weight values: every
    layer in it, at any depth, computes in float64."""
    if not layer.built:
        layer(inputs.astype(layer.compute_dtype))
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        if _is_graph_model(layer):
            twin = _float64_clone(layer, _float64_inputs(layer, inputs.shape))
        else:
            twin = _float64_clone(layer)
            # Built as loading a saved layer builds it, and given the weights
            # before its first call: a layer whose state is not in its config
            # (an adapted Standardize's statistics) cannot run until then.
            build_config = layer.get_build_config()
            if build_config:
                twin.build_from_config(build_config)
        if not twin.built or len(twin.weights) != len(layer.weights):
            twin(inputs)
    finally:
        keras.config.set_dtype_policy(policy)
    if len(twin.weights) != len(layer.weights):
        raise ValueError(
            f"Could not make a float64 copy of layer {layer.name!r}: it has "
            f"{len(layer.weights)} weights, its copy {len(twin.weights)}."
        )
    for source, target in zip(layer.weights, twin.weights, strict=True):
        target.assign(np.asarray(keras.ops.convert_to_numpy(source), np.float64))
    return twin


def _tensor(array: np.ndarray):
    """A backend tensor of the array's own dtype (Keras converts float64 NumPy
    arrays to float32 on some backends)."""
    return keras.ops.convert_to_tensor(array, dtype=str(array.dtype))


def _as_upstream(outputs, upstream: np.ndarray):
    """`outputs * upstream` in the upstream's dtype (a mixed-precision layer
    returns float16 outputs for float32 inputs)."""
    outputs = keras.ops.cast(outputs, upstream.dtype)
    return outputs * keras.ops.convert_to_tensor(upstream)


def _backward(function, inputs, upstream, variables) -> list[np.ndarray]:
    """Gradients of `sum(function(inputs) * upstream)` with respect to the
    inputs and each of `variables` (the trainable weights of `function`, a
    layer, in its order), by the backend's automatic differentiation."""
    # Held in a variable of their own dtype, the inputs are differentiated like
    # the weights.
    x = keras.Variable(inputs, dtype=str(inputs.dtype), autocast=False, name="inputs")

    def scalar():
        outputs = function(x.value)
        if tuple(outputs.shape) != upstream.shape:
            raise ValueError(
                f"`upstream` must have the shape of the outputs, "
                f"{tuple(outputs.shape)}. Received upstream of shape "
                f"{upstream.shape}"
            )
        return keras.ops.sum(_as_upstream(outputs, upstream)), None

    _, _, gradients = _backends.module("autodiff").value_and_gradients(
        scalar, [x, *variables]
    )
    return [
        np.zeros(t.shape) if g is None else np.asarray(keras.ops.convert_to_numpy(g))
        for g, t in zip(gradients, [inputs] + list(variables), strict=True)
    ]


def vector_jacobian_product(
    target: keras.layers.Layer | Callable[[Any], Any],
    inputs: Any,
    upstream: Any,
) -> dict[str, np.ndarray]:
    """Gradients of `sum(target(inputs) * upstream)`, on any backend.

    The backend's own automatic differentiation computes them (TensorFlow's
    `GradientTape`, `jax.value_and_grad` or `torch.autograd`), so a layer's
    custom gradient is what gets returned: compare it with a formula in a
    test that runs on every backend.

    Args:
        target: A Keras layer (built on `inputs` if it is not built), or a
            callable of one tensor.
        inputs: The inputs, an array; its dtype is kept.
        upstream: The gradient flowing back into the outputs, an array of the
            outputs' shape.

    Returns:
        A dict mapping `"inputs"` and each trainable weight's path to its
        gradient as a NumPy array.

    Raises:
        ValueError: If `upstream`'s shape is not the outputs' shape, or
            `target` is a model of several inputs or returns several tensors.

    Example:
        ```python
        layer = keras_acts.PReLU(name="prelu")
        x = np.array([[-2.0, 3.0]], "float32")
        gradients = keras_acts.testing.vector_jacobian_product(
            layer, x, np.ones_like(x)
        )
        for name, gradient in gradients.items():
            print(name, gradient)
        ```

        ```text
        inputs [[0.25 1.  ]]
        prelu/alpha [-2.  0.]
        ```
    """
    inputs = np.asarray(inputs)
    variables = []
    names = ["inputs"]
    if isinstance(target, keras.layers.Layer):
        _check_one_input("vector_jacobian_product", target)
        if not target.built:
            target(inputs)
        variables = list(target.trainable_weights)
        names += [v.path for v in variables]
    elif not callable(target):
        raise ValueError(
            f"`target` must be a Keras layer or a callable. Received: {target!r}"
        )
    if not np.issubdtype(inputs.dtype, np.floating):
        raise ValueError(
            "vector_jacobian_product differentiates with respect to the inputs, "
            "which must be floating-point: integer and boolean inputs have no "
            f"gradient. Received inputs of dtype {inputs.dtype}"
        )
    upstream = np.asarray(upstream, inputs.dtype)
    function = _one_output("vector_jacobian_product", target, target)
    gradients = _backward(function, inputs, upstream, variables)
    return dict(zip(names, gradients, strict=True))


def _central_differences(scalar_of, point: np.ndarray, epsilon: float):
    """Central differences with a step of `epsilon` relative to each value's
    size (at least `epsilon`): an absolute step is lost in rounding at 1e8."""
    gradient = np.zeros_like(point)
    for index in np.ndindex(point.shape):
        original = point[index]
        step = epsilon * max(1.0, abs(float(original)))
        point[index] = original + step
        upper = scalar_of(point)
        point[index] = original - step
        lower = scalar_of(point)
        point[index] = original
        gradient[index] = (upper - lower) / (2 * step)
    return gradient


def _relative_error(autodiff: np.ndarray, numeric: np.ndarray) -> float:
    """NaN where either gradient holds a NaN or an Inf: no error can be
    measured there, and the check must fail, not pass (Python's `max` of 0
    and NaN is 0, which read as a perfect match)."""
    if not (np.all(np.isfinite(autodiff)) and np.all(np.isfinite(numeric))):
        return float("nan")
    scale = max(
        np.max(np.abs(numeric), initial=0.0), np.max(np.abs(autodiff), initial=0.0)
    )
    if scale == 0.0:
        return 0.0
    return float(np.max(np.abs(autodiff - numeric)) / scale)


def _rounding_alone(autodiff: np.ndarray, numeric: np.ndarray, again) -> bool:
    """Whether an autodiff gradient of exactly zero faces differences that
    are rounding alone (a gradient zero by its formula, through ops that
    round to float32), which measured against themselves read as an error
    of 1. Rounding changes with the step, a gradient does not: `again()`
    gives the differences at twice the step, which must disagree."""
    if np.any(autodiff) or not np.any(numeric) or not np.all(np.isfinite(numeric)):
        return False
    twice = again()
    return bool(np.max(np.abs(numeric - twice)) > 0.5 * np.max(np.abs(numeric)))


def check_gradients(
    target: keras.layers.Layer | Callable[[Any], Any],
    inputs: Any,
    *,
    epsilon: float | None = None,
    tolerance: float | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Compares autodiff gradients with central finite differences in float64.

    The scalar checked is `sum(target(inputs) * P)` for a fixed random
    projection `P` (a plain sum would hide errors that cancel). Its gradient
    with respect to the inputs and to every trainable weight is computed twice,
    by the backend's automatic differentiation (so a custom gradient is what
    gets checked) and by central finite differences, everything in float64: a
    layer is copied from its config with `dtype="float64"`, every layer inside
    it made in float64 too (nested models, subclassed models and layers made
    of layers included), and given the same weight values. The error of a
    tensor is
    `max|autodiff - numeric| / max(max|numeric|, max|autodiff|)`.

    Each element costs two forward passes: keep the inputs and weights small
    (tens to a few hundred elements). Inputs within `epsilon` of a kink (0 for
    ReLU-like functions, ties for a maximum) give large errors by nature.

    Runs on the TensorFlow, JAX and PyTorch backends. Only TensorFlow keeps
    float64 through every op: on JAX and PyTorch, Keras computes ops that
    promote types (`matmul`, `minimum`, `maximum`...) of float64 tensors in
    float32, as JAX does by default. There the default `epsilon` is larger and
    errors of about `1e-4` are rounding, not a wrong gradient (a wrong one
    shows errors of `0.1` and more). On JAX, 64-bit types are enabled for the
    duration of the check (`jax.enable_x64`). A gradient that autodiff gives
    as exactly zero (SReLU's `t_right` while `a_right` is 1) reads `0` where
    the differences are rounding alone, which measured against itself reads
    `1`: differences that change with the step (computed again at twice
    `epsilon`) are rounding, those that do not are a gradient, and a
    gradient that autodiff misses reads `1`.

    Args:
        target: A Keras layer, or a callable of one tensor that works in float64.
        inputs: The point at which to check, an array.
        epsilon: Step of the central differences. Defaults to `1e-6` on
            TensorFlow and `1e-3` on JAX and PyTorch.
        tolerance: If given, the largest error allowed; any tensor over it
            raises `AssertionError`. Defaults to `None`.
        seed: Seed of the random projection. Defaults to `0`.

    Returns:
        A dict mapping `"inputs"` and each trainable weight's path to the
        largest relative error found for it: NaN where the autodiff gradient
        or the finite differences hold a NaN or an Inf, for which no error
        can be measured.

    Raises:
        ValueError: If `target` is a model of several inputs or returns
            several tensors, or the inputs are not real numbers.
        AssertionError: If `tolerance` is given and some error exceeds it or
            is NaN; the message names every such tensor (and, for a NaN,
            which gradient held NaN or Inf values).

    Example:
        ```python
        layer = keras_acts.PReLU(name="prelu")
        x = np.random.default_rng(0).normal(size=(4, 3))
        errors = keras_acts.testing.check_gradients(layer, x, tolerance=1e-6)
        print({name: f"{error:.1e}" for name, error in errors.items()})
        ```

        ```text
        {'inputs': '1.1e-10', 'prelu/alpha': '2.3e-10'}
        ```
    """
    if not isinstance(target, keras.layers.Layer) and not callable(target):
        raise ValueError(
            f"`target` must be a Keras layer or a callable. Received: {target!r}"
        )
    if epsilon is None:
        epsilon = _backends.module("autodiff").FINITE_DIFFERENCE_STEP
    epsilon = _validation.real("epsilon", epsilon, positive=True)
    if tolerance is not None:
        tolerance = _validation.real("tolerance", tolerance, positive=True)
    seed = _validation.integer("seed", seed, minimum=0)
    inputs = np.asarray(inputs)
    if not np.issubdtype(inputs.dtype, np.number) or np.issubdtype(
        inputs.dtype, np.bool_
    ):
        raise ValueError(
            "check_gradients needs numeric inputs. Received inputs of dtype "
            f"{inputs.dtype}"
        )
    if np.iscomplexobj(inputs):
        raise ValueError(
            "check_gradients needs real inputs: the gradient it checks is that "
            "of a real scalar with respect to real values. Received inputs of "
            f"dtype {inputs.dtype}"
        )
    if not np.all(np.isfinite(inputs)):
        raise ValueError(
            "check_gradients needs finite inputs: finite differences of NaN or "
            "Inf are meaningless."
        )
    with _backends.module("autodiff").float64_scope():
        errors, notes = _gradient_errors(target, inputs, epsilon, seed)
    if tolerance is not None:
        # `not e <= tolerance`, so that a NaN error fails too.
        failing = [name for name, e in errors.items() if not e <= tolerance]
        if failing:
            listed = ", ".join(
                f"{name}: NaN ({notes[name]})"
                if name in notes
                else f"{name}: {errors[name]:.3g}"
                for name in failing
            )
            raise AssertionError(
                f"Gradients differ from finite differences by more than "
                f"tolerance={tolerance}, or could not be compared: {listed}"
            )
    return errors


def _nonfinite(autodiff: np.ndarray, numeric: np.ndarray) -> str:
    """Which of the two gradients of one tensor hold NaN or Inf, in words."""
    parts = []
    for what, values in (("autodiff", autodiff), ("finite differences", numeric)):
        count = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
        if count:
            parts.append(f"{what} gave {count} NaN or Inf values")
    return " and ".join(parts)


def _gradient_errors(
    target, inputs, epsilon: float, seed: int
) -> tuple[dict[str, float], dict[str, str]]:
    point = np.array(inputs, dtype=np.float64)
    if isinstance(target, keras.layers.Layer):
        _check_one_input("check_gradients", target)
        twin = _float64_copy(target, point)
        function, variables = twin, list(twin.trainable_weights)
        names = ["inputs"] + [v.path for v in target.trainable_weights]
    else:
        function, variables, names = target, [], ["inputs"]
    function = _one_output("check_gradients", target, function)

    output = np.asarray(keras.ops.convert_to_numpy(function(_tensor(point))))
    projection = np.random.default_rng(seed).normal(size=output.shape)

    def scalar_at(x):
        out = keras.ops.convert_to_numpy(function(_tensor(x)))
        return float(np.sum(np.asarray(out, np.float64) * projection))

    autodiff = _backward(function, point, projection, variables)

    def differences(index: int, step: float) -> np.ndarray:
        """Central differences by tensor `index` (0: the inputs)."""
        if index == 0:
            return _central_differences(scalar_at, point, step)
        variable = variables[index - 1]
        values = np.array(keras.ops.convert_to_numpy(variable), np.float64)

        def scalar_at_weight(w):
            variable.assign(w)
            return scalar_at(point)

        try:
            return _central_differences(scalar_at_weight, values, step)
        finally:
            variable.assign(values)

    errors, notes = {}, {}
    for index, (name, a) in enumerate(zip(names, autodiff, strict=True)):
        n = differences(index, epsilon)
        if _rounding_alone(a, n, functools.partial(differences, index, 2 * epsilon)):
            errors[name] = 0.0
            continue
        errors[name] = _relative_error(a, n)
        if np.isnan(errors[name]):
            notes[name] = _nonfinite(a, n)
    return errors, notes
