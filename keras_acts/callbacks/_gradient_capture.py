"""The capture of the gradients that a model's optimizers apply.

One `GradientCapture` per model, kept on the model, owns what outlives a
single `fit`: the wrapped `apply` of each optimizer, the statistics computed
in the training step (`_gradient_statistics`), the record channel of the
backend, and the traced recording train functions. Monitors attach to it
with a `Request` each (a schedule, and the inbox where records go) for the
length of a `fit` (or of a custom training loop) and detach at the end, so
a later `fit`, monitored or not, reuses what was traced. Several monitors
share it: the channel records every step that one of them asks for, and
each gets the records of its own schedule.

The gradients recorded are the tensors that the training step hands to the
optimizer, not those of a second pass. While attached (during `fit`, only
for the length of each call of the recording train function), the `apply`
of each optimizer is wrapped (under mixed precision, that of the
`LossScaleOptimizer`'s inner optimizer, which receives the unscaled
gradients, and of the outer one, which alone sees a non-finite step), and
`fit` runs a recording train function. On a recorded step (decided in the
step, from `optimizer.iterations`) the wrapped `apply` keeps the weights from
before the update and computes the statistics on the device after it; other
steps run the plain `apply` and two untaken branches.

A subclassed model need not make its layers in the order it calls them (it
may make its head first), and the rows and the vanishing rule need the
order of the net: its first recording step also notes the order in which
the step first calls its layers. A Functional or Sequential model holds its
layers in that order already.
"""

from __future__ import annotations

import contextlib
import math
import threading
from typing import Any

import keras
import numpy as np

from keras_acts import _backends, _private_api
from keras_acts.callbacks._activation_layers import (
    holds_layers_in_call_order,
    layer_paths,
)
from keras_acts.callbacks._channel import Inbox, Request, accumulates_gradients
from keras_acts.callbacks._gradient_statistics import (
    NOT_MEASURED,
    STATISTICS_WIDTH,
    UPDATE_SQUARES,
    Site,
    VariableNames,
    innermost_holders,
    shape_groups,
)
from keras_acts.callbacks._schedule import Schedule

_NEXT = object()  # a freq="epoch" request waiting for its next record


def describe(request: Request) -> str:
    """The monitor that made `request`, for messages."""
    owner = request.owner
    if owner is None:
        return "another GradientMonitor"
    return f"another GradientMonitor (freq={owner.freq!r}, id {id(owner):#x})"


def names_of(optimizers) -> str:
    return ", ".join(f"{type(o).__name__} {o.name!r}" for o in optimizers)


def held_optimizers(model):
    """Each place where `model` holds an optimizer, as `(attribute, key,
    optimizer)`: `key` is None for the attribute itself, else the optimizer's
    index or key in the list, tuple or dict the attribute holds."""
    for name, value in list(vars(model).items()):
        if isinstance(value, keras.optimizers.Optimizer):
            yield name, None, value
        elif isinstance(value, (list, tuple, dict)):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in list(items):
                if isinstance(item, keras.optimizers.Optimizer):
                    yield name, key, item


def optimizers_of(model) -> list:
    """`model.optimizer` and the optimizers held as attributes of the model
    (or in lists, tuples and dicts of them), each once."""
    found = {}
    compiled = getattr(model, "optimizer", None)
    if isinstance(compiled, keras.optimizers.Optimizer):
        found[id(compiled)] = compiled
    for _, _, optimizer in held_optimizers(model):
        found.setdefault(id(optimizer), optimizer)
    inner = {
        id(o.inner_optimizer)
        for o in found.values()
        if isinstance(o, keras.optimizers.LossScaleOptimizer)
    }
    return [o for key, o in found.items() if key not in inner]


class GradientCapture:
    """Per model: the optimizers' `apply` wrapped, the recording train
    functions, and the channel that hands records to the host.

    Outside a recording step every wrapped method passes straight through,
    so a function traced without recording holds none of it.
    """

    ATTRIBUTE = "_keras_acts_gradient_capture"

    @classmethod
    def of(cls, model, optimizers: list, fit: Any = None) -> GradientCapture:
        """The model's capture, made anew when its optimizers changed; a
        ValueError if another monitor records the model with other
        optimizers at the same time (`fit`: the fit asking, or None for a
        custom loop)."""
        capture = _private_api.hidden(model, cls.ATTRIBUTE)
        if capture is None or [id(o) for o in capture.optimizers] != [
            id(o) for o in optimizers
        ]:
            if capture is not None:
                others = capture._live(fit)
                if others:
                    raise ValueError(
                        f"{describe(others[0])} is already recording model "
                        f"{model.name!r} through {names_of(capture.optimizers)}; "
                        "GradientMonitors that record one model at the same "
                        "time must watch the same optimizers. Give both the "
                        "same `optimizers` (GradientMonitor(optimizers=[...]) or "
                        f"attach(model, [...])). Received: {names_of(optimizers)}"
                    )
                capture.requests = []
                capture.detach()
            capture = cls(model, optimizers)
            _private_api.hide(model, cls.ATTRIBUTE, capture)
        return capture

    def __init__(self, model, optimizers: list) -> None:
        self.model = model
        self.optimizers = list(optimizers)
        self.channel = _backends.module("channel").Channel(self)
        self.names = VariableNames(model)
        self.sites: dict[tuple, Site] = {}
        # The requests of the monitors attached, and the one the channel
        # serves: all of them at once (`_combined`).
        self.requests: list[Request] = []
        self.request: Request | None = None
        self._epoch_next: dict[int, Any] = {}
        self.in_fit = False
        # True while the recording step runs (or is traced), and while a
        # custom loop is attached.
        self.recording = False
        self.ran_recording = False
        self.applies = 0  # calls of a wrapped apply while recording
        # Whether a recording train function run in this fit applied through
        # a watched optimizer, in any of its calls: a traced one applies in
        # its trace only, which an earlier fit may have run.
        self.fit_applies = False
        self._step_ran = False  # in the train function's current call
        self._functions: dict[Any, Any] = {}
        self._plain_function = None
        self._installed: list[tuple[Any, str, Any]] = []
        # While the order of the net is noted: the layers whose `call` notes
        # it ({id(layer): (layer, that noting call)}), the ranks of their
        # first calls ({id(layer): rank}), and the optimizers that have
        # applied since.
        self._noting: dict[int, tuple[Any, Any]] = {}
        self._first_calls: dict[int, int] = {}
        self._applied_while_noting: set[int] = set()
        self._recording_function = None
        self._armed = False
        self._lock = threading.Lock()

    # The monitors' requests.
    def _live(self, fit: Any) -> list[Request]:
        """The requests still attached for a caller in `fit` (None: a custom
        loop): those of another fit are of one that ended without
        on_train_end (an exception stopped it)."""
        return [r for r in self.requests if r.fit is None or r.fit is fit]

    def add(self, request: Request, in_fit: bool) -> None:
        """Attaches a monitor's request; several monitors share the capture,
        each recording on its own schedule."""
        live = self._live(request.fit)
        if live and any((r.fit is not None) != in_fit for r in live):
            other = live[0]
            raise ValueError(
                f"{describe(other)} is attached to a custom training loop of "
                f"model {self.model.name!r} (`attach`), so the model cannot be "
                "recorded in `fit` at the same time. Call fit outside the "
                "`with monitor.attach(...)` block."
                if other.fit is None
                else f"{describe(other)} is recording a fit of model "
                f"{self.model.name!r}; a custom loop cannot be attached to it "
                "at the same time."
            )
        self.collect()
        self.requests = [*live, request]
        self._epoch_next[id(request)] = _NEXT
        self._attach(self._combined(in_fit), in_fit)

    def remove(self, request: Request) -> None:
        """Detaches a monitor's request (the others go on recording)."""
        if not any(r is request for r in self.requests):
            return
        self.collect()
        self.requests = [r for r in self.requests if r is not request]
        self._epoch_next.pop(id(request), None)
        if self.requests:
            self._attach(self._combined(self.in_fit), self.in_fit)
        else:
            self.detach()

    def _combined(self, in_fit: bool) -> Request:
        """One request for the channel that records every step some monitor
        asks for: every gcd(freqs) steps, or each epoch's first step if all
        ask for that (every step of the blocks their host side picks if
        only some do, or if one has freq="auto")."""
        requests = list(self.requests)
        if all(r.schedule.per_epoch for r in requests):
            schedule = Schedule("epoch")
        else:
            # "epoch" mixed with others, and "auto", record every step of
            # the blocks that their host side runs the recording step for.
            schedule = Schedule(math.gcd(*(r.schedule.period or 1 for r in requests)))
        listeners = [r.inbox.listener for r in requests if r.inbox.listener]

        def after_block(interrupted=False):
            # Steps recorded for no monitor (the gcd's, or every step when
            # freq="epoch" is mixed with integers) are read too, so that
            # none waits where a later record would overwrite it.
            clock = requests[0].block_steps
            if len(requests) > 1 and clock is not None:
                due = None if schedule.per_epoch else schedule.first_due(*clock())
                if due is not None:
                    self.collect()
            for request in requests:
                request.after_block(interrupted)

        return Request(
            schedule,
            any(r.histograms for r in requests),
            Inbox(
                (lambda: [listener() for listener in listeners]) if listeners else None
            ),
            lambda: any(r.block_may_record() for r in requests),
            all(r.steps_predictable for r in requests),
            after_block,
            host_decides=all(r.host_decides for r in requests),
        )

    def collect(self) -> None:
        """Hands what reached the host to the monitors that asked for it."""
        if self.request is None:
            return
        self._learn_call_order()  # a step traced once (JAX) applies once
        for raw in self.channel.received():
            for request in self.requests:
                if self._wants(request, raw):
                    request.inbox.put_raw(raw)

    def received(self, request: Request) -> list:
        """The records for `request` that reached the host since the last
        call, by step."""
        self.collect()
        return request.inbox.take()

    def _wants(self, request: Request, raw) -> bool:
        schedule = request.schedule
        if schedule.auto:
            # Collected right after each block: the block it picked.
            return request.block_may_record()
        if not schedule.per_epoch:
            return raw.step % schedule.freq == 0
        if self.request.schedule.per_epoch:
            return True
        # Recorded for other monitors too: the first step after the epoch
        # began (at each of the optimizers that apply it).
        wanted = self._epoch_next.get(id(request))
        if wanted is _NEXT:
            self._epoch_next[id(request)] = raw.step
            return True
        return wanted == raw.step

    def request_records(self, request: Request) -> None:
        """With freq="epoch": `request` wants the next step recorded."""
        if self.request is not None and not self.request.schedule.per_epoch:
            self.collect()  # the steps before are not the one asked for
        self._epoch_next[id(request)] = _NEXT
        if self.request is not None and self.request.schedule.per_epoch:
            self.channel.request_records()

    def epoch_pending(self, request: Request) -> bool:
        """With freq="epoch": whether the next block may hold its record."""
        if self.request is not None and self.request.schedule.per_epoch:
            sites = self.sites.values()
            return not sites or any(site.pending for site in sites)
        return self._epoch_next.get(id(request)) is _NEXT

    # Attaching the requests.
    def _attach(self, request: Request, in_fit: bool) -> None:
        """Starts recording what `request` asks: during `fit` (`in_fit=True`)
        through the recording train function, otherwise (a custom loop) at
        every `apply` until `detach`.

        During `fit`, nothing stays wrapped between blocks of steps: `arm`
        (at each batch's begin) puts the recording train function on the
        model, and that function puts the wrapped `apply` and `train_step` on
        for the length of its own call, and the plain train function back
        when it returns or raises. A fit stopped by an exception (another
        callback's, a KeyboardInterrupt) thus leaves the model and its
        optimizers as they were, without `on_train_end`."""
        self.detach()
        self.request = request
        self.in_fit = in_fit
        self.ran_recording = False
        self.fit_applies = False
        self._armed = False
        self.channel.begin(request)
        model = self.model
        plain = model.train_function if in_fit else None
        if plain is not None and plain is not self._plain_function:
            # Compiled anew (compile() drops the train function): what was
            # traced and sized for the old one is stale.
            self._functions = {}
            self.sites = {}
            self._plain_function = plain
        for optimizer in self.optimizers:
            self._prepare_sites(optimizer)
        if not in_fit:
            self._wrap()
            self.recording = True
            return
        if plain is None:
            # Driven by hand: the step calls model.train_step itself, at any
            # time until detach.
            self._wrap()
            return
        key = self.channel.trace_key(request)
        if key not in self._functions:
            make_train_function = model.make_train_function

            def make_recording_function():
                make_train_function(force=True)
                return model.train_function

            # Made while wrapped: a trainer may take `train_step` when it
            # makes the function; the step is traced in the guarded call.
            with self._wrapped():
                recording = self.channel.recording_function(
                    make_recording_function, plain
                )
            model.train_function = plain
            self._functions[key] = self._guarded(recording, plain)
        self._recording_function = self._functions[key]

    def arm(self) -> None:
        """Before a block of steps of `fit`: the next call of the model's
        train function records."""
        if self.request is None or not self.in_fit:
            return
        function = getattr(self, "_recording_function", None)
        # A block that the host says records no step runs the plain
        # function, which costs nothing of the recording. Not on the host's
        # count of steps alone: it is wrong until a record shows it is.
        if function is not None and (
            not self.request.host_decides or self.request.block_may_record()
        ):
            self._armed = True
            self.model.train_function = function

    def _guarded(self, recording, plain):
        model = self.model
        ran = False
        # Whether the step applies through a watched optimizer, as its
        # Python said when it last ran: when traced (TensorFlow, JAX,
        # torch.compile), which later calls and fits reuse, or at every call
        # of a step run eagerly.
        step_applies = False

        def train_function(*args, **kwargs):
            nonlocal ran, step_applies
            if not self._armed or self.request is None:
                # Called outside a monitored fit (the fit that put it here
                # was stopped by an exception): the plain function.
                self.requests = []
                self.detach()
                return plain(*args, **kwargs)
            self._armed = False
            request = self.request
            applies_before = self.applies
            self._step_ran = False
            try:
                with self._wrapped():
                    logs = recording(*args, **kwargs)
            except BaseException:
                if not ran:
                    # Its first call (the trace, on TensorFlow) failed: what
                    # it made is half made, so the next fit makes it anew.
                    self._functions = {}
                    self.sites = {}
                # The records of the steps that ran are kept.
                try:
                    request.after_block(interrupted=True)
                except Exception:  # the step's own error is the one to see
                    pass
                raise
            finally:
                if model.train_function is train_function:
                    model.train_function = plain
            ran = True
            if self._step_ran:
                step_applies = self.applies != applies_before
            self.ran_recording = True
            self.fit_applies = self.fit_applies or step_applies
            request.after_block()
            return logs

        return train_function

    def _wrap(self) -> None:
        """Wraps the optimizers' `apply` and the model's `train_step`, until
        `detach` (or `_unwrap`)."""
        for optimizer in self.optimizers:
            self._wrap_optimizer(optimizer)
        if self.in_fit:
            train_step = self.model.train_step

            def recording_train_step(*args, **kwargs):
                self.ran_recording = True
                self._step_ran = True
                self.recording = True
                try:
                    return train_step(*args, **kwargs)
                finally:
                    self.recording = False

            self._install(self.model, "train_step", recording_train_step)
        if (
            not self.names.call_order_learned
            and not holds_layers_in_call_order(self.model)
            and self.channel.notes_calls()
        ):
            self._note_call_order()

    def _unwrap(self) -> None:
        self._learn_call_order()
        self._stop_noting()
        for owner, name, previous in reversed(self._installed):
            _private_api.uninstall(owner, name, previous)
        self._installed = []

    # The order of the net, for a subclassed model.
    def _note_call_order(self) -> None:
        """Puts on the model and each layer inside it a `call` that notes the
        order in which the step first calls the layers, until
        `_learn_call_order` takes it. A layer made in its parent's `build`,
        which runs in the parent's first call, is found by the parent's
        noting `call`."""
        self._first_calls = {}
        self._applied_while_noting = set()
        self._note([self.model, *(layer for _, layer in layer_paths(self.model))])

    def _note(self, layers) -> None:
        for layer in layers:
            if id(layer) not in self._noting:
                call = layer.call
                # Emptied when the noting stops: the call then passes
                # through, holding nothing of this capture.
                noter = [self]

                def noting_call(*args, _layer=layer, _call=call, _noter=noter, **kw):
                    if _noter and id(_layer) not in _noter[0]._first_calls:
                        capture = _noter[0]
                        capture._first_calls[id(_layer)] = len(capture._first_calls)
                        capture._note(sublayer for _, sublayer in layer_paths(_layer))
                    return _call(*args, **kw)

                previous = _private_api.install(layer, "call", noting_call)
                # What it notes for, and the call to put back after it.
                noting_call.noted = (noter, previous)
                self._noting[id(layer)] = (layer, noting_call)

    def _learn_call_order(self, optimizer=None) -> None:
        """Hands the order of the first calls to the names, and takes the
        noting `call`s off, once a whole step has run: when the wrapped step
        ends, or records are collected (no `optimizer`), after an apply, or
        when `optimizer` applies a second time (a custom loop's next step,
        run eagerly). A step that ran without calling them (traced before
        they were put on) leaves the order of the variables."""
        if not self._noting:  # learned: nothing on the step's hot path
            return
        with self._lock:
            if not self._noting:
                return
            applied = self._applied_while_noting
            if optimizer is not None and id(optimizer) not in applied:
                applied.add(id(optimizer))
                return
            if not applied:  # no step ran: the next one is noted
                return
            self.names.learn_call_order(self._call_ranks())
            self._stop_noting()

    def _call_ranks(self) -> dict[int, int]:
        """By variable id, the rank of the first call of the innermost layer
        holding it that was called: itself, or the nearest layer around it.
        Keras's fused LSTM and GRU (PyTorch, JAX, cuDNN) never call their
        cell, which holds the weights; the cell takes its RNN's place."""
        by_path = dict(layer_paths(self.model))
        ranks = {}
        for key, (_, variable_path) in innermost_holders(self.model).items():
            path = variable_path.rpartition("/")[0]
            while path:
                holder = by_path[path]
                if id(holder) in self._first_calls:
                    ranks[key] = self._first_calls[id(holder)]
                    break
                path = path.rpartition("/")[0]
        return ranks

    def _stop_noting(self) -> None:
        for layer, noting_call in self._noting.values():
            noter, previous = noting_call.noted
            noter.clear()
            # Another capture noting a layer that its model shares with this
            # one may have put its own call over this one: it takes this one
            # off too when it stops, and this one passes through until then.
            if vars(layer).get("call") is noting_call:
                while not getattr(previous, "noted", (True,))[0]:
                    previous = previous.noted[1]  # another capture's, stopped
                _private_api.uninstall(layer, "call", previous)
        self._noting = {}

    @contextlib.contextmanager
    def _wrapped(self):
        self._wrap()
        try:
            yield
        finally:
            self._unwrap()

    def detach(self) -> None:
        """Restores the optimizers and the model's plain train function."""
        self._unwrap()
        self._armed = False
        self._recording_function = None
        if self._plain_function is not None and any(
            self.model.train_function is f for f in self._functions.values()
        ):
            self.model.train_function = self._plain_function
        self.recording = False
        self.request = None
        self.channel.release()

    def _install(self, owner, name: str, replacement) -> None:
        previous = _private_api.install(owner, name, replacement)
        self._installed.append((owner, name, previous))

    def _wrap_optimizer(self, optimizer) -> None:
        recording = optimizer
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            recording = optimizer.inner_optimizer
            self._install(
                optimizer, "apply", self._skipped_apply(optimizer, optimizer.apply)
            )
            self._install(
                optimizer,
                "stateless_apply",
                self._skipped_stateless_apply(optimizer, optimizer.stateless_apply),
            )
        self._install(recording, "apply", self._recording_apply(recording))
        self.channel.wrap_optimizer(recording, self._install)

    def _prepare_sites(self, optimizer) -> None:
        """Makes the sites the step will most likely use now, outside any
        trace: TensorFlow traces twice a first trace that makes variables.
        A site the step uses otherwise is made when it is traced."""
        if optimizer.built:
            variables = _private_api.optimizer_variables(optimizer)
        elif optimizer is getattr(self.model, "optimizer", None):
            # What Keras's train_step will build it with and apply to.
            variables = list(self.model.trainable_variables)
        else:
            return
        if not variables:
            return
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            self._site("skipped", optimizer, variables)
            optimizer = optimizer.inner_optimizer
        self._site("apply", optimizer, variables)

    # The step side: runs inside the traced (TensorFlow, JAX) or eager
    # (PyTorch) training step, in keras.ops.
    def _site(self, kind: str, optimizer, variables: list) -> Site:
        key = (kind, id(optimizer), tuple(id(v) for v in variables))
        # Under a tf.distribute strategy each replica traces the step in a
        # thread of its own.
        with self._lock:
            site = self.sites.get(key)
            if site is None:
                site = Site(
                    index=len(self.sites),
                    kind=kind,
                    optimizer=optimizer,
                    variables=variables,
                    variable_indices=np.array(
                        [self.names.index_of(v) for v in variables], dtype=int
                    ),
                    groups=shape_groups(variables),
                    pending=self.request.schedule.per_epoch,
                )
                self.sites[key] = site
        self.channel.add_site(site)
        return site

    def _recording_apply(self, optimizer):
        original_apply = optimizer.apply
        ops = keras.ops

        def apply(grads, trainable_variables=None):
            if not self.recording or not len(grads):
                return original_apply(grads, trainable_variables)
            self.applies += 1
            self._learn_call_order(optimizer)
            if trainable_variables is None:
                if not optimizer.built:  # apply raises a clear error
                    return original_apply(grads, trainable_variables)
                # What Keras itself applies to.
                variables = _private_api.optimizer_variables(optimizer)
            else:
                variables = list(trainable_variables)
            grads = list(grads)
            site = self._site("apply", optimizer, variables)
            # A copy: apply increments the variable in place.
            step = ops.copy(optimizer.iterations)
            record = self.channel.should_record(site, step)
            grouped = [[variables[p] for p in group] for group in site.groups]
            before = self.channel.weights_before(
                site,
                record,
                grouped,
                [[grads[p] for p in group] for group in site.groups],
            )
            original_apply(grads, trainable_variables)

            def store():
                applied = self.channel.applied_gradients(optimizer, grads, variables)
                after = [[v.value for v in group] for group in grouped]
                moved = None
                if accumulates_gradients(optimizer):
                    # Its iterations count the micro-batches that update.
                    moved = ops.greater(optimizer.iterations, step)
                return self._emit(site, applied, before, after, step, moved)

            self.channel.record_if(record, site, step, store)

        return apply

    def _emit(self, site: Site, gradients, before, after, step, moved=None):
        """Emits a record; `moved`, where given, says whether the update
        moved the weights: a micro-batch that only accumulates its gradient
        has no update to measure (a ratio of 0 would read as a stall)."""
        gradients = [None if g is None else self.channel.dense(g) for g in gradients]
        statistics, copies = self.channel.statistics(site, gradients, before, after)
        if moved is not None:
            measured = np.arange(STATISTICS_WIDTH) != UPDATE_SQUARES
            statistics = keras.ops.where(
                keras.ops.logical_or(moved, measured), statistics, NOT_MEASURED
            )
        return self.channel.emit(
            site, statistics, copies if self.request.histograms else None, step
        )

    def _record_if_skipped(self, loss_scale_optimizer, grads, variables) -> None:
        """Records a step that the LossScaleOptimizer skips for a gradient
        that is not finite at a loss scale of 1 or less: the inner
        optimizer's apply never sees it. At a larger scale a non-finite
        gradient is the scaled one overflowing, which the optimizer answers
        by halving the scale (the first steps of most mixed-precision fits):
        nothing is wrong and nothing is applied, so nothing is recorded. A
        gradient that stays non-finite (NaN in the data) is recorded once
        the halving has brought the scale down to 1."""
        ops = keras.ops
        site = self._site("skipped", loss_scale_optimizer, variables)
        step = ops.copy(loss_scale_optimizer.iterations)
        scale = ops.cast(loss_scale_optimizer.dynamic_scale, "float32")
        finite = ops.all(
            ops.stack([ops.all(ops.isfinite(g)) for g in grads if g is not None])
        )

        def store():
            unscaled = [
                None
                if g is None
                else ops.cast(self.channel.dense(g), "float32") / scale
                for g in grads
            ]
            before = [[variables[p].value for p in group] for group in site.groups]
            return self._emit(site, unscaled, before, None, step)

        record = ops.logical_and(
            self.channel.should_record(site, step),
            ops.logical_and(ops.logical_not(finite), ops.less_equal(scale, 1.0)),
        )
        self.channel.record_if(record, site, step, store)

    def _skipped_apply(self, loss_scale_optimizer, original_apply):
        def apply(grads, trainable_variables=None):
            if self.recording and len(grads):
                self.applies += 1  # applied, or skipped for an overflow
                if trainable_variables is not None:
                    # Built now rather than in apply, so that the first trace
                    # creates the site's variables, as TensorFlow requires.
                    if not loss_scale_optimizer.built:
                        loss_scale_optimizer.build(trainable_variables)
                    variables = list(trainable_variables)
                elif loss_scale_optimizer.built:
                    variables = _private_api.optimizer_variables(loss_scale_optimizer)
                else:  # apply raises a clear error
                    return original_apply(grads, trainable_variables)
                self._record_if_skipped(loss_scale_optimizer, list(grads), variables)
            return original_apply(grads, trainable_variables)

        return apply

    def _skipped_stateless_apply(self, loss_scale_optimizer, original):
        # The JAX trainer calls stateless_apply, which skips apply on a
        # non-finite step.
        def stateless_apply(optimizer_variables, grads, trainable_variables):
            if not self.recording:
                return original(optimizer_variables, grads, trainable_variables)
            self.applies += 1  # applied, or skipped for an overflow
            variables = _private_api.optimizer_variables(loss_scale_optimizer)
            mapping = [
                *zip(variables, trainable_variables, strict=True),
                *zip(loss_scale_optimizer.variables, optimizer_variables, strict=True),
            ]
            with keras.StatelessScope(state_mapping=mapping):
                self._record_if_skipped(loss_scale_optimizer, list(grads), variables)
            return original(optimizer_variables, grads, trainable_variables)

        return stateless_apply
