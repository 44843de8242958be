"""Dead units, saturation and centering of each layer's activations."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from keras_acts.callbacks._recorder import Recorder, check_freq
from keras_acts.layers import Maxout, MaxoutDense, ParametricELU, PReLU

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
)
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
DYING_ACTIVATIONS = {"relu", "relu6", "ReLU"}
ACTIVATION_LAYERS = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
    keras.layers.Softmax,
    PReLU,
    ParametricELU,
    Maxout,
    MaxoutDense,
)
FLAG_DEAD = 0.5
FLAG_SATURATED = 0.5


def activation_name(layer: keras.layers.Layer) -> str | None:
    """The name of the layer's nonlinearity, or None if it has none."""
    activation = getattr(layer, "activation", None)
    if callable(activation):  # Dense, Conv, Activation and the like
        name = getattr(activation, "__name__", activation.__class__.__name__)
        return None if name == "linear" else name
    if isinstance(layer, ACTIVATION_LAYERS):
        return layer.__class__.__name__
    return None


@dataclass
class _Record:
    step: int
    epoch: int
    rows: list[dict[str, Any]]


class ActivationMonitor(Recorder):
    """Tracks dead units, saturation and centering of each layer's outputs.

    Every `freq`, the monitor runs the model once, in inference mode, on a
    fixed probe batch and computes, for each layer that applies a
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
      range (sigmoid, hard sigmoid and softmax on [0, 1]; tanh, hard tanh and
      softsign on [-1, 1]): outputs within `saturation_margin` times the
      range's width of either end, where the derivative is nearly 0. `None`
      for other activations;
    - the fraction of outputs that are exactly 0;
    - when `data` is an `(x, y)` pair, the gradient of the loss with respect to
      the layer's output on the probe batch (its L2 norm and mean absolute
      value), from one tape pass: the backpropagated signal whose decay from
      the last layer to the first is the vanishing gradient itself.

    The training step is not changed: each record costs one forward pass on
    the probe batch (and one backward pass with `y`). Only the TensorFlow
    backend is supported for the output gradients.

    Sequential and Functional models are supported: any layer of the model
    (not inside a nested model) is reachable. A subclassed model has no graph
    of layers to read outputs from, and the monitor raises at the start of
    `fit`.

    Args:
        data: The probe batch: an array `x`, an `(x, y)` pair, or a
            `tf.data.Dataset` (its first element is used).
        freq: `"epoch"` to record at the end of every epoch, or a number of
            training batches. A record is also made before the first step.
            Defaults to `"epoch"`.
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
        append: Append to an existing `csv_path` instead of overwriting it.
            Defaults to `False`.

    Example:
        ```python
        x = np.random.default_rng(0).normal(size=(64, 4))
        model = keras.Sequential([
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(8, activation="sigmoid"),
            keras.layers.Dense(1),
        ])
        model.compile(optimizer="sgd", loss="mse")
        monitor = keras_acts.ActivationMonitor((x, np.zeros((64, 1))))
        model.fit(x, np.zeros((64, 1)), epochs=2, callbacks=[monitor], verbose=0)
        print(monitor.summary())
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
    ) -> None:
        super().__init__(log_dir=log_dir, csv_path=csv_path, append=append)
        check_freq(freq)
        if not isinstance(saturation_margin, (int, float)) or not (
            0 < saturation_margin < 0.5
        ):
            raise ValueError(
                "`saturation_margin` must be a number between 0 and 0.5. "
                f"Received: saturation_margin={saturation_margin!r}"
            )
        if not isinstance(dead_threshold, (int, float)):
            raise ValueError(
                f"`dead_threshold` must be a number. Received: {dead_threshold!r}"
            )
        if layers is not None:
            layers = [layers] if isinstance(layers, (str, type)) else list(layers)
            if not layers or not all(isinstance(s, (str, type)) for s in layers):
                raise ValueError(
                    "`layers` must be layer names or layer classes. "
                    f"Received: layers={layers!r}"
                )
        self.x, self.y = self._split_probe(data)
        self.freq = freq
        self.layers = layers
        self.dead_threshold = dead_threshold
        self.saturation_margin = saturation_margin

    @staticmethod
    def _split_probe(data):
        if hasattr(data, "element_spec"):  # a tf.data.Dataset: its first batch
            data = next(iter(data), None)
            if data is None:
                raise ValueError("`data` is an empty dataset; the probe needs data.")
        if isinstance(data, (tuple, list)):
            if len(data) not in (1, 2, 3):
                raise ValueError(
                    "`data` must be x or an (x, y) pair. "
                    f"Received a sequence of {len(data)} items."
                )
            x = data[0]
            y = data[1] if len(data) > 1 else None
        else:
            x, y = data, None
        x = np.asarray(keras.ops.convert_to_numpy(x))
        if x.ndim == 0 or len(x) == 0:
            raise ValueError(
                f"`data` holds no examples. Received x of shape {np.shape(x)}"
            )
        if y is not None:
            y = np.asarray(keras.ops.convert_to_numpy(y))
            if len(y) != len(x):
                raise ValueError(f"`data` has {len(x)} inputs but {len(y)} targets.")
        return x, y

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
        if not inputs or isinstance(model, keras.Sequential) and not model.built:
            if isinstance(model, keras.Sequential):
                model.build((None,) + self.x.shape[1:])
                inputs = model.inputs
            else:
                raise ValueError(
                    f"ActivationMonitor needs the layer graph of a Sequential or "
                    f"Functional model to read layer outputs; model "
                    f"{model.name!r} is subclassed. Build it as a Functional "
                    "model, or monitor one of its Functional sub-models."
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
        if self.y is not None and keras.backend.backend() != "tensorflow":
            raise ValueError(
                "ActivationMonitor computes output gradients on the TensorFlow "
                f"backend only. Received: backend={keras.backend.backend()!r}"
            )
        self._output_layer_names = {
            layer.name
            for layer in self._monitored
            if any(layer.output is tensor for tensor in model.outputs)
        }
        probe_outputs = [layer.output for layer in self._monitored]
        # The loss must be taken from the very tensors whose gradients are
        # read: a model output that a monitored layer produces is reused.
        self._prediction_indices = []
        for tensor in model.outputs:
            matches = [i for i, o in enumerate(probe_outputs) if o is tensor]
            if not matches:
                probe_outputs.append(tensor)
                matches = [len(probe_outputs) - 1]
            self._prediction_indices.append(matches[0])
        self._probe = keras.Model(
            inputs[0] if len(inputs) == 1 else inputs, probe_outputs
        )
        self._open_outputs()
        self._epoch = 0
        self._batches = 0
        self._record()

    # When to record.
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._batches += 1
        if self.freq != "epoch" and self._batches % self.freq == 0:
            self._record()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.freq == "epoch":
            self._record()
        super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        self._close_writer()

    # Measuring.
    def _forward(self):
        """Layer outputs on the probe and, with y, the loss gradients."""
        count = len(self._monitored)
        if self.y is None:
            outputs = self._probe(self.x, training=False)
            return [keras.ops.convert_to_numpy(o) for o in outputs[:count]], None
        import tensorflow as tf

        x = tf.convert_to_tensor(self.x)
        with tf.GradientTape() as tape:
            outputs = self._probe(x, training=False)
            layer_outputs = outputs[:count]
            # tf.identity drops the logits that Keras attaches to sigmoid and
            # softmax outputs: the loss is then computed from the outputs
            # themselves, so their gradient is defined.
            predictions = [tf.identity(outputs[i]) for i in self._prediction_indices]
            if len(predictions) == 1:
                predictions = predictions[0]
            loss = self.model.compute_loss(x=x, y=self.y, y_pred=predictions)
        gradients = tape.gradient(loss, layer_outputs)
        return (
            [o.numpy() for o in layer_outputs],
            [None if g is None else g.numpy() for g in gradients],
        )

    def _statistics(self, layer, values, gradient) -> dict[str, Any]:
        values = np.asarray(values, np.float64)
        name = activation_name(layer) or "linear"
        units = values.reshape(-1, values.shape[-1]) if values.ndim > 1 else values
        dead_fraction = None
        if name in DYING_ACTIVATIONS and getattr(layer, "negative_slope", 0) == 0:
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

    def _record(self) -> None:
        outputs, gradients = self._forward()
        step = int(self.model.optimizer.iterations.numpy())
        rows = []
        for index, (layer, values) in enumerate(
            zip(self._monitored, outputs, strict=True)
        ):
            gradient = None if gradients is None else gradients[index]
            row = {"step": step, "epoch": self._epoch}
            row.update(self._statistics(layer, values, gradient))
            rows.append(row)
        self._last_outputs = outputs
        self._add_record(_Record(step, self._epoch, rows))

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

    def _histograms_of(self, record: _Record) -> Iterator[tuple[str, Any]]:
        for layer, values in zip(self._monitored, self._last_outputs, strict=True):
            yield f"activations/{layer.name}", values

    # What the user reads.
    def summary(self) -> str:
        """A table of the last record, one line per layer, with flags.

        Flags: more than half the units dead; more than half the outputs
        saturated (not for the model's own output layers, where saturation
        means confident predictions); not zero-centered, when the mean is
        farther from 0 than the standard deviation, so that nearly all outputs
        share one sign.

        Returns:
            The table as a string.
        """
        if not self._records:
            raise ValueError("ActivationMonitor has recorded nothing yet.")
        record = self._records[-1]
        width = max(len(row["layer"]) for row in record.rows)
        lines = [
            f"Activations at step {record.step}",
            f"{'layer':<{width}}  {'activation':<13}{'mean':>8}{'std':>8}"
            f"{'dead':>7}{'saturated':>10}{'grad l2':>11}  flags",
        ]
        for row in record.rows:
            flags = []
            dead = row["dead_fraction"]
            if dead is not None and dead > FLAG_DEAD:
                flags.append(f"{dead:.0%} dead units")
            saturated = row["saturated_fraction"]
            if (
                saturated is not None
                and saturated > FLAG_SATURATED
                and row["layer"] not in self._output_layer_names
            ):
                flags.append(f"{saturated:.0%} saturated")
            if abs(row["mean"]) > row["std"]:
                flags.append("not zero-centered")
            gradient = row["output_grad_l2"]
            lines.append(
                f"{row['layer']:<{width}}  {row['activation']:<13}"
                f"{row['mean']:>8.3f}{row['std']:>8.3f}"
                f"{'-' if dead is None else f'{dead:.0%}':>7}"
                f"{'-' if saturated is None else f'{saturated:.0%}':>10}"
                f"{'-' if gradient is None else f'{gradient:.2e}':>11}  "
                + "; ".join(f"{row['layer']}: {flag}" for flag in flags)
            )
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
        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(11, 4))
        dead_axes, saturated_axes = axes
        steps = [r.step for r in self._records]
        for index, layer in enumerate(self._monitored):
            rows = [r.rows[index] for r in self._records]
            dead = [r["dead_fraction"] for r in rows]
            if dead[0] is not None:
                dead_axes.plot(steps, dead, label=layer.name)
            saturated = [r["saturated_fraction"] for r in rows]
            if saturated[0] is not None:
                saturated_axes.plot(steps, saturated, label=layer.name)
        for ax, title in (
            (dead_axes, "dead units"),
            (saturated_axes, "saturated outputs"),
        ):
            ax.set_title(title)
            ax.set_xlabel("step")
            ax.set_ylabel("fraction")
            ax.set_ylim(-0.02, 1.02)
            if ax.lines and len(ax.lines) <= 12:
                ax.legend(fontsize=7)
        return dead_axes.figure
