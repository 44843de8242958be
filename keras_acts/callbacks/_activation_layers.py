"""Which layers of a model an ActivationMonitor measures: the layers that
apply a nonlinearity, at any depth (inside a subclassed model, a nested
model or a composite layer such as keras-hub's TransformerEncoder), each
under its path of layer names."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from keras_acts import _backends, _private_api
from keras_acts.callbacks._rules import Context
from keras_acts.layers import ACTIVATION_LAYERS, LEARNED_ACTIVATION_LAYERS

# Keras's activation layers, by the name of the function they apply.
KERAS_ACTIVATION_LAYERS = {
    keras.layers.Softmax: "softmax",
    keras.layers.ELU: "elu",
    keras.layers.LeakyReLU: "leaky_relu",
    keras.layers.PReLU: "PReLU",
}
LEARNED = (keras.layers.PReLU, *LEARNED_ACTIVATION_LAYERS)
# Layers that move values without changing them: an output layer that one
# follows (a Reshape to the targets' shape) still computes the output.
SHAPE_ONLY = (
    keras.layers.Reshape,
    keras.layers.Flatten,
    keras.layers.Permute,
    keras.layers.Identity,
)


def activation_name(layer: keras.layers.Layer) -> str | None:
    """The name of the layer's nonlinearity, or None if it has none. A
    composite layer's `activation` argument is applied by its sublayers,
    which are named instead."""
    if isinstance(layer, keras.layers.ReLU):
        if layer.negative_slope:
            return "leaky_relu"
        return "relu6" if layer.max_value == 6 else "relu"
    for table in (KERAS_ACTIVATION_LAYERS, ACTIVATION_LAYERS):
        if type(layer) in table:
            return table[type(layer)]
    activation = getattr(layer, "activation", None)
    if callable(activation) and not _private_api.sublayers(layer):
        name = getattr(activation, "__name__", activation.__class__.__name__)
        return None if name == "linear" else name
    return None


def is_gate(layer: keras.layers.Layer) -> bool:
    """Whether the layer is a sigmoid gate: its outputs only multiply other
    tensors (a squeeze-and-excitation block's, a GLU's), so that they
    saturate and stay positive by design. Known from a Functional model's
    graph only: a subclassed model's calls leave none."""
    users = _private_api.consumers(layer)
    return (
        activation_name(layer) in ("sigmoid", "hard_sigmoid")
        and bool(users)
        and all(_multiplies(user) for user in users)
    )


def _multiplies(operation) -> bool:
    # `gate * x` on symbolic tensors is Keras's Multiply operation, whose
    # class is not public; `keras.layers.Multiply()([gate, x])` its layer.
    kind = type(operation)
    return isinstance(operation, keras.layers.Multiply) or (
        kind.__name__ == "Multiply" and kind.__module__.startswith("keras.")
    )


def layer_paths(model) -> list[tuple[str, keras.layers.Layer]]:
    """Every layer inside `model`, once, in the order the model holds them,
    with its path: its name, after those of the layers that hold it
    (`"transformer_layer_0/feedforward_intermediate_dense"`); a layer of the
    model itself is named alone."""
    found, seen = [], {id(model)}

    def visit(layer, prefix):
        for child in _private_api.sublayers(layer):
            if id(child) in seen or isinstance(child, keras.layers.InputLayer):
                continue
            seen.add(id(child))
            path = prefix + child.name
            found.append((path, child))
            visit(child, path + "/")

    visit(model, "")
    return found


def holds_layers_in_call_order(model) -> bool:
    """Whether `model` lists its layers in the order it calls them: a
    Functional or Sequential model does (by its graph) where every layer in
    it that holds layers is one too. A subclassed model or a composite layer
    need not, even inside a Functional model: it may make its head first,
    or a layer norm before the layer whose outputs it normalizes."""
    holders = [
        layer for _, layer in layer_paths(model) if _private_api.sublayers(layer)
    ]
    return all(getattr(layer, "inputs", None) for layer in [model, *holders])


def standardizes(model) -> bool:
    """Whether `model` centers its own inputs: with a keras_acts.Standardize,
    a keras.layers.Normalization or a keras.layers.Rescaling with an offset
    (MobileNetV3's maps pixels to [-1, 1]) anywhere, or a
    BatchNormalization as the first layer of every input. Then raw inputs
    far from zero-centered are what it was built for (the advice is
    already followed)."""
    from keras_acts.layers import Standardize

    kinds = (Standardize, keras.layers.Normalization)
    if any(
        isinstance(layer, kinds)
        or (
            isinstance(layer, keras.layers.Rescaling)
            and np.any(np.asarray(layer.offset) != 0)
        )
        for _, layer in layer_paths(model)
    ):
        return True
    first = _first_layers(model)
    return bool(first) and all(
        isinstance(layer, keras.layers.BatchNormalization) for layer in first
    )


def embeds_inputs(model) -> bool:
    """Whether an Embedding takes one of `model`'s inputs: its integers,
    uint8 too, are then token ids, not pixels."""
    return any(
        isinstance(layer, keras.layers.Embedding) for layer in _first_layers(model)
    )


def _first_layers(model) -> list:
    """The layers that take `model`'s inputs, where its graph tells them: a
    subclassed model's calls leave none."""
    if isinstance(model, keras.Sequential):
        return model.layers[:1]
    if not _private_api.is_functional(model):
        return []
    return [
        user
        for layer in model.layers
        if isinstance(layer, keras.layers.InputLayer)
        for user in _private_api.consumers(layer)
    ]


REGRESSION_LOSSES = (
    keras.losses.MeanSquaredError,
    keras.losses.MeanAbsoluteError,
    keras.losses.Huber,
    keras.losses.LogCosh,
)
REGRESSION_LOSS_FUNCTIONS = (
    keras.losses.mean_squared_error,
    keras.losses.mean_absolute_error,
    keras.losses.huber,
    keras.losses.log_cosh,
)


def _regresses(loss) -> bool:
    """Whether `loss`, in any form `compile` takes (a name or alias, a
    function, a Loss), is a regression loss, whose targets' scale sets the
    scale of the loss and its gradients."""
    if isinstance(loss, str):
        try:
            loss = keras.losses.get(loss)
        except ValueError:  # a name only the model's own code knows
            return False
    return isinstance(loss, REGRESSION_LOSSES) or loss in REGRESSION_LOSS_FUNCTIONS


def part_labels(structure, whole: str, part: str) -> list[str]:
    """The names flags give the arrays of `structure` (the probe's inputs,
    its targets, the model's outputs), in `keras.tree.flatten` order:
    `whole` for one array, else `part` with each one's key in a dict, or
    its index: "(inputs)", "(input 'image')", "(input 1)"."""
    flat = keras.tree.flatten(structure)
    if len(flat) == 1:
        return [f"({whole})"]
    keys = sorted(structure) if isinstance(structure, dict) else range(len(flat))
    return [f"({part} {key!r})" for key in keys]


def regression_targets(model, y) -> list[tuple[str, np.ndarray]]:
    """`(name, targets)` for each of `model`'s outputs compiled with a
    regression loss, named as `part_labels` names them (by the output
    layer's name where `y` is a dict keyed by them, as Keras maps it)."""
    names = _output_names(model)
    if isinstance(y, dict) and names and set(names) <= set(y):
        # Keyed by the output layers' names, which Keras maps them by.
        targets = [y[name] for name in names]
        losses = _output_losses(model, None, names)
        keyed = dict(zip(names, targets, strict=True))
        labels = part_labels(keyed, "targets", "targets")
        by_name = dict(zip(sorted(names), labels, strict=True))
        labels = [by_name[name] for name in names]
    else:
        targets = keras.tree.flatten(y)
        names = names or [None] * len(targets)
        losses = _output_losses(model, y, names)
        labels = part_labels(y, "targets", "targets")
    return [
        (label, values)
        for label, values, loss in zip(labels, targets, losses, strict=False)
        if _regresses(loss)
    ]


def takes_logits(model) -> bool:
    """Whether any of `model`'s losses is told that the predictions are
    logits (`from_logits=True`)."""
    losses = keras.tree.flatten(getattr(model, "loss", None))
    return any(getattr(loss, "from_logits", False) is True for loss in losses)


def logit_outputs(model, predictions) -> list[tuple[str, np.ndarray, str | None]]:
    """`(label, values, nonlinearity)` of each of `model`'s outputs whose
    loss is told that it gets logits (`from_logits=True`), labelled as
    `part_labels` names them. The nonlinearity is the one that computes the
    output, None where there is none or where a subclassed model leaves no
    graph to tell it by."""
    outputs = keras.tree.flatten(predictions)
    names = _output_names(model) or [None] * len(outputs)
    losses = _output_losses(model, predictions, names)
    labels = part_labels(predictions, "outputs", "output")
    sources = _output_sources(model) or [None] * len(outputs)
    return [
        (label, values, None if source is None else _nonlinearity(model, *source))
        for label, values, source, loss in zip(
            labels, outputs, sources, losses, strict=False
        )
        if getattr(loss, "from_logits", False) is True
    ]


def _output_names(model) -> list[str] | None:
    """The names of the operations computing `model`'s outputs, in
    flattened order; None for a model without a graph."""
    if _private_api.is_functional(model):
        return list(model.output_names)
    if isinstance(model, keras.Sequential) and model.layers:
        return [model.layers[-1].name]
    return None


def _output_sources(model) -> list[tuple[Any, list | None]] | None:
    """For each of `model`'s outputs, in flattened order, the operation
    computing it and, in a Functional graph, the tensors it took there;
    None for a model without a graph."""
    if _private_api.is_functional(model):
        return [_private_api.producer(tensor) for tensor in model.outputs]
    if isinstance(model, keras.Sequential) and model.layers:
        return [(model.layers[-1], None)]
    return None


def _nonlinearity(model, operation, inputs: list | None) -> str | None:
    """The nonlinearity that computes what `operation` returns in `model`'s
    graph (taking `inputs` there, None in a Sequential): a layer's, a Keras
    op's (`keras.ops.sigmoid` on a symbolic tensor), that of a nested
    model's one output, or that of the layer before a Reshape or a
    Flatten."""
    if isinstance(operation, keras.Model):
        sources = _output_sources(operation)
        if sources and len(sources) == 1:
            return _nonlinearity(operation, *sources[0])
        return None
    if isinstance(operation, SHAPE_ONLY):
        if inputs is None:  # a Sequential's layer
            source = _producer(model, operation)
            return None if source is None else _nonlinearity(model, source, None)
        if len(inputs) == 1:
            return _nonlinearity(model, *_private_api.producer(inputs[0]))
        return None
    if isinstance(operation, keras.layers.Layer):
        return activation_name(operation)
    # The op's class is not public: its name is the function's.
    kind = type(operation)
    if kind.__module__.startswith("keras.") and kind.__name__ in ("Sigmoid", "Softmax"):
        return kind.__name__.lower()
    return None


def _producer(model, layer):
    """The layer (or operation) whose output `layer` takes in `model`'s
    graph, at its first call; None where it takes several or none."""
    if isinstance(model, keras.Sequential):
        index = model.layers.index(layer)
        return model.layers[index - 1] if index else None
    try:
        tensor = layer.input
    except (AttributeError, ValueError):  # never called in a graph
        return None
    if not isinstance(tensor, keras.KerasTensor):  # several inputs
        return None
    return _private_api.producer(tensor)[0]


def channels_first(model, layer) -> bool:
    """Whether `layer`'s units are on axis 1 of its outputs: it is a layer
    of `data_format="channels_first"`, or an activation or a dropout that
    takes the outputs of one, through others, in `model`'s graph (a
    BatchNormalization then says so by its `axis`)."""
    while True:
        data_format = getattr(layer, "data_format", None)
        if data_format is not None:
            return data_format == "channels_first"
        if isinstance(layer, keras.layers.BatchNormalization):
            # Its input spec, set when it is built, holds its inputs' rank.
            axis, spec = layer.axis, layer.input_spec
            if axis < 0 and spec is not None and spec.ndim:
                axis += spec.ndim
            return axis == 1
        passes_units_on = activation_name(layer) is not None and not (
            getattr(layer, "activation", None) and layer.weights
        )
        if not passes_units_on and not isinstance(layer, keras.layers.Dropout):
            return False
        in_graph = isinstance(model, keras.Sequential) and layer in model.layers
        if not (in_graph or _private_api.is_functional(model)):
            return False
        layer = _producer(model, layer)
        if layer is None:
            return False


def _output_losses(model, predictions, names: list[str | None]) -> list:
    """The loss `model` is compiled with for each of its outputs, in
    flattened order: one loss serves all; a list gives one per output; a
    dict is keyed by the model's output keys or the names of the layers
    computing them, as `compile` accepts."""
    loss = getattr(model, "loss", None)
    if isinstance(loss, dict):
        keys = sorted(predictions) if isinstance(predictions, dict) else names
        return [
            loss.get(key, loss.get(name))
            for key, name in zip(keys, names, strict=False)
        ]
    if isinstance(loss, (list, tuple)):
        return list(loss) if len(loss) == len(names) else [None] * len(names)
    return [loss] * len(names)


def learned_activations(model) -> list[tuple[str, keras.layers.Layer]]:
    """(path, layer) of the model's activation layers with learned
    parameters, also those passed as a layer's `activation`."""
    found = []
    for path, layer in layer_paths(model):
        if isinstance(layer, LEARNED):
            found.append((path, layer))
        activation = getattr(layer, "activation", None)
        if isinstance(activation, LEARNED):
            found.append((f"{path}/{activation.name}", activation))
    return found


def monitored_layers(model, selection, x) -> list[tuple[str, keras.layers.Layer]]:
    """(path, layer) of the layers of `model` an ActivationMonitor probes:
    those `selection` names (paths, layer names or layer classes), or by
    default every layer with a nonlinearity but the softmax inside an
    attention layer (a distribution over positions, near 0 almost
    everywhere by design). ValueError if `selection` names a layer the
    model does not have; an empty list if the default finds none. A model
    not built yet is built by a call on the probe inputs `x`: the layers
    that its `build` makes exist only then (on TensorFlow a subclassed model
    is built in `fit`'s first step)."""
    if not model.built:
        model(x, training=False)
    paths = layer_paths(model)
    if selection is None:
        return [
            (path, layer)
            for path, layer in paths
            if activation_name(layer)
            and not ("/" in path and isinstance(layer, keras.layers.Softmax))
        ]
    names = {path for path, _ in paths} | {layer.name for _, layer in paths}
    missing = [s for s in selection if isinstance(s, str) and s not in names]
    if missing:
        raise ValueError(
            f"`layers` names layers the model does not have: {missing}. "
            f"Its layers: {[path for path, _ in paths]}"
        )
    monitored = [
        (path, layer)
        for path, layer in paths
        if any(
            s in (path, layer.name) if isinstance(s, str) else isinstance(layer, s)
            for s in selection
        )
    ]
    if not monitored:
        raise ValueError(
            f"`layers` selects no layer of model {model.name!r}. Received: "
            f"layers={selection!r}; its layers: {[path for path, _ in paths]}"
        )
    return monitored


def stepping_optimizer(optimizers):
    """The first of `optimizers`, the one whose steps advice and stability
    are judged by (a LossScaleOptimizer's inner one); None if there is none."""
    if not optimizers:
        return None
    optimizer = optimizers[0]
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.inner_optimizer
    return optimizer


def context_of(model, optimizers) -> Context:
    """What the monitors' advice is fitted to: the nonlinearities `model`
    applies, and the first of `optimizers` with its learning rate now."""
    activations = frozenset(
        name for _, layer in layer_paths(model) if (name := activation_name(layer))
    )
    optimizer = stepping_optimizer(optimizers)
    if optimizer is None:
        return Context(activations)
    try:
        learning_rate = float(_backends.to_numpy(optimizer.learning_rate))
    except (TypeError, ValueError):  # a rate Keras cannot give as a number
        learning_rate = None
    return Context(activations, type(optimizer).__name__, learning_rate)
