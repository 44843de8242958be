"""The TensorFlow record channel: records are stored in variables that the
host reads after each block of steps, which works under XLA and
`tf.distribute` strategies, where host callbacks do not."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from keras_acts import _private_api
from keras_acts.callbacks._channel import Channel as BaseChannel
from keras_acts.callbacks._channel import RawRecord, accumulates_gradients
from keras_acts.callbacks._gradient_collection import WAITING_RECORDS
from keras_acts.callbacks._gradient_statistics import STATISTICS_WIDTH


def _replica_local(initial_value, name: str) -> tf.Variable:
    """A variable that every replica writes without a cross-replica call (not
    allowed inside the recording tf.cond) and that the host reads from the
    first replica."""
    return tf.Variable(
        initial_value,
        trainable=False,
        name=name,
        synchronization=tf.VariableSynchronization.ON_READ,
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
    )


@dataclass(eq=False)
class _Slots:
    """A site's last `len(steps)` records: a ring written by the step."""

    statistics: tf.Variable  # (slots, variables, 5)
    steps: tf.Variable  # (slots,)
    order: tf.Variable  # (slots,): when each was written, across sites
    count: tf.Variable  # records written so far
    pending: tf.Variable  # with freq="epoch": record the next step
    copies: list | None = None  # the last recorded gradients, for histograms
    seen: int = 0  # records the host has read


class Channel(BaseChannel):
    def __init__(self, capture) -> None:
        super().__init__(capture)
        self._strategy = capture.model.distribute_strategy
        self._replicated = self._strategy.num_replicas_in_sync > 1
        if self._replicated:
            # A worker's replicas have consecutive ids.
            self._local_replicas = len(self._strategy.extended.worker_devices)
        self._reduced = threading.local()
        with self._strategy.scope():
            self._period = tf.Variable(0, dtype=tf.int64, trainable=False)
            self._written = _replica_local(tf.constant(0, tf.int64), "records")

    # Host side.
    def begin(self, request) -> None:
        super().begin(request)
        self._check_strategy()
        self._period.assign(request.schedule.period)

    def _check_strategy(self) -> None:
        if not self._replicated:
            return
        for optimizer in self.capture.optimizers:
            if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
                optimizer = optimizer.inner_optimizer
            unsupported = None
            if accumulates_gradients(optimizer):
                # Keras itself fails there: its all-reduce runs in a tf.cond.
                unsupported = "gradient_accumulation_steps"
            else:
                try:
                    _private_api.all_reduce_sum_gradients(optimizer)
                except RuntimeError:
                    unsupported = (
                        f"this Keras version's {type(optimizer).__name__}, which "
                        "has no _all_reduce_sum_gradients step to read the "
                        "reduced gradients from"
                    )
            if unsupported:
                raise ValueError(
                    "GradientMonitor records the gradient summed across "
                    f"replicas, which it cannot do with {unsupported}. Received "
                    "a strategy with num_replicas_in_sync="
                    f"{self._strategy.num_replicas_in_sync}."
                )

    def add_site(self, site) -> None:
        if self._replicated and not tf.distribute.in_cross_replica_context():
            # Every replica traces this; variables are made once, in a
            # cross-replica call that all of them reach.
            tf.distribute.get_replica_context().merge_call(
                lambda _: self._create_storage(site)
            )
        else:
            self._create_storage(site)

    def _create_storage(self, site) -> None:
        histograms = self.request.histograms
        if site.storage is not None and (
            site.storage.copies is not None or not histograms
        ):
            return
        # Room for twice what may wait unread: a step that applies more than
        # once per batch (or a host that reads late) overwrites nothing at
        # once.
        steps = int(getattr(self.capture.model, "steps_per_execution", 1) or 1)
        slots = 2 * max(steps, WAITING_RECORDS)
        try:
            self._create_variables(site, slots, histograms)
        except ValueError as error:
            if "tf.function only supports singleton" not in str(error):
                raise
            raise ValueError(
                "GradientMonitor makes its record variables where the training "
                f"step first applies gradients through {site.optimizer.name!r}, "
                "which must be in the first trace of the step; here it was in "
                "a later one (the first applied no gradients). Build the model "
                "and its optimizers before fit (optimizer.build(variables))."
            ) from error

    def _create_variables(self, site, slots: int, histograms: bool) -> None:
        with tf.init_scope(), self._strategy.scope():
            if site.storage is None:
                site.storage = _Slots(
                    statistics=_replica_local(
                        tf.zeros((slots, len(site.variables), STATISTICS_WIDTH)),
                        "gradient_statistics",
                    ),
                    steps=_replica_local(tf.zeros((slots,), tf.int64), "record_steps"),
                    order=_replica_local(tf.zeros((slots,), tf.int64), "record_order"),
                    count=_replica_local(tf.constant(0, tf.int64), "record_count"),
                    pending=_replica_local(tf.constant(site.pending), "record_pending"),
                )
            if histograms and site.storage.copies is None:
                site.storage.copies = [
                    _replica_local(tf.zeros(v.shape, tf.float32), "gradient_copy")
                    for v in site.variables
                ]

    def request_records(self) -> None:
        super().request_records()
        for site in self.capture.sites.values():
            site.storage.pending.assign(True)

    def wrap_optimizer(self, optimizer, install) -> None:
        if self._replicated:
            install(
                optimizer,
                _private_api.ALL_REDUCE_SUM_GRADIENTS,
                self._capturing_all_reduce(
                    _private_api.all_reduce_sum_gradients(optimizer)
                ),
            )

    def received(self):
        records = []
        for site in self.capture.sites.values():
            slots = site.storage
            count = int(slots.count.numpy())
            if count == slots.seen:
                continue
            size = slots.steps.shape[0]
            first = max(slots.seen, count - size)
            self.lost_records += first - slots.seen
            slots.seen = count
            site.pending = False
            statistics = slots.statistics.numpy().astype(np.float64)
            steps, order = slots.steps.numpy(), slots.order.numpy()
            copies = None
            if slots.copies is not None:
                copies = [np.asarray(c.numpy()) for c in slots.copies]
            for written in range(first, count):
                slot = written % size
                # Only the last record of a block keeps its gradient copies.
                records.append(
                    (
                        order[slot],
                        RawRecord(
                            site,
                            int(steps[slot]),
                            statistics[slot],
                            copies if written == count - 1 else None,
                        ),
                    )
                )
        records.sort(key=lambda pair: pair[0])
        # Eagerly run steps (run_eagerly=True) deliver directly.
        return super().received() + [record for _, record in records]

    # Step side.
    def should_record(self, site, step):
        step = tf.cast(step, tf.int64)
        period = self._period.read_value()
        due = tf.cond(
            period > 0,
            lambda: tf.equal(tf.math.floormod(step, tf.maximum(period, 1)), 0),
            lambda: site.storage.pending.read_value(),
        )
        if self._replicated:
            return tf.logical_and(due, self._is_read_replica())
        return due

    def _is_read_replica(self):
        """Whether this replica's records are the ones the host reads.

        Every replica would compute the same statistics from the reduced
        gradients; only each worker's first replica does, since the host
        reads its copy of the replica-local variables.
        """
        replica_id = tf.distribute.get_replica_context().replica_id_in_sync_group
        return tf.equal(tf.math.floormod(replica_id, self._local_replicas), 0)

    def emit(self, site, statistics, copies, step) -> None:
        if tf.executing_eagerly():
            self.deliver(site, statistics, copies, step)
        elif not self.capture.in_fit:
            # A custom loop's traced step: no batch hook reads the variables.
            def deliver(statistics, step, *copies):
                self.deliver(site, statistics, list(copies) or None, step)
                return np.int64(0)

            tf.numpy_function(
                deliver, [statistics, step, *(copies or [])], Tout=tf.int64
            )
        else:
            self._store(site, statistics, copies, step)

    def _store(self, site, statistics, copies, step) -> None:
        slots = site.storage
        count = slots.count.read_value()
        slot = tf.reshape(tf.math.floormod(count, slots.steps.shape[0]), (1, 1))
        written = self._written.read_value()
        for variable, value in (
            (slots.statistics, statistics),
            (slots.steps, tf.cast(step, tf.int64)),
            (slots.order, written),
        ):
            variable.assign(
                tf.tensor_scatter_nd_update(variable.read_value(), slot, value[None])
            )
        self._written.assign(written + 1)
        slots.count.assign(count + 1)
        slots.pending.assign(False)
        if copies is not None:
            for variable, copy in zip(slots.copies, copies, strict=True):
                variable.assign(copy)

    def weights_before(self, site, record, groups, gradients):
        if not getattr(self.capture.model, "jit_compile", False):
            return super().weights_before(site, record, groups, gradients)

        # XLA needs both branches to return the same shapes. Each variable's
        # stand-in is its gradient, a tensor of its shape that is alive
        # anyway, so unrecorded steps allocate nothing.
        def copies():
            return [[tf.identity(v.value) for v in group] for group in groups]

        def stand_ins():
            return [
                [
                    g
                    if isinstance(g, tf.Tensor) and g.dtype == v.dtype
                    else tf.zeros(v.shape, v.dtype)
                    for g, v in zip(group_gradients, group, strict=True)
                ]
                for group, group_gradients in zip(groups, gradients, strict=True)
            ]

        return tf.cond(record, copies, stand_ins)

    def dense(self, gradient):
        if isinstance(gradient, tf.IndexedSlices):  # Embedding
            return tf.convert_to_tensor(gradient)
        return gradient

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

    def applied_gradients(self, optimizer, gradients, variables) -> list:
        if not self._replicated:
            return super().applied_gradients(optimizer, gradients, variables)
        # Already unscaled and clipped, paired with each variable's backing
        # tf.Variable; variables without a gradient are absent.
        by_variable = {id(var): gradient for gradient, var in self._reduced.pairs}
        return [by_variable.get(id(v.value)) for v in variables]
