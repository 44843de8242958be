"""Every use keras_acts makes of a framework's private API, in one place.

Public API does not give GradientMonitor what it must see (the gradients the
optimizer applies, inside the compiled step), nor PyTorch's fastest kernels
for the fused activations. Each function here names the private attribute it
uses, why, and `CHECKED` says the versions it was checked against.
`tests/test_private_api.py` runs each one on the installed versions, so a
release that moves one fails there, and a user gets an error that names it
rather than a crash deep inside `fit`. No other module touches a private
attribute of Keras, TensorFlow, JAX or PyTorch, or patches a method of a
model or an optimizer; `tests/test_private_api.py` checks that too.

Framework imports happen inside the functions, so importing this module
imports no framework.
"""

from __future__ import annotations

from typing import Any

CHECKED = "keras 3.15.1, TensorFlow 2.21.0, JAX 0.10.2, PyTorch 2.13.0"


def _lookup(owner: Any, name: str, what: str) -> Any:
    try:
        return getattr(owner, name)
    except AttributeError:
        raise RuntimeError(
            f"keras_acts uses {what} `{name}`, a private API checked on "
            f"{CHECKED}; the installed version has none. Please report it "
            "with your versions (pip list)."
        ) from None


# Patches of a model's or an optimizer's methods, for the length of a fit.
_ABSENT = object()


def install(owner: Any, name: str, replacement: Any) -> Any:
    """Shadows `owner`'s method `name` with `replacement` until `uninstall`,
    and returns what `uninstall` must bring back.

    An instance attribute shadows the class's method, and removing it brings
    the method back; where the instance had one of its own (a user's
    patched `call`), that one is put back instead. `object.__setattr__`
    bypasses Keras's attribute tracking (a Layer or Optimizer tracks what is
    assigned to it, and would save it). GradientMonitor installs its
    recording `apply` on optimizers (and `stateless_apply` on a
    LossScaleOptimizer, `_all_reduce_sum_gradients` under tf.distribute),
    and `train_step` on the model, for each call of its recording train
    function, and a noting `call` on the layers of a subclassed model, for
    its first recording step (to learn the order of the net).
    ActivationMonitor installs a reading `call` on the layers it probes, for
    one forward pass.
    """
    previous = vars(owner).get(name, _ABSENT)
    object.__setattr__(owner, name, replacement)
    return previous


def uninstall(owner: Any, name: str, previous: Any = _ABSENT) -> None:
    """Takes off what `install` put on `owner`, bringing back `previous`
    (what `install` returned) or else the class's method."""
    if previous is _ABSENT:
        vars(owner).pop(name, None)
    else:
        object.__setattr__(owner, name, previous)


def hide(owner: Any, name: str, value: Any) -> None:
    """Keeps `value` on `owner` out of Keras's tracking and saving (as
    `install` does), for the GradientMonitor state kept with a model."""
    object.__setattr__(owner, name, value)


def hidden(owner: Any, name: str) -> Any:
    """What `hide` put on `owner` under `name`, or None."""
    return vars(owner).get(name)


# Keras.
def optimizer_variables(optimizer: Any) -> list:
    """The variables a built optimizer applies to when `apply` is given none.

    Keras keeps them in `Optimizer._trainable_variables` and has no public
    accessor; GradientMonitor must know which variables an `apply` updates.
    """
    return list(
        _lookup(
            optimizer, "_trainable_variables", f"Keras's {type(optimizer).__name__}"
        )
    )


def clip_gradients(optimizer: Any, gradients: list) -> list:
    """The gradients as a Keras optimizer's `apply` clips them before its
    update (by its `clipnorm`, `global_clipnorm` or `clipvalue`; as they are
    without one), in `Optimizer._clip_gradients`, which has no public
    equivalent: GradientMonitor records the gradients the optimizer applies.
    """
    clip = _lookup(optimizer, "_clip_gradients", f"Keras's {type(optimizer).__name__}")
    return list(clip(gradients))


ALL_REDUCE_SUM_GRADIENTS = "_all_reduce_sum_gradients"


def all_reduce_sum_gradients(optimizer: Any) -> Any:
    """The step in which a Keras optimizer on TensorFlow sums the replicas'
    gradients inside `apply`, under a `tf.distribute` strategy.

    GradientMonitor wraps it (`install`) to read the summed gradients, which
    costs no extra communication; an all-reduce of its own would be a
    cross-replica call, which TensorFlow does not allow where it records.
    """
    return _lookup(optimizer, ALL_REDUCE_SUM_GRADIENTS, "Keras's TensorFlow optimizer")


def make_jax_train_function(model: Any, step_function: Any) -> Any:
    """Keras's JAX trainer's `_make_function`: a train function (the loop
    over a block of steps) around `step_function`, as Keras makes its own.
    GradientMonitor's compiled step returns its records as extra outputs, so
    it needs Keras's loop around a step of its own."""
    return _lookup(model, "_make_function", "Keras's JAX trainer")(step_function)


def jax_state_sharding_spec(model: Any) -> Any:
    """The shardings of a model's training state under a
    `keras.distribution`, which the recording step is compiled with, as
    Keras compiles its own (`JAXTrainer._get_state_sharding_spec`)."""
    return _lookup(model, "_get_state_sharding_spec", "Keras's JAX trainer")()


def symbolic_build(model: Any, data_batch: Any) -> None:
    """Keras's `Trainer._symbolic_build`: builds a model (if it is not), its
    compiled loss and metrics, and its optimizer, from the shapes of a batch
    (`(x, y, sample_weight)` as `fit` yields it), without running a step.

    Keras's JAX and PyTorch `fit` call it before their first step;
    TensorFlow's builds in the first trace of its step instead, and traces a
    step that creates variables (metrics' too) twice. diagnose calls it so
    that its recording step is traced once, and so that a subclassed model
    never called has weights to check and set back."""
    _lookup(model, "_symbolic_build", "Keras's Trainer")(data_batch=data_batch)


# TensorFlow.
def distributed_dataset_strategy(dataset: Any) -> Any:
    """The `tf.distribute` strategy a distributed dataset was made by, which
    it keeps in `_strategy` with no public accessor: `Standardize.adapt`
    merges its moments across the workers of that strategy."""
    return _lookup(dataset, "_strategy", "TensorFlow's DistributedDataset")


# JAX.
def jax_trace_state() -> Any:
    """An opaque token of the JAX trace being built (`jax.extend`, which JAX
    offers to libraries without a stability promise): a record can leave
    the compiled step as an output only from the step's own trace, not from
    one nested in it (a LossScaleOptimizer's `cond`)."""
    import jax.extend.core

    return _lookup(jax.extend.core, "get_opaque_trace_state", "jax.extend.core")(
        convention="keras_acts"
    )


# PyTorch.
def torch_function(name: str) -> Any:
    """One of PyTorch's private functions, for speed on the CPU:
    `_foreach_norm`, `_foreach_abs`, `_foreach_max`, `_foreach_mul`,
    `_foreach_sub_` and `_foreach_copy_` (one multi-tensor kernel for all of a
    model's variables, in GradientMonitor's statistics),
    `_prelu_kernel` (PReLU's own kernel, for the fused activations)."""
    import torch

    return _lookup(torch, name, "PyTorch's")


def sublayers(layer: Any) -> list:
    """The layers a Keras layer holds directly (a model's layers, a
    composite layer's parts), which Keras tracks in `_layers`: public
    `Model.layers` has no equivalent for a layer, and ActivationMonitor
    measures the nonlinearities inside keras-hub's composite layers and
    subclassed models."""
    return list(_lookup(layer, "_layers", "Keras's Layer"))


def is_functional(model: Any) -> bool:
    """Whether `model` is one of Keras's Functional models (also behind
    `keras.applications` models), whose class is not public: it has a graph
    of layers, where a subclassed model has none."""
    return any(
        cls.__name__ == "Functional" and cls.__module__.startswith("keras.")
        for cls in type(model).__mro__
    )


def consumers(layer: Any) -> list:
    """The layers that take a layer's outputs in a Functional model's graph,
    which Keras keeps in `_outbound_nodes` (the public `Layer.output` gives
    the tensor, not who uses it): ActivationMonitor tells a sigmoid gate,
    whose outputs only scale other tensors, from a layer of hidden units."""
    nodes = _lookup(layer, "_outbound_nodes", "Keras's Layer")
    return [node.operation for node in nodes]


def producer(tensor: Any) -> tuple[Any, list]:
    """The operation that computed a symbolic tensor of a Functional graph,
    and the tensors it took in that call, from Keras's `_keras_history` and
    `_inbound_nodes` (public `Layer.input` gives a layer's first call
    only): ActivationMonitor reads the nonlinearity of an output layer that
    a Reshape or a Flatten follows, also one Flatten shared by two
    outputs."""
    history = _lookup(tensor, "_keras_history", "Keras's KerasTensor")
    nodes = _lookup(history.operation, "_inbound_nodes", "Keras's Operation")
    return history.operation, list(nodes[history.node_index].input_tensors)
