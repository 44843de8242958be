"""GradientMonitor's host side of one `fit` (or custom loop): which blocks of
steps can hold a record, so that the others cost no read from the device,
and the records that reached the host, one per step."""

from __future__ import annotations

import time

import keras

from keras_acts import _backends, _warnings
from keras_acts.callbacks._channel import RawRecord, accumulates_gradients
from keras_acts.callbacks._gradient_capture import GradientCapture
from keras_acts.callbacks._gradient_records import GradientRecord, nonfinite_layers
from keras_acts.callbacks._schedule import Budget, Schedule, StepClock

# With an integer `freq`, records may wait on the device until this many
# could have been made since the last read, or this long: reading makes the
# host wait for the device (and on JAX stops it from queueing the next steps
# ahead), which at `freq=1` cost more than computing the records.
WAITING_RECORDS = 16
WAITING_SECONDS = 0.5


class Collector:
    def __init__(
        self, model, optimizers: list, capture: GradientCapture, schedule: Schedule
    ) -> None:
        self.capture = capture
        self.schedule = schedule
        main = optimizers[0]
        # The host counts steps from the batch indices, which is exact for
        # one optimizer that applies every batch.
        self.predictable = (
            len(optimizers) == 1
            and main is getattr(model, "optimizer", None)
            and not isinstance(main, keras.optimizers.LossScaleOptimizer)
            and not accumulates_gradients(main)
        )
        self.clock = StepClock(
            int(_backends.to_numpy(main.iterations)),
            int(getattr(model, "steps_per_execution", 1) or 1),
        )
        # With freq="auto": which blocks record, timed on the host.
        self.budget = Budget() if schedule.auto else None
        self.epoch = 0
        self.request = None  # the monitor's, set once made
        self._lost_records = capture.channel.lost_records
        self._held: list[GradientRecord] = []
        self._last_step = -1  # of the records collected
        self._unread_blocks = 0  # blocks that may have recorded, not read
        self._last_read = time.perf_counter()

    def block_may_record(self) -> bool:
        """Whether the block of steps about to run can hold a record."""
        if self.schedule.per_epoch:
            return self.capture.epoch_pending(self.request)
        if self.budget is not None:
            return self.budget.begin_block()
        if not self.predictable:
            return True
        first, count = self.clock.iterations, self.clock.steps_per_execution
        return self.schedule.first_due(first, count) is not None

    @property
    def unread(self) -> bool:
        """Whether blocks that may have recorded were not read yet."""
        return self._unread_blocks > 0

    def read_due(self, may_wait: bool) -> bool:
        """After a block of `fit` that may have recorded: whether to read the
        records now. They wait (on the device: in TensorFlow's record
        variables, which hold `WAITING_RECORDS` twice over, or as the JAX
        step's outputs) only with an integer `freq`, when the host counts the
        steps exactly and `may_wait` (no record must stop the fit at once)."""
        self._unread_blocks += 1
        if (
            not may_wait
            or not self.predictable
            or self.schedule.auto
            or self.schedule.per_epoch
        ):
            return True
        steps = self.clock.steps_per_execution
        return (
            (self._unread_blocks + 1) * steps > WAITING_RECORDS
            or time.perf_counter() - self._last_read >= WAITING_SECONDS
        )

    def collect(self, final: bool) -> list[GradientRecord]:
        """The records that reached the host, one per step: those of several
        optimizers at one step are merged. With `final=False` (a custom loop,
        where records arrive one by one) the records of the last step are
        held back, since another optimizer may still add to them."""
        received = self.capture.received(self.request)
        self._unread_blocks = 0
        self._last_read = time.perf_counter()
        self._check_reads(received)
        records = self._held
        for raw in received:
            record = GradientRecord(
                raw.step,
                self.epoch,
                self.capture.names,
                raw.site.variable_indices,
                raw.statistics,
                raw.gradients,
            )
            if records and records[-1].joins(record):
                records[-1] = records[-1].merged(record)
            else:
                records.append(record)
        self._held = []
        if not final and records:
            split = len(records)
            while split and records[split - 1].step == records[-1].step:
                split -= 1
            records, self._held = records[:split], records[split:]
        return records

    def _check_reads(self, received: list[RawRecord]) -> None:
        """Stops counting steps on the host when the step applies more than
        once per batch (the count is then wrong), and warns of records that
        were overwritten before the host read them."""
        self._last_step = max([self._last_step, *(r.step for r in received)])
        channel = self.capture.channel
        if channel.lost_records > self._lost_records:
            _warnings.warn(
                f"GradientMonitor: {channel.lost_records - self._lost_records} "
                "record(s) were overwritten before they could be read: the "
                "training step applies gradients several times per batch. "
                "Record fewer steps (a larger freq) to keep every record.",
                RuntimeWarning,
            )
            self._lost_records = channel.lost_records
            self.predictable = False

    def check_steps(self) -> None:
        """After a block (and the clock): stops counting steps on the host
        if a record was of a later step than the blocks that ran."""
        if self.predictable and self._last_step >= self.clock.iterations:
            self.predictable = False

    def nonfinite_message(self, record: GradientRecord) -> str | None:
        """What a record holds of NaN or Inf, in a sentence; None if nothing."""
        problems = [
            f"non-finite {what} (NaN or Inf) at step {record.step} in "
            f"layer(s) {', '.join(layers)}"
            for what, layers in nonfinite_layers(record).items()
        ]
        if not problems:
            return None
        message = "GradientMonitor: " + "; ".join(problems)
        if self.schedule.freq != 1:
            every = (
                "on a time budget"
                if self.schedule.auto
                else f"every {self.schedule.freq} steps"
            )
            message += f" (recorded {every}: the first non-finite value may be earlier)"
        return message + "."

    def warn_nothing_applied(self, model) -> None:
        """Warns that the step applied no gradients through the optimizers
        watched, so there is nothing to record."""
        if not model.trainable_variables:
            problem = f"model {model.name!r} has no trainable weights"
        else:
            names = ", ".join(
                f"{type(o).__name__} {o.name!r}" for o in self.capture.optimizers
            )
            problem = (
                f"the training step of model {model.name!r} applied no gradients "
                f"through the optimizers the monitor watches ({names}). If it "
                "trains with other optimizers, pass them: "
                "GradientMonitor(optimizers=[...])"
            )
        _warnings.warn(
            f"GradientMonitor: {problem}; there are no gradients to record.",
            RuntimeWarning,
        )
