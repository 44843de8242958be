"""ActivationMonitor's measurements: which layers apply a nonlinearity, the
model with a tap after each of them, and the statistics of their outputs on
the probe batch (and of the loss gradient with respect to those outputs).

Each tap adds a zero offset of the probe batch's shape to a layer's output,
so the gradient of the loss with respect to the offset, by the backend's
own autodiff, is its gradient with respect to that output.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from keras_acts import _backends
from keras_acts.callbacks._gradient_capture import optimizers_of
from keras_acts.callbacks._rules import DYING_ACTIVATIONS, SATURATING_RANGES
from keras_acts.layers import ACTIVATION_LAYERS, LEARNED_ACTIVATION_LAYERS

# Keras's activation layers, by the name of the function they apply.
KERAS_ACTIVATION_LAYERS = {
    keras.layers.Softmax: "softmax",
    keras.layers.ELU: "elu",
    keras.layers.LeakyReLU: "leaky_relu",
    keras.layers.PReLU: "PReLU",
}
LEARNED = (keras.layers.PReLU, *LEARNED_ACTIVATION_LAYERS)


def activation_name(layer: keras.layers.Layer) -> str | None:
    """The name of the layer's nonlinearity, or None if it has none."""
    if isinstance(layer, keras.layers.ReLU):
        if layer.negative_slope:
            return "leaky_relu"
        return "relu6" if layer.max_value == 6 else "relu"
    for table in (KERAS_ACTIVATION_LAYERS, ACTIVATION_LAYERS):
        if type(layer) in table:
            return table[type(layer)]
    activation = getattr(layer, "activation", None)
    if callable(activation):  # Dense, Conv, Activation and the like
        name = getattr(activation, "__name__", activation.__class__.__name__)
        return None if name == "linear" else name
    return None


def learned_activations(model) -> list[tuple[str, keras.layers.Layer]]:
    """(name, layer) of the model's activation layers with learned
    parameters, also those passed as a layer's `activation`."""
    found = []
    for layer in model.layers:
        if isinstance(layer, LEARNED):
            found.append((layer.name, layer))
        activation = getattr(layer, "activation", None)
        if isinstance(activation, LEARNED):
            found.append((f"{layer.name}/{activation.name}", activation))
    return found


def monitored_layers(model, selection, x) -> list[keras.layers.Layer]:
    """The layers of `model` an ActivationMonitor probes: those `selection`
    names (layer names or classes), or by default every layer with a
    nonlinearity; ValueError if there are none, or the model has no graph of
    layers to read outputs from. A Sequential model not built yet is built
    for the probe inputs `x`."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if (
        not inputs
        and isinstance(model, keras.Sequential)
        and not isinstance(x, (dict, list, tuple))
    ):
        model.build((None,) + x.shape[1:])
        inputs = model.inputs
    if not inputs:
        raise ValueError(
            "ActivationMonitor needs the layer graph of a Sequential or "
            f"Functional model to read layer outputs; model {model.name!r} "
            "is subclassed. Build it as a Functional model, or monitor one "
            "of its Functional sub-models."
        )
    if selection is None:
        monitored = [layer for layer in model.layers if activation_name(layer)]
    else:
        names = {layer.name for layer in model.layers}
        missing = [s for s in selection if isinstance(s, str) and s not in names]
        if missing:
            raise ValueError(
                f"`layers` names layers the model does not have: {missing}. "
                f"Its layers: {sorted(names)}"
            )
        monitored = [
            layer
            for layer in model.layers
            if any(
                layer.name == s if isinstance(s, str) else isinstance(layer, s)
                for s in selection
            )
        ]
    if not monitored:
        raise ValueError(
            f"ActivationMonitor found no layer with a nonlinearity in model "
            f"{model.name!r}; pass `layers=` to choose layers."
        )
    return monitored


def parameter_rows(layers, step: int, epoch: int) -> list[tuple[dict, np.ndarray]]:
    """A row (mean, min, max) and the values of each learned parameter of
    `layers`, the `(name, layer)` pairs of `learned_activations`."""
    rows = []
    for name, layer in layers:
        for variable in layer.trainable_weights:
            values = np.asarray(_backends.to_numpy(variable), np.float64)
            row = {
                "step": step,
                "epoch": epoch,
                "layer": name,
                "parameter": variable.name,
                "mean": float(values.mean()),
                "min": float(values.min()),
                "max": float(values.max()),
            }
            rows.append((row, values))
    return rows


def iterations(model) -> int:
    """Optimizer updates applied so far: the most of any optimizer's, so
    that a model trained by optimizers held as attributes counts them."""
    return max(
        (int(_backends.to_numpy(o.iterations)) for o in optimizers_of(model)),
        default=0,
    )


def _to_numpy(structure):
    return keras.tree.map_structure(_backends.to_numpy, structure)


def split_probe(data: Any) -> tuple[Any, Any, Any]:
    """The probe's `x`, `y` and `sample_weight` as NumPy arrays (or
    structures of them), from what a monitor is given; ValueError if it
    holds no examples or its parts disagree in length."""
    if hasattr(data, "element_spec"):  # a tf.data.Dataset: its first batch
        data = next(iter(data), None)
        if data is None:
            raise ValueError("`data` is an empty dataset; the probe needs data.")
    if isinstance(data, (tuple, list)) and len(data) not in (1, 2, 3):
        raise ValueError(
            "`data` must be x, an (x, y) pair or an (x, y, sample_weight) "
            f"triple. Received a sequence of {len(data)} items."
        )
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(
        tuple(data) if isinstance(data, list) else data
    )
    x = _to_numpy(x)
    sizes = {part: [] for part in ("inputs", "targets", "sample weights")}
    for part, structure in zip(sizes, (x, y, sample_weight), strict=True):
        if structure is not None:
            sizes[part] = [
                len(a) if a.ndim else 0
                for a in keras.tree.flatten(_to_numpy(structure))
            ]
    if not sizes["inputs"] or min(sizes["inputs"]) == 0:
        raise ValueError(
            "`data` holds no examples. Received x of shape "
            f"{keras.tree.map_structure(np.shape, x)}"
        )
    count = sizes["inputs"][0]
    for part, lengths in sizes.items():
        if any(length != count for length in lengths):
            raise ValueError(
                f"`data` has {count} examples in its inputs but {lengths} in "
                f"its {part}."
            )
    return (
        x,
        None if y is None else _to_numpy(y),
        None if sample_weight is None else _to_numpy(sample_weight),
    )


def named_inputs(x: Any) -> dict[str, np.ndarray]:
    """The probe's inputs by the name a flag gives them."""
    flat = keras.tree.flatten(x)
    if isinstance(x, dict):
        names = [f"(input {name!r})" for name in sorted(x)]
    elif len(flat) == 1:
        names = ["(inputs)"]
    else:
        names = [f"(input {i})" for i in range(len(flat))]
    return dict(zip(names, flat, strict=True))


def batches(data: Any, size: int = 256) -> Iterator[Any]:
    """The inputs of `data` (arrays, or a tf.data.Dataset) in batches."""
    if hasattr(data, "element_spec"):
        for element in data:
            yield keras.utils.unpack_x_y_sample_weight(element)[0]
        return
    count = len(keras.tree.flatten(data)[0])
    for start in range(0, count, size):
        yield keras.tree.map_structure(lambda a, s=start: a[s : s + size], data)


class _OutputTap(keras.layers.Layer):
    """Adds a zero offset of the probe batch's shape to a layer's output."""

    def __init__(self, batch_size: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.batch_size = batch_size

    def build(self, input_shape) -> None:
        self.offset = self.add_weight(
            shape=(self.batch_size, *input_shape[1:]),
            initializer="zeros",
            name="offset",
        )

    def call(self, inputs):
        return inputs + keras.ops.cast(self.offset, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


class Probe:
    """The monitored layers of a model and their outputs on the probe batch:
    `measure()` gives one row of statistics per layer."""

    def __init__(
        self,
        model,
        layers: list,
        probe: tuple[Any, Any, Any],
        dead_threshold: float,
        saturation_margin: float,
    ) -> None:
        self.model = model
        self.layers = layers
        self.x, self.y, self.sample_weight = probe
        self.dead_threshold = dead_threshold
        self.saturation_margin = saturation_margin
        self.output_layer_names: set[str] = set()
        self._tapped, self._taps, self._output_structure = self._tapped_model()
        self._layer_outputs = None  # for dead_data, made when first needed

    def _tapped_model(self):
        """The model with an `_OutputTap` after each monitored layer, sharing
        its layers and weights; outputs: the tapped outputs, then the
        model's own outputs."""
        model = self.model
        monitored = {id(layer): layer for layer in self.layers}
        batch_size = len(keras.tree.flatten(self.x)[0])
        taps, tapped = [], []

        def call_function(layer, *args, **kwargs):
            outputs = layer(*args, **kwargs)
            if id(layer) in monitored and isinstance(outputs, keras.KerasTensor):
                tap = _OutputTap(
                    batch_size, name=f"tap_{layer.name}", dtype=outputs.dtype
                )
                outputs = tap(outputs)
                taps.append(tap)
                tapped.append(outputs)
            return outputs

        if isinstance(model, keras.Sequential):
            model_inputs = model.inputs
            inputs = keras.Input(
                batch_shape=model_inputs[0].shape, dtype=model_inputs[0].dtype
            )
            outputs = inputs
            for layer in model.layers:
                outputs = call_function(layer, outputs)
            clone = keras.Model(inputs, outputs)
            last = model.layers[-1]
            if id(last) in monitored:
                self.output_layer_names.add(last.name)
        else:
            clone = keras.models.clone_model(
                model, clone_function=lambda layer: layer, call_function=call_function
            )
            for layer in self.layers:
                if any(layer.output is tensor for tensor in model.outputs):
                    self.output_layer_names.add(layer.name)
        if len(taps) != len(self.layers):
            raise ValueError(
                "ActivationMonitor can read only layers that return one tensor. "
                f"Received layers: {[layer.name for layer in self.layers]}"
            )
        tapped_model = keras.Model(
            clone.input, tapped + keras.tree.flatten(clone.output)
        )
        return tapped_model, taps, clone.output

    def measure(self) -> tuple[list[dict[str, Any]], list[np.ndarray]]:
        """One row of statistics per monitored layer (without `step` and
        `epoch`), and the layers' outputs."""
        outputs, gradients = self._forward()
        rows = [
            self._statistics(layer, values, None if gradients is None else gradient)
            for layer, values, gradient in zip(
                self.layers, outputs, gradients or outputs, strict=True
            )
        ]
        return rows, outputs

    def _forward(self):
        """Layer outputs on the probe and, with targets, the loss gradients."""
        count = len(self.layers)
        if self.y is None:
            outputs = self._tapped(self.x, training=False)
            return [_backends.to_numpy(o) for o in outputs[:count]], None

        def loss():
            outputs = self._tapped(self.x, training=False)
            predictions = keras.tree.pack_sequence_as(
                self._output_structure, outputs[count:]
            )
            value = self.model.compute_loss(
                x=self.x,
                y=self.y,
                y_pred=predictions,
                sample_weight=self.sample_weight,
                training=False,
            )
            return value, outputs[:count]

        _, outputs, gradients = _backends.module("autodiff").value_and_gradients(
            loss, [tap.offset for tap in self._taps]
        )
        return (
            [_backends.to_numpy(o) for o in outputs],
            [None if g is None else _backends.to_numpy(g) for g in gradients],
        )

    def _statistics(self, layer, values, gradient) -> dict[str, Any]:
        values = np.asarray(values, np.float64)
        name = activation_name(layer) or "linear"
        units = values.reshape(-1, values.shape[-1]) if values.ndim > 1 else values
        dead_fraction = None
        if name in DYING_ACTIVATIONS:
            dead_fraction = float(np.mean(np.all(units <= self.dead_threshold, axis=0)))
        saturated = None
        if name in SATURATING_RANGES:
            low, high = SATURATING_RANGES[name]
            margin = self.saturation_margin * (high - low)
            saturated = float(
                np.mean((values <= low + margin) | (values >= high - margin))
            )
        row = {
            "layer": layer.name,
            "activation": name,
            "mean": float(values.mean()),
            "std": float(values.std()),
            "dead_fraction": dead_fraction,
            "saturated_fraction": saturated,
            "zero_fraction": float(np.mean(values == 0)),
            "output_grad_l2": None,
            "output_grad_mean_abs": None,
        }
        if gradient is not None:
            gradient = np.asarray(gradient, np.float64)
            row["output_grad_l2"] = float(np.sqrt(np.sum(gradient * gradient)))
            row["output_grad_mean_abs"] = float(np.mean(np.abs(gradient)))
        return row

    def dead_on_data(self, data: Any) -> list[float | None]:
        """Per monitored layer, the fraction of units whose output is at
        most `dead_threshold` on every example of `data`."""
        if self._layer_outputs is None:
            self._layer_outputs = keras.Model(
                self.model.input, [layer.output for layer in self.layers]
            )
        highest = [None] * len(self.layers)
        for batch in batches(data):
            outputs = self._layer_outputs(batch, training=False)
            if not isinstance(outputs, (list, tuple)):  # one monitored layer
                outputs = [outputs]
            for index, values in enumerate(outputs):
                values = _backends.to_numpy(values)
                unit_max = values.reshape(-1, values.shape[-1]).max(axis=0)
                if highest[index] is not None:
                    unit_max = np.maximum(highest[index], unit_max)
                highest[index] = unit_max
        return [
            float(np.mean(unit_max <= self.dead_threshold))
            if unit_max is not None and activation_name(layer) in DYING_ACTIVATIONS
            else None
            for layer, unit_max in zip(self.layers, highest, strict=True)
        ]
