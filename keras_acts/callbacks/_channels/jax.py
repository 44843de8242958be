"""The JAX record channel: records leave the compiled step through a host
callback (`jax.experimental.io_callback`)."""

from __future__ import annotations

from functools import partial

import jax
import numpy as np

from keras_acts.callbacks._channels import Channel as BaseChannel


class Channel(BaseChannel):
    def trace_key(self, monitor):
        # The period is a constant of the trace.
        return monitor.schedule.freq, monitor.histograms

    def recording_function(self, make_recording_function, plain_function):
        """A host callback anywhere in a compiled step slows every call of it
        (about 3 ms on CPU, even when it does not run), so blocks of steps
        that cannot record run the plain train function."""
        recording_function = make_recording_function()

        def train_function(state, iterator):
            if self.capture.monitor.next_block_may_record():
                return recording_function(state, iterator)
            return plain_function(state, iterator)

        return train_function

    def received(self):
        jax.effects_barrier()  # host callbacks of dispatched steps
        return super().received()

    def should_record(self, site, step):
        if self.capture.monitor.schedule.period:
            return super().should_record(site, step)
        # The flag is set on the host between epochs: ask for it.
        return jax.experimental.io_callback(
            lambda: np.array(site.pending), jax.ShapeDtypeStruct((), np.bool_)
        )

    def weights_before(self, record, groups, gradients):
        # The step's inputs: immutable arrays, alive anyway, so reading them
        # copies nothing (they are stacked only in the recording branch).
        return [[v.value for v in group] for group in groups]

    def emit(self, site, statistics, copies, step):
        jax.experimental.io_callback(
            partial(self.deliver, site), None, statistics, copies, step
        )
