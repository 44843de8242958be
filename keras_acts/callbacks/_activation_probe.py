"""ActivationMonitor's measurements: the probe batch, and the statistics of
the monitored layers' outputs on it (and of the loss gradient with respect
to those outputs).

The probe reads a layer's outputs by shadowing its `call` for the length of
one forward pass of the model, so it reads any model: Functional,
Sequential or subclassed, and layers nested in composite layers. The
shadowing `call` adds a zero offset to the layer's output, so that the
gradient of the loss with respect to the offset, by the backend's own
autodiff, is its gradient with respect to that output.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from keras_acts import _backends, _private_api
from keras_acts.callbacks._activation_layers import (
    SHAPE_ONLY,
    activation_name,
    channels_first,
    holds_layers_in_call_order,
    is_gate,
    layer_paths,
    part_labels,
)
from keras_acts.callbacks._gradient_capture import optimizers_of
from keras_acts.callbacks._rules import (
    DYING_ACTIVATIONS,
    MIN_PROBE_ROWS,
    SATURATING_RANGES,
)


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


def leading_batch(dataset: Any, name: str) -> Any:
    """The first element of `dataset`, a tf.data.Dataset of batches passed
    as the argument `name`; ValueError where it is empty, or yields single
    examples (the arrays of an element share no batch axis)."""
    element = next(iter(dataset), None)
    if element is None:
        raise ValueError(f"`{name}` is an empty dataset; it needs data.")
    shapes = [
        tuple(leaf.shape) for leaf in keras.tree.flatten(element) if leaf is not None
    ]
    if len({shape[:1] for shape in shapes}) > 1 or () in shapes:
        raise ValueError(
            f"The dataset `{name}` does not yield batches: the arrays of its "
            f"first element, of shapes {shapes}, share no batch axis. It must "
            f"yield batches, as fit's does: batch it, `{name}.batch(32)`."
        )
    return element


def split_probe(
    data: Any, input_count: int | None = None, name: str = "data"
) -> tuple[Any, Any, Any]:
    """The probe's `x`, `y` and `sample_weight` as NumPy arrays (or
    structures of them), from what a monitor is given as its argument
    `name`; ValueError if it holds no examples, numbers where arrays belong,
    or parts that disagree in length.

    A list is an `(x, y)` pair, as Keras reads `validation_data`, except a
    list of as many arrays as the model has inputs (`input_count`, more
    than one), which is `x`, as `fit` reads it: no pair could feed such a
    model."""
    if hasattr(data, "element_spec"):  # a tf.data.Dataset: its first batch
        data = leading_batch(data, name)
    if (
        isinstance(data, list)
        and (input_count or 0) > 1
        and len(data) == input_count
        and all(hasattr(part, "shape") for part in data)
    ):
        data = (data,)
    if isinstance(data, (tuple, list)) and len(data) not in (1, 2, 3):
        raise ValueError(
            f"`{name}` must be x, an (x, y) pair or an (x, y, sample_weight) "
            f"triple. Received a sequence of {len(data)} items."
        )
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(
        tuple(data) if isinstance(data, list) else data
    )
    x = _to_numpy(x)
    sizes = {part: [] for part in ("inputs", "targets", "sample weights")}
    for part, structure in zip(sizes, (x, y, sample_weight), strict=True):
        if structure is None:
            continue
        arrays = keras.tree.flatten(_to_numpy(structure))
        if arrays and all(a.ndim == 0 for a in arrays) and len(arrays) > 1:
            # Keras's tree reads a Python list as a structure of numbers.
            raise ValueError(
                f"`{name}` holds its {part} as {len(arrays)} numbers in a "
                f"{type(structure).__name__}: pass them as one NumPy array, "
                "np.asarray(...), as `fit` takes them."
            )
        sizes[part] = [len(a) if a.ndim else 0 for a in arrays]
    if not sizes["inputs"] or min(sizes["inputs"]) == 0:
        raise ValueError(
            f"`{name}` holds no examples. Received x of shape "
            f"{keras.tree.map_structure(np.shape, x)}"
        )
    count = sizes["inputs"][0]
    for part, lengths in sizes.items():
        if any(length != count for length in lengths):
            raise ValueError(
                f"`{name}` has {count} examples in its inputs but {lengths} in "
                f"its {part}."
            )
    return (
        x,
        None if y is None else _to_numpy(y),
        None if sample_weight is None else _to_numpy(sample_weight),
    )


def named_inputs(x: Any) -> dict[str, np.ndarray]:
    """The probe's inputs by the name a flag gives them."""
    return dict(
        zip(part_labels(x, "inputs", "input"), keras.tree.flatten(x), strict=True)
    )


def batches(data: Any, size: int = 256) -> Iterator[Any]:
    """The inputs of `data` (arrays, or a tf.data.Dataset) in batches."""
    if hasattr(data, "element_spec"):
        for element in data:
            yield keras.utils.unpack_x_y_sample_weight(element)[0]
        return
    count = len(keras.tree.flatten(data)[0])
    for start in range(0, count, size):
        yield keras.tree.map_structure(lambda a, s=start: a[s : s + size], data)


def _units(calls: list[np.ndarray]) -> np.ndarray:
    """A layer's outputs on the probe batch: those of its one call, or, for a
    layer called several times in a forward pass (a shared layer), of every
    call, one row per position."""
    if len(calls) == 1:
        return calls[0]
    if len({values.shape[-1] for values in calls}) > 1:
        return calls[0]
    return np.concatenate([values.reshape(-1, values.shape[-1]) for values in calls])


class Probe:
    """The monitored layers of a model and their outputs on the probe batch:
    `measure()` gives one row of statistics per layer.

    Its first forward pass finds which layers it can read: those called
    with the probe batch that return one tensor. The others are in
    `unread`, and left out. It finds the layers whose outputs are not
    hidden units too (`not_hidden`): the model's own output layers, by the
    tensors the model returns, and gates. A subclassed model's layers are
    listed in the order of their outputs in that pass (it may make its
    head first); a Functional or Sequential model holds them in that order
    already.
    """

    def __init__(
        self,
        model,
        layers: list[tuple[str, keras.layers.Layer]],
        probe: tuple[Any, Any, Any],
        dead_threshold: float,
        saturation_margin: float,
    ) -> None:
        self.model = model
        self.x, self.y, self.sample_weight = probe
        self.dead_threshold = dead_threshold
        self.saturation_margin = saturation_margin
        # BatchNormalization layers normalise the probe batch with its own
        # statistics, as in training: before their moving statistics have
        # warmed up, inference mode would show a different network.
        self._normalizations = [
            layer
            for _, layer in layer_paths(model)
            if isinstance(layer, keras.layers.BatchNormalization)
        ]
        self._shape_only = [
            layer for _, layer in layer_paths(model) if isinstance(layer, SHAPE_ONLY)
        ]
        self.names = [path for path, _ in layers]
        self.layers = [layer for _, layer in layers]
        self._offsets: list[list[keras.Variable]] | None = None
        calls: list[list] = [[] for _ in self.layers]
        first_reads: list[int] = []
        moved: dict[int, tuple] = {}
        with self._reading(calls, first_reads=first_reads, moved=moved):
            predictions = self.model(self.x, training=False)
        returned = {id(tensor) for tensor in keras.tree.flatten(predictions)}
        # A layer whose outputs reach the model's only through layers that
        # move values (a Reshape to the targets' shape) computes them too.
        pending = list(returned)
        while pending:
            source = moved.get(pending.pop())
            if source is not None and id(source[1]) not in returned:
                returned.add(id(source[1]))
                pending.append(id(source[1]))
        readable = [index for index, read in enumerate(calls) if read]
        if not holds_layers_in_call_order(model):
            readable = first_reads
        self.unread = [
            name for index, name in enumerate(self.names) if index not in readable
        ]
        self.names = [self.names[index] for index in readable]
        self.layers = [self.layers[index] for index in readable]
        # Outputs that are not hidden units, which saturate and need not be
        # centered by design: the model's own, and gates'.
        self.not_hidden = {
            self.names[position]
            for position, index in enumerate(readable)
            if any(id(tensor) in returned for tensor in calls[index])
            or is_gate(self.layers[position])
        }
        self._channels_first = [
            channels_first(self.model, layer) for layer in self.layers
        ]
        self.activations = {
            name: activation_name(layer) or "linear"
            for name, layer in zip(self.names, self.layers, strict=True)
        }
        self.softmax_axes = {
            name: layer.axis if isinstance(layer, keras.layers.Softmax) else -1
            for name, layer in zip(self.names, self.layers, strict=True)
            if self.activations[name] == "softmax"
        }
        if self.y is not None:
            self._offsets = [
                [
                    keras.Variable(
                        np.zeros(tuple(tensor.shape), np.float32),
                        name="probe_offset",
                    )
                    for tensor in calls[index]
                ]
                for index in readable
            ]

    @contextlib.contextmanager
    def _reading(self, calls: list[list], offsets=None, first_reads=None, moved=None):
        """While open, each monitored layer's outputs of a single tensor go
        to `calls` (a list per layer, a tensor per call), plus the offset for
        that call where `offsets` has one, and the layer's index to
        `first_reads` (if given) at its first; normalization layers use the
        batch's statistics and discard their updates of the moving ones.
        With `moved`, the layers that only move values map the id of each
        output to (output, input): the tensors are kept so that no id is
        reused."""
        position = {id(layer): index for index, layer in enumerate(self.layers)}
        shadowed = list({id(layer): layer for layer in self.layers}.values())
        shadowed += [
            layer for layer in self._normalizations if id(layer) not in position
        ]
        if moved is not None:
            shadowed += [
                layer for layer in self._shape_only if id(layer) not in position
            ]

        def reading(layer):
            call = layer.call
            normalizes = isinstance(layer, keras.layers.BatchNormalization)
            index = position.get(id(layer))

            def read(*args, **kwargs):
                if normalizes:
                    # The scope maps the layer's variables to the values they
                    # have here (traced ones, under JAX's differentiation),
                    # so that gradients reach gamma and beta.
                    current = [(v, v.value) for v in layer.variables]
                    with keras.StatelessScope(state_mapping=current):
                        outputs = call(*args, **{**kwargs, "training": True})
                else:
                    outputs = call(*args, **kwargs)
                if moved is not None and isinstance(layer, SHAPE_ONLY):
                    source = args[0] if args else kwargs["inputs"]
                    if outputs is not source:  # an Identity returns its input
                        moved[id(outputs)] = (outputs, source)
                if index is None or not keras.ops.is_tensor(outputs):
                    return outputs
                read_so_far = len(calls[index])
                if first_reads is not None and not read_so_far:
                    first_reads.append(index)
                if offsets is not None and read_so_far < len(offsets[index]):
                    offset = offsets[index][read_so_far]
                    outputs = outputs + keras.ops.cast(offset, outputs.dtype)
                calls[index].append(outputs)
                return outputs

            return read

        installed = []
        try:
            for layer in shadowed:
                previous = _private_api.install(layer, "call", reading(layer))
                installed.append((layer, previous))
            yield
        finally:
            for layer, previous in reversed(installed):
                _private_api.uninstall(layer, "call", previous)

    def _forward_reading(self, x, calls, offsets=None):
        with self._reading(calls, offsets):
            return self.model(x, training=False)

    def predict(self, x):
        """The model's outputs on `x`, run as the probe runs it."""
        return self._forward_reading(x, [[] for _ in self.layers])

    def measure(self) -> tuple[list[dict[str, Any]], list[np.ndarray], float | None]:
        """One row of statistics per monitored layer (without `step` and
        `epoch`), the layers' outputs, and the loss on the probe batch
        (None without targets or monitored layers)."""
        if not self.layers:
            return [], [], None
        outputs, gradients, loss = self._forward()
        rows = [
            self._statistics(name, values, None if gradients is None else gradient)
            for name, values, gradient in zip(
                self.names, outputs, gradients or outputs, strict=True
            )
        ]
        return rows, outputs, loss

    def _forward(self):
        """Layer outputs on the probe and, with targets, the loss gradients
        and the loss."""
        calls: list[list] = [[] for _ in self.layers]
        if self.y is None:
            self._forward_reading(self.x, calls)
            outputs = [self._units(index, c) for index, c in enumerate(calls)]
            return outputs, None, None

        def loss():
            predictions = self._forward_reading(self.x, calls, self._offsets)
            value = self.model.compute_loss(
                x=self.x,
                y=self.y,
                y_pred=predictions,
                sample_weight=self.sample_weight,
                training=False,
            )
            return value, calls

        offsets = [offset for layer in self._offsets for offset in layer]
        value, calls, gradients = _backends.module("autodiff").value_and_gradients(
            loss, offsets
        )
        gradients = iter(gradients)
        layer_gradients = [
            [next(gradients) for _ in layer_offsets] for layer_offsets in self._offsets
        ]
        return (
            [self._units(index, c) for index, c in enumerate(calls)],
            [
                None
                if not layer or any(g is None for g in layer)
                else self._units(index, layer)
                for index, layer in enumerate(layer_gradients)
            ],
            float(_backends.to_numpy(value)),
        )

    def _units(self, index: int, tensors: list) -> np.ndarray:
        """The outputs (or gradients) of the layer at `index`, as `_units`
        gives them, with its units on the last axis."""
        arrays = [_backends.to_numpy(t) for t in tensors]
        if self._channels_first[index]:
            arrays = [np.moveaxis(a, 1, -1) if a.ndim > 2 else a for a in arrays]
        return _units(arrays)

    def _statistics(self, name, values, gradient) -> dict[str, Any]:
        values = np.asarray(values, np.float64)
        activation = self.activations[name]
        units = values.reshape(-1, values.shape[-1]) if values.ndim > 1 else values
        dead_fraction = None
        if activation in DYING_ACTIVATIONS and len(units) >= MIN_PROBE_ROWS:
            dead_fraction = float(np.mean(np.all(units <= self.dead_threshold, axis=0)))
        saturated = None
        if activation == "softmax":
            # A distribution saturates near one-hot. Entry by entry, a flat
            # one over 20 or more entries would count as saturated, all its
            # entries near 0, where its gradient is as large as it gets.
            peaks = np.max(values, axis=self.softmax_axes[name])
            saturated = float(np.mean(peaks >= 1 - self.saturation_margin))
        elif activation in SATURATING_RANGES:
            low, high = SATURATING_RANGES[activation]
            margin = self.saturation_margin * (high - low)
            saturated = float(
                np.mean((values <= low + margin) | (values >= high - margin))
            )
        row = {
            "layer": name,
            "activation": activation,
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
        highest = [None] * len(self.layers)
        for batch in batches(data):
            calls: list[list] = [[] for _ in self.layers]
            self._forward_reading(batch, calls)
            for index, read in enumerate(calls):
                values = self._units(index, read)
                unit_max = values.reshape(-1, values.shape[-1]).max(axis=0)
                if highest[index] is not None:
                    unit_max = np.maximum(highest[index], unit_max)
                highest[index] = unit_max
        return [
            float(np.mean(unit_max <= self.dead_threshold))
            if unit_max is not None and self.activations[name] in DYING_ACTIVATIONS
            else None
            for name, unit_max in zip(self.names, highest, strict=True)
        ]
