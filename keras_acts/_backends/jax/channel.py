"""The JAX record channel: `fit`'s compiled recording step returns its
records as extra outputs, arrays that stay on the device until the host
fetches them, in one transfer, after the block of steps. Elsewhere (a
custom loop's `jax.jit`, `run_eagerly`, `jit_compile=False`, histograms)
records leave the step through a `jax.experimental.io_callback`."""

from __future__ import annotations

from functools import partial

import jax
import keras
import numpy as np

from keras_acts import _private_api
from keras_acts.callbacks._channel import Channel as BaseChannel
from keras_acts.callbacks._gradient_statistics import STATISTICS_WIDTH


class Channel(BaseChannel):
    def __init__(self, capture) -> None:
        super().__init__(capture)
        # While the recording step is traced: per site index, the
        # (recorded, statistics, step) of each of its applies in the step,
        # and the step's own trace (outputs can only leave from there).
        self._outputs: dict | None = None
        self._trace = None
        self._returning = False  # in record_if's branch that returns them
        # The outputs of dispatched steps, not yet fetched.
        self._dispatched: list[dict] = []

    def begin(self, request) -> None:
        super().begin(request)
        self._dispatched = []  # of a fit that ended without on_train_end

    def trace_key(self, request):
        # The period is a constant of the trace.
        return request.schedule.freq, request.histograms

    def recording_function(self, make_recording_function, plain_function):
        """A host callback anywhere in a compiled step slows every call of it
        (about 3 ms on CPU, even when it does not run), so the compiled step
        returns its records instead, and blocks of steps that cannot record
        run the plain train function."""
        recording_function = self._recording(make_recording_function)

        def train_function(state, iterator):
            if self.request.block_may_record():
                return recording_function(state, iterator)
            return plain_function(state, iterator)

        return train_function

    def _recording(self, make_recording_function):
        model = self.capture.model
        if model.run_eagerly or not model.jit_compile or self.request.histograms:
            return make_recording_function()  # records through host callbacks
        return self._returning_function(model)

    def _returning_function(self, model):
        """Keras's train function, with a step that also returns the records
        (compiled as Keras compiles its own)."""
        out_shardings = None
        if keras.distribution.distribution() is not None:
            out_shardings = (None, _private_api.jax_state_sharding_spec(model), None)

        def step(state, data):
            self._outputs = {}
            self._trace = _private_api.jax_trace_state()
            try:
                # The recording train_step that the capture installed.
                logs, state = model.train_step(state, data)
                outputs = self._outputs
            finally:
                self._outputs = self._trace = None
            return logs, state, outputs

        compiled = jax.jit(step, donate_argnums=0, out_shardings=out_shardings)

        def step_function(state, data):
            logs, state, outputs = compiled(state, data)
            if outputs:
                self._dispatched.append(outputs)
            return logs, state

        return _private_api.make_jax_train_function(model, step_function)

    def received(self):
        if self._dispatched:
            fetched, self._dispatched = jax.device_get(self._dispatched), []
            sites = {site.index: site for site in self.capture.sites.values()}
            for outputs in fetched:
                for index, applies in outputs.items():
                    for recorded, statistics, step in applies:
                        if recorded:
                            self.deliver(sites[index], statistics, None, step)
        jax.effects_barrier()  # host callbacks of dispatched steps
        return super().received()

    def should_record(self, site, step):
        if self.request.schedule.period:
            return super().should_record(site, step)
        # The flag is set on the host between epochs: ask for it.
        return jax.experimental.io_callback(
            lambda: np.array(site.pending), jax.ShapeDtypeStruct((), np.bool_)
        )

    def weights_before(self, site, record, groups, gradients):
        # The step's inputs: immutable arrays, alive anyway, so reading them
        # copies nothing (they are stacked only in the recording branch).
        return [[v.value for v in group] for group in groups]

    def _returns_records(self) -> bool:
        """Whether a record made here can be returned by the step: not
        inside a nested trace, such as the `cond` in which a
        LossScaleOptimizer applies finite steps."""
        return (
            self._outputs is not None and _private_api.jax_trace_state() == self._trace
        )

    def record_if(self, record, site, step, store) -> None:
        if not self._returns_records():
            return super().record_if(record, site, step, store)
        self._returning = True
        try:
            statistics = jax.lax.cond(
                record,
                store,
                lambda: jax.numpy.zeros((len(site.variables), STATISTICS_WIDTH)),
            )
        finally:
            self._returning = False
        self._outputs.setdefault(site.index, []).append((record, statistics, step))

    def emit(self, site, statistics, copies, step):
        if self._returning:
            return statistics  # returned by the step (record_if)
        jax.experimental.io_callback(
            partial(self.deliver, site), None, statistics, copies, step
        )
