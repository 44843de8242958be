"""The statistics of the gradients that GradientMonitor records, computed on
the device inside the training step (in `keras.ops`), and the bookkeeping
they are made with: which variables (`VariableNames`), and where in the step
they are applied (`Site`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from keras_acts.callbacks._activation_layers import layer_paths

# Columns of the statistics computed on the device, one row per variable.
SUM_SQUARES, SUM_ABS, MAX_ABS, WEIGHT_SQUARES, UPDATE_SQUARES = range(5)
STATISTICS_WIDTH = 5
NOT_MEASURED = -1.0  # the update of a skipped step or an accumulating micro-batch


class VariableNames:
    """Paths, layers and sizes of the variables the capture has seen, in the
    order it first saw them; a record refers to variables by index here.

    A variable's path is Keras's, less the model's name. Keras leaves out
    the name of a Functional model nested in another, so that two of them
    holding layers of the same name (two towers built by one function) would
    share a row: their variables take the path of the layers that hold them
    instead (`"tower_a/proj/kernel"`).

    Rows list the layers in the order the training step first calls them,
    once the capture has seen it (`learn_call_order`), and until then in the
    order of their variables: a subclassed model may make its head before
    its body. The variables of the model itself, outside its layers, then
    come last, and are `unplaced`: where the net uses them is not known."""

    def __init__(self, model) -> None:
        self._prefix = f"{model.name}/"
        self.paths: list[str] = []
        self.layers: list[str] = []
        self.names: list[str] = []
        self.sizes: list[int] = []
        self._index: dict[int, int] = {}
        self._held_paths = _paths_of_shared_names(model, self._keras_path)
        # The row groups of the records that use these names, by the
        # variables recorded: computed once per set of variables.
        self.row_groups: dict[tuple, list] = {}
        self.call_order_learned = False
        self._call_rank: dict[int, int] = {}  # by variable id
        self._layer_rank: dict[str, int] = {}
        self.unplaced: set[str] = set()

    def learn_call_order(self, call_rank: dict[int, int]) -> None:
        """Takes the rank of each variable's layer in the order of the first
        calls of the training step (`{id(variable): rank}`)."""
        self.call_order_learned = True
        self._call_rank = call_rank
        self._layer_rank = {}
        self.unplaced = set()
        for key, index in self._index.items():
            self._rank(key, index)
        self.row_groups = {}

    def _rank(self, key: int, index: int) -> None:
        layer = self.layers[index]
        if key in self._call_rank:
            self._layer_rank[layer] = min(
                self._layer_rank.get(layer, math.inf), self._call_rank[key]
            )
            self.unplaced.discard(layer)
        elif self._call_rank and layer not in self._layer_rank:
            self.unplaced.add(layer)

    def call_rank(self, layer: str) -> float:
        """Where `layer` comes in the order of the net, input side first;
        infinite for one whose calls were not seen (its variables belong to
        the model itself, or no call was seen yet)."""
        return self._layer_rank.get(layer, math.inf)

    def _keras_path(self, variable) -> str:
        path = variable.path
        return path[len(self._prefix) :] if path.startswith(self._prefix) else path

    def index_of(self, variable) -> int:
        key = id(variable)
        if key not in self._index:
            path = self._held_paths.get(key) or self._keras_path(variable)
            layer, _, name = path.rpartition("/")
            self._index[key] = len(self.paths)
            self.paths.append(path)
            self.layers.append(layer or name)
            self.names.append(name)
            self.sizes.append(int(np.prod(variable.shape)))
            self._rank(key, self._index[key])
        return self._index[key]


def innermost_holders(model) -> dict[int, tuple[Any, str]]:
    """By variable id: the innermost layer inside `model` that holds the
    variable, and the variable's path through the layers. The variables of
    the model itself are left out."""
    holder = {}
    for path, layer in layer_paths(model):
        for variable in layer.weights:
            holder[id(variable)] = (layer, f"{path}/{variable.name}")
    return holder


def _paths_of_shared_names(model, keras_path) -> dict[int, str]:
    """By variable id, the path through the layers that hold it, for the
    variables whose Keras path names a layer that two layers' variables
    share; no others."""
    holder = innermost_holders(model)
    held = [v for v in model.weights if id(v) in holder]
    named = [keras_path(v).rpartition("/")[0] for v in held]
    owners: dict[str, set[int]] = {}
    for variable, layer in zip(held, named, strict=True):
        owners.setdefault(layer, set()).add(id(holder[id(variable)][0]))
    return {
        id(variable): holder[id(variable)][1]
        for variable, layer in zip(held, named, strict=True)
        if len(owners[layer]) > 1
    }


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
    # The channel's: TensorFlow's record variables, PyTorch's weight copies.
    storage: Any = None
    pending: bool = False  # with freq="epoch": record this site's next step
    extra: dict = field(default_factory=dict)


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
        if np.prod(shapes[positions[0]]):
            largest = ops.max(magnitude, axis=1)
        else:  # a variable without elements: max has no identity
            largest = ops.zeros((count,), "float32")
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
                    largest,
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
