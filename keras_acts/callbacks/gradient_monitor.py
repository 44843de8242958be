"""Records the gradients that `model.fit` applies, per layer and per variable."""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from keras_acts import _validation
from keras_acts.callbacks._flags import (
    GRADIENT_KINDS,
    LiveWarnings,
    check_warn,
    report,
)
from keras_acts.callbacks._gradient_capture import (
    MAX_ABS,
    NOT_MEASURED,
    SUM_ABS,
    SUM_SQUARES,
    UPDATE_SQUARES,
    WEIGHT_SQUARES,
    GradientCapture,
    VariableNames,
    optimizers_of,
)
from keras_acts.callbacks._recorder import Recorder, check_axes
from keras_acts.callbacks._schedule import Schedule, StepClock
from keras_acts.callbacks.flag import Flag

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

STATS = ("l2", "mean_abs", "max_abs", "weight_l2", "update_ratio")
COLUMNS = ("step", "epoch", "layer", "variable") + STATS
GLOBAL = "(global)"
NONFINITE_ACTIONS = ("warn", "stop", "raise")
GROWTH_FLAG = 1e3
# A layer is vanishing when at least this share of the records finds it
# below `vanishing_ratio` (early records count: a stuck net's gradients later
# shrink everywhere alike).
VANISHING_SHARE = 0.05
# Learning has stalled when the updates are smaller than this fraction of the
# weights, by the median over the later half of at least STALLED_RECORDS.
STALLED_UPDATE_RATIO = 1e-6
STALLED_RECORDS = 10
DOC = "Diagnosing gradient flow"


@dataclass
class _Record:
    step: int
    epoch: int
    names: VariableNames
    indices: np.ndarray  # the variables recorded, indices into `names`
    statistics: np.ndarray  # (len(indices), 5), the capture's columns
    gradients: list[np.ndarray] | None  # for histograms


def _aggregate(statistics: np.ndarray, sizes: np.ndarray) -> dict[str, Any]:
    """The row values of a group of variables, from their device statistics."""
    sum_squares = float(np.sum(statistics[:, SUM_SQUARES]))
    weight_squares = float(np.sum(statistics[:, WEIGHT_SQUARES]))
    updates = statistics[:, UPDATE_SQUARES]
    update_ratio = None
    if weight_squares > 0 and np.all(updates != NOT_MEASURED):
        update_ratio = math.sqrt(float(np.sum(updates))) / math.sqrt(weight_squares)
    size = int(np.sum(sizes))
    return {
        "l2": math.sqrt(sum_squares),  # NaN and Inf pass through
        "mean_abs": float(np.sum(statistics[:, SUM_ABS])) / size if size else 0.0,
        "max_abs": float(np.max(statistics[:, MAX_ABS])),
        "weight_l2": math.sqrt(weight_squares),
        "update_ratio": update_ratio,
    }


class _RunDiagnosis:
    """What the flags need from every record of a `fit`, kept as it goes, so
    that they cost the same at the 20,000th record as at the first."""

    def __init__(self) -> None:
        self.records = 0
        self.first_step: int | None = None
        self.last_step: int | None = None
        self.first_norm: float | None = None
        self.peak = (0.0, 0)  # the largest finite global norm, and its step
        self.nonfinite: tuple[int, list[str]] | None = None
        # Per layer: records below vanishing_ratio, the lowest ratio to the
        # output layer's norm, its step, and that output layer.
        self.vanishing: dict[str, list] = {}
        self.update_ratios: list[float] = []

    def add(self, rows: dict[str, dict], step: int, vanishing_ratio: float) -> None:
        self.records += 1
        if self.first_step is None:
            self.first_step = step
        self.last_step = step
        layers = [layer for layer in rows if layer != GLOBAL]
        norm = rows[GLOBAL]["l2"]
        if not math.isfinite(norm) or not math.isfinite(rows[GLOBAL]["weight_l2"]):
            if self.nonfinite is None:
                bad = [
                    layer
                    for layer in layers
                    if not math.isfinite(rows[layer]["l2"] + rows[layer]["weight_l2"])
                ]
                self.nonfinite = (step, bad)
            return
        if self.first_norm is None:
            self.first_norm = norm
        if norm > self.peak[0]:
            self.peak = (norm, step)
        if rows[GLOBAL]["update_ratio"] is not None:
            self.update_ratios.append(rows[GLOBAL]["update_ratio"])
        output = layers[-1]
        output_norm = rows[output]["l2"]
        if output_norm <= 0:
            return
        for layer in layers[:-1]:
            ratio = rows[layer]["l2"] / output_norm
            state = self.vanishing.setdefault(layer, [0, math.inf, step, output])
            state[0] += ratio < vanishing_ratio
            if ratio < state[1]:
                state[1:] = [ratio, step, output]


class GradientMonitor(Recorder):
    """Records the per-layer gradient magnitudes that `model.fit` applies.

    `model.fit(..., callbacks=[keras_acts.GradientMonitor()])` is all it takes.
    Every `freq` steps the monitor records, for each trainable variable and
    for each layer (its trainable variables together), the L2 norm, mean
    absolute value and maximum absolute value of the gradient, the L2 norm of
    the weights and the update-to-weight ratio `||w_after - w_before|| /
    ||w_before||`, plus the same over the whole model (the global norm).

    How: the gradients are the tensors that the training step hands to the
    optimizer, not those of a second pass. While the monitor is attached,
    the `apply` method of each optimizer it watches is wrapped (under mixed
    precision, that of the `LossScaleOptimizer`'s inner optimizer, which
    receives the unscaled gradients, and of the outer one, which alone sees
    a non-finite step), and `fit` runs a recording train function. On a
    recorded step (decided in the step, from `optimizer.iterations`) the
    wrapped `apply` keeps the weights from before the update and computes
    the statistics on the device after it; other steps run the plain `apply`
    and two untaken branches. TensorFlow stores the records in variables
    that the host reads after each block of steps; on JAX, `fit`'s compiled
    step returns them as extra outputs that the host fetches after each
    block (a custom loop's step sends them with a
    `jax.experimental.io_callback`); PyTorch runs the step eagerly.

    Repeated fits: the recording train function is traced once per model
    and kept with it, so a later `fit` with this or a new monitor reuses it
    (on JAX, one per `freq` and `histograms` setting), and a `fit` without a
    monitor runs the model's plain train function, with no recording work.
    That holds after a `fit` that ended with an exception or an interrupt
    too: the next `fit` (or `train_on_batch`) restores the plain function
    and the optimizers before it starts.

    What is recorded:
        - `step` is `optimizer.iterations` when the step began (0 for the
          first update ever); it continues across `fit` calls and after
          loading a saved model. ActivationMonitor's `step` means the same,
          so the rows of the two monitors join on it.
        - Which optimizers: `optimizers` if given, otherwise
          `model.optimizer` and every optimizer held as an attribute of the
          model (a GAN's `d_optimizer` and `g_optimizer`, say). Each
          optimizer's steps are numbered by its own `iterations`; records of
          several optimizers at the same step are merged into one.
        - With `steps_per_execution > 1`, each recorded step of a block is
          kept.
        - With `gradient_accumulation_steps=n`, each call of `apply` sees one
          micro-batch's gradient: that is what is recorded. The optimizer
          counts one iteration per `n` micro-batches, so `n` records share a
          step; the update ratio is 0 on those that only accumulate.
        - A custom `train_step` is covered whenever it calls `apply` or
          `apply_gradients` of a watched optimizer. A custom training loop
          (no `fit`) is covered with `attach`.
        - Under a `tf.distribute` strategy with several replicas
          (`MirroredStrategy`, `MultiWorkerMirroredStrategy`), the gradient
          recorded is the one the optimizer applies: the sum over replicas of
          their local gradients (each already scaled by 1 / replicas), taken
          from the optimizer's own all-reduce, so recording adds no
          communication; each worker's first replica computes the
          statistics. It equals the gradient of a one-device run on the
          same global batch. With `clipnorm`/`clipvalue` it is the sum of the
          replicas' clipped gradients, since Keras clips before the
          reduction (one device records the gradient before clipping).
          `gradient_accumulation_steps` with several replicas is refused at
          `on_train_begin` (Keras itself cannot train that way).
        - Under `keras.distribution.DataParallel` on JAX the step is one
          program over all devices, and the gradient recorded is the global
          one, as on one device.
        - A non-finite step skipped by a `LossScaleOptimizer` is recorded
          with its non-finite statistics and no update ratio.
        - Backends: TensorFlow, JAX and PyTorch.

    Args:
        freq: Record every `freq` optimizer steps (the steps divisible by
            `freq`), or `"epoch"` to record the first step of each epoch.
            Defaults to `1`.
        log_dir: If given, a folder to write TensorBoard scalars
            `gradients/<layer path>/<stat>` (and `gradients/global/<stat>`).
            Defaults to `None`.
        histograms: With `log_dir`, also write one gradient histogram per
            variable at each record (this keeps a copy of the gradients; on
            TensorFlow, of the last record of each block of steps).
            Defaults to `False`.
        csv_path: If given, rows are appended to this CSV file at each record,
            so a crash loses at most the steps since the last record.
            Defaults to `None`.
        append: Keep the records of earlier fits in `history` and append to
            an existing `csv_path`, instead of starting both anew.
            Defaults to `False`.
        stats: The statistics written to TensorBoard, from `"l2"`,
            `"mean_abs"`, `"max_abs"`, `"weight_l2"`, `"update_ratio"`.
            Defaults to all of them.
        on_nonfinite: What to do when a record holds NaN or Inf, in a
            gradient or in the weights: `"warn"` names the layers and the
            step, `"stop"` also sets `model.stop_training`, `"raise"` raises
            `FloatingPointError`. Defaults to `"warn"`.
        vanishing_ratio: In `summary()`, a layer whose gradient norm relative
            to the output layer's is below this is flagged as vanishing.
            Defaults to `1e-3`.
        exploding_threshold: In `summary()`, a global gradient norm above
            this is flagged as exploding. Defaults to `1e3`.
        optimizers: The optimizers to record, instead of those found on the
            model. Defaults to `None`.
        warn: Warn (a `keras_acts.DiagnosisWarning`) the first time a
            problem appears during `fit`, once per kind and layer: `True`
            for every kind, `False` for none, or a list of kinds from
            `"nonfinite"`, `"exploding"`, `"vanishing"`, `"stalled"`.
            Defaults to `True`.

    Example:
        ```python
        keras.utils.set_random_seed(0)
        model = keras.Sequential([
            keras.Input((4,)),
            keras.layers.Dense(8, activation="sigmoid", name="hidden"),
            keras.layers.Dense(1, name="out"),
        ])
        model.compile(optimizer="sgd", loss="mse")
        monitor = keras_acts.GradientMonitor()
        model.fit(np.ones((8, 4)), np.ones((8, 1)), callbacks=[monitor], verbose=0)
        print({name: round(norm, 4) for name, norm in monitor.layer_norms().items()})
        print(monitor.summary())
        ```

        ```text
        {'hidden': 1.6416, 'out': 7.1459}
        Gradients at step 0 (norms relative to out)
        layer        grad l2    relative  update/weight  flag
        hidden     1.642e+00   2.297e-01      7.910e-03
        out        7.146e+00   1.000e+00      8.147e-02
        (global)   7.332e+00   1.026e+00      3.254e-02
        Problems over 1 records (steps 0 to 0): no problems found.
        ```
    """

    COLUMNS = COLUMNS

    def __init__(
        self,
        freq: int | str = 1,
        log_dir: str | os.PathLike | None = None,
        histograms: bool = False,
        csv_path: str | os.PathLike | None = None,
        append: bool = False,
        # Written out, not STATS, so that the signature in the docs says it.
        stats: Sequence[str] = (
            "l2",
            "mean_abs",
            "max_abs",
            "weight_l2",
            "update_ratio",
        ),
        on_nonfinite: str = "warn",
        vanishing_ratio: float = 1e-3,
        exploding_threshold: float = 1e3,
        optimizers: Sequence[keras.optimizers.Optimizer] | None = None,
        warn: bool | Sequence[str] = True,
    ) -> None:
        super().__init__(log_dir=log_dir, csv_path=csv_path, append=append)
        self.schedule = Schedule(freq)
        self._warn_kinds = check_warn(warn, GRADIENT_KINDS)
        chosen = (stats,) if isinstance(stats, str) else stats
        if (
            not isinstance(chosen, (list, tuple))
            or not chosen
            or any(not isinstance(name, str) or name not in STATS for name in chosen)
        ):
            raise ValueError(
                f"`stats` must name statistics from {STATS}. Received: stats={stats!r}"
            )
        stats = tuple(chosen)
        on_nonfinite = _validation.one_of(
            "on_nonfinite", on_nonfinite, NONFINITE_ACTIONS
        )
        histograms = _validation.boolean("histograms", histograms)
        if histograms and log_dir is None:
            raise ValueError("`histograms=True` needs a `log_dir` to write them to.")
        vanishing_ratio = _validation.real(
            "vanishing_ratio", vanishing_ratio, positive=True
        )
        exploding_threshold = _validation.real(
            "exploding_threshold", exploding_threshold, positive=True
        )
        if optimizers is not None:
            if isinstance(optimizers, keras.optimizers.Optimizer):
                optimizers = [optimizers]
            optimizers = list(optimizers)
            if not optimizers or not all(
                isinstance(o, keras.optimizers.Optimizer) for o in optimizers
            ):
                raise ValueError(
                    "`optimizers` must be a list of Keras optimizers. "
                    f"Received: optimizers={optimizers!r}"
                )
        self.freq = self.schedule.freq
        self.histograms = histograms
        self.stats = tuple(stats)
        self.on_nonfinite = on_nonfinite
        self.vanishing_ratio = vanishing_ratio
        self.exploding_threshold = exploding_threshold
        self.optimizers = optimizers
        self.warn = warn
        self._capture = None

    # Set-up and tear-down.
    def on_train_begin(self, logs: dict | None = None) -> None:
        self._begin(in_fit=True)

    def on_train_end(self, logs: dict | None = None) -> None:
        self._end()

    @contextlib.contextmanager
    def attach(
        self,
        model: keras.Model,
        optimizers: Sequence[keras.optimizers.Optimizer] | None = None,
    ) -> Iterator[GradientMonitor]:
        """Records the gradients of a custom training loop.

        Inside the `with` block, every `apply` (or `apply_gradients`) of the
        optimizers is recorded on the schedule of `freq`, eagerly or in a
        `tf.function` (not one compiled with XLA), a `jax.jit` or PyTorch;
        no `compile` and no callback hooks are needed. The step is the
        optimizer's `iterations`. On exit the optimizers are restored.

        Args:
            model: The model whose variables are trained; it names the
                layers.
            optimizers: The optimizers to record. Defaults to those found on
                the model (`model.optimizer` and optimizer attributes), or
                the monitor's `optimizers`.

        Returns:
            A context manager that yields the monitor.

        Example:
            ```python
            import tensorflow as tf

            keras.utils.set_random_seed(0)
            model = keras.Sequential([
                keras.Input((4,)),
                keras.layers.Dense(8, activation="tanh", name="hidden"),
                keras.layers.Dense(1, name="out"),
            ])
            loss_fn = keras.losses.MeanSquaredError()
            x, y = np.random.normal(size=(64, 4)), np.random.normal(size=(64, 1))
            batches = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]
            optimizer = keras.optimizers.SGD(0.1)
            monitor = keras_acts.GradientMonitor()
            with monitor.attach(model, optimizer):
                for x_batch, y_batch in batches:
                    with tf.GradientTape() as tape:
                        loss = loss_fn(y_batch, model(x_batch, training=True))
                    gradients = tape.gradient(loss, model.trainable_variables)
                    optimizer.apply(gradients, model.trainable_variables)
            print(monitor.summary())
            ```

            ```text
            Gradients at step 3 (norms relative to out)
            layer        grad l2    relative  update/weight  flag
            hidden     3.253e-01   5.387e-01      1.584e-02
            out        6.037e-01   1.000e+00      7.950e-02
            (global)   6.858e-01   1.136e+00      3.132e-02
            Problems over 4 records (steps 0 to 3): no problems found.
            ```
        """
        if self.schedule.per_epoch:
            raise ValueError(
                'freq="epoch" needs the epochs of `fit`; a custom loop has '
                "none. Use an integer `freq`. Received: freq='epoch'"
            )
        if optimizers is not None:
            optimizers = GradientMonitor(optimizers=optimizers).optimizers
        self.set_model(model)
        self._begin(in_fit=False, optimizers=optimizers)
        try:
            yield self
        finally:
            self._end()

    def _begin(self, in_fit: bool, optimizers=None) -> None:
        model = self.model
        optimizers = optimizers or self.optimizers or optimizers_of(model)
        if not optimizers:
            raise ValueError(
                f"GradientMonitor found no optimizer on model {model.name!r}: "
                "compile the model, or pass the optimizers that train it, as "
                "GradientMonitor(optimizers=[...]) or monitor.attach(model, "
                "optimizers)."
            )
        self._open_outputs()
        self._epoch = 0
        self._active = True
        self._held: list[_Record] = []
        self._diagnosis = _RunDiagnosis()
        self._live_warnings = LiveWarnings(self._warn_kinds - {"nonfinite"})
        main = optimizers[0]
        # The host counts steps from the batch indices, which is exact for
        # one optimizer that applies every batch.
        self._predictable = (
            len(optimizers) == 1
            and main is getattr(model, "optimizer", None)
            and not isinstance(main, keras.optimizers.LossScaleOptimizer)
            and not getattr(main, "gradient_accumulation_steps", None)
        )
        self._clock = StepClock(
            int(keras.ops.convert_to_numpy(main.iterations)),
            int(getattr(model, "steps_per_execution", 1) or 1),
        )
        self._capture = GradientCapture.of(model, optimizers)
        self._lost_records = self._capture.channel.lost_records
        self._capture.attach(self, in_fit)
        if self.schedule.per_epoch:
            self._capture.channel.request_records()

    def _end(self) -> None:
        if self._capture is None:
            return
        try:
            if self._active:
                self._collect(final=True)
        finally:
            self._capture.detach()
            self._close_writer()

    # The host side.
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self._epoch != epoch and self.schedule.per_epoch:
            self._capture.channel.request_records()
        self._epoch = epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        self._log_headline(logs)

    def _log_headline(self, logs: dict | None) -> None:
        """The global gradient norm and update ratio of the last record, in
        Keras's logs, so that the progress bar, History, CSVLogger,
        keras.callbacks.TensorBoard and EarlyStopping see them."""
        if logs is None or not self._records:
            return
        rows = self._layer_rows_of(self._records[-1])[GLOBAL]
        logs["gradient_norm"] = rows["l2"]
        if rows["update_ratio"] is not None:
            logs["update_ratio"] = rows["update_ratio"]

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._clock.begin_block(batch)
        self._block_may_record = self._may_record(
            self._clock.iterations, self._clock.steps_per_execution
        )

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._clock.end_block(batch)
        if not self._active:
            return
        if not self._capture.sites and self._capture.ran_recording:
            self._warn_nothing_applied()
            return
        # Reading the device forces a sync: skip it after blocks where no
        # step can have been recorded.
        if self._block_may_record:
            self._collect(final=True)
            self._log_headline(logs)

    def next_block_may_record(self) -> bool:
        """Whether the block of steps about to run can hold a record (used on
        JAX to pick the train function)."""
        return self._block_may_record

    def _may_record(self, first: int, count: int) -> bool:
        if self.schedule.per_epoch:
            sites = self._capture.sites.values()
            return not sites or any(site.pending for site in sites)
        if not self._predictable:
            return True
        return self.schedule.first_due(first, count) is not None

    def _warn_nothing_applied(self) -> None:
        self._active = False
        model = self.model
        if not model.trainable_variables:
            problem = f"model {model.name!r} has no trainable weights"
        else:
            names = ", ".join(
                f"{type(o).__name__} {o.name!r}" for o in self._capture.optimizers
            )
            problem = (
                f"the training step of model {model.name!r} applied no gradients "
                f"through the optimizers the monitor watches ({names}). If it "
                "trains with other optimizers, pass them: "
                "GradientMonitor(optimizers=[...])"
            )
        warnings.warn(
            f"GradientMonitor: {problem}; there are no gradients to record.",
            RuntimeWarning,
            stacklevel=3,
        )

    def _collect(self, final: bool) -> None:
        """Turns what reached the host into records: those of several
        optimizers at one step are merged. With `final=False` (a custom loop,
        where records arrive one by one) the records of the last step are
        held back, since another optimizer may still add to them."""
        records = self._held
        channel = self._capture.channel
        received = channel.received()
        if self._predictable and any(
            step >= self._clock.iterations for _, step, _, _ in received
        ):
            # The step applies more than once per batch: the host's count of
            # steps is wrong, so it reads after every block from now on.
            self._predictable = False
        if channel.lost_records > self._lost_records:
            warnings.warn(
                f"GradientMonitor: {channel.lost_records - self._lost_records} "
                "record(s) were overwritten before they could be read: the "
                "training step applies gradients several times per batch. "
                "Record fewer steps (a larger freq) to keep every record.",
                RuntimeWarning,
                stacklevel=2,
            )
            self._lost_records = channel.lost_records
            self._predictable = False
        for site, step, statistics, gradients in received:
            record = _Record(
                step,
                self._epoch,
                self._capture.names,
                site.variable_indices,
                statistics,
                gradients,
            )
            last = records[-1] if records else None
            if (
                last is not None
                and last.step == step
                and last.names is record.names
                and not np.intersect1d(last.indices, record.indices).size
            ):
                records[-1] = _merged(last, record)
            else:
                records.append(record)
        self._held = []
        if not final and records:
            split = len(records)
            while split and records[split - 1].step == records[-1].step:
                split -= 1
            records, self._held = records[:split], records[split:]
        for record in records:
            try:
                self._add_record(record)
            except Exception as error:  # the monitor must never end training
                warnings.warn(
                    f"GradientMonitor could not record step {record.step}: {error!r}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
            self._diagnosis.add(
                self._layer_rows_of(record), record.step, self.vanishing_ratio
            )
            self._live_warnings.give(self.flags(), "GradientMonitor")
            self._handle_nonfinite(record)

    def _handle_nonfinite(self, record: _Record) -> None:
        problems = []
        for what, columns in (
            ("gradient", [SUM_SQUARES, SUM_ABS]),
            ("weights", [WEIGHT_SQUARES]),
        ):
            totals = record.statistics[:, columns].sum(axis=1)
            bad = np.flatnonzero(~np.isfinite(totals))
            if bad.size:
                layers = dict.fromkeys(
                    record.names.layers[record.indices[i]] for i in bad
                )
                problems.append(
                    f"non-finite {what} (NaN or Inf) at step {record.step} in "
                    f"layer(s) {', '.join(layers)}"
                )
        if not problems:
            return
        message = "GradientMonitor: " + "; ".join(problems)
        if self.schedule.freq != 1:
            message += (
                f" (recorded every {self.schedule.freq} steps: the first "
                "non-finite value may be earlier)"
            )
        message += "."
        if self.on_nonfinite == "raise":
            self._active = False
            self._capture.detach()
            self._close_writer()
            raise FloatingPointError(message)
        if self.on_nonfinite == "stop":
            self.model.stop_training = True
            message += " Stopping training."
        warnings.warn(message, RuntimeWarning, stacklevel=2)

    # Rows.
    def _step_of(self, record: _Record) -> int:
        return record.step

    def _groups(self, record: _Record) -> list[tuple[str, str | None, np.ndarray]]:
        """(layer, variable, positions in the record) of every row of a
        record, in order: variables, layers, then the whole."""
        names, indices = record.names, record.indices
        key = tuple(indices)
        cache = vars(names).setdefault("_groups", {})
        if key not in cache:
            groups = [
                (names.layers[i], names.names[i], np.array([position]))
                for position, i in enumerate(indices)
            ]
            layers = dict.fromkeys(names.layers[i] for i in sorted(indices))
            for layer in layers:
                positions = [
                    p for p, i in enumerate(indices) if names.layers[i] == layer
                ]
                groups.append((layer, None, np.array(positions)))
            groups.append((GLOBAL, None, np.arange(len(indices))))
            cache[key] = groups
        return cache[key]

    def _rows_of(self, record: _Record) -> Iterator[dict[str, Any]]:
        sizes = np.asarray(record.names.sizes)[record.indices]
        for layer, variable, positions in self._groups(record):
            values = _aggregate(record.statistics[positions], sizes[positions])
            yield {
                "step": record.step,
                "epoch": record.epoch,
                "layer": layer,
                "variable": variable,
                **values,
            }

    def _scalars_of(self, record: _Record) -> Iterator[tuple[str, float]]:
        for row in self._rows_of(record):
            if row["variable"] is not None:
                continue
            tag_layer = "global" if row["layer"] == GLOBAL else row["layer"]
            for stat in self.stats:
                if row[stat] is not None:
                    yield f"gradients/{tag_layer}/{stat}", row[stat]

    def _histograms_of(self, record: _Record) -> Iterator[tuple[str, Any]]:
        if record.gradients is not None:
            for index, gradient in zip(record.indices, record.gradients, strict=True):
                yield f"gradients/{record.names.paths[index]}", gradient

    # What the user reads.
    def _layer_rows_of(self, record: _Record) -> dict[str, dict[str, Any]]:
        sizes = np.asarray(record.names.sizes)[record.indices]
        return {
            layer: {
                "step": record.step,
                "epoch": record.epoch,
                **_aggregate(record.statistics[positions], sizes[positions]),
            }
            for layer, variable, positions in self._groups(record)
            if variable is None
        }

    def _record_at(self, step: int | None) -> _Record:
        if not self._records:
            raise ValueError("GradientMonitor has recorded nothing yet.")
        if step is None:
            return self._records[-1]
        matching = [r for r in self._records if r.step == step]
        if not matching:
            steps = [r.step for r in self._records]
            raise ValueError(f"No record at step={step}. Recorded steps: {steps}")
        return matching[-1]

    def _layer_rows(self, step: int | None = None) -> dict[str, dict[str, Any]]:
        return self._layer_rows_of(self._record_at(step))

    def layer_norms(self, step: int | None = None) -> dict[str, float]:
        """Gradient L2 norm of each layer at the last (or the given) record.

        Args:
            step: A recorded step; `None` for the last record. Defaults to
                `None`.

        Returns:
            `{layer path: norm}`, from the input side to the output side.
        """
        rows = self._layer_rows(step)
        return {layer: row["l2"] for layer, row in rows.items() if layer != GLOBAL}

    def flags(self) -> list[Flag]:
        """The problems found over the whole of the last `fit` (and earlier
        ones, with `append=True`), each with what to try.

        - `"nonfinite"`: a gradient or weight held NaN or Inf.
        - `"exploding"`: the global gradient norm went above
          `exploding_threshold`, or grew 1000-fold.
        - `"vanishing"`: layers whose gradient norm was below
          `vanishing_ratio` times the output layer's in at least 5% of the
          records (early records count: once a net is stuck, its
          gradients are tiny everywhere alike).
        - `"stalled"`: over the later half of the records, the median
          update was below 1e-6 of the weights' norm.

        Returns:
            A list of `keras_acts.Flag`, empty when nothing was found.
        """
        diagnosis = getattr(self, "_diagnosis", None)
        if diagnosis is None or not diagnosis.records:
            return []
        flags = []
        if diagnosis.nonfinite is not None:
            step, layers = diagnosis.nonfinite
            flags.append(
                Flag(
                    "nonfinite",
                    layers[0] if layers else GLOBAL,
                    f"non-finite gradients or weights (NaN or Inf) at step {step}, "
                    f"in {', '.join(layers) or 'the model'}",
                    "try a lower learning rate or gradient clipping (clipnorm=1.0), "
                    "and check the inputs and targets for NaN",
                    DOC,
                )
            )
        peak, peak_step = diagnosis.peak
        growth = peak / diagnosis.first_norm if diagnosis.first_norm else 0.0
        if peak > self.exploding_threshold or growth >= GROWTH_FLAG:
            problem = f"exploding gradients: global norm {peak:.1e} at step {peak_step}"
            if peak > self.exploding_threshold:
                problem += f", above exploding_threshold={self.exploding_threshold:g}"
            else:
                problem += (
                    f", {growth:.0e} times its norm at step {diagnosis.first_step}"
                )
            flags.append(
                Flag(
                    "exploding",
                    GLOBAL,
                    problem,
                    "try a lower learning rate, gradient clipping (clipnorm=1.0) "
                    "or smaller initial weights",
                    DOC,
                )
            )
        vanishing = [
            layer
            for layer, (below, *_) in diagnosis.vanishing.items()
            if below >= max(1.0, VANISHING_SHARE * diagnosis.records)
        ]
        if vanishing:
            deepest = vanishing[-1]
            worst = min(vanishing, key=lambda layer: diagnosis.vanishing[layer][1])
            _, ratio, step, output = diagnosis.vanishing[worst]
            flags.append(
                Flag(
                    "vanishing",
                    deepest,
                    f"gradients vanish at and below this layer: {worst} gets "
                    f"{ratio:.1e} of {output}'s gradient norm at step {step}",
                    "try ReLU-family activations (relu, keras_acts.PReLU, "
                    "ParametricELU), He initialization, or Standardize the inputs",
                    DOC,
                )
            )
        later = diagnosis.update_ratios[len(diagnosis.update_ratios) // 2 :]
        if len(diagnosis.update_ratios) >= STALLED_RECORDS:
            median = float(np.median(later))
            if median < STALLED_UPDATE_RATIO:
                flags.append(
                    Flag(
                        "stalled",
                        GLOBAL,
                        f"learning has stalled: the updates are {median:.0e} of the "
                        f"weights' norm (median of the last {len(later)} records)",
                        "the gradients have vanished or the learning rate is too "
                        "small: look for vanishing layers, or raise the "
                        "learning rate",
                        DOC,
                    )
                )
        return flags

    def summary(self, step: int | None = None) -> str:
        """A table of the last (or the given) record, one line per layer, and
        the problems found over the whole run (`flags()`).

        Each layer's gradient norm is shown relative to the output layer's
        (the last layer with weights); at that record, layers below
        `vanishing_ratio` are marked as vanishing.

        Args:
            step: A recorded step for the table; `None` for the last record.
                Defaults to `None`.

        Returns:
            The table and the problems, as a string.
        """
        rows = self._layer_rows(step)
        layers = [layer for layer in rows if layer != GLOBAL]
        output_norm = rows[layers[-1]]["l2"]
        width = max(len(layer) for layer in rows)
        lines = [
            f"Gradients at step {rows[GLOBAL]['step']} "
            f"(norms relative to {layers[-1]})",
            f"{'layer':<{width}}  {'grad l2':>10}  {'relative':>10}  "
            f"{'update/weight':>13}  flag",
        ]
        for layer in rows:
            row = rows[layer]
            relative = row["l2"] / output_norm if output_norm > 0 else math.nan
            ratio = row["update_ratio"]
            flag = ""
            if not math.isfinite(row["l2"]):
                flag = "non-finite"
            elif layer != GLOBAL and relative < self.vanishing_ratio:
                flag = "vanishing"
            lines.append(
                f"{layer:<{width}}  {row['l2']:>10.3e}  {relative:>10.3e}  "
                f"{'-' if ratio is None else f'{ratio:.3e}':>13}  {flag}".rstrip()
            )
        steps = [record.step for record in self._records]
        lines.append(
            report(
                f"Problems over {len(steps)} records (steps {steps[0]} to {steps[-1]})",
                self.flags(),
            )
        )
        return "\n".join(lines)

    def plot(
        self,
        axes: tuple[Axes, Axes] | None = None,
        title: str | None = None,
        vmin: float | None = None,
        vmax: float | None = None,
    ) -> Figure:
        """Plots the gradient norm of each layer over the recorded steps.

        Left: a layers-by-steps heatmap of log10 of the gradient L2 norm, input
        side at the top, with the steps on a true scale (ticks at recorded
        steps). Right: one line per layer. Needs matplotlib.

        Args:
            axes: Two matplotlib axes to draw into; `None` makes a new figure.
                Defaults to `None`.
            title: A title above the heatmap. Defaults to `None`.
            vmin: The low end of the colour scale, in log10 of the norm: pass
                the same `vmin` and `vmax` to compare monitors or models.
                Defaults to `None` (the data's lowest).
            vmax: The high end of the colour scale, likewise. Defaults to
                `None`.

        Returns:
            The matplotlib figure.
        """
        import matplotlib.pyplot as plt

        if not self._records:
            raise ValueError("GradientMonitor has recorded nothing to plot yet.")
        axes = check_axes(axes, 2)
        steps = np.array([r.step for r in self._records], dtype=float)
        by_record = [self._layer_rows_of(r) for r in self._records]
        layers = [
            layer
            for layer in dict.fromkeys(name for rows in by_record for name in rows)
            if layer != GLOBAL
        ]
        if axes is None:
            _, axes = plt.subplots(
                1,
                2,
                figsize=(11, max(3.0, 0.22 * len(layers) + 1.5)),
                layout="constrained",
            )
        heatmap_axes, line_axes = axes
        norms = np.array(
            [
                [rows[layer]["l2"] if layer in rows else np.nan for rows in by_record]
                for layer in layers
            ]
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            log_norms = np.where(norms > 0, np.log10(norms), np.nan)
        # Column edges halfway between recorded steps: irregular records
        # keep their place on the step axis.
        middles = (steps[1:] + steps[:-1]) / 2
        first_gap = steps[1] - steps[0] if len(steps) > 1 else 1.0
        last_gap = steps[-1] - steps[-2] if len(steps) > 1 else 1.0
        edges = np.concatenate(
            [[steps[0] - first_gap / 2], middles, [steps[-1] + last_gap / 2]]
        )
        image = heatmap_axes.pcolormesh(
            edges,
            np.arange(len(layers) + 1),
            log_norms,
            cmap="viridis",
            vmin=vmin,
            vmax=vmax,
        )
        heatmap_axes.invert_yaxis()
        # One label per layer while they fit; every few layers past that.
        every = max(1, int(np.ceil(len(layers) / 40)))
        shown = range(0, len(layers), every)
        heatmap_axes.set_yticks(
            [i + 0.5 for i in shown], [layers[i] for i in shown], fontsize=8
        )
        ticks = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), 6)).round())
        heatmap_axes.set_xticks(steps[ticks.astype(int)])
        heatmap_axes.set_xlabel("step")
        heatmap_axes.figure.colorbar(
            image, ax=heatmap_axes, label="log10 gradient L2 norm"
        )
        if title:
            heatmap_axes.set_title(title)
        for layer, row in zip(layers, norms, strict=True):
            line_axes.plot(steps, row, label=layer)
        line_axes.set_yscale("log")
        line_axes.set_xlabel("step")
        line_axes.set_ylabel("gradient L2 norm")
        if len(layers) <= 12:
            line_axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1, 0.5))
        return heatmap_axes.figure


def _merged(first: _Record, second: _Record) -> _Record:
    """One record of two optimizers' records at the same step."""
    gradients = None
    if first.gradients is not None and second.gradients is not None:
        gradients = first.gradients + second.gradients
    return _Record(
        first.step,
        first.epoch,
        first.names,
        np.concatenate([first.indices, second.indices]),
        np.concatenate([first.statistics, second.statistics]),
        gradients,
    )
