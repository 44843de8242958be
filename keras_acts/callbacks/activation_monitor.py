"""Dead units, saturation and centering of each layer's activations.

The parts: `_activation_layers` finds the layers with a nonlinearity;
`_activation_probe` reads their outputs and measures them on the probe
batch; `_rules` judges the rows; `_reports` and `_plots` show them. This
front holds the arguments and the callback hooks that decide when to probe.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from keras_acts import _backends, _validation, _warnings
from keras_acts.callbacks import _plots, _reports, _rules
from keras_acts.callbacks._activation_layers import (
    context_of,
    embeds_inputs,
    layer_paths,
    learned_activations,
    logit_outputs,
    monitored_layers,
    regression_targets,
    standardizes,
    stepping_optimizer,
    takes_logits,
)
from keras_acts.callbacks._activation_probe import (
    Probe,
    batches,
    iterations,
    leading_batch,
    named_inputs,
    parameter_rows,
    split_probe,
)
from keras_acts.callbacks._dynamics_probe import (
    MEASUREMENT_PASSES,
    DynamicsProbe,
    TimeBudget,
    configured_step,
    stability_threshold,
    update_norm,
)
from keras_acts.callbacks._gradient_capture import optimizers_of
from keras_acts.callbacks._recorder import Recorder
from keras_acts.callbacks._schedule import ProbeBudget, Schedule, StepClock
from keras_acts.diagnosis import Flag

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
# With freq="auto", the share of the training time that the probes may
# take, besides DYNAMICS_BUDGET for dynamics_freq="auto".
PROBE_BUDGET = 0.01
PARAMETER_COLUMNS = ("step", "epoch", "layer", "parameter", "mean", "min", "max")
# A probe of more examples than this gets a warning: it runs in one pass,
# whose memory grows with it (10,000 small images took 7 GB on TensorFlow).
LARGE_PROBE = 2048


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
    mode, on a fixed probe batch and records, for each layer that applies a
    nonlinearity, the mean and spread of its outputs, its dead ReLU units,
    its saturated outputs and its zeros, and (when `data` holds targets) the
    gradient of the loss with respect to its output (see below the
    example).

    The training step is not changed: each record costs one forward pass on
    the probe batch (and one backward pass with targets). The pass keeps
    every measured layer's outputs, so its memory grows with the probe: a
    few hundred examples are enough, and a probe of more than 2048 gets a
    warning.

    Args:
        data: The probe batch, as `fit` takes it: `x`, an `(x, y)` pair or
            an `(x, y, sample_weight)` triple, where `x` and `y` are arrays,
            or lists or dicts of arrays for models with several inputs or
            outputs; or a `tf.data.Dataset` (its first element is used). A
            list of as many arrays as the model has inputs is `x`; another
            list is read as a tuple, as Keras reads `validation_data`.
        freq: `"auto"` to record before the first steps of each `fit`
            (steps 0, 2 and 4, with one step per block) and then whenever
            the later probes stay within 1% of the training time, which the
            monitor measures as it trains; `"epoch"` to record at the start
            of every epoch; or a number of optimizer steps. Defaults to
            `"auto"`.
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
            `"dead"`, `"saturated"`, `"off_center"`, `"inputs_off_center"`,
            `"inputs_unscaled"`, `"frozen"`, `"lr_too_high"`, `"noisy_gradients"`,
            `"targets_unscaled"`. Defaults to `True`.
        dynamics_freq: When to measure on the probe batch how training
            moves (when `data` holds targets): the loss, the curvature of
            the loss against the step the optimizer takes, and each
            layer's gradient noise (`dynamics_history`). Each measurement
            costs about 30 forward and backward passes of the probe batch.
            `"auto"`: as often as keeps their time within 2% of the
            training time between them, the first once the fit has trained
            long enough to pay for it (its cost is foreseen from the
            probe's first record: a fit of a few seconds measures nothing).
            A number of optimizer steps: at the first step of each fit and
            every that many steps. `None` turns them off. Defaults to
            `"auto"`.
        batch_size: The training batch size that the gradient noise is
            judged at. Defaults to `None`: the probe's number of examples.
        dynamics_max_seconds: If given, the dynamics are not measured in a
            fit where one measurement is foreseen (from the probe's first
            record) to take longer than this many seconds, as on a large
            model; `dynamics_skipped_seconds` then holds the foreseen time.
            Defaults to `None`.

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
        Activations at step 2
        layer    activation       mean     std   dead saturated    grad l2  marks
        hidden1  relu            0.277   0.424     0%         -   1.54e-01
        hidden2  tanh           -0.219   0.382      -        2%   1.77e-01
        Problems: no problems found.
        ```

    What a record holds, for each layer that applies a nonlinearity (a
    `Dense` or `Conv` layer with an activation, an activation layer, the
    keras_acts layers):

    - the mean and standard deviation of its outputs (a mean far from 0, as
      after a sigmoid, slows down the next layer);
    - for ReLU units (`relu`, `relu6`, `keras.layers.ReLU`), the fraction of
      dead units: units (indices of the last axis, i.e. neurons or channels)
      whose output is `<= dead_threshold` for every probe example and
      position. A dead ReLU gets no gradient and never recovers. `None` for
      other activations: a tanh, leaky, ELU or maxout unit with only
      negative outputs still has a gradient;
    - the fraction of saturated outputs, for activations with a bounded
      range (sigmoid and hard sigmoid on [0, 1]; tanh, hard tanh and
      softsign on [-1, 1]): outputs within `saturation_margin` times the
      range's width of either end, where the derivative is nearly 0. For
      softmax (as an activation or as `keras.layers.Softmax`), the fraction
      of its distributions, along its axis, that are nearly one-hot: whose
      largest entry is within `saturation_margin` of 1. `None` for other
      activations;
    - the fraction of outputs that are exactly 0;
    - when `data` holds targets, the gradient of the loss (the model's
      compiled loss, with the probe's sample weights) with respect to the
      layer's output on the probe batch (its L2 norm and mean absolute
      value): the backpropagated signal whose decay from the last layer to
      the first is the vanishing gradient itself.

    When: `step` is the number of optimizer updates applied when the probe
    runs, the same `step` as GradientMonitor's (the gradient recorded at
    step `s` is computed at the weights probed at step `s`), so the rows of
    the two monitors join on `step` (and `epoch`). With `freq="auto"` the
    probe runs before the first, third and fifth blocks of steps of each
    fit, and then before the blocks that the time budget allows, not at the
    end. With
    `freq="epoch"`, the
    probe runs before the first step of each epoch and once more at the end
    of training. With an integer `freq`, it runs before each step that is a
    multiple of `freq`, and at the end of training if the last step was
    due; with `steps_per_execution > 1` the probe can only run between
    blocks of steps, so a due step inside a block is probed after the block,
    under the step reached. Each `fit` starts a new `history` (and writes
    `csv_path` anew), as Keras's `History` does, unless `append=True`.

    Models: Sequential, Functional and subclassed models, with one or
    several inputs (arrays, lists or dicts) and outputs; layers inside
    nested models and composite layers (keras-hub's TransformerEncoder) are
    reached too, named by their path (`"transformer_layer_0/
    feedforward_intermediate_dense"`). BatchNormalization layers normalise
    the probe with its own statistics, as in training, and keep their
    moving statistics. A nonlinearity applied as a function inside a
    `call` (`keras.activations.sigmoid(x)`) is neither seen nor measured:
    make it a layer (`keras.layers.Activation("sigmoid")`) to measure it.
    The monitor warns at the start of `fit` when it finds no layer to
    measure, or a selected layer whose outputs it cannot read, and
    measures the rest. Backends: TensorFlow, JAX and PyTorch.
    """

    COLUMNS = COLUMNS

    def __init__(
        self,
        data: Any,
        freq: int | str = "auto",
        layers: Sequence[str | type] | None = None,
        dead_threshold: float = 0.0,
        saturation_margin: float = 0.05,
        log_dir: str | os.PathLike | None = None,
        csv_path: str | os.PathLike | None = None,
        append: bool = False,
        dead_data: Any = None,
        warn: bool | Sequence[str] = True,
        dynamics_freq: int | str | None = "auto",
        batch_size: int | None = None,
        dynamics_max_seconds: float | None = None,
    ) -> None:
        super().__init__(log_dir=log_dir, csv_path=csv_path, append=append)
        self.schedule = Schedule(freq)
        self._warn_kinds = _rules.check_warn(warn, _rules.kinds_of("ActivationMonitor"))
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
        self._dynamics_schedule = None
        if dynamics_freq not in (None, "auto"):
            try:
                self._dynamics_schedule = Schedule(
                    _validation.positive_integer("dynamics_freq", dynamics_freq)
                )
            except ValueError:
                raise ValueError(
                    '`dynamics_freq` must be a positive integer, "auto" or '
                    f"None. Received: dynamics_freq={dynamics_freq!r}"
                ) from None
        self.batch_size = (
            None
            if batch_size is None
            else _validation.positive_integer("batch_size", batch_size)
        )
        self.dynamics_freq = dynamics_freq
        self.dynamics_max_seconds = (
            None
            if dynamics_max_seconds is None
            else _validation.real(
                "dynamics_max_seconds", dynamics_max_seconds, positive=True
            )
        )
        # The foreseen time of a measurement, in a fit that skipped them for
        # being over dynamics_max_seconds.
        self.dynamics_skipped_seconds: float | None = None
        self.x, self.y, self.sample_weight = split_probe(data)
        # Read again once the model's inputs are known (`split_probe`).
        self._listed_probe = data if isinstance(data, list) else None
        if dead_data is not None and not hasattr(dead_data, "element_spec"):
            dead_data = split_probe(dead_data, name="dead_data")[0]
        self.dead_data = dead_data
        self.warn = warn
        self.freq = self.schedule.freq
        self.layers = layers
        self.dead_threshold = dead_threshold
        self.saturation_margin = saturation_margin
        # The state of a fit, set anew in on_train_begin.
        self._probe: Probe | None = None
        self._parameter_layers: list[tuple[str, keras.layers.Layer]] = []
        self._clock: StepClock | None = None
        self._epoch = 0
        self._fit_start = 0
        self._probe_due = False
        self._first_probe_pending = False
        self._fit_findings: list[_rules.Finding] = []
        self._live_warnings = _rules.LiveWarnings(frozenset())
        self._context: _rules.Context | None = None
        self._dynamics: DynamicsProbe | None = None
        self._dynamics_records: list[dict[str, Any]] = []
        self._losses: list[tuple[int, float]] = []
        # A measured step waiting for its update: the record, the weights
        # before it and the norm of the probe's gradient.
        self._pending_update: tuple[dict, list[np.ndarray], float] | None = None
        self._clock_start = 0
        self._dynamics_fit_start = 0
        self._time_budget = TimeBudget()
        self._probe_budget: ProbeBudget | None = None
        self._block_open = False  # a block of steps began and has not ended

    # Set-up.
    def on_train_begin(self, logs: dict | None = None) -> None:
        model = self.model
        if self._listed_probe is not None:
            inputs = getattr(model, "inputs", None) or []
            self.x, self.y, self.sample_weight = split_probe(
                self._listed_probe, len(inputs)
            )
        monitored = monitored_layers(model, self.layers, self.x)
        self._probe = Probe(
            model,
            monitored,
            (self.x, self.y, self.sample_weight),
            self.dead_threshold,
            self.saturation_margin,
        )
        self._warn_unread(model, self._probe.unread, bool(monitored))
        if self.dead_data is not None:
            self._check_dead_data(model)
        examples = len(keras.tree.flatten(self.x)[0])
        if examples > LARGE_PROBE:
            _warnings.warn(
                f"ActivationMonitor: the probe holds {examples} examples, which "
                "it runs in one pass, forward and backward, keeping every "
                "measured layer's outputs: memory grows with them, far past a "
                "training batch's. A few hundred examples measure the units "
                "as well: pass data[:512] (and `dead_data=` to count dead "
                "units over many examples, in batches).",
                UserWarning,
            )
        if self._probe.y is not None and getattr(model, "loss", None) is None:
            self._probe.predict(self.x)  # its add_loss losses, if any
            if not model.losses:
                # A custom train_step's own loss: the probe has none to
                # differentiate, and Keras's compute_loss would fail.
                self._probe.y = None
                _warnings.warn(
                    f"ActivationMonitor: model {model.name!r} is compiled "
                    "without a loss, so the probe's targets give it none to "
                    "differentiate: it measures the layers' outputs, not the "
                    "signal backpropagated to them.",
                    UserWarning,
                )
        self._parameter_layers = learned_activations(model)
        self._context = context_of(model, optimizers_of(model))
        self._open_outputs()
        self._fit_start = len(self._records)  # earlier fits' with append=True
        self._epoch = 0
        self._probe_due = False
        self._live_warnings = _rules.LiveWarnings(self._warn_kinds)
        self._fit_findings = (
            []
            if standardizes(model)
            else _rules.input_findings(
                named_inputs(self.x), pixels=not embeds_inputs(model)
            )
        )
        for name, targets in regression_targets(model, self.y):
            self._fit_findings += _rules.target_findings(name, targets)
        self._fit_findings += _rules.frozen_findings(layer_paths(model))
        if takes_logits(model):
            self._fit_findings += _rules.logits_findings(
                logit_outputs(model, self._probe.predict(self.x))
            )
        self._losses = []
        if not self.append:
            self._dynamics_records = []
        self._pending_update = None
        self._dynamics = None
        self.dynamics_skipped_seconds = None
        self._time_budget = TimeBudget()
        if (
            self.dynamics_freq is not None
            and self.y is not None
            and model.trainable_variables
        ):
            self._dynamics = DynamicsProbe(
                model,
                self._probe.predict,
                (self.x, self.y, self.sample_weight),
                self.batch_size,
            )
        self._clock = StepClock(
            iterations(model), int(getattr(model, "steps_per_execution", 1))
        )
        self._clock_start = self._clock.iterations
        self._block_open = False
        self._dynamics_fit_start = len(self._dynamics_records)
        self._probe_budget = None
        if self.schedule.auto:
            self._probe_budget = ProbeBudget(PROBE_BUDGET)
        # At the first epoch's begin, which names the epoch (fit's
        # `initial_epoch`); the weights are those the fit began with.
        self._first_probe_pending = True

    def _probe_first(self) -> None:
        """The probe before the fit's first step, if one is due."""
        if (
            self.schedule.per_epoch
            or self.schedule.auto
            or self.schedule.first_due(self._clock.iterations, 1) is not None
        ):
            # Its time, a forward and a backward pass of the probe, prices
            # the first dynamics measurement for dynamics_freq="auto".
            probe_seconds = self._time_budget.time(
                lambda: self._record(self._clock.iterations)
            )
            foreseen = probe_seconds * MEASUREMENT_PASSES
            if self._probe_budget is not None:
                self._probe_budget.probed(probe_seconds)
            limit = self.dynamics_max_seconds
            if self._dynamics is not None and limit is not None and foreseen > limit:
                # A first probe may pay one-off costs (JAX compiles each
                # operation at its first eager call, a second of a small
                # model's): the warm one decides.
                warm_seconds = self._time_budget.time(self._probe.measure)
                foreseen = warm_seconds * MEASUREMENT_PASSES
                if foreseen > limit:
                    self._dynamics = None
                    self.dynamics_skipped_seconds = foreseen
            self._time_budget.expect(foreseen)

    def _check_dead_data(self, model) -> None:
        """`dead_data` is read at each epoch's end: one example of it goes
        through the model now, so that data the model cannot take fails
        before the first epoch, not after it, naming the argument."""
        dataset = hasattr(self.dead_data, "element_spec")
        if dataset:
            first = leading_batch(self.dead_data, "dead_data")
            first = keras.utils.unpack_x_y_sample_weight(first)[0]
        else:
            first = next(batches(self.dead_data, size=1))
        try:
            self._probe.dead_on_data(first)
        except Exception as error:
            hint = (
                " If the dataset yields single examples, batch it: "
                "`dead_data.batch(32)`."
                if dataset
                else ""
            )
            raise ValueError(
                f"ActivationMonitor's `dead_data` does not fit model "
                f"{model.name!r}.{hint} The model said: {error}"
            ) from error

    def _warn_unread(self, model, unread: list[str], selected: bool) -> None:
        """Says once, at the start of a fit, which layers the monitor cannot
        measure; it goes on with the others (and the input checks)."""
        if not selected:
            message = (
                f"found no layer with a nonlinearity in model {model.name!r} "
                "(a nonlinearity applied as a function inside a `call` "
                "cannot be read): it checks only the probe's inputs. Pass "
                "`layers=` to measure chosen layers."
            )
        elif unread:
            message = (
                f"cannot read the outputs of {unread} in model {model.name!r} "
                "(not called with the probe batch, or returning more than one "
                "tensor): it measures the other layers."
            )
        else:
            return
        _warnings.warn(f"ActivationMonitor {message}", UserWarning)

    # When to record.
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        if self._first_probe_pending:
            self._first_probe_pending = False
            self._probe_first()

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self._block_open:
            self._end_block(batch - 1)
        self._clock.begin_block(batch)
        self._block_open = True
        budget = self._probe_budget
        if budget is not None:
            # The first block's probe ran when the fit began.
            if budget.blocks and budget.due():
                budget.probed(self._time_budget.time(self._record))
            budget.begin_block()
        if self._probe_due:
            self._record()
        if self._dynamics is not None and self._dynamics_due():
            self._measure_dynamics(self._clock.iterations)

    def _end_block(self, last_batch: int) -> None:
        """After the block of steps that ended at `last_batch`, from the next
        block's begin or the epoch's end: a batch-end hook would keep Keras
        from dispatching the batch ends asynchronously, and on JAX and
        PyTorch make it wait for every step's logs."""
        self._block_open = False
        first, count = self._clock.end_block(last_batch)
        if self._probe_budget is not None:
            self._probe_budget.end_block()
        if self._pending_update is not None:
            self._measure_update(count)
        # The weights after this block are those a due step of the block
        # (other than its first) would have been probed at: they are probed
        # before the next block.
        integer_freq = not (self.schedule.per_epoch or self.schedule.auto)
        if integer_freq and self.schedule.first_due(first + 1, count) is not None:
            self._probe_due = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._block_open:
            steps = (self.params or {}).get("steps")
            stopped = getattr(self.model, "stop_training", False)
            self._end_block(
                steps - 1 if steps and not stopped else self._clock.full_block_end()
            )
        if self.schedule.per_epoch or self.dead_data is not None:
            self._record(with_dead_data=self.dead_data is not None)
        self._log_headline(logs)
        super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._probe_due:
            self._record()
        # What held to the end is confirmed, however short the fit.
        self._live_warnings.give(self.flags(), "ActivationMonitor")
        self._close_writer()

    def _log_headline(self, logs: dict | None) -> None:
        """The worst dead and saturated fractions of the epoch's last record,
        in Keras's logs, so that the progress bar, History, CSVLogger,
        keras.callbacks.TensorBoard and EarlyStopping see them. Each key is
        there in every epoch when the model has such layers; NaN in an epoch
        without a record, never an older one."""
        if logs is None:
            return
        rows = []
        for record in reversed(self._records[self._fit_start :]):
            if record.epoch == self._epoch:
                rows = record.rows
            break
        logs.update(
            _reports.activation_headline(
                rows, self._probe.activations, self._probe.not_hidden
            )
        )

    # Measuring.
    def _record(self, step: int | None = None, with_dead_data: bool = False) -> None:
        # On JAX, self.model brings the training state back into the model.
        model = self.model
        if step is None:
            step = iterations(model)
        if self._records and self._records[-1].step == step and not with_dead_data:
            return  # nothing trained since the last record
        self._probe_due = False
        rows, outputs, loss = self._probe.measure()
        if loss is not None:
            self._add_loss(step, loss)
        dead_on_data = (
            self._probe.dead_on_data(self.dead_data)
            if with_dead_data
            else [None] * len(rows)
        )
        rows = [
            {"step": step, "epoch": self._epoch, **row, "dead_fraction_data": dead}
            for row, dead in zip(rows, dead_on_data, strict=True)
        ]
        parameters = parameter_rows(self._parameter_layers, step, self._epoch)
        self._add_record(_Record(step, self._epoch, rows, outputs, parameters))
        self._live_warnings.give(self.flags(), "ActivationMonitor", step)

    def _dynamics_due(self) -> bool:
        if self._dynamics_schedule is None:  # "auto"
            return self._time_budget.due()
        step = self._clock.iterations
        due = self._dynamics_schedule.first_due(step, self._clock.steps_per_execution)
        return step == self._clock_start or due is not None

    def _measure_dynamics(self, step: int) -> None:
        """Measures the loss, curvature and gradient noise at `step`; the
        stability of an adaptive optimizer's step waits for its update."""
        model = self.model  # on JAX, brings the training state back
        measured = self._time_budget.measure(self._dynamics.measure)
        self._add_loss(step, measured["loss"])
        record = {
            "step": step,
            "epoch": self._epoch,
            "loss": measured["loss"],
            "sharpness": measured["sharpness"],
            "step_size": None,
            "threshold": None,
            "stability": None,
            "noise_scale": measured["noise_scale"],
        }
        self._dynamics_records.append(record)
        optimizer = stepping_optimizer(optimizers_of(model))
        if optimizer is None:
            return
        record["threshold"] = stability_threshold(optimizer)
        step_size = configured_step(optimizer)
        if step_size is not None:
            self._set_stability(record, step_size)
            return
        gradient_norm = float(
            np.sqrt(sum(float(np.sum(g * g)) for g in measured["gradient"]))
        )
        if gradient_norm > 0:
            before = [
                np.asarray(_backends.to_numpy(v), np.float64)
                for v in self._dynamics.variables
            ]
            self._pending_update = (record, before, gradient_norm)

    def _add_loss(self, step: int, loss: float) -> None:
        if not self._losses or self._losses[-1][0] != step:
            self._losses.append((step, loss))

    def _measure_update(self, steps: int) -> None:
        """The effective step size of the update just made: the norm of the
        update per step over the norm of the probe's gradient."""
        # On JAX, self.model brings the training state back into the model.
        variables = self.model.trainable_variables
        record, before, gradient_norm = self._pending_update
        self._pending_update = None
        moved = update_norm(before, variables) / steps
        self._set_stability(record, moved / gradient_norm)
        self._live_warnings.give(self.flags(), "ActivationMonitor", record["step"])

    def _set_stability(self, record: dict, step_size: float) -> None:
        record["step_size"] = step_size
        if np.isfinite(record["sharpness"]) and np.isfinite(step_size):
            record["stability"] = step_size * record["sharpness"] / record["threshold"]

    @property
    def dynamics_history(self) -> list[dict[str, Any]]:
        """What `dynamics_freq` measured, one row per measurement: `step`,
        `epoch`, the probe's `loss`, `sharpness` (the largest eigenvalue of
        the loss's Hessian), `step_size` (the learning rate of SGD, or the
        effective step of an adaptive optimizer), `threshold` (the step
        times curvature that the optimizer takes stably), `stability`
        (step size times sharpness over the threshold: above 1, a step
        overshoots the sharpest valley), and `noise_scale`, per layer and
        `"(global)"` (the batch size at which a mini-batch gradient's
        noise equals its signal; None where there is no noise to
        measure)."""
        return [dict(record) for record in self._dynamics_records]

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
    def _findings(self) -> list[_rules.Finding]:
        findings = list(self._fit_findings)
        if self._dynamics is not None:
            findings += _rules.dynamics_findings(
                self._losses,
                self._dynamics_records[self._dynamics_fit_start :],
                self._dynamics.batch_size,
            )
        if self._records:
            findings += _rules.activation_findings(
                [record.rows for record in self._records[-_rules.DEAD_RECORDS :]],
                self._probe.not_hidden,
            )
        return _rules.fitted(findings, self._context)

    def flags(self) -> list[Flag]:
        """The problems found, each with what to try: in the inputs of the
        probe batch, and in the layers at the last record.

        - `"dead"`: more than half of a ReLU layer's units dead (on
          `dead_data`, where given) at each of the last three records;
          judged on a probe of 4 examples (or positions) or more.
        - `"saturated"`: more than half of a hidden layer's outputs
          saturated (the model's own output layers are left out: a
          confident classifier saturates by design).
        - `"off_center"`: hidden sigmoid layers whose mean is farther from 0
          than their standard deviation, so the next layer's inputs share
          one sign (one flag for all of them, under the first).
        - `"inputs_off_center"`: input features whose mean is farther from 0
          than their spread, on average over 4 examples (or positions) or
          more, or for most features over 16 or more, in a model that does
          not center its own inputs (with a `keras_acts.Standardize`, a
          `keras.layers.Normalization` or a `keras.layers.Rescaling` with an
          offset, the advice is already taken).
        - `"inputs_unscaled"`: centered input features one of which spreads
          more than 100 times as widely as the median feature (constant
          features left out), in such a model.
        - `"targets_unscaled"`: with a regression loss (mean squared or
          absolute error, Huber, log-cosh), probe targets whose mean or
          standard deviation is above 10.
        - `"frozen"`: layers with `trainable=False` whose biases are all
          zero, as initialized: frozen by mistake before any training.
        - `"lr_too_high"`: a step at least twice as large as the optimizer
          takes stably along the loss's sharpest curvature, at a dynamics
          measurement, while the probe loss stays above 90% of its first
          value in the fit.
        - `"noisy_gradients"`: a batch at least 10 times smaller than the
          gradient noise scale at the fit's first dynamics measurement,
          while the probe loss stays above 90% of its first value.

        Returns:
            A list of `keras_acts.Flag`, empty when nothing was found.
        """
        return [finding.flag for finding in self._findings()]

    def summary(self, flagged_only: bool = False) -> str:
        """A table of the last record, one line per layer, and the problems
        found (`flags()`).

        The `marks` column marks the layers that the problems below name.
        Problems warned about during training that have cleared since are
        listed after them.

        Args:
            flagged_only: Show only the layers the problems name, for models
                of many layers. Defaults to `False`.

        Returns:
            The table and the problems, as a string.
        """
        flagged_only = _validation.boolean("flagged_only", flagged_only)
        if not self._records:
            raise ValueError("ActivationMonitor has recorded nothing yet.")
        record = self._records[-1]
        findings = self._findings()
        return _reports.activation_table(
            record.step,
            record.rows,
            findings,
            flagged_only,
            self._live_warnings.cleared(finding.flag for finding in findings),
        )

    def plot(self, axes: tuple[Axes, Axes] | None = None) -> Figure:
        """Plots the dead and saturated fractions of each layer over the steps.

        Needs matplotlib.

        Args:
            axes: Two matplotlib axes to draw into; `None` makes a new figure.
                Defaults to `None`.

        Returns:
            The matplotlib figure.
        """
        if not self._records:
            raise ValueError("ActivationMonitor has recorded nothing to plot yet.")
        return _plots.plot_activations(self.history, axes)

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
        return _plots.plot_parameters(self.parameter_history, ax, steps)
