"""A check before a long run: a few steps with both monitors, after which the
model and its optimizer are set back as they were."""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any

import keras
import numpy as np

from keras_acts import _backends, _private_api, _validation
from keras_acts.callbacks import ActivationMonitor, GradientMonitor
from keras_acts.callbacks._activation_probe import leading_batch, split_probe
from keras_acts.callbacks._gradient_capture import (
    GradientCapture,
    held_optimizers,
    optimizers_of,
)
from keras_acts.diagnosis import Diagnosis


def diagnose(
    model: keras.Model,
    x: Any,
    y: Any = None,
    steps: int = 50,
    batch_size: int = 32,
    sample_weight: Any = None,
    verbose: bool = True,
    compare_with: keras.Model | Diagnosis | None = None,
) -> Diagnosis:
    """Trains `model` for a few steps with both monitors, reports the problems
    they find, and sets the model back as it was.

    The run starts from the model's own weights, with a fresh optimizer of
    its optimizer's configuration (and of each optimizer a custom
    `train_step` holds as an attribute), so its own optimizers are neither
    trained nor built; an optimizer that its config does not make again (a
    custom one without a complete `get_config`) is trained itself and its
    state set back, if it is built (else ValueError). Afterwards every
    variable of the model and of its metrics is set back, also when the run
    fails or is interrupted: the model, its optimizers and their state are
    left as they were. Any
    model that `fit` trains works: Sequential, Functional, subclassed,
    keras-hub models, custom `train_step`s; a model never called yet is
    built from the shapes of the first batch, as `fit` builds it. A check
    before a long run: vanishing or exploding gradients, stalled updates,
    dead or saturated layers, inputs far from zero-centered, layers frozen
    by mistake, a learning rate too high for the loss's curvature, a batch
    too small for the gradient noise. The curvature and the gradient noise are measured
    only when one measurement (about 30 forward and backward passes of the
    probe batch) is foreseen to take 10 seconds or less; on a larger model
    the report says they were not measured.

    Args:
        model: A compiled model with trainable weights.
        x: Training inputs, as `fit` takes them (arrays, or lists or dicts of
            arrays), or a `tf.data.Dataset` of `(x, y)` batches (then `y` is
            `None`, and its first batch is the activation probe).
        y: Training targets; needed when the model is compiled with a loss.
            Defaults to `None`.
        steps: Training steps to take: with arrays, epochs over `x`,
            shuffled, until `steps` steps ran (the last epoch may stop
            early); a dataset is repeated for `steps`. A model compiled with
            `steps_per_execution` runs to the end of the block that reaches
            `steps`; the `Diagnosis` gives the steps taken. Defaults to
            `50`.
        batch_size: Examples per step with arrays; `max(batch_size, 64)`
            examples drawn at random (the same ones each call) are the probe
            batch that the activations, the curvature and the gradient noise
            are measured on. Defaults to `32`.
        sample_weight: Per-example weights, as `fit` takes them. Defaults to
            `None`.
        verbose: Print the report. Defaults to `True`.
        compare_with: What to compare with, such as the model before
            `keras_acts.replace_activations`: a model, diagnosed here too
            with the same data, `steps` and `batch_size` and set back
            likewise, or a `keras_acts.Diagnosis` from before. Flags are
            matched by kind and layer (see `Diagnosis.compare`). Defaults to
            `None`, no comparison.

    Returns:
        A `keras_acts.Diagnosis`: `flags`, the two monitors, and a report as
        its `str()`; with `compare_with`, what changed, as its `changes`
        and at the end of the report.

    Example:
        ```python
        keras.utils.set_random_seed(0)
        x = np.random.normal(size=(256, 4))
        y = x[:, :1] * x[:, 1:2]
        hidden = [keras.layers.Dense(8, "sigmoid", name=f"h{i}") for i in range(1, 7)]
        model = keras.Sequential(
            [keras.Input((4,)), *hidden, keras.layers.Dense(1, name="out")], name="deep"
        )
        model.compile(optimizer="sgd", loss="mse")
        diagnosis = keras_acts.diagnose(model, x, y, steps=40, verbose=False)
        for flag in diagnosis.flags:  # str(flag) tells what is wrong and what to try
            print(flag.kind, flag.layer)
        ```

        ```text
        vanishing h2
        off_center h1
        ```
    """
    steps = _validation.positive_integer("steps", steps)
    batch_size = _validation.positive_integer("batch_size", batch_size)
    if not isinstance(compare_with, (keras.Model, Diagnosis, type(None))):
        raise ValueError(
            "`compare_with` must be a keras.Model or a keras_acts.Diagnosis. "
            f"Received: compare_with={compare_with!r}"
        )
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model. Received: model={model!r}")
    if x is None:
        raise ValueError(
            "diagnose trains the model on `x` (and `y`): pass the inputs, or a "
            "tf.data.Dataset of batches. Received: x=None"
        )
    if not getattr(model, "compiled", False) or model.optimizer is None:
        raise ValueError(
            f"diagnose trains model {model.name!r} with its loss and optimizer: "
            "compile the model first."
        )
    if hasattr(x, "element_spec"):  # a tf.data.Dataset of batches
        if y is not None or sample_weight is not None:
            raise ValueError(
                "diagnose takes a dataset as `x` alone: it yields the targets "
                "(and sample weights). Received a dataset with "
                f"y={type(y).__name__}, sample_weight={type(sample_weight).__name__}"
            )
        probe = first_batch = leading_batch(x, "x")
        data = {
            "x": x.repeat(),
            "steps_per_epoch": steps,
            "epochs": 1,
            "shuffle": False,
        }
    else:
        probe = _probe_batch(x, y, sample_weight, max(batch_size, PROBE_EXAMPLES))
        # A triple, which no structure of inputs can be mistaken for.
        first_batch = tuple(_head(part, batch_size) for part in (x, y, sample_weight))
        batches = math.ceil(len(keras.tree.flatten(x)[0]) / batch_size)
        data = dict(
            x=x,
            y=y,
            sample_weight=sample_weight,
            batch_size=batch_size,
            epochs=math.ceil(steps / batches),
            shuffle=True,
        )
    if model.loss is not None and split_probe(probe)[1] is None:
        raise ValueError(
            f"model {model.name!r} is compiled with a loss ({model.loss!r}), "
            "which needs targets: pass them as `y`, or in the dataset."
        )
    # Every step: a short run, whose first fit traces one train function.
    gradients = GradientMonitor(freq=1, warn=False)
    # Four probes over the run and one at its end: enough for the dead rule's
    # three records, and each probe is a forward and a backward pass.
    activations = ActivationMonitor(
        probe,
        freq=math.ceil(steps / 4),
        warn=False,
        dynamics_freq=math.ceil(steps / 4),
        batch_size=batch_size,
        dynamics_max_seconds=DYNAMICS_MAX_SECONDS,
    )
    with _restored(model, first_batch), warnings.catch_warnings():
        if not model.trainable_weights:
            raise ValueError(
                f"model {model.name!r} has no trainable weights: no training "
                "step can change it, so there is nothing to diagnose. Set "
                "`trainable = True` on the layers to train."
            )
        # Its advice, `layers=`, is an ActivationMonitor argument that
        # diagnose does not take: the gradients are still diagnosed.
        warnings.filterwarnings(
            "ignore", "ActivationMonitor found no layer", UserWarning
        )
        stop = _StopAfter(steps)
        model.fit(verbose=0, callbacks=[gradients, activations, stop], **data)
    diagnosis = Diagnosis(
        flags=gradients.flags() + activations.flags(),
        gradients=gradients,
        activations=activations,
        steps=stop.ran,
        model_name=model.name,
    )
    if isinstance(compare_with, keras.Model):
        try:
            compare_with = diagnose(
                compare_with, x, y, steps, batch_size, sample_weight, verbose=False
            )
        except Exception as error:
            raise ValueError(
                f"diagnose of compare_with, model {compare_with.name!r}, on "
                f"the same data failed: {type(error).__name__}: {error}"
            ) from error
    if compare_with is not None:
        diagnosis.changes = diagnosis.compare(compare_with)
    if verbose:
        print(diagnosis)
    return diagnosis


class _StopAfter(keras.callbacks.Callback):
    """Stops `fit` once `steps` steps ran, inside an epoch if need be, so
    that a run over arrays takes no more steps than asked; `ran` counts
    them (with `steps_per_execution`, up to the end of the block that
    reaches `steps`)."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps
        self.ran = 0
        self._block_begin = 0

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._block_begin = batch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.ran += batch - self._block_begin + 1
        if self.ran >= self.steps:
            self.model.stop_training = True


# The probe holds at least this many examples: the gradient noise is
# measured from groups of them, whatever the batch size.
PROBE_EXAMPLES = 64
# The longest that one curvature and gradient-noise measurement may be
# foreseen to take: each costs about 30 forward and backward passes of the
# probe, which a large model's short run cannot pay for (six steps of a
# ResNet50 took five times as long as a plain fit with a measurement every
# other step, each foreseen at about a minute). The foresight times eager
# probes, so a small model's is seconds on a loaded machine.
DYNAMICS_MAX_SECONDS = 10.0


def _probe_batch(x, y, sample_weight, batch_size):
    """The probe: `batch_size` examples of `x`, `y` and `sample_weight`
    drawn at random (the same each time), after a check that they hold as
    many examples each, which names diagnose's arguments. Not the first
    ones: data sorted by class (`np.concatenate` of each class's examples)
    would give a probe of one class, whose inputs and activations are off
    center where the data's are not."""
    for name, part in (("x", x), ("y", y), ("sample_weight", sample_weight)):
        for leaf in keras.tree.flatten(part):
            if leaf is not None and not hasattr(leaf, "shape"):
                # A PyDataset or a generator, which fit takes too: diagnose
                # must slice the probe out of its data.
                raise ValueError(
                    "diagnose takes arrays (NumPy arrays or tensors, or lists "
                    "or dicts of them) or a tf.data.Dataset as `x`. Received: "
                    f"{name} of type {type(leaf).__name__}. Give it arrays of "
                    "a few batches, or a tf.data.Dataset."
                )
    counts = {
        name: sorted({len(a) for a in keras.tree.flatten(part)})
        for name, part in (("x", x), ("y", y), ("sample_weight", sample_weight))
        if part is not None
    }
    if not counts["x"] or counts["x"] == [0]:
        raise ValueError("`x` holds no examples; diagnose needs data.")
    if len({count for part in counts.values() for count in part}) > 1:
        raise ValueError(
            "`x`, `y` and `sample_weight` must hold as many examples each. "
            f"Received: {', '.join(f'{n} with {c}' for n, c in counts.items())}"
        )

    count = counts["x"][0]
    chosen = np.arange(count)
    if count > batch_size:
        chosen = np.sort(np.random.default_rng(0).choice(count, batch_size, False))

    def take(structure):
        return keras.tree.map_structure(
            lambda a: _backends.to_numpy(a)[chosen], structure
        )

    # In a tuple even alone: a list of inputs is not an (x, y) pair.
    probe = (take(x),)
    if y is not None:
        probe += (take(y),)
        if sample_weight is not None:
            probe += (take(sample_weight),)
    return probe


def _head(structure, count: int):
    """The first `count` examples of each array in `structure` (or None)."""
    if structure is None:
        return None
    return keras.tree.map_structure(lambda a: a[:count], structure)


@contextlib.contextmanager
def _restored(model, first_batch):
    """While open, `model` trains with fresh optimizers of its own
    optimizers' configurations, and is built (`_build`); on leaving (also on
    an error or an interrupt), its variables and its metrics' are set back,
    and so are its optimizers, train function, `history`, `stop_training`
    and the monitors' capture."""
    kept = {
        name: getattr(model, name, None)
        for name in ("train_function", "history", "stop_training")
    }
    # The monitors' capture of diagnose's fresh optimizers, with its traced
    # step, would hold them (and their slots) for the model's life.
    capture = _private_api.hidden(model, GradientCapture.ATTRIBUTE)
    with _strategy_scope(model):
        copies = _fresh_copies(model)
    # All of them, not only those trained as they are: on JAX a fit leaves
    # an EMA optimizer's averages sharing the weights' buffers, which the
    # next fit's step donates, so the swapped-out optimizer lost them.
    optimizer_variables = [v for o in optimizers_of(model) for v in o.variables]
    originals = _swap_optimizers(model, copies)
    snapshot = []
    try:
        _build(model, first_batch)
        # After the build: a subclassed model never called, and compiled
        # metrics, have their variables only now.
        variables = list(model.variables) + list(model.metrics_variables)
        snapshot = [(v, _backends.to_numpy(v)) for v in variables + optimizer_variables]
        model.train_function = None
        yield
    finally:
        _swap_optimizers(model, originals)
        for name, value in kept.items():
            setattr(model, name, value)
        _private_api.hide(model, GradientCapture.ATTRIBUTE, capture)
        for variable, value in snapshot:
            variable.assign(value)


def _fresh_copies(model) -> dict:
    """By the id of each optimizer that `model` holds, a fresh optimizer of
    its configuration, so that the model's own optimizers are neither trained
    nor built. One whose configuration does not make it again (a custom
    optimizer without a complete `get_config`) has none: diagnose trains it
    as it is and sets its variables back, which needs it built (ValueError
    if not: building it would tie it to the variables trainable now, and
    fail a later fit that trains others)."""
    copies = {}
    for optimizer in optimizers_of(model):
        try:
            copies[id(optimizer)] = optimizer.__class__.from_config(
                optimizer.get_config()
            )
        except Exception as error:
            if optimizer.built:
                continue
            # The user's attribute, not TensorFlow's tracking dicts.
            place = min(
                (
                    name if key is None else f"{name}[{key!r}]"
                    for name, key, held in held_optimizers(model)
                    if held is optimizer
                ),
                key=lambda name: name.startswith("_self_"),
            )
            raise ValueError(
                f"diagnose trains a fresh copy of each optimizer that model "
                f"{model.name!r} holds, made from its config, and "
                f"`{place}` ({type(optimizer).__name__}) could not be made "
                f"from its config: {type(error).__name__}: {error}. As it is "
                "not built, diagnose cannot train it in its place and set it "
                "back. Give its class a `get_config` that `from_config` makes "
                "it from, or build it first on the variables it trains, such "
                "as model.optimizer.build(model.trainable_variables)."
            ) from error
    return copies


def _swap_optimizers(model, replacements: dict) -> dict:
    """Puts, wherever `model` holds an optimizer (`model.optimizer`, and the
    attributes, lists, tuples and dicts a custom train_step keeps its own
    in), its replacement from `replacements` (by the id of the optimizer
    held), if it has one. Returns the replacements that undo it (a tuple
    attribute's by its name: the tuple itself)."""
    for name, original in replacements.items():
        if isinstance(name, str):  # a tuple attribute, put back whole
            setattr(model, name, original)
    undo = {}
    for name, key, held in list(held_optimizers(model)):
        new = replacements.get(id(held))
        if new is None:
            continue
        undo[id(new)] = held
        container = getattr(model, name)
        if key is None:
            setattr(model, name, new)
        elif isinstance(container, tuple):
            undo.setdefault(name, container)
            setattr(model, name, container[:key] + (new,) + container[key + 1 :])
        else:
            container[key] = new
    return undo


def _build(model, first_batch) -> None:
    """Builds the model, its compiled loss and metrics and its (fresh)
    optimizer from the shapes of `first_batch`, before the step is traced,
    as Keras's JAX and PyTorch `fit` do. TensorFlow's `fit` builds them in
    the first trace of its step, and traces a step that creates variables
    twice (seconds for a large model, and diagnose's step records too)."""
    with _strategy_scope(model):
        try:
            _private_api.symbolic_build(model, first_batch)
        except Exception as error:
            if not model.built:
                raise ValueError(
                    f"diagnose could not build model {model.name!r} from the "
                    "shapes of its first batch: call the model on a batch of "
                    f"data first. Building it failed with: {error}"
                ) from error
            # The model is built: what failed is built in the step's first
            # trace, as TensorFlow's fit does.
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)


def _strategy_scope(model):
    """The scope of the `tf.distribute` strategy `model` was compiled under
    (none on JAX and PyTorch): Keras makes a model's optimizer, and builds
    it and the model, there."""
    strategy = getattr(model, "distribute_strategy", None)  # TensorFlow's
    return strategy.scope() if strategy is not None else contextlib.nullcontext()
