"""Records the gradients that `model.fit` applies, per layer and per variable.

The parts, each in its own module: `_gradient_capture` wraps the optimizers'
`apply` and makes the recording train function; `_gradient_statistics`
computes the statistics in the training step; the backend's channel
(`keras_acts._backends.<backend>.channel`) brings them to the host, into the
monitor's `Inbox`; `_gradient_records` turns them into rows; `_rules` judges
them; `_reports` and `_plots` show them. This front holds the arguments and
the callback hooks that tie them together.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import keras

from keras_acts import _backends, _validation, _warnings
from keras_acts.callbacks import _plots, _reports, _rules
from keras_acts.callbacks._activation_layers import context_of
from keras_acts.callbacks._channel import Inbox, Request
from keras_acts.callbacks._gradient_capture import (
    GradientCapture,
    names_of,
    optimizers_of,
)
from keras_acts.callbacks._gradient_collection import Collector
from keras_acts.callbacks._gradient_records import (
    COLUMNS,
    STATS,
    GradientRecord,
    histograms_of,
    layer_rows_of,
    rows_of,
    scalars_of,
)
from keras_acts.callbacks._recorder import Recorder
from keras_acts.callbacks._schedule import Schedule
from keras_acts.diagnosis import Flag

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

NONFINITE_ACTIONS = ("warn", "stop", "raise")
__all__ = ["COLUMNS", "STATS", "GradientMonitor"]


def _checked_optimizers(optimizers: Any) -> list[keras.optimizers.Optimizer]:
    """`optimizers` as a list of optimizer instances; ValueError naming what
    was received otherwise (a name such as "sgd", a loss, a list of them)."""
    if isinstance(optimizers, keras.optimizers.Optimizer):
        return [optimizers]
    if isinstance(optimizers, (list, tuple)):
        checked = list(optimizers)
        if checked and all(isinstance(o, keras.optimizers.Optimizer) for o in checked):
            return checked
    raise ValueError(
        "`optimizers` must be a Keras optimizer instance or a list of them "
        "(the optimizer objects that train the model, such as "
        "`model.optimizer`; not names such as 'sgd'). "
        f"Received: optimizers={optimizers!r} of type {type(optimizers).__name__}"
    )


_A_FIT = object()  # a fit whose callbacks were given no params


def _iterations(optimizers) -> dict[int, int]:
    return {id(o): int(_backends.to_numpy(o.iterations)) for o in optimizers}


def _fingerprint(model) -> float:
    """A number that changes when the model's trainable weights do."""
    ops = keras.ops
    total = [ops.sum(ops.cast(v.value, "float32")) for v in model.trainable_variables]
    if not total:
        return 0.0
    return float(_backends.to_numpy(ops.sum(ops.stack(total))))


def _checked_model(model: Any) -> keras.Model:
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model. Received: model={model!r}")
    return model


class GradientMonitor(Recorder):
    """Records the per-layer gradient magnitudes that `model.fit` applies.

    `model.fit(..., callbacks=[keras_acts.GradientMonitor()])` is all it takes.
    On the steps of its schedule (`freq`) the monitor records, for each
    trainable variable and for each layer (its trainable variables
    together), the L2 norm, mean absolute value and maximum absolute value
    of the gradient, the L2 norm of
    the weights and the update-to-weight ratio `||w_after - w_before|| /
    ||w_before||`, plus the same over the whole model (the global norm).

    Args:
        freq: Record every `freq` optimizer steps (the steps divisible by
            `freq`), `"epoch"` to record the first step of each epoch, or
            `"auto"` to record the first 10 steps of each `fit` and then as
            often as keeps the time recording adds within 3% of the
            training step's, which the monitor measures on the host as it
            trains: the gap between records doubles (2, 4, 8, ... steps)
            until it is as wide as that needs. A custom training loop
            (`attach`), which has no batch hooks to time, is recorded at
            every step with `"auto"`. With an integer `freq` the records
            of up to 16 steps (or half a second) wait on the device before
            the host reads them, since each read makes the host wait for the
            device; they are read at the end of each epoch, and whenever
            the monitor is read (`history`, `summary()`, ...), so nothing
            reads them late. Defaults to `"auto"`.
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
            step of the first in each fit, `"stop"` also sets
            `model.stop_training`, `"raise"` raises `FloatingPointError`.
            Under mixed precision, a step that the `LossScaleOptimizer`
            skips for an overflow while its loss scale is above 1 is not
            recorded: only a gradient still non-finite at a scale of 1
            counts. Defaults to `"warn"`.
        vanishing_ratio: In `summary()`, a layer whose gradient norm relative
            to the output layer's is below this, as is every layer before
            it, is flagged as vanishing. Defaults to `1e-3`.
        exploding_threshold: In `summary()`, a global gradient norm above
            this, in a step that moves the weights by 10% of their norm or
            more, is flagged as exploding. Defaults to `1e3`.
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
        Problems over 1 record (steps 0 to 0): no problems found.
        ```

    The gradients are those the training step hands to the optimizer, not
    those of a second pass. `step` is `optimizer.iterations` when the step
    began (0 for the first update ever); it continues across `fit` calls and
    after loading a saved model. ActivationMonitor's `step` means the same,
    so the rows of the two monitors join on it.

    Each `fit` (and each `attach` block) starts a new `history`, as Keras's
    own `History` callback does: the rows of earlier fits are dropped, and a
    CSV file at `csv_path` is written anew, unless `append=True`. `step`
    goes on counting across fits either way.

    Several monitors can record one model at once (in one `fit`, or nested
    `attach` blocks on the same optimizers), each on its own `freq`.

    A custom `train_step` is covered whenever it calls `apply` or
    `apply_gradients` of a watched optimizer; a custom training loop (no
    `fit`) with `attach`. Backends: TensorFlow, JAX and PyTorch. What is
    recorded with several optimizers, `steps_per_execution`, gradient
    accumulation, loss scaling and distribution strategies is set out in
    the guide (Diagnosing gradient flow: What a record means).
    """

    COLUMNS = COLUMNS

    def __init__(
        self,
        freq: int | str = "auto",
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
        self._warn_kinds = _rules.check_warn(warn, _rules.kinds_of("GradientMonitor"))
        chosen = (stats,) if isinstance(stats, str) else stats
        if (
            not isinstance(chosen, (list, tuple))
            or not chosen
            or any(not isinstance(name, str) or name not in STATS for name in chosen)
        ):
            raise ValueError(
                f"`stats` must name statistics from {STATS}. Received: stats={stats!r}"
            )
        histograms = _validation.boolean("histograms", histograms)
        if histograms and log_dir is None:
            raise ValueError("`histograms=True` needs a `log_dir` to write them to.")
        self.freq = self.schedule.freq
        self.histograms = histograms
        self.stats = tuple(chosen)
        self.on_nonfinite = _validation.one_of(
            "on_nonfinite", on_nonfinite, NONFINITE_ACTIONS
        )
        self.vanishing_ratio = _validation.real(
            "vanishing_ratio", vanishing_ratio, positive=True
        )
        self.exploding_threshold = _validation.real(
            "exploding_threshold", exploding_threshold, positive=True
        )
        self.optimizers = (
            None if optimizers is None else _checked_optimizers(optimizers)
        )
        self.warn = warn
        # The state of a fit, set anew when one begins (`_begin`).
        self._capture: GradientCapture | None = None
        self._request: Request | None = None
        self._loop_depth = 0  # nested `attach` blocks
        self._applies_at_begin = 0
        self._applies_checked = False
        self._step_checked = False
        self._iterations_at_begin: dict[int, int] = {}
        self._weights_at_begin: float | None = None
        self._collector: Collector | None = None
        self._active = False
        self._fit_start = 0
        self._block_may_record = True
        self._block_collected = False
        self._run = _rules.GradientRun(self.vanishing_ratio)
        self._run_model: keras.Model | None = None  # whose fits `_run` judges
        self._context: _rules.Context | None = None
        self._live_warnings = _rules.LiveWarnings(frozenset())
        self._headline: tuple[GradientRecord | None, dict] = (None, {})
        self._nonfinite_warned = False

    # Set-up and tear-down.
    def on_train_begin(self, logs: dict | None = None) -> None:
        if self._loop_depth:
            raise ValueError(
                "This GradientMonitor is attached to a custom training loop "
                f"of model {self.model.name!r} (`with monitor.attach(...)`); "
                "call fit outside that block, or give fit another "
                "GradientMonitor."
            )
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
        optimizer's `iterations`. On exit the optimizers are restored. The
        guide (Diagnosing gradient flow: Several optimizers, custom steps and
        custom loops) records a `tf.function` training loop with it.

        Blocks of several monitors on the same optimizers can be nested,
        each monitor recording on its own `freq`; the same monitor attached
        again inside its block goes on as one. A block that recorded nothing
        while the model's weights changed (the loop applied another
        optimizer, or its step was traced before the block) ends with a
        `RuntimeWarning` naming the optimizer that did, where the model
        holds it.

        Args:
            model: The model whose variables are trained; it names the
                layers.
            optimizers: The optimizers to record. Defaults to those found on
                the model (`model.optimizer` and optimizer attributes), or
                the monitor's `optimizers`.

        Returns:
            A context manager that yields the monitor.
        """
        model = _checked_model(model)
        if optimizers is not None:
            optimizers = _checked_optimizers(optimizers)
        if self.schedule.per_epoch:
            raise ValueError(
                'freq="epoch" needs the epochs of `fit`; a custom loop has '
                "none. Use an integer `freq`. Received: freq='epoch'"
            )
        if self._loop_depth:
            # Attached already, in an enclosing block: the same recording.
            same = model is self.model and (
                optimizers is None
                or [id(o) for o in optimizers]
                == [id(o) for o in self._capture.optimizers]
            )
            if not same:
                raise ValueError(
                    "This GradientMonitor is already attached to model "
                    f"{self.model.name!r} (through "
                    f"{names_of(self._capture.optimizers)}) in an enclosing "
                    "`with monitor.attach(...)` block; it records one model "
                    "at a time. Use another GradientMonitor for model "
                    f"{model.name!r}."
                )
            self._loop_depth += 1
            try:
                yield self
            finally:
                self._loop_depth -= 1
            return
        self.set_model(model)
        self._begin(in_fit=False, optimizers=optimizers)
        self._loop_depth = 1
        try:
            yield self
        finally:
            self._loop_depth = 0
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
        if self._capture is not None and self._request is not None:
            # Of a fit that ended without on_train_end (an exception): its
            # records still waiting on the device are kept.
            self._sync()
            self._capture.remove(self._request)
            self._request = None
        # The callbacks of one fit share Keras's `params`.
        fit = (self.params if self.params is not None else _A_FIT) if in_fit else None
        capture = GradientCapture.of(model, optimizers, fit)
        self._open_outputs()
        self._fit_start = len(self._records)  # earlier fits' with append=True
        self._active = True
        # With append=True, flags() covers the earlier fits too: of this
        # model; another's layers and steps are not its own.
        if not self.append or model is not self._run_model:
            self._run = _rules.GradientRun(self.vanishing_ratio)
            self._run_model = model
        self._nonfinite_warned = False
        self._live_warnings = _rules.LiveWarnings(self._warn_kinds - {"nonfinite"})
        self._block_may_record = True
        self._block_collected = False
        self._context = context_of(model, optimizers)
        self._capture = capture
        self._collector = Collector(model, optimizers, self._capture, self.schedule)
        self._applies_at_begin = capture.applies
        self._applies_checked = False
        self._step_checked = False
        self._iterations_at_begin = _iterations(optimizers_of(model))
        self._weights_at_begin = None if in_fit else _fingerprint(model)
        # A custom loop has no batch hooks: records are taken as they come.
        inbox = Inbox(None if in_fit else lambda: self._collect(final=False))
        self._request = Request(
            self.schedule,
            self.histograms,
            inbox,
            self._next_may_record,
            in_fit and self._collector.predictable,
            self._after_block,
            owner=self,
            fit=fit,
            block_steps=self._block_steps,
            host_decides=self.schedule.auto,
        )
        self._collector.request = self._request
        try:
            self._capture.add(self._request, in_fit)
        except BaseException:
            self._active = False
            self._request = None
            self._close_writer()
            raise
        if self.schedule.per_epoch:
            self._capture.request_records(self._request)

    def _end(self) -> None:
        if self._capture is None or self._request is None:
            return
        try:
            if self._active:
                self._collect(final=True)
                if self._capture.request is not None and not self._capture.in_fit:
                    self._warn_if_nothing_applied()
                elif self._capture.in_fit:
                    self._check_applied()
        finally:
            self._capture.remove(self._request)
            self._request = None
            self._close_writer()

    def _check_applied(self) -> None:
        """Once per fit, at the end of its first epoch (or of the fit if it
        ends sooner): warns when the step applied its gradients through none
        of the optimizers watched (one held outside the model, a
        hand-written update), which leaves nothing to record. Not after the
        first step: a step run eagerly may apply on some steps only."""
        if self._applies_checked or not self._active:
            return
        self._applies_checked = True
        # `fit_applies` covers the train function's calls; a step driven by
        # hand (no train function) counts its applies as they come.
        if (
            self._capture.ran_recording
            and not self._capture.fit_applies
            and self._capture.applies == self._applies_at_begin
        ):
            self._collector.warn_nothing_applied(self.model)

    def _warn_if_nothing_applied(self) -> None:
        """At the end of a custom loop: warns when the optimizers watched
        applied nothing inside the block, naming those of the model that
        did."""
        if (
            self._capture.applies != self._applies_at_begin
            or len(self._records) > self._fit_start
        ):
            return
        watched = {id(o) for o in self._capture.optimizers}
        before = self._iterations_at_begin
        others = [
            o
            for o in optimizers_of(self.model)
            if id(o) not in watched
            and id(o) in before
            and _iterations([o]).get(id(o)) != before[id(o)]
        ]
        if others:
            advice = (
                f"The loop applied {names_of(others)} instead: attach that "
                "one, monitor.attach(model, [optimizer])."
            )
        elif _fingerprint(self.model) != self._weights_at_begin:
            advice = (
                "The weights changed: attach the optimizers the loop applies, "
                "monitor.attach(model, [optimizer]), and trace the step (a "
                "tf.function, a jax.jit) inside the block."
            )
        else:
            return  # no step ran
        _warnings.warn(
            "GradientMonitor recorded nothing in its `attach` block: no "
            f"gradients were applied through {names_of(self._capture.optimizers)} "
            f"inside it. {advice}",
            RuntimeWarning,
        )

    # The host side.
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self._collector.epoch != epoch and self.schedule.per_epoch:
            self._capture.request_records(self._request)
        self._collector.epoch = epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._sync()
        self._check_applied()
        self._run.add_loss((logs or {}).get("loss"))
        super().on_epoch_end(epoch, logs)
        self._log_headline(logs)

    def _log_headline(self, logs: dict | None) -> None:
        """The global gradient norm and update ratio of the epoch's last
        record, in Keras's logs, so that the progress bar, History,
        CSVLogger, keras.callbacks.TensorBoard and EarlyStopping see them.
        The keys are there in every epoch (CSVLogger takes its columns from
        the first); NaN in an epoch without a record, never an older one."""
        if logs is None:
            return
        row = {"l2": math.nan, "update_ratio": None}
        if len(self._records) > self._fit_start:
            record = self._records[-1]
            if record.epoch == self._collector.epoch:
                # Called after every block: the rows of a record are built
                # once.
                if self._headline[0] is not record:
                    self._headline = (record, layer_rows_of(record)[_rules.GLOBAL])
                row = self._headline[1]
        logs["gradient_norm"] = row["l2"]
        ratio = row["update_ratio"]
        logs["update_ratio"] = math.nan if ratio is None else ratio

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._collector.clock.begin_block(batch)
        self._block_may_record = self._collector.block_may_record()
        self._block_collected = False
        self._capture.arm()

    def _next_may_record(self) -> bool:
        return self._block_may_record

    def _block_steps(self) -> tuple[int, int]:
        clock = self._collector.clock
        return clock.iterations, clock.steps_per_execution

    def _after_block(self, interrupted: bool = False) -> None:
        """Right after the block of steps ran, before the callbacks' batch
        end: the records reach the history (and the files) even when another
        callback stops the fit there. With an integer `freq` they may wait
        on the device for a few blocks (`Collector.read_due`), and are read
        at the end of each epoch and of the fit."""
        self._block_collected = True
        if not (self._active and self._block_may_record):
            return
        # A record must stop the fit at once, or reach the CSV file before a
        # crash could lose it: then it is read at once.
        may_wait = self.on_nonfinite == "warn" and self.csv_path is None
        if interrupted or self._collector.read_due(may_wait):
            self._collect(final=True)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._collector.clock.end_block(batch)
        if self._collector.budget is not None:
            # The block's records were collected already (`_after_block`).
            self._collector.budget.end_block()
        if not self._active:
            return
        self._collector.check_steps()
        if self._capture.ran_recording and not self._step_checked:
            self._step_checked = True
            if not self.model.trainable_variables:  # nothing to train, ever
                self._active = False
                self._collector.warn_nothing_applied(self.model)
                return
        # Reading the device forces a sync: skip it after blocks where no
        # step can have been recorded.
        if self._block_may_record:
            if not self._block_collected:  # a step driven by hand
                self._collect(final=True)
            self._log_headline(logs)

    def _collect(self, final: bool) -> None:
        for record in self._collector.collect(final):
            try:
                self._add_record(record)
            except Exception as error:  # the monitor must never end training
                _warnings.warn(
                    f"GradientMonitor could not record step {record.step}: {error!r}",
                    RuntimeWarning,
                )
                continue
            self._run.add(layer_rows_of(record), record.step, record.names.unplaced)
            self._live_warnings.give(
                [finding.flag for finding in self._findings()],
                "GradientMonitor",
                record.step,
            )
            message = self._collector.nonfinite_message(record)
            # Once per fit: weights that hold NaN stay so, and every later
            # record would warn again (flags() keeps the finding).
            if message is None or self._nonfinite_warned:
                continue
            if self.on_nonfinite == "raise":
                self._active = False
                self._capture.remove(self._request)
                self._request = None
                self._close_writer()
                raise FloatingPointError(message)
            if self.on_nonfinite == "stop":
                self.model.stop_training = True
                message += " Stopping training."
            self._nonfinite_warned = True
            _warnings.warn(message, RuntimeWarning)

    # Rows.
    def _step_of(self, record: GradientRecord) -> int:
        return record.step

    def _rows_of(self, record: GradientRecord) -> Iterator[dict[str, Any]]:
        return rows_of(record)

    def _scalars_of(self, record: GradientRecord) -> Iterator[tuple[str, float]]:
        return scalars_of(record, self.stats)

    def _histograms_of(self, record: GradientRecord) -> Iterator[tuple[str, Any]]:
        return histograms_of(record)

    # What the user reads.
    def _sync(self) -> None:
        # During fit, from another callback: the records waiting on the
        # device are read first, so what the user sees is up to date.
        if self._active and self._collector is not None and self._collector.unread:
            self._collect(final=True)

    def _record_at(self, step: int | None) -> GradientRecord:
        self._sync()
        if not self._records:
            raise ValueError("GradientMonitor has recorded nothing yet.")
        if step is None:
            return self._records[-1]
        step = _validation.integer("step", step, minimum=0)
        matching = [r for r in self._records if r.step == step]
        if not matching:
            steps = [r.step for r in self._records]
            raise ValueError(f"No record at step={step}. Recorded steps: {steps}")
        return matching[-1]

    def layer_norms(self, step: int | None = None) -> dict[str, float]:
        """Gradient L2 norm of each layer at the last (or the given) record.

        Args:
            step: A recorded step; `None` for the last record. Defaults to
                `None`.

        Returns:
            `{layer path: norm}`, from the input side to the output side.
        """
        rows = layer_rows_of(self._record_at(step))
        return {
            layer: row["l2"] for layer, row in rows.items() if layer != _rules.GLOBAL
        }

    def _findings(self) -> list[_rules.Finding]:
        return _rules.fitted(
            _rules.gradient_findings(self._run, self.exploding_threshold),
            self._context,
        )

    def flags(self) -> list[Flag]:
        """The problems found over the whole of the last `fit` (and earlier
        ones of the same model, with `append=True`), each with what to try.

        - `"nonfinite"`: a gradient or weight held NaN or Inf.
        - `"exploding"`: the global gradient norm went above
          `exploding_threshold` in a step that moved the weights by 10% of
          their norm or more (a large norm with small steps, under an
          adaptive optimizer or in a normalised net at initialisation, is
          not a fault), or grew 1000-fold.
        - `"vanishing"`: layers whose gradient norm was below
          `vanishing_ratio` times the output layer's, as was every layer
          before them (vanishing is a trend with depth: one small layer
          among healthy ones, an attention query at initialisation, is
          not), in at least 5% of the records (early records count: once a
          net is stuck, its gradients are tiny everywhere alike).

        The advice fits the model: where it applies no saturating
        activation, vanishing gradients point at dead units rather than at
        a ReLU to try, and a learning rate high for its optimizer (1e-2 or
        more for an adaptive one, 0.5 or more for others) is named.
        - `"stalled"`: over the later half of the records, the median
          update was below 1e-6 of the weights' norm, and the loss did not
          fall 1000-fold from the first epoch's (a run that converged has
          tiny updates too).

        Returns:
            A list of `keras_acts.Flag`, empty when nothing was found.
        """
        self._sync()
        return [finding.flag for finding in self._findings()]

    def summary(self, step: int | None = None, flagged_only: bool = False) -> str:
        """A table of the last (or the given) record, one line per layer, and
        the problems found over the whole run (`flags()`).

        Each layer's gradient norm is shown relative to the output layer's
        (the last layer with weights that gets a gradient); the `flag`
        column marks the layers that the problems below name. Problems
        warned about during training that have cleared since are listed
        after them.

        Args:
            step: A recorded step for the table; `None` for the last record.
                Defaults to `None`.
            flagged_only: Show only the layers the problems name (and the
                whole model's row), for models of many layers. Defaults to
                `False`.

        Returns:
            The table and the problems, as a string.
        """
        flagged_only = _validation.boolean("flagged_only", flagged_only)
        self._sync()
        findings = self._findings()
        shown = self._record_at(step)
        return _reports.gradient_table(
            layer_rows_of(shown),
            [record.step for record in self._records],
            findings,
            flagged_only,
            self._live_warnings.cleared(finding.flag for finding in findings),
            shown.names.unplaced,
        )

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
        if vmin is not None:
            vmin = _validation.real("vmin", vmin)
        if vmax is not None:
            vmax = _validation.real("vmax", vmax)
        if vmin is not None and vmax is not None and vmin >= vmax:
            raise ValueError(
                f"`vmin` must be below `vmax`. Received: vmin={vmin}, vmax={vmax}"
            )
        self._sync()
        if not self._records:
            raise ValueError("GradientMonitor has recorded nothing to plot yet.")
        return _plots.plot_gradients(self._records, axes, title, vmin, vmax)
