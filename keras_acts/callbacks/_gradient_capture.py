"""The capture of the gradients that a model's optimizers apply.

One `GradientCapture` per model, kept on the model, owns what outlives a
single `fit`: the wrapped `apply` of each optimizer, the statistics computed
in the training step (in `keras.ops`), the record channel of the backend, and
the traced recording train functions. A monitor attaches to it for the length
of a `fit` (or of a custom training loop) and detaches at the end, so a later
`fit`, monitored or not, reuses what was traced.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

# Columns of the statistics computed on the device, one row per variable.
SUM_SQUARES, SUM_ABS, MAX_ABS, WEIGHT_SQUARES, UPDATE_SQUARES = range(5)
STATISTICS_WIDTH = 5
NOT_MEASURED = -1.0  # the update of a step that the optimizer skipped


class VariableNames:
    """Paths, layers and sizes of the variables the capture has seen, in the
    order it first saw them; a record refers to variables by index here."""

    def __init__(self, model_name: str) -> None:
        self._prefix = f"{model_name}/"
        self.paths: list[str] = []
        self.layers: list[str] = []
        self.names: list[str] = []
        self.sizes: list[int] = []
        self._index: dict[int, int] = {}

    def index_of(self, variable) -> int:
        key = id(variable)
        if key not in self._index:
            path = variable.path
            if path.startswith(self._prefix):
                path = path[len(self._prefix) :]
            layer, _, name = path.rpartition("/")
            self._index[key] = len(self.paths)
            self.paths.append(path)
            self.layers.append(layer or name)
            self.names.append(name)
            self.sizes.append(int(np.prod(variable.shape)))
        return self._index[key]


@dataclass(eq=False)
class Site:
    """One place in the training step where gradients are applied: an
    optimizer's `apply` on a list of variables (`kind="apply"`), or a
    LossScaleOptimizer's check that skips a non-finite step
    (`kind="skipped"`)."""

    index: int
    kind: str
    optimizer: Any  # whose `iterations` numbers the steps
    variables: list
    variable_indices: np.ndarray
    groups: list[list[int]] = field(default_factory=list)  # by shape
    storage: Any = None  # the channel's, e.g. TensorFlow variables
    pending: bool = False  # with freq="epoch": record this site's next step
    extra: dict = field(default_factory=dict)


def optimizers_of(model) -> list:
    """`model.optimizer` and the optimizers held as attributes of the model
    (or in lists, tuples and dicts of them), each once."""
    found = {}

    def visit(value):
        if isinstance(value, keras.optimizers.Optimizer):
            found.setdefault(id(value), value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, keras.optimizers.Optimizer):
                    found.setdefault(id(item), item)
        elif isinstance(value, dict):
            visit(list(value.values()))

    visit(getattr(model, "optimizer", None))
    for value in vars(model).values():
        visit(value)
    inner = {
        id(o.inner_optimizer)
        for o in found.values()
        if isinstance(o, keras.optimizers.LossScaleOptimizer)
    }
    return [o for key, o in found.items() if key not in inner]


# Variables of at least this many elements are reduced one by one: stacking
# them would copy much memory to save few ops.
LARGE_VARIABLE = 2**16


def shape_groups(variables: list) -> list[list[int]]:
    """The positions of `variables`, grouped by shape, in order; a large
    variable is a group of its own."""
    groups: dict[tuple, list[int]] = {}
    for position, variable in enumerate(variables):
        shape = tuple(variable.shape)
        key = ("alone", position) if np.prod(shape) >= LARGE_VARIABLE else shape
        groups.setdefault(key, []).append(position)
    return list(groups.values())


def stack(tensors: list, copy: bool = False):
    """`keras.ops.stack`, without a copy for a single tensor unless `copy`
    (PyTorch's expand_dims is a view, which an in-place update changes)."""
    if len(tensors) == 1:
        single = keras.ops.expand_dims(tensors[0], 0)
        return keras.ops.copy(single) if copy else single
    return keras.ops.stack(tensors)


def _sums_of_squares(rows):
    # Not an einsum: on TensorFlow's CPU kernels that is 7x slower.
    return keras.ops.sum(keras.ops.square(rows), axis=1)


def gradient_statistics(groups, shapes, gradients, before, after):
    """One (variables, 5) float32 tensor of statistics, and the float32
    gradients, both in the order of the variables.

    Variables of one shape are stacked and reduced together (`groups`, from
    `shape_groups`; `shapes` are the variables' shapes): a model's variables
    come in few shapes (a stack of 300 `Dense(8)` layers in two), so the
    traced step holds a few dozen reductions rather than a dozen per
    variable, which is what tracing time and memory grow with. `before`
    holds, per group, the weights before the update, stacked or as a list;
    `after` the weights after it, as a list per group, or None for a step
    that was skipped. A variable without a
    gradient counts as a zero gradient.
    """
    ops = keras.ops
    copies = [None if g is None else ops.cast(g, "float32") for g in gradients]
    tables = []
    for index, positions in enumerate(groups):
        weight = before[index]
        if isinstance(weight, list):
            weight = stack([ops.cast(w, "float32") for w in weight])
        for position in positions:
            if copies[position] is None:
                copies[position] = ops.zeros(shapes[position], "float32")
        count = len(positions)
        gradient = ops.reshape(stack([copies[p] for p in positions]), (count, -1))
        weight = ops.reshape(weight, (count, -1))
        magnitude = ops.abs(gradient)
        if after is None:
            update_squares = ops.full((count,), NOT_MEASURED, "float32")
        else:
            weight_after = stack([ops.cast(w, "float32") for w in after[index]])
            update = ops.reshape(weight_after, (count, -1)) - weight
            update_squares = _sums_of_squares(update)
        tables.append(
            ops.stack(
                [
                    _sums_of_squares(gradient),
                    ops.sum(magnitude, axis=1),
                    ops.max(magnitude, axis=1),
                    _sums_of_squares(weight),
                    update_squares,
                ],
                axis=1,
            )
        )
    table = tables[0] if len(tables) == 1 else ops.concatenate(tables, axis=0)
    order = [position for positions in groups for position in positions]
    if order != sorted(order):
        table = ops.take(table, np.argsort(order), axis=0)
    return table, copies


class GradientCapture:
    """Per model: the optimizers' `apply` wrapped, the recording train
    functions, and the channel that hands records to the host.

    Outside a recording step every wrapped method passes straight through,
    so a function traced without recording holds none of it.
    """

    ATTRIBUTE = "_keras_acts_gradient_capture"

    @classmethod
    def of(cls, model, optimizers: list) -> GradientCapture:
        """The model's capture, made anew when its optimizers changed."""
        capture = vars(model).get(cls.ATTRIBUTE)
        if capture is None or [id(o) for o in capture.optimizers] != [
            id(o) for o in optimizers
        ]:
            if capture is not None:
                capture.detach()
            capture = cls(model, optimizers)
            # object.__setattr__ keeps Keras's attribute tracking (and saving)
            # out of it.
            object.__setattr__(model, cls.ATTRIBUTE, capture)
        return capture

    def __init__(self, model, optimizers: list) -> None:
        self.model = model
        self.optimizers = list(optimizers)
        backend = keras.backend.backend()
        try:
            module = importlib.import_module(
                f"keras_acts.callbacks._channels.{backend}"
            )
        except ImportError as error:
            raise ValueError(
                "GradientMonitor supports the tensorflow, jax and torch backends. "
                f"Received: backend={backend!r}"
            ) from error
        self.channel = module.Channel(self)
        self.names = VariableNames(model.name)
        self.sites: dict[tuple, Site] = {}
        self.monitor = None
        self.in_fit = False
        # True while the recording step runs (or is traced), and while a
        # custom loop is attached.
        self.recording = False
        self.ran_recording = False
        self._functions: dict[Any, Any] = {}
        self._plain_function = None
        self._installed: list[tuple[Any, str]] = []
        self._lock = threading.Lock()

    # Attaching a monitor.
    def attach(self, monitor, in_fit: bool) -> None:
        """Starts recording for `monitor`: during `fit` (`in_fit=True`) through
        the recording train function, otherwise (a custom loop) at every
        `apply` until `detach`."""
        self.detach()
        self.monitor = monitor
        self.in_fit = in_fit
        self.ran_recording = False
        self.channel.begin(monitor)
        model = self.model
        plain = model.train_function if in_fit else None
        if plain is not None and plain is not self._plain_function:
            # Compiled anew (compile() drops the train function): what was
            # traced and sized for the old one is stale.
            self._functions = {}
            self.sites = {}
            self._plain_function = plain
        for optimizer in self.optimizers:
            self._wrap_optimizer(optimizer)
            self._prepare_sites(optimizer)
        if not in_fit:
            self.recording = True
            return
        train_step = model.train_step
        make_train_function = model.make_train_function

        def recording_train_step(*args, **kwargs):
            self.ran_recording = True
            self.recording = True
            try:
                return train_step(*args, **kwargs)
            finally:
                self.recording = False

        def cleaning_make_train_function(force=False):
            # Only a fit that ended without on_train_end (an exception, an
            # interrupt) gets here with the monitor still attached.
            self.detach()
            return model.make_train_function(force=force)

        self._install(model, "train_step", recording_train_step)
        self._install(model, "make_train_function", cleaning_make_train_function)
        if plain is None:
            return  # driven by hand: the step calls model.train_step itself
        key = self.channel.trace_key(monitor)
        if key not in self._functions:

            def make_recording_function():
                make_train_function(force=True)
                return model.train_function

            self._functions[key] = self.channel.recording_function(
                make_recording_function, plain
            )
        model.train_function = self._functions[key]

    def detach(self) -> None:
        """Restores the optimizers and the model's plain train function."""
        for owner, name in reversed(self._installed):
            vars(owner).pop(name, None)
        self._installed = []
        if self._plain_function is not None and any(
            self.model.train_function is f for f in self._functions.values()
        ):
            self.model.train_function = self._plain_function
        self.recording = False
        self.monitor = None

    @contextlib.contextmanager
    def recording_scope(self) -> Iterator[None]:
        previous, self.recording = self.recording, True
        try:
            yield
        finally:
            self.recording = previous

    def _install(self, owner, name: str, replacement) -> None:
        # An instance attribute shadows the class's method; removing it
        # restores the method.
        object.__setattr__(owner, name, replacement)
        self._installed.append((owner, name))

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
            variables = list(optimizer._trainable_variables)
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
                    pending=self.monitor.schedule.per_epoch,
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
            if trainable_variables is None:
                if not optimizer.built:  # apply raises a clear error
                    return original_apply(grads, trainable_variables)
                # What Keras itself applies to.
                variables = list(optimizer._trainable_variables)
            else:
                variables = list(trainable_variables)
            grads = list(grads)
            site = self._site("apply", optimizer, variables)
            # A copy: apply increments the variable in place.
            step = ops.copy(optimizer.iterations)
            record = self.channel.should_record(site, step)
            grouped = [[variables[p] for p in group] for group in site.groups]
            before = self.channel.weights_before(
                record, grouped, [[grads[p] for p in group] for group in site.groups]
            )
            original_apply(grads, trainable_variables)

            def store():
                applied = self.channel.applied_gradients(optimizer, grads, variables)
                after = [[v.value for v in group] for group in grouped]
                return self._emit(site, applied, before, after, step)

            self.channel.record_if(record, site, step, store)

        return apply

    def _emit(self, site: Site, gradients, before, after, step):
        gradients = [None if g is None else self.channel.dense(g) for g in gradients]
        statistics, copies = self.channel.statistics(site, gradients, before, after)
        return self.channel.emit(
            site, statistics, copies if self.monitor.histograms else None, step
        )

    def _record_if_skipped(self, loss_scale_optimizer, grads, variables) -> None:
        """Records a step that the LossScaleOptimizer skips for a non-finite
        gradient: the inner optimizer's apply never sees it."""
        ops = keras.ops
        site = self._site("skipped", loss_scale_optimizer, variables)
        step = ops.copy(loss_scale_optimizer.iterations)
        finite = ops.all(
            ops.stack([ops.all(ops.isfinite(g)) for g in grads if g is not None])
        )

        def store():
            scale = ops.cast(loss_scale_optimizer.dynamic_scale, "float32")
            unscaled = [
                None
                if g is None
                else ops.cast(self.channel.dense(g), "float32") / scale
                for g in grads
            ]
            before = [[variables[p].value for p in group] for group in site.groups]
            return self._emit(site, unscaled, before, None, step)

        record = ops.logical_and(
            self.channel.should_record(site, step), ops.logical_not(finite)
        )
        self.channel.record_if(record, site, step, store)

    def _skipped_apply(self, loss_scale_optimizer, original_apply):
        def apply(grads, trainable_variables=None):
            if self.recording and len(grads):
                if trainable_variables is not None:
                    # Built now rather than in apply, so that the first trace
                    # creates the site's variables, as TensorFlow requires.
                    if not loss_scale_optimizer.built:
                        loss_scale_optimizer.build(trainable_variables)
                    variables = list(trainable_variables)
                elif loss_scale_optimizer.built:
                    variables = list(loss_scale_optimizer._trainable_variables)
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
            variables = list(loss_scale_optimizer._trainable_variables)
            mapping = [
                *zip(variables, trainable_variables, strict=True),
                *zip(loss_scale_optimizer.variables, optimizer_variables, strict=True),
            ]
            with keras.StatelessScope(state_mapping=mapping):
                self._record_if_skipped(loss_scale_optimizer, list(grads), variables)
            return original(optimizer_variables, grads, trainable_variables)

        return stateless_apply
