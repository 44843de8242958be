"""Records the gradients that `model.fit` applies, per layer and per variable."""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf

from keras_acts.callbacks._recorder import Recorder, check_freq

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

STATS = ("l2", "mean_abs", "max_abs", "weight_l2", "update_ratio")
COLUMNS = ("step", "epoch", "layer", "variable") + STATS
GLOBAL = "(global)"
NONFINITE_ACTIONS = ("warn", "stop", "raise")
GROWTH_FLAG = 1e3

# Columns of the statistics computed on the device, one row per variable.
_SUM_SQUARES, _SUM_ABS, _MAX_ABS, _WEIGHT_SQUARES, _UPDATE_SQUARES = range(5)
_NOT_MEASURED = -1.0


@dataclass
class _Record:
    step: int
    epoch: int
    statistics: np.ndarray  # (variables, 5), the columns above
    gradients: list[np.ndarray] | None  # for histograms


def _aggregate(statistics: np.ndarray, sizes: np.ndarray) -> dict[str, Any]:
    """The row values of a group of variables, from their device statistics."""
    sum_squares = float(np.sum(statistics[:, _SUM_SQUARES]))
    weight_squares = float(np.sum(statistics[:, _WEIGHT_SQUARES]))
    updates = statistics[:, _UPDATE_SQUARES]
    update_ratio = None
    if weight_squares > 0 and np.all(updates != _NOT_MEASURED):
        update_ratio = math.sqrt(float(np.sum(updates))) / math.sqrt(weight_squares)
    size = int(np.sum(sizes))
    return {
        "l2": math.sqrt(sum_squares),  # NaN and Inf pass through
        "mean_abs": float(np.sum(statistics[:, _SUM_ABS])) / size if size else 0.0,
        "max_abs": float(np.max(statistics[:, _MAX_ABS])),
        "weight_l2": math.sqrt(weight_squares),
        "update_ratio": update_ratio,
    }


def _replica_local(initial_value, name: str) -> tf.Variable:
    """A statistics variable that every replica writes without a cross-replica
    call (not allowed inside the recording tf.cond) and that the host reads
    from the first replica: all replicas compute the same statistics from the
    reduced gradients."""
    return tf.Variable(
        initial_value,
        trainable=False,
        name=name,
        synchronization=tf.VariableSynchronization.ON_READ,
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
    )


def _same_spec(gradient, variable) -> bool:
    return (
        keras.ops.is_tensor(gradient)
        and not isinstance(gradient, tf.IndexedSlices)
        and keras.backend.standardize_dtype(gradient.dtype) == variable.dtype
        and tuple(gradient.shape) == tuple(variable.shape)
    )


class GradientMonitor(Recorder):
    """Records the per-layer gradient magnitudes that `model.fit` applies.

    `model.fit(..., callbacks=[keras_acts.GradientMonitor()])` is all it takes.
    Every `freq` steps the monitor records, for each trainable variable and
    for each layer (its trainable variables together), the L2 norm, mean
    absolute value and maximum absolute value of the gradient, the L2 norm of
    the weights and the update-to-weight ratio `||w_after - w_before|| /
    ||w_before||`, plus the same over the whole model (the global norm).

    How: the gradients are the tensors that the training step hands to the
    optimizer, not those of a second pass. At the start of `fit` the monitor
    wraps the `apply` method of `model.optimizer` (under mixed precision, of
    the `LossScaleOptimizer`'s inner optimizer, which receives the unscaled
    gradients, and of the outer one, which alone sees a non-finite step) and
    retraces the training function. On a recorded step (decided in the step
    from `optimizer.iterations`) the wrapped `apply` keeps the weights from
    before the update and computes the statistics on the device after it;
    other steps run the plain `apply` and two untaken branches. TensorFlow
    stores them in one variable, which the monitor reads with one transfer;
    JAX sends them from the compiled step with a
    `jax.experimental.io_callback`; PyTorch runs the step eagerly. At the end
    of `fit` the optimizer is restored and the traced function dropped, so a
    later `fit` without the monitor pays nothing.

    What is recorded:
        - `step` is `optimizer.iterations` when the step began (0 for the
          first update ever); it continues across `fit` calls and after
          loading a saved model.
        - With `steps_per_execution > 1`, steps are recorded as usual; on
          TensorFlow, when several recorded steps fall in one block, the last
          one is kept.
        - With `gradient_accumulation_steps=n`, each call of `apply` sees one
          micro-batch's gradient: that is what is recorded. The optimizer
          counts one iteration per `n` micro-batches, so `n` records share a
          step; the update ratio is 0 on those that only accumulate.
        - A custom `train_step` is covered whenever it calls
          `optimizer.apply` or `optimizer.apply_gradients`.
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
        - A non-finite step skipped by a `LossScaleOptimizer` is recorded
          with its non-finite statistics and no update ratio.
        - Backends: TensorFlow, JAX and PyTorch. On JAX, a
          `keras.distribution` is refused at `on_train_begin`.

    Args:
        freq: Record every `freq` optimizer steps, or `"epoch"` to record the
            first step of each epoch. Defaults to `1`.
        log_dir: If given, a folder to write TensorBoard scalars
            `gradients/<layer path>/<stat>` (and `gradients/global/<stat>`).
            Defaults to `None`.
        histograms: With `log_dir`, also write one gradient histogram per
            variable at each record (this keeps a copy of the gradients).
            Defaults to `False`.
        csv_path: If given, rows are appended to this CSV file at each record,
            so a crash loses at most the steps since the last record.
            Defaults to `None`.
        append: Append to an existing `csv_path` instead of overwriting it.
            Defaults to `False`.
        stats: The statistics written to TensorBoard, from `"l2"`,
            `"mean_abs"`, `"max_abs"`, `"weight_l2"`, `"update_ratio"`.
            Defaults to all of them.
        on_nonfinite: What to do when a gradient holds NaN or Inf: `"warn"`
            names the layers and the step, `"stop"` also sets
            `model.stop_training`, `"raise"` raises `FloatingPointError`.
            Defaults to `"warn"`.
        vanishing_ratio: In `summary()`, a layer whose gradient norm relative
            to the output layer's is below this is flagged as vanishing.
            Defaults to `1e-3`.
        exploding_threshold: In `summary()`, a global gradient norm above
            this is flagged as exploding. Defaults to `1e3`.

    Example:
        ```python
        model = keras.Sequential([
            keras.Input((4,)),
            keras.layers.Dense(8, activation="sigmoid"),
            keras.layers.Dense(1),
        ])
        model.compile(optimizer="sgd", loss="mse")
        monitor = keras_acts.GradientMonitor()
        model.fit(np.ones((8, 4)), np.ones((8, 1)), callbacks=[monitor], verbose=0)
        print(monitor.layer_norms())
        print(monitor.summary())
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
        stats: Sequence[str] = STATS,
        on_nonfinite: str = "warn",
        vanishing_ratio: float = 1e-3,
        exploding_threshold: float = 1e3,
    ) -> None:
        super().__init__(log_dir=log_dir, csv_path=csv_path, append=append)
        check_freq(freq)
        if isinstance(stats, str):
            stats = (stats,)
        unknown = [name for name in stats if name not in STATS]
        if unknown or not stats:
            raise ValueError(
                f"`stats` must name statistics from {STATS}. Received: stats={stats!r}"
            )
        if on_nonfinite not in NONFINITE_ACTIONS:
            raise ValueError(
                f"`on_nonfinite` must be one of {NONFINITE_ACTIONS}. "
                f"Received: on_nonfinite={on_nonfinite!r}"
            )
        if histograms and log_dir is None:
            raise ValueError("`histograms=True` needs a `log_dir` to write them to.")
        for name, value in (
            ("vanishing_ratio", vanishing_ratio),
            ("exploding_threshold", exploding_threshold),
        ):
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(
                    f"`{name}` must be a positive number. Received: {name}={value!r}"
                )
        self.freq = freq
        self.histograms = histograms
        self.stats = tuple(stats)
        self.on_nonfinite = on_nonfinite
        self.vanishing_ratio = vanishing_ratio
        self.exploding_threshold = exploding_threshold
        self._installed: list[tuple[Any, str]] = []
        self._reduced = threading.local()

    # Set-up and tear-down.
    def on_train_begin(self, logs: dict | None = None) -> None:
        self._backend = keras.backend.backend()
        if self._backend == "jax" and keras.distribution.distribution() is not None:
            raise ValueError(
                "GradientMonitor does not support a keras.distribution on the "
                "JAX backend. Received: "
                f"distribution={keras.distribution.distribution()!r}"
            )
        self._restore_optimizer()
        self._check_strategy()
        self._open_outputs()
        self._active = True
        self._variables = None
        self._seen_records = 0
        self._epoch = 0
        self._block_begin = 0
        self._pending = []
        # Read once: on JAX, each access to `self.model` syncs the training
        # state back to the model, which a batch hook must not pay for.
        optimizer = self.model.optimizer
        self._steps_per_execution = self.model.steps_per_execution
        # Steps skipped by a LossScaleOptimizer and accumulating micro-steps
        # do not count as iterations: the host cannot tell which steps record.
        self._unpredictable_iterations = isinstance(
            optimizer, keras.optimizers.LossScaleOptimizer
        ) or bool(getattr(optimizer, "gradient_accumulation_steps", None))
        self._host_iterations = int(keras.ops.convert_to_numpy(optimizer.iterations))
        if self.model.trainable_variables:
            self._setup(self.model.trainable_variables)
        # Otherwise the model is built when the step is traced: the wrapped
        # apply sets up then.
        self._install(optimizer)
        self._traces_recording = True
        if self._backend == "jax":
            self._dispatch_recorded_blocks()
        else:
            self.model.make_train_function(force=True)

    def _dispatch_recorded_blocks(self) -> None:
        """On JAX, a host callback anywhere in a compiled step slows every
        call of it (about 3 ms on CPU, even when it does not run), so blocks
        of steps that cannot record run a second train function, traced
        without the recording."""
        model = self.model
        train_step = model.train_step
        functions = {}
        for recording in (True, False):

            def variant(state, data, recording=recording):
                # Runs when JAX traces the step, or at every step without
                # jit_compile: the wrapped apply reads the flag then.
                self._traces_recording = recording
                return train_step(state, data)

            # A distinct function per variant, since JAX caches traces by
            # function; object.__setattr__ keeps Keras's tracking out of it.
            object.__setattr__(model, "train_step", variant)
            model.make_train_function(force=True)
            functions[recording] = model.train_function
        vars(model).pop("train_step")

        def train_function(state, iterator):
            return functions[self._next_block_may_record()](state, iterator)

        model.train_function = train_function

    def _next_block_may_record(self) -> bool:
        if self._unpredictable_iterations:
            return True
        if self.freq == "epoch":
            return self._record_next
        return self._block_may_have_recorded(
            self._host_iterations, self._steps_per_execution
        )

    def _setup(self, variables) -> None:
        """Names the variables and creates the statistics variables, outside
        any traced function."""
        self._variables = list(variables)
        prefix = f"{self.model.name}/"
        paths = [v.path for v in self._variables]
        if all(p.startswith(prefix) for p in paths):
            paths = [p[len(prefix) :] for p in paths]
        self._variable_paths = paths
        self._variable_names = [p.rsplit("/", 1)[-1] for p in paths]
        self._variable_layers = [p.rsplit("/", 1)[0] if "/" in p else p for p in paths]
        self._layers = list(dict.fromkeys(self._variable_layers))
        self._sizes = np.array([int(np.prod(v.shape)) for v in self._variables])
        self._index_of = {id(v): i for i, v in enumerate(self._variables)}
        if not self.model.optimizer.built:
            # Built here so that its slots are not created inside our cond.
            self.model.optimizer.build(self._variables)
        if self._backend != "tensorflow":
            # Statistics go to the host as they are computed (_emit).
            self._record_next = self.freq == "epoch"
            return
        count = len(self._variables)
        with self.model.distribute_strategy.scope():
            self._statistics = _replica_local(
                tf.zeros((count, 5), tf.float64), "gradient_stats"
            )
            self._record_id = _replica_local(
                tf.constant([self._seen_records, -1], tf.int64), "record_id"
            )
            self._record_next = _replica_local(
                tf.constant(self.freq == "epoch"), "record_next"
            )
            self._gradient_copies = None
            if self.histograms:
                self._gradient_copies = [
                    _replica_local(tf.zeros(v.shape, tf.float32), "gradient_copy")
                    for v in self._variables
                ]

    def _setup_in_trace(self, trainable_variables) -> None:
        if self._variables is None:
            with tf.init_scope():
                self._setup(
                    self.model.trainable_variables
                    if trainable_variables is None
                    else trainable_variables
                )

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._active and self._variables is not None:
            self._collect()
        self._finish()

    def _finish(self) -> None:
        self._restore_optimizer()
        if self.model is not None:
            # The traced function holds the wrapped apply: drop it.
            self.model.train_function = None
        self._close_writer()

    def _check_strategy(self) -> None:
        if self._backend != "tensorflow":
            self._replicated = False
            return
        strategy = self.model.distribute_strategy
        replicas = strategy.num_replicas_in_sync
        self._replicated = replicas > 1
        if not self._replicated:
            return
        self._local_replicas = len(strategy.extended.worker_devices)
        optimizer = self.model.optimizer
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            optimizer = optimizer.inner_optimizer
        unsupported = None
        if getattr(optimizer, "gradient_accumulation_steps", None):
            # Keras itself fails there: its all-reduce runs inside a tf.cond.
            unsupported = "gradient_accumulation_steps"
        elif not callable(getattr(optimizer, "_all_reduce_sum_gradients", None)):
            unsupported = (
                f"this Keras version's {type(optimizer).__name__}, which has no "
                "_all_reduce_sum_gradients step to read the reduced gradients from"
            )
        if unsupported:
            raise ValueError(
                "GradientMonitor records the gradient summed across replicas, "
                f"which it cannot do with {unsupported}. Received a strategy "
                f"with num_replicas_in_sync={replicas}."
            )

    def _install(self, optimizer) -> None:
        recording = optimizer
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            recording = optimizer.inner_optimizer
            # The JAX trainer calls stateless_apply, which skips apply on a
            # non-finite step.
            if self._backend == "jax":
                self._wrap(
                    optimizer,
                    "stateless_apply",
                    self._nonfinite_stateless_apply(
                        optimizer, optimizer.stateless_apply
                    ),
                )
            else:
                self._wrap(
                    optimizer,
                    "apply",
                    self._nonfinite_apply(optimizer, optimizer.apply),
                )
        self._wrap(
            recording, "apply", self._recording_apply(recording, recording.apply)
        )
        if self._replicated:
            self._wrap(
                recording,
                "_all_reduce_sum_gradients",
                self._capturing_all_reduce(recording._all_reduce_sum_gradients),
            )

    def _wrap(self, optimizer, method: str, replacement) -> None:
        # An instance attribute shadows the class's method; deleting it
        # restores the method. object.__setattr__ keeps Keras's attribute
        # tracking out of it.
        object.__setattr__(optimizer, method, replacement)
        self._installed.append((optimizer, method))

    def _restore_optimizer(self) -> None:
        for optimizer, method in self._installed:
            vars(optimizer).pop(method, None)
        self._installed = []

    # The step side: runs inside the traced (TensorFlow, JAX) or eager
    # (PyTorch) training step, in keras.ops.
    def _should_record(self, iterations):
        if self.freq != "epoch":
            due = keras.ops.equal(keras.ops.mod(iterations, self.freq), 0)
        elif self._backend == "tensorflow":
            due = self._record_next.read_value()
        elif self._backend == "jax":
            import jax

            # The flag is set on the host between epochs: ask for it.
            due = jax.experimental.io_callback(
                lambda: np.array(self._record_next),
                jax.ShapeDtypeStruct((), np.bool_),
            )
        else:
            due = self._record_next
        if self._replicated:
            return tf.logical_and(due, self._is_read_replica())
        return due

    def _is_read_replica(self):
        """Whether this replica's statistics are the ones the host reads.

        Every replica would compute the same statistics from the reduced
        gradients; only each worker's first replica does, since the host
        reads its copy of the replica-local variables. A worker's replicas
        have consecutive ids.
        """
        replica_id = tf.distribute.get_replica_context().replica_id_in_sync_group
        return tf.equal(tf.math.floormod(replica_id, self._local_replicas), 0)

    def _statistics_of(self, gradients, variables, before, after):
        """One (variables, 5) float32 tensor of statistics, and the gradients
        by variable index.

        Plain per-variable reductions: on CPU they run 3x faster than one
        segment reduction over the concatenated tensors (benchmarks/).
        """
        ops = keras.ops
        rows = [ops.zeros((5,), "float32")] * len(self._variables)
        copies = {}
        for position, (gradient, variable) in enumerate(
            zip(gradients, variables, strict=True)
        ):
            index = self._index_of.get(id(variable))
            if index is None or gradient is None:
                continue
            if isinstance(gradient, tf.IndexedSlices):  # Embedding, on TensorFlow
                gradient = tf.convert_to_tensor(gradient)
            gradient = ops.cast(gradient, "float32")
            magnitude = ops.abs(gradient)
            weight = ops.cast(before[position], "float32")
            if after is None:
                update_squares = ops.full((), _NOT_MEASURED, "float32")
            else:
                update_squares = ops.sum(
                    ops.square(ops.cast(after[position], "float32") - weight)
                )
            rows[index] = ops.stack(
                [
                    ops.sum(magnitude * magnitude),
                    ops.sum(magnitude),
                    ops.max(magnitude),
                    ops.sum(weight * weight),
                    update_squares,
                ]
            )
            copies[index] = gradient
        return ops.stack(rows), copies

    def _emit(self, statistics, copies, step) -> None:
        """Hands a record to the host: TensorFlow stores it in variables
        that the host reads; JAX sends it from the compiled step with a host
        callback; PyTorch runs eagerly, on the host already."""
        if not self.histograms:
            copies = {}
        if self._backend == "tensorflow":
            self._store(statistics, copies, step)
        elif self._backend == "jax":
            import jax

            jax.experimental.io_callback(self._receive, None, statistics, copies, step)
        else:
            self._receive(statistics, copies, step)

    def _store(self, statistics, copies, step) -> None:
        self._statistics.assign(tf.cast(statistics, tf.float64))
        self._record_id.assign(
            tf.stack([self._record_id[0] + 1, tf.cast(step, tf.int64)])
        )
        self._record_next.assign(False)
        for index, gradient in copies.items():
            self._gradient_copies[index].assign(gradient)

    def _receive(self, statistics, copies, step) -> None:
        self._record_next = False
        gradients = None
        if self.histograms:
            gradients = [
                keras.ops.convert_to_numpy(copies[index])
                if index in copies
                else np.zeros(variable.shape, np.float32)
                for index, variable in enumerate(self._variables)
            ]
        statistics = np.asarray(keras.ops.convert_to_numpy(statistics), np.float64)
        self._pending.append((int(step), statistics, gradients))

    def _unscale(self, optimizer, gradients):
        # The base optimizer divides by its own `loss_scale_factor` inside
        # `apply`; record what it applies.
        scale = getattr(optimizer, "loss_scale_factor", None)
        if scale is None:
            return list(gradients)
        return [g if g is None else g / scale for g in gradients]

    def _step_inputs(self, optimizer, grads, trainable_variables):
        """The gradients, their variables and the step, in the traced step."""
        self._setup_in_trace(trainable_variables)
        variables = (
            self._variables
            if trainable_variables is None
            else list(trainable_variables)
        )
        # A copy: apply increments the variable in place.
        return list(grads), variables, keras.ops.copy(optimizer.iterations)

    def _capturing_all_reduce(self, original_all_reduce):
        """Keeps the gradients that the optimizer's own all-reduce returns.

        Under a strategy with several replicas, `apply` runs on each replica
        with its local gradient, and the optimizer sums them across replicas
        inside `apply`. Reading that sum costs no extra communication; an
        all-reduce of our own would be a cross-replica call, which TensorFlow
        does not allow inside the recording tf.cond. Each replica traces in
        its own thread, hence thread-local storage.
        """

        def all_reduce_sum_gradients(grads_and_vars):
            reduced = original_all_reduce(grads_and_vars)
            self._reduced.pairs = list(reduced)
            return reduced

        return all_reduce_sum_gradients

    def _applied_gradients(self, optimizer, grads, variables):
        """The gradients the optimizer applies, in the order of `variables`."""
        if not self._replicated:
            return self._unscale(optimizer, grads)
        # Already unscaled and clipped, paired with each variable's backing
        # tf.Variable; variables without a gradient are absent.
        by_variable = {id(var): gradient for gradient, var in self._reduced.pairs}
        return [by_variable.get(id(v.value)) for v in variables]

    def _recording_apply(self, optimizer, original_apply):
        ops = keras.ops

        def apply(grads, trainable_variables=None):
            if not self._traces_recording:
                return original_apply(grads, trainable_variables)
            grads, variables, step = self._step_inputs(
                optimizer, grads, trainable_variables
            )
            if not self._variables:  # a model with nothing to train
                return original_apply(grads, trainable_variables)
            record = self._should_record(step)
            # The weights before the update are read only on recorded steps;
            # other steps pass the gradients (tensors of the same shapes that
            # are alive anyway) through, so they neither allocate nor keep a
            # read of each variable alive, which would make the update copy it.
            # apply itself is traced once.
            stand_ins = [
                g if _same_spec(g, v) else ops.zeros(v.shape, v.dtype)
                for g, v in zip(grads, variables, strict=True)
            ]
            before = ops.cond(
                record,
                lambda: [ops.copy(v.value) for v in variables],
                lambda: stand_ins,
            )
            original_apply(grads, trainable_variables)

            def store():
                after = [v.value for v in variables]
                statistics, copies = self._statistics_of(
                    self._applied_gradients(optimizer, grads, variables),
                    variables,
                    before,
                    after,
                )
                self._emit(statistics, copies, step)

            ops.cond(record, store, lambda: None)

        return apply

    def _record_if_nonfinite(self, loss_scale_optimizer, grads, variables, step):
        """Records a step that the LossScaleOptimizer skips: the inner
        optimizer's apply never sees it."""
        ops = keras.ops
        if not self._variables:
            return
        finite = ops.all(
            ops.stack([ops.all(ops.isfinite(g)) for g in grads if g is not None])
        )

        def recorded():
            scale = ops.cast(loss_scale_optimizer.dynamic_scale, "float32")
            unscaled = [
                None if g is None else ops.cast(g, "float32") / scale for g in grads
            ]
            before = [v.value for v in variables]
            statistics, copies = self._statistics_of(unscaled, variables, before, None)
            self._emit(statistics, copies, step)

        ops.cond(
            ops.logical_and(self._should_record(step), ops.logical_not(finite)),
            recorded,
            lambda: None,
        )

    def _nonfinite_apply(self, loss_scale_optimizer, original_apply):
        def apply(grads, trainable_variables=None):
            if self._traces_recording:
                self._record_if_nonfinite(
                    loss_scale_optimizer,
                    *self._step_inputs(
                        loss_scale_optimizer, grads, trainable_variables
                    ),
                )
            original_apply(grads, trainable_variables)

        return apply

    def _nonfinite_stateless_apply(self, loss_scale_optimizer, original):
        def stateless_apply(optimizer_variables, grads, trainable_variables):
            if not self._traces_recording:
                return original(optimizer_variables, grads, trainable_variables)
            # The JAX trainer passes the values of the model's trainable
            # variables, in order.
            mapping = [
                *zip(self._variables, trainable_variables, strict=True),
                *zip(loss_scale_optimizer.variables, optimizer_variables, strict=True),
            ]
            with keras.StatelessScope(state_mapping=mapping):
                self._record_if_nonfinite(
                    loss_scale_optimizer,
                    *self._step_inputs(loss_scale_optimizer, grads, None),
                )
            return original(optimizer_variables, grads, trainable_variables)

        return stateless_apply

    # The host side.
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        # The first epoch's flag is set when the variable is created.
        if self._variables is not None and self.freq == "epoch" and epoch > 0:
            if self._backend == "tensorflow":
                self._record_next.assign(True)
            else:
                self._record_next = True

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._block_begin = batch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if not self._active:
            return
        if not self._variables:
            # Nothing trainable: the step did not call apply, or called it
            # with no variables.
            self._active = False
            warnings.warn(
                f"GradientMonitor: model {self.model.name!r} has no trainable "
                "weights; there are no gradients to record.",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        first = self._host_iterations
        steps = batch - self._block_begin + 1
        self._host_iterations += steps
        if self._block_may_have_recorded(first, steps):
            self._collect()

    def _block_may_have_recorded(self, first: int, steps: int) -> bool:
        # Reading the device forces a sync: skip it on blocks where no step
        # can have been recorded.
        if self.freq == "epoch" or self._unpredictable_iterations:
            return True
        next_recorded = -(-first // self.freq) * self.freq
        return next_recorded < first + steps

    def _collect(self) -> None:
        for step, statistics, gradients in self._received():
            try:
                record = _Record(step, self._epoch, statistics, gradients)
                self._add_record(record)
            except Exception as error:  # the monitor must never end training
                warnings.warn(
                    f"GradientMonitor could not record step {step}: {error!r}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
            self._handle_nonfinite(record)

    def _received(self) -> list[tuple[int, np.ndarray, list[np.ndarray] | None]]:
        """The records that reached the host since the last call, in order."""
        if self._backend == "jax":
            import jax

            jax.effects_barrier()  # host callbacks of dispatched steps
        if self._backend != "tensorflow":
            received, self._pending = self._pending, []
            return sorted(received, key=lambda record: record[0])
        record_count, step = (int(v) for v in self._record_id.numpy())
        if record_count == self._seen_records:
            return []
        self._seen_records = record_count
        gradients = None
        if self._gradient_copies is not None:
            gradients = [np.asarray(v.numpy()) for v in self._gradient_copies]
        return [(step, self._statistics.numpy(), gradients)]

    def _handle_nonfinite(self, record: _Record) -> None:
        totals = record.statistics[:, [_SUM_SQUARES, _SUM_ABS]].sum(axis=1)
        bad = np.flatnonzero(~np.isfinite(totals))
        if not bad.size:
            return
        layers = list(dict.fromkeys(self._variable_layers[i] for i in bad))
        message = (
            f"GradientMonitor: non-finite gradient (NaN or Inf) at step "
            f"{record.step} in layer(s) {', '.join(layers)}."
        )
        if self.on_nonfinite == "raise":
            self._finish()
            raise FloatingPointError(message)
        if self.on_nonfinite == "stop":
            self.model.stop_training = True
            message += " Stopping training."
        warnings.warn(message, RuntimeWarning, stacklevel=2)

    # Rows.
    def _step_of(self, record: _Record) -> int:
        return record.step

    def _groups(self) -> Iterator[tuple[str, str | None, np.ndarray]]:
        """(layer, variable, indices) of every row of a record, in order."""
        for index, (layer, name) in enumerate(
            zip(self._variable_layers, self._variable_names, strict=True)
        ):
            yield layer, name, np.array([index])
        for layer in self._layers:
            members = [
                i for i, owner in enumerate(self._variable_layers) if owner == layer
            ]
            yield layer, None, np.array(members)
        yield GLOBAL, None, np.arange(len(self._variables))

    def _rows_of(self, record: _Record) -> Iterator[dict[str, Any]]:
        for layer, variable, indices in self._groups():
            values = _aggregate(record.statistics[indices], self._sizes[indices])
            yield {
                "step": record.step,
                "epoch": record.epoch,
                "layer": layer,
                "variable": variable,
                **values,
            }

    def _scalars_of(self, record: _Record) -> Iterator[tuple[str, float]]:
        for layer, variable, indices in self._groups():
            if variable is not None:
                continue
            values = _aggregate(record.statistics[indices], self._sizes[indices])
            tag_layer = "global" if layer == GLOBAL else layer
            for stat in self.stats:
                if values[stat] is not None:
                    yield f"gradients/{tag_layer}/{stat}", values[stat]

    def _histograms_of(self, record: _Record) -> Iterator[tuple[str, Any]]:
        if record.gradients is not None:
            for path, gradient in zip(
                self._variable_paths, record.gradients, strict=True
            ):
                yield f"gradients/{path}", gradient

    # What the user reads.
    def _layer_rows_of(self, record: _Record) -> dict[str, dict[str, Any]]:
        return {
            row["layer"]: row
            for row in self._rows_of(record)
            if row["variable"] is None
        }

    def _layer_rows(self, step: int | None = None) -> dict[str, dict[str, Any]]:
        if not self._records:
            raise ValueError("GradientMonitor has recorded nothing yet.")
        if step is None:
            return self._layer_rows_of(self._records[-1])
        matching = [r for r in self._records if r.step == step]
        if not matching:
            steps = [r.step for r in self._records]
            raise ValueError(f"No record at step={step}. Recorded steps: {steps}")
        return self._layer_rows_of(matching[-1])

    def layer_norms(self, step: int | None = None) -> dict[str, float]:
        """Gradient L2 norm of each layer at the last (or the given) record.

        Args:
            step: A recorded step; `None` for the last record. Defaults to
                `None`.

        Returns:
            `{layer path: norm}`, from the input side to the output side.
        """
        rows = self._layer_rows(step)
        return {layer: rows[layer]["l2"] for layer in self._layers}

    def summary(self, step: int | None = None) -> str:
        """A table of the last (or the given) record, one line per layer.

        Each layer's gradient norm is shown relative to the output layer's
        (the last layer with weights); layers below `vanishing_ratio` are
        flagged as vanishing. Below the table: a non-finite or exploding
        global norm (above `exploding_threshold`, or grown `1000`-fold since
        the first record of this `fit`).

        Args:
            step: A recorded step; `None` for the last record. Defaults to
                `None`.

        Returns:
            The table as a string.
        """
        rows = self._layer_rows(step)
        output_norm = rows[self._layers[-1]]["l2"]
        width = max(len(layer) for layer in self._layers + [GLOBAL])
        lines = [
            f"Gradients at step {rows[GLOBAL]['step']} "
            f"(norms relative to {self._layers[-1]})",
            f"{'layer':<{width}}  {'grad l2':>10}  {'relative':>10}  "
            f"{'update/weight':>13}  flag",
        ]
        for layer in self._layers + [GLOBAL]:
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
        global_norm = rows[GLOBAL]["l2"]
        first_norm = self._layer_rows_of(self._records[0])[GLOBAL]["l2"]
        if not math.isfinite(global_norm):
            lines.append("Non-finite global gradient norm.")
        elif global_norm > self.exploding_threshold:
            lines.append(
                f"Exploding: global gradient norm {global_norm:.3e} > "
                f"exploding_threshold={self.exploding_threshold:g}."
            )
        elif first_norm > 0 and global_norm / first_norm >= GROWTH_FLAG:
            lines.append(
                f"Exploding: global gradient norm grew {global_norm / first_norm:.1e}"
                f"-fold since step {self._records[0].step}."
            )
        return "\n".join(lines)

    def plot(
        self, axes: tuple[Axes, Axes] | None = None, title: str | None = None
    ) -> Figure:
        """Plots the gradient norm of each layer over the recorded steps.

        Left: a layers-by-steps heatmap of log10 of the gradient L2 norm, input
        side at the top. Right: one line per layer. Needs matplotlib.

        Args:
            axes: Two matplotlib axes to draw into; `None` makes a new figure.
                Defaults to `None`.
            title: A title above the heatmap. Defaults to `None`.

        Returns:
            The matplotlib figure.
        """
        import matplotlib.pyplot as plt

        if not self._records:
            raise ValueError("GradientMonitor has recorded nothing to plot yet.")
        if axes is None:
            figure, axes = plt.subplots(
                1, 2, figsize=(11, 0.35 * len(self._layers) + 2.5)
            )
        heatmap_axes, line_axes = axes
        steps = [r.step for r in self._records]
        by_record = [self._layer_rows_of(r) for r in self._records]
        norms = np.array(
            [[rows[layer]["l2"] for rows in by_record] for layer in self._layers]
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            log_norms = np.where(norms > 0, np.log10(norms), np.nan)
        image = heatmap_axes.imshow(
            log_norms, aspect="auto", interpolation="nearest", cmap="viridis"
        )
        heatmap_axes.set_yticks(range(len(self._layers)), self._layers, fontsize=8)
        ticks = np.unique(
            np.linspace(0, len(steps) - 1, min(len(steps), 6)).astype(int)
        )
        heatmap_axes.set_xticks(ticks, [str(steps[t]) for t in ticks])
        heatmap_axes.set_xlabel("step")
        heatmap_axes.figure.colorbar(
            image, ax=heatmap_axes, label="log10 gradient L2 norm"
        )
        if title:
            heatmap_axes.set_title(title)
        for layer, row in zip(self._layers, norms, strict=True):
            line_axes.plot(steps, row, label=layer)
        line_axes.set_yscale("log")
        line_axes.set_xlabel("step")
        line_axes.set_ylabel("gradient L2 norm")
        if len(self._layers) <= 12:
            line_axes.legend(fontsize=7)
        return heatmap_axes.figure
