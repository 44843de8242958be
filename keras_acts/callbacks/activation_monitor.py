"""Dead units, saturation and centering of each layer's activations."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from keras_acts import _validation
from keras_acts import _backends
from keras_acts.callbacks._flags import (
    ACTIVATION_KINDS,
    LiveWarnings,
    check_warn,
    report,
)
from keras_acts.callbacks._gradient_capture import optimizers_of
from keras_acts.callbacks._recorder import Recorder, check_axes
from keras_acts.callbacks._schedule import Schedule, StepClock
from keras_acts.callbacks.flag import Flag
from keras_acts.layers import (
    PELU,
    Maxout,
    MaxoutDense,
    ParametricELU,
    PReLU,
    RReLU,
    Snake,
    SReLU,
    Swish,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

COLUMNS = (
    "step",
    "epoch",
    "layer",
    "activation",
    "mean",
    "std",
    "dead_fraction",
    "saturated_fraction",
    "zero_fraction",
    "output_grad_l2",
    "output_grad_mean_abs",
    "dead_fraction_data",
)
PARAMETER_COLUMNS = ("step", "epoch", "layer", "parameter", "mean", "min", "max")
# The output range of the saturating activations: saturated means within
# `saturation_margin` (as a fraction of the range) of either end.
SATURATING_RANGES = {
    "sigmoid": (0.0, 1.0),
    "hard_sigmoid": (0.0, 1.0),
    "softmax": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
    "hard_tanh": (-1.0, 1.0),
    "softsign": (-1.0, 1.0),
}
# Activations that are flat at 0 for negative inputs: a unit that outputs 0
# for every example gets no gradient and never recovers. A tanh, leaky, ELU
# or maxout unit with negative outputs still learns, so it is not "dead".
DYING_ACTIVATIONS = {"relu", "relu6"}
# Activation layers, by the name of the function they apply.
ACTIVATION_LAYER_NAMES = {
    keras.layers.Softmax: "softmax",
    keras.layers.ELU: "elu",
    keras.layers.LeakyReLU: "leaky_relu",
    keras.layers.PReLU: "PReLU",
    PReLU: "PReLU",
    ParametricELU: "ParametricELU",
    Maxout: "Maxout",
    MaxoutDense: "MaxoutDense",
    PELU: "PELU",
    SReLU: "SReLU",
    Swish: "Swish",
    Snake: "Snake",
    RReLU: "RReLU",
}
# Activation layers with learned parameters, whose trajectories are kept.
LEARNED_ACTIVATIONS = (
    PReLU,
    ParametricELU,
    keras.layers.PReLU,
    PELU,
    SReLU,
    Swish,
    Snake,
)
FLAG_DEAD = 0.5
DEAD_RECORDS = 3
FLAG_SATURATED = 0.5
# Activations whose outputs are all positive: not zero-centered by design.
POSITIVE_ACTIVATIONS = {"sigmoid", "hard_sigmoid"}
UNITS_DOC = "Dead and saturated units"


def activation_name(layer: keras.layers.Layer) -> str | None:
    """The name of the layer's nonlinearity, or None if it has none."""
    if isinstance(layer, keras.layers.ReLU):
        if layer.negative_slope:
            return "leaky_relu"
        return "relu6" if layer.max_value == 6 else "relu"
    for layer_class, name in ACTIVATION_LAYER_NAMES.items():
        if type(layer) is layer_class:
            return name
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
        if isinstance(layer, LEARNED_ACTIVATIONS):
            found.append((layer.name, layer))
        activation = getattr(layer, "activation", None)
        if isinstance(activation, LEARNED_ACTIVATIONS):
            found.append((f"{layer.name}/{activation.name}", activation))
    return found


def _dead_fraction(row: dict[str, Any]) -> float | None:
    """Dead units counted on `dead_data` where they were, else on the probe."""
    if row["dead_fraction_data"] is not None:
        return row["dead_fraction_data"]
    return row["dead_fraction"]


def _batches(data: Any, size: int = 256) -> Iterator[Any]:
    """The inputs of `data` (arrays, or a tf.data.Dataset) in batches."""
    if hasattr(data, "element_spec"):
        for element in data:
            yield keras.utils.unpack_x_y_sample_weight(element)[0]
        return
    count = len(keras.tree.flatten(data)[0])
    for start in range(0, count, size):
        yield keras.tree.map_structure(lambda a, s=start: a[s : s + size], data)


class _OutputTap(keras.layers.Layer):
    """Adds a zero offset of the probe batch's shape to a layer's output, so
    that the gradient of the loss with respect to the offset is its gradient
    with respect to that output."""

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


@dataclass
class _Record:
    step: int
    epoch: int
    rows: list[dict[str, Any]]
    outputs: list[np.ndarray]  # for histograms
    parameters: list[tuple[dict[str, Any], np.ndarray]]  # rows, values


class ActivationMonitor(Recorder):
    """Tracks dead units, saturation and centering of each layer's outputs.

    On the schedule of `freq`, the monitor runs the model once, in inference
    mode, on a fixed probe batch and computes, for each layer that applies a
    nonlinearity (a `Dense` or `Conv` layer with an activation, an activation
    layer, the keras_acts layers):

    - the mean and standard deviation of its outputs (a mean far from 0, as
      after a sigmoid, slows down the next layer);
    - for ReLU units (`relu`, `relu6`, `keras.layers.ReLU`), the fraction of
      dead units: units (indices of the last axis, i.e. neurons or channels)
      whose output is `<= dead_threshold` for every probe example and
      position. A dead ReLU gets no gradient and never recovers. `None` for
      other activations: a tanh, leaky, ELU or maxout unit with only
      negative outputs still has a gradient;
    - the fraction of saturated outputs, for activations with a bounded
      range (sigmoid, hard sigmoid and softmax, as activations or as
      `keras.layers.Softmax`, on [0, 1]; tanh, hard tanh and softsign on
      [-1, 1]): outputs within `saturation_margin` times the range's width
      of either end, where the derivative is nearly 0. `None` for other
      activations;
    - the fraction of outputs that are exactly 0;
    - when `data` holds targets, the gradient of the loss (the model's
      compiled loss, with the probe's sample weights) with respect to the
      layer's output on the probe batch (its L2 norm and mean absolute
      value): the backpropagated signal whose decay from the last layer to
      the first is the vanishing gradient itself.

    The training step is not changed: each record costs one forward pass on
    the probe batch (and one backward pass with targets).

    When: `step` is the number of optimizer updates applied when the probe
    runs, the same `step` as GradientMonitor's (the gradient recorded at
    step `s` is computed at the weights probed at step `s`), so the rows of
    the two monitors join on `step` (and `epoch`). With `freq="epoch"`, the
    probe runs before the first step of each epoch and once more at the end
    of training. With an integer `freq`, it runs before each step that is a
    multiple of `freq`, and at the end of training if the last step was
    due; with `steps_per_execution > 1` the probe can only run between
    blocks of steps, so a due step inside a block is probed after the block,
    under the step reached.

    Models: Sequential and Functional models, with one or several inputs
    (arrays, lists or dicts) and outputs; any layer of the model (not inside
    a nested model) is reachable. A subclassed model has no graph of layers
    to read outputs from, and the monitor raises at the start of `fit`.
    Backends: TensorFlow, JAX and PyTorch.

    Args:
        data: The probe batch, as `fit` takes it: `x`, an `(x, y)` pair or
            an `(x, y, sample_weight)` triple, where `x` and `y` are arrays,
            or lists or dicts of arrays for models with several inputs or
            outputs; or a `tf.data.Dataset` (its first element is used).
        freq: `"epoch"` to record at the start of every epoch, or a number of
            optimizer steps. Defaults to `"epoch"`.
        layers: Names of layers, or layer classes, to monitor instead of every
            layer with a nonlinearity. Defaults to `None`.
        dead_threshold: A unit is dead if all its outputs are at most this.
            Defaults to `0.0`.
        saturation_margin: The fraction of a bounded activation's range, at
            each end, counted as saturated. Defaults to `0.05`.
        log_dir: If given, a folder for TensorBoard scalars
            `activations/<layer>/<stat>` and histograms of the outputs.
            Defaults to `None`.
        csv_path: If given, rows are appended to this CSV file at each record.
            Defaults to `None`.
        append: Keep the records of earlier fits in `history` and append to
            an existing `csv_path`, instead of starting both anew.
            Defaults to `False`.
        dead_data: Inputs (an array, a list or dict of arrays, or a
            `tf.data.Dataset`), for example the training set, on which to
            count dead units at the end of every epoch, as keras-contrib's
            `DeadReluDetector` did: a unit is dead if its output is at most
            `dead_threshold` on every example. The column
            `dead_fraction_data` holds it (None on other records); the probe
            batch alone can miss a unit that is alive on a few examples.
            Defaults to `None`.
        warn: Warn (a `keras_acts.DiagnosisWarning`) the first time a
            problem appears during `fit`, once per kind and layer: `True`
            for every kind, `False` for none, or a list of kinds from
            `"dead"`, `"saturated"`, `"off_center"`, `"inputs_off_center"`.
            Defaults to `True`.

    Example:
        ```python
        keras.utils.set_random_seed(0)
        x = np.random.normal(size=(64, 4))
        model = keras.Sequential([
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu", name="hidden1"),
            keras.layers.Dense(8, activation="tanh", name="hidden2"),
            keras.layers.Dense(1, name="out"),
        ])
        model.compile(optimizer="sgd", loss="mse")
        monitor = keras_acts.ActivationMonitor((x, np.zeros((64, 1))))
        model.fit(x, np.zeros((64, 1)), epochs=2, callbacks=[monitor], verbose=0)
        print(monitor.summary())
        ```

        ```text
        Activations at step 4
        layer    activation       mean     std   dead saturated    grad l2  marks
        hidden1  relu            0.276   0.423     0%         -   1.45e-01
        hidden2  tanh           -0.219   0.381      -        2%   1.65e-01
        Problems: no problems found.
        ```
    """

    COLUMNS = COLUMNS

    def __init__(
        self,
        data: Any,
        freq: int | str = "epoch",
        layers: Sequence[str | type] | None = None,
        dead_threshold: float = 0.0,
        saturation_margin: float = 0.05,
        log_dir: str | os.PathLike | None = None,
        csv_path: str | os.PathLike | None = None,
        append: bool = False,
        dead_data: Any = None,
        warn: bool | Sequence[str] = True,
    ) -> None:
        super().__init__(log_dir=log_dir, csv_path=csv_path, append=append)
        self.schedule = Schedule(freq)
        self._warn_kinds = check_warn(warn, ACTIVATION_KINDS)
        saturation_margin = _validation.real(
            "saturation_margin", saturation_margin, minimum=0.0, maximum=0.5
        )
        if saturation_margin in (0.0, 0.5):
            raise ValueError(
                "`saturation_margin` must be a number between 0 and 0.5, "
                f"exclusive. Received: saturation_margin={saturation_margin!r}"
            )
        dead_threshold = _validation.real("dead_threshold", dead_threshold)
        if layers is not None:
            layers = [layers] if isinstance(layers, (str, type)) else list(layers)
            if not layers or not all(isinstance(s, (str, type)) for s in layers):
                raise ValueError(
                    "`layers` must be layer names or layer classes. "
                    f"Received: layers={layers!r}"
                )
        self.x, self.y, self.sample_weight = self._split_probe(data)
        if dead_data is not None and not hasattr(dead_data, "element_spec"):
            dead_data = self._split_probe(dead_data)[0]
        self.dead_data = dead_data
        self.warn = warn
        self.freq = self.schedule.freq
        self.layers = layers
        self.dead_threshold = dead_threshold
        self.saturation_margin = saturation_margin

    @staticmethod
    def _split_probe(data):
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

        def to_numpy(structure):
            return keras.tree.map_structure(
                lambda a: np.asarray(keras.ops.convert_to_numpy(a)), structure
            )

        x = to_numpy(x)
        sizes = {part: [] for part in ("inputs", "targets", "sample weights")}
        for part, structure in zip(sizes, (x, y, sample_weight), strict=True):
            if structure is not None:
                sizes[part] = [
                    len(a) if a.ndim else 0
                    for a in keras.tree.flatten(to_numpy(structure))
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
            None if y is None else to_numpy(y),
            None if sample_weight is None else to_numpy(sample_weight),
        )

    # Set-up.
    def _selected(self, layer) -> bool:
        if self.layers is None:
            return activation_name(layer) is not None
        return any(
            layer.name == s if isinstance(s, str) else isinstance(layer, s)
            for s in self.layers
        )

    def on_train_begin(self, logs: dict | None = None) -> None:
        model = self.model
        try:
            inputs = model.inputs
        except (AttributeError, ValueError):
            inputs = None
        if (
            not inputs
            and isinstance(model, keras.Sequential)
            and not isinstance(self.x, (dict, list, tuple))
        ):
            model.build((None,) + self.x.shape[1:])
            inputs = model.inputs
        if not inputs:
            raise ValueError(
                "ActivationMonitor needs the layer graph of a Sequential or "
                f"Functional model to read layer outputs; model {model.name!r} "
                "is subclassed. Build it as a Functional model, or monitor one "
                "of its Functional sub-models."
            )
        self._monitored = [layer for layer in model.layers if self._selected(layer)]
        if self.layers is not None:
            names = {layer.name for layer in model.layers}
            missing = [s for s in self.layers if isinstance(s, str) and s not in names]
            if missing:
                raise ValueError(
                    f"`layers` names layers the model does not have: {missing}. "
                    f"Its layers: {sorted(names)}"
                )
        if not self._monitored:
            raise ValueError(
                f"ActivationMonitor found no layer with a nonlinearity in model "
                f"{model.name!r}; pass `layers=` to choose layers."
            )
        self._probe, self._taps = self._tapped_model(model)
        self._layer_outputs = None  # for dead_data, made when first needed
        self._parameter_layers = learned_activations(model)
        self._open_outputs()
        self._epoch = 0
        self._probe_due = False
        self._live_warnings = LiveWarnings(self._warn_kinds)
        self._input_flags = self._inputs_off_center()
        self._clock = StepClock(
            self._iterations(model), int(getattr(model, "steps_per_execution", 1))
        )
        if self.schedule.per_epoch or (
            self.schedule.first_due(self._clock.iterations, 1) is not None
        ):
            self._record(self._clock.iterations)

    def _inputs_off_center(self) -> list[Flag]:
        """Inputs whose features sit far from 0 relative to their spread:
        every weight gradient of a first-layer unit then shares one sign."""
        flags = []
        flat = keras.tree.flatten(self.x)
        names = (
            ["(inputs)"]
            if len(flat) == 1
            else [f"(input {i})" for i in range(len(flat))]
        )
        if isinstance(self.x, dict):
            names = [f"(input {name!r})" for name in sorted(self.x)]
        for name, values in zip(names, flat, strict=True):
            if not np.issubdtype(values.dtype, np.floating) or values.ndim < 2:
                continue
            features = values.reshape(-1, values.shape[-1]).astype(np.float64)
            mean = float(np.mean(np.abs(features.mean(axis=0))))
            std = float(np.mean(features.std(axis=0)))
            if mean > std:
                flags.append(
                    Flag(
                        "inputs_off_center",
                        name,
                        f"inputs far from zero-centered: features average "
                        f"{mean:.3g} in absolute value, with a spread of {std:.3g}",
                        "Standardize them (keras_acts.Standardize, adapted on "
                        "the training data)",
                        "Preprocessing",
                    )
                )
        return flags

    def _tapped_model(self, model):
        """The model with an `_OutputTap` after each monitored layer, sharing
        its layers and weights; outputs: the tapped outputs, then the
        model's own outputs."""
        monitored = {id(layer): layer for layer in self._monitored}
        batch_size = len(keras.tree.flatten(self.x)[0])
        taps, tapped, self._output_layer_names = [], [], set()

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
                self._output_layer_names.add(last.name)
        else:
            clone = keras.models.clone_model(
                model, clone_function=lambda layer: layer, call_function=call_function
            )
            for layer in self._monitored:
                if any(layer.output is tensor for tensor in model.outputs):
                    self._output_layer_names.add(layer.name)
        if len(taps) != len(self._monitored):
            raise ValueError(
                "ActivationMonitor can read only layers that return one tensor. "
                f"Received layers: {[layer.name for layer in self._monitored]}"
            )
        self._output_structure = clone.output
        probe = keras.Model(clone.input, tapped + keras.tree.flatten(clone.output))
        return probe, taps

    @staticmethod
    def _iterations(model) -> int:
        """Optimizer updates applied so far: the most of any optimizer's, so
        that a model trained by optimizers held as attributes counts them."""
        return max(
            (
                int(keras.ops.convert_to_numpy(o.iterations))
                for o in optimizers_of(model)
            ),
            default=0,
        )

    # When to record.
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._clock.begin_block(batch)
        if self._probe_due:
            self._record()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        first, count = self._clock.end_block(batch)
        # The weights after this block are those a due step of the block
        # (other than its first) would have been probed at: they are probed
        # before the next block.
        if not self.schedule.per_epoch and (
            self.schedule.first_due(first + 1, count) is not None
        ):
            self._probe_due = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.schedule.per_epoch or self.dead_data is not None:
            self._record(with_dead_data=self.dead_data is not None)
        self._log_headline(logs)
        super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._probe_due:
            self._record()
        self._close_writer()

    def _log_headline(self, logs: dict | None) -> None:
        """The worst dead and saturated fractions of the last record, in
        Keras's logs, so that the progress bar, History, CSVLogger,
        keras.callbacks.TensorBoard and EarlyStopping see them."""
        if logs is None or not self._records:
            return
        rows = self._records[-1].rows
        dead = [_dead_fraction(row) for row in rows]
        dead = [value for value in dead if value is not None]
        if dead:
            logs["dead_fraction"] = max(dead)
        saturated = [
            row["saturated_fraction"]
            for row in rows
            if row["saturated_fraction"] is not None
            and row["layer"] not in self._output_layer_names
        ]
        if saturated:
            logs["saturated_fraction"] = max(saturated)

    # Measuring.
    def _forward(self):
        """Layer outputs on the probe and, with targets, the loss gradients."""
        count = len(self._monitored)
        if self.y is None:
            outputs = self._probe(self.x, training=False)
            return [keras.ops.convert_to_numpy(o) for o in outputs[:count]], None
        model = self.model

        def loss():
            outputs = self._probe(self.x, training=False)
            predictions = keras.tree.pack_sequence_as(
                self._output_structure, outputs[count:]
            )
            value = model.compute_loss(
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
            [keras.ops.convert_to_numpy(o) for o in outputs],
            [None if g is None else keras.ops.convert_to_numpy(g) for g in gradients],
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

    def _dead_on_data(self) -> list[float | None]:
        """Per monitored layer, the fraction of units whose output is at
        most `dead_threshold` on every example of `dead_data`."""
        if self._layer_outputs is None:
            model = self.model
            self._layer_outputs = keras.Model(
                model.input, [layer.output for layer in self._monitored]
            )
        highest = [None] * len(self._monitored)
        for batch in _batches(self.dead_data):
            outputs = self._layer_outputs(batch, training=False)
            if not isinstance(outputs, (list, tuple)):  # one monitored layer
                outputs = [outputs]
            for index, values in enumerate(outputs):
                values = keras.ops.convert_to_numpy(values)
                unit_max = values.reshape(-1, values.shape[-1]).max(axis=0)
                if highest[index] is not None:
                    unit_max = np.maximum(highest[index], unit_max)
                highest[index] = unit_max
        return [
            float(np.mean(unit_max <= self.dead_threshold))
            if unit_max is not None and activation_name(layer) in DYING_ACTIVATIONS
            else None
            for layer, unit_max in zip(self._monitored, highest, strict=True)
        ]

    def _record(self, step: int | None = None, with_dead_data: bool = False) -> None:
        # On JAX, self.model brings the training state back into the model.
        model = self.model
        if step is None:
            step = self._iterations(model)
        if self._records and self._records[-1].step == step and not with_dead_data:
            return  # nothing trained since the last record
        self._probe_due = False
        outputs, gradients = self._forward()
        dead_on_data = self._dead_on_data() if with_dead_data else [None] * len(outputs)
        rows = []
        for index, (layer, values) in enumerate(
            zip(self._monitored, outputs, strict=True)
        ):
            gradient = None if gradients is None else gradients[index]
            row = {"step": step, "epoch": self._epoch}
            row.update(self._statistics(layer, values, gradient))
            row["dead_fraction_data"] = dead_on_data[index]
            rows.append(row)
        parameters = []
        for name, layer in self._parameter_layers:
            for variable in layer.trainable_weights:
                values = np.asarray(keras.ops.convert_to_numpy(variable), np.float64)
                row = {
                    "step": step,
                    "epoch": self._epoch,
                    "layer": name,
                    "parameter": variable.name,
                    "mean": float(values.mean()),
                    "min": float(values.min()),
                    "max": float(values.max()),
                }
                parameters.append((row, values))
        self._add_record(_Record(step, self._epoch, rows, outputs, parameters))
        self._live_warnings.give(self.flags(), "ActivationMonitor")

    # Rows.
    def _step_of(self, record: _Record) -> int:
        return record.step

    def _rows_of(self, record: _Record) -> Iterator[dict[str, Any]]:
        return iter(record.rows)

    def _scalars_of(self, record: _Record) -> Iterator[tuple[str, float]]:
        for row in record.rows:
            for stat in COLUMNS[4:]:
                if row[stat] is not None:
                    yield f"activations/{row['layer']}/{stat}", row[stat]
        for row, _ in record.parameters:
            for stat in PARAMETER_COLUMNS[4:]:
                yield (
                    f"activation_parameters/{row['layer']}/{row['parameter']}/{stat}",
                    row[stat],
                )

    def _histograms_of(self, record: _Record) -> Iterator[tuple[str, Any]]:
        for row, values in zip(record.rows, record.outputs, strict=True):
            yield f"activations/{row['layer']}", values
        for row, values in record.parameters:
            yield f"activation_parameters/{row['layer']}/{row['parameter']}", values

    @property
    def parameter_history(self) -> list[dict[str, Any]]:
        """The learned parameters of the model's activation layers (the
        slopes of PReLU, the alpha of ParametricELU...) at every record: one
        row per layer and parameter, keyed by `PARAMETER_COLUMNS` (`step`,
        `epoch`, `layer`, `parameter`, `mean`, `min`, `max`). TensorBoard
        gets them as scalars `activation_parameters/<layer>/<parameter>/
        <stat>` and histograms."""
        return [row for record in self._records for row, _ in record.parameters]

    # What the user reads.
    def flags(self) -> list[Flag]:
        """The problems found, each with what to try: in the inputs of the
        probe batch, and in the layers at the last record.

        - `"dead"`: more than half of a ReLU layer's units dead (on
          `dead_data`, where given) at each of the last three records.
        - `"saturated"`: more than half of a hidden layer's outputs
          saturated (the model's own output layers are left out: a
          confident classifier saturates by design).
        - `"off_center"`: hidden sigmoid layers whose mean is farther from 0
          than their standard deviation, so the next layer's inputs share
          one sign (one flag for all of them, under the first).
        - `"inputs_off_center"`: input features whose mean is farther from 0
          than their spread, on average.

        Returns:
            A list of `keras_acts.Flag`, empty when nothing was found.
        """
        flags = list(getattr(self, "_input_flags", []))
        if not self._records:
            return flags
        # Dead units never come back: a layer counts when more than half its
        # units were dead at each of the last three records, which leaves
        # out units that a small probe batch finds idle for a while.
        recent = self._records[-DEAD_RECORDS:]
        for index, row in enumerate(self._records[-1].rows):
            layer = row["layer"]
            dead = _dead_fraction(row)
            persistent = len(recent) == DEAD_RECORDS and all(
                (_dead_fraction(record.rows[index]) or 0.0) > FLAG_DEAD
                for record in recent
                if len(record.rows) == len(self._records[-1].rows)
            )
            if dead is not None and dead > FLAG_DEAD and persistent:
                where = "on the probe batch"
                if row["dead_fraction_data"] is not None:
                    where = "on dead_data"
                flags.append(
                    Flag(
                        "dead",
                        layer,
                        f"{dead:.0%} of units dead {where} at step {row['step']}",
                        "try PReLU, LeakyReLU or ELU, a lower learning rate, or "
                        "He initialization",
                        UNITS_DOC,
                    )
                )
            saturated = row["saturated_fraction"]
            hidden = layer not in self._output_layer_names
            if saturated is not None and saturated > FLAG_SATURATED and hidden:
                flags.append(
                    Flag(
                        "saturated",
                        layer,
                        f"{saturated:.0%} of outputs saturated at step {row['step']}",
                        "Standardize the inputs, use smaller initial weights, or "
                        "a ReLU-family activation",
                        UNITS_DOC,
                    )
                )
        off_center = [
            row
            for row in self._records[-1].rows
            if row["activation"] in POSITIVE_ACTIVATIONS
            and row["layer"] not in self._output_layer_names
            and abs(row["mean"]) > row["std"]
        ]
        if off_center:
            first = off_center[0]
            layers = ", ".join(row["layer"] for row in off_center)
            flags.append(
                Flag(
                    "off_center",
                    first["layer"],
                    f"outputs not zero-centered in {len(off_center)} layer(s) "
                    f"({layers}; here mean {first['mean']:.2f}, std "
                    f"{first['std']:.2f}): the next layer's weight gradients "
                    "share one sign per example",
                    "try tanh or a zero-centered activation such as "
                    "keras_acts.ParametricELU",
                    "Why activations matter",
                )
            )
        return flags

    def summary(self) -> str:
        """A table of the last record, one line per layer, and the problems
        found (`flags()`).

        The table marks, per layer: more than half the units dead; more than
        half the outputs saturated; not zero-centered, when the mean is
        farther from 0 than the standard deviation.

        Returns:
            The table and the problems, as a string.
        """
        if not self._records:
            raise ValueError("ActivationMonitor has recorded nothing yet.")
        record = self._records[-1]
        width = max(len(row["layer"]) for row in record.rows)
        lines = [
            f"Activations at step {record.step}",
            f"{'layer':<{width}}  {'activation':<13}{'mean':>8}{'std':>8}"
            f"{'dead':>7}{'saturated':>10}{'grad l2':>11}  marks",
        ]
        for row in record.rows:
            marks = []
            dead = _dead_fraction(row)
            if dead is not None and dead > FLAG_DEAD:
                marks.append("dead")
            saturated = row["saturated_fraction"]
            if saturated is not None and saturated > FLAG_SATURATED:
                marks.append("saturated")
            if abs(row["mean"]) > row["std"]:
                marks.append("not zero-centered")
            gradient = row["output_grad_l2"]
            lines.append(
                f"{row['layer']:<{width}}  {row['activation']:<13}"
                f"{row['mean']:>8.3f}{row['std']:>8.3f}"
                f"{'-' if dead is None else f'{dead:.0%}':>7}"
                f"{'-' if saturated is None else f'{saturated:.0%}':>10}"
                f"{'-' if gradient is None else f'{gradient:.2e}':>11}  "
                + ", ".join(marks)
            )
        lines.append(report("Problems", self.flags()))
        return "\n".join(line.rstrip() for line in lines)

    def plot(self, axes: tuple[Axes, Axes] | None = None) -> Figure:
        """Plots the dead and saturated fractions of each layer over the steps.

        Needs matplotlib.

        Args:
            axes: Two matplotlib axes to draw into; `None` makes a new figure.
                Defaults to `None`.

        Returns:
            The matplotlib figure.
        """
        import matplotlib.pyplot as plt

        if not self._records:
            raise ValueError("ActivationMonitor has recorded nothing to plot yet.")
        axes = check_axes(axes, 2)
        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
        dead_axes, saturated_axes = axes
        by_layer: dict[str, list[dict[str, Any]]] = {}
        for row in self.history:
            by_layer.setdefault(row["layer"], []).append(row)
        for layer, rows in by_layer.items():
            steps = [row["step"] for row in rows]
            for ax, stat in (
                (dead_axes, "dead_fraction"),
                (saturated_axes, "saturated_fraction"),
            ):
                if rows[0][stat] is not None:
                    ax.plot(steps, [row[stat] for row in rows], label=layer)
        for ax, title in (
            (dead_axes, "dead units"),
            (saturated_axes, "saturated outputs"),
        ):
            ax.set_title(title)
            ax.set_xlabel("step")
            ax.set_ylabel("fraction")
            ax.set_ylim(-0.02, 1.02)
            if ax.lines and len(ax.lines) <= 12:
                ax.legend(fontsize=8)
        return dead_axes.figure

    def plot_parameters(
        self, ax: Axes | None = None, steps: Sequence[int] | None = None
    ) -> Figure:
        """Plots the learned activation parameters layer by layer, as He et
        al. (2015) plot PReLU's learned slopes: the mean of each parameter
        per layer (input side on the left), one line per record, with the
        range (min to max) of the last one shaded. Needs matplotlib.

        Args:
            ax: A matplotlib axes to draw into; `None` makes a new figure.
                Defaults to `None`.
            steps: The recorded steps to draw. Defaults to `None`: the first,
                the middle and the last record.

        Returns:
            The matplotlib figure.
        """
        import matplotlib.pyplot as plt

        rows = self.parameter_history
        if not rows:
            raise ValueError(
                "ActivationMonitor has no learned activation parameters to plot: "
                "the model has no PReLU or ParametricELU layer, or nothing was "
                "recorded yet."
            )
        recorded = sorted({row["step"] for row in rows})
        if steps is None:
            steps = sorted({recorded[0], recorded[len(recorded) // 2], recorded[-1]})
        missing = [step for step in steps if step not in recorded]
        if missing:
            raise ValueError(
                f"No record at steps {missing}. Recorded steps: {recorded}"
            )
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4), layout="constrained")
        series = list(dict.fromkeys((row["layer"], row["parameter"]) for row in rows))
        positions = range(len(series))
        for step in steps:
            at_step = {
                (row["layer"], row["parameter"]): row
                for row in rows
                if row["step"] == step
            }
            means = [
                at_step[key]["mean"] if key in at_step else np.nan for key in series
            ]
            ax.plot(positions, means, marker="o", label=f"step {step}")
            if step == steps[-1]:
                ax.fill_between(
                    positions,
                    [
                        at_step[key]["min"] if key in at_step else np.nan
                        for key in series
                    ],
                    [
                        at_step[key]["max"] if key in at_step else np.nan
                        for key in series
                    ],
                    alpha=0.2,
                    label=f"min to max, step {step}",
                )
        ax.set_xticks(
            list(positions),
            [f"{layer}\n{parameter}" for layer, parameter in series],
            fontsize=8,
            rotation=45 if len(series) > 6 else 0,
        )
        ax.set_ylabel("learned value")
        ax.set_title("learned activation parameters by layer")
        ax.legend(fontsize=8)
        return ax.figure
