"""How a record computed in the training step reaches the host: the
`Channel` every backend's channel (`keras_acts._backends.<backend>.channel`,
chosen by the backend seam) builds on, the `Request` a monitor attaches
with, and the `Inbox` the records are put in.

- TensorFlow stores records in variables that the host reads after each
  block of steps (this works under XLA and `tf.distribute`).
- JAX returns them from `fit`'s compiled step as extra outputs, which the
  host fetches after each block of steps (elsewhere, a host callback).
- PyTorch runs the step eagerly, on the host already.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from keras_acts import _backends, _private_api
from keras_acts.callbacks._gradient_statistics import gradient_statistics, stack
from keras_acts.callbacks._schedule import Schedule


def accumulates_gradients(optimizer) -> bool:
    """Whether `optimizer` averages gradients over micro-batches
    (`gradient_accumulation_steps`) and updates only at the last of each."""
    return bool(getattr(optimizer, "gradient_accumulation_steps", None))


@dataclass(frozen=True)
class RawRecord:
    """A recorded step's statistics as they reached the host."""

    site: Any
    step: int
    statistics: np.ndarray  # (variables, 5), float64
    gradients: list[np.ndarray] | None  # float32 copies, for histograms


class Inbox:
    """Where a channel puts the records that reach the host; the monitor
    takes them. `listener`, if given, runs after each record put (a custom
    training loop has no batch hooks to take them in)."""

    def __init__(self, listener: Callable[[], None] | None = None) -> None:
        self.listener = listener
        self._records: list[RawRecord] = []
        # Host callbacks of one step (one per optimizer) can run at once, on
        # threads of the framework.
        self._lock = threading.RLock()  # the listener takes records too

    def put(self, site, step, statistics, gradients) -> None:
        with self._lock:
            self._records.append(
                RawRecord(
                    site,
                    int(step),
                    np.asarray(_backends.to_numpy(statistics), np.float64),
                    None
                    if gradients is None
                    else [np.asarray(_backends.to_numpy(g)) for g in gradients],
                )
            )
            if self.listener is not None:
                self.listener()

    def put_raw(self, record: RawRecord) -> None:
        """Puts a record that reached the host already (no listener)."""
        with self._lock:
            self._records.append(record)

    def take(self) -> list[RawRecord]:
        """The records put since the last call, by step."""
        with self._lock:
            taken, self._records = self._records, []
        return sorted(taken, key=lambda record: record.step)


@dataclass(frozen=True)
class Request:
    """What a monitor asks of the capture while it is attached."""

    schedule: Schedule
    histograms: bool  # keep a copy of each recorded gradient
    inbox: Inbox
    # Whether the block of steps about to run can hold a record (on JAX,
    # blocks that cannot run the plain train function).
    block_may_record: Callable[[], bool] = lambda: True
    # Whether that answer is exact for a block of one step: the optimizer's
    # steps are those of fit (no loss scaling or gradient accumulation).
    steps_predictable: bool = False
    # Called on the host after each block of steps of `fit` (before the
    # callbacks' on_train_batch_end, which a failing callback may cut short),
    # with `interrupted=True` when the block raised: its records are read at
    # once, since no hook of the fit will follow.
    after_block: Callable[..., None] = lambda interrupted=False: None
    # The monitor asking (for messages), and the fit it records in (the
    # `params` Keras hands the callbacks of one fit; None in a custom loop).
    owner: Any = None
    fit: Any = None
    # In fit: the first step of the block about to run and its number of
    # steps, as the host counts them.
    block_steps: Callable[[], tuple[int, int]] | None = None
    # Whether the host alone picks the blocks that record (freq="auto"), so
    # that the others can run the plain train function.
    host_decides: bool = False


class Channel:
    """What the channels share; each backend's module subclasses it.

    Step side (called while the training step runs or is traced):
    `should_record`, `weights_before`, `record_if`, `statistics`, `emit`,
    `dense`, `applied_gradients`.
    Host side: `begin`, `add_site`, `request_records`, `received`, and
    `recording_function`, which makes the train function used while a
    monitor is attached.
    """

    def __init__(self, capture) -> None:
        self.capture = capture
        self.request: Request | None = None
        self.lost_records = 0  # overwritten before the host read them

    # Host side.
    def begin(self, request: Request) -> None:
        """Called when a monitor attaches."""
        self.request = request

    def add_site(self, site) -> None:
        """Called each time the step is traced (or run eagerly) at `site`."""

    def request_records(self) -> None:
        """With freq="epoch": record each site's next step."""
        for site in self.capture.sites.values():
            site.pending = True

    def release(self) -> None:
        """Called when the monitors detach: frees what the channel keeps
        for the length of a fit."""

    def trace_key(self, request: Request) -> Any:
        """What a traced recording step depends on, besides the model."""
        return request.histograms

    def recording_function(self, make_recording_function, plain_function):
        """The train function to run while a monitor is attached."""
        return make_recording_function()

    def notes_calls(self) -> bool:
        """Whether the first recording step may note the order of the net
        (with a `call` put on each layer of a subclassed model)."""
        return True

    def wrap_optimizer(self, optimizer, install) -> None:
        """Wraps further optimizer methods, with `install(owner, name, f)`,
        which the capture undoes on detach."""

    def deliver(self, site, statistics, copies, step) -> None:
        """Puts a record that reached the host in the request's inbox."""
        site.pending = False
        if self.request is None:  # a traced step run after its monitor left
            return
        self.request.inbox.put(site, step, statistics, copies)

    def received(self) -> list:
        """The records that reached the host since the last call."""
        return self.request.inbox.take()

    # Step side.
    def should_record(self, site, step):
        period = self.request.schedule.period
        if period:
            return keras.ops.equal(keras.ops.mod(step, period), 0)
        return site.pending

    def statistics(self, site, gradients, before, after):
        """The (variables, 5) statistics and the float32 gradients
        (`gradient_statistics`)."""
        shapes = [v.shape for v in site.variables]
        return gradient_statistics(site.groups, shapes, gradients, before, after)

    def record_if(self, record, site, step, store) -> None:
        """Runs `store` (which computes the statistics and calls `emit`) on
        recorded steps."""
        keras.ops.cond(record, store, lambda: None)

    def emit(self, site, statistics, copies, step) -> None:
        self.deliver(site, statistics, copies, step)

    def weights_before(self, site, record, groups: list[list], gradients: list[list]):
        """Per group of same-shaped variables, their weights before the
        update, stacked (or as a list), on recorded steps; what they are on
        other steps does not matter. The update writes the variables in
        place, so the weights are copied, and only on recorded steps.
        `gradients` are the groups' gradients."""
        ops = keras.ops
        return ops.cond(
            record,
            lambda: [
                stack([ops.cast(v.value, "float32") for v in group], copy=True)
                for group in groups
            ],
            # Other shapes than the true branch's: nothing is allocated.
            lambda: [
                ops.zeros((0,) * (len(group[0].shape) + 1), "float32")
                for group in groups
            ],
        )

    def dense(self, gradient):
        return gradient

    def applied_gradients(self, optimizer, gradients, variables) -> list:
        """The gradients the optimizer applies, in the order of `variables`:
        inside `apply` the base optimizer divides them by its own
        `loss_scale_factor`, then clips them. Under `gradient_accumulation_steps`
        it clips their mean over the micro-batches instead, so each
        micro-batch's gradient is taken unclipped."""
        scale = getattr(optimizer, "loss_scale_factor", None)
        if scale is not None:
            gradients = [g if g is None else g / scale for g in gradients]
        if accumulates_gradients(optimizer):
            return list(gradients)
        return _private_api.clip_gradients(optimizer, gradients)
