"""A check before a long run: a few steps of a copy, with both monitors."""

from __future__ import annotations

import math
from typing import Any

import keras

from keras_acts import _validation
from keras_acts.callbacks import ActivationMonitor, GradientMonitor
from keras_acts.diagnosis import Diagnosis


def diagnose(
    model: keras.Model,
    x: Any,
    y: Any = None,
    steps: int = 50,
    batch_size: int = 32,
    sample_weight: Any = None,
    verbose: bool = True,
) -> Diagnosis:
    """Trains a copy of `model` for a few steps with both monitors and reports
    the problems they find.

    The copy has the model's weights and a fresh optimizer of the same
    configuration (its compile configuration), so the model, its optimizer
    and their state are left as they were. A check before a long run:
    vanishing or exploding gradients, stalled updates, dead or saturated
    layers, inputs far from zero-centered.

    Args:
        model: A compiled Sequential or Functional model.
        x: Training inputs, as `fit` takes them (arrays, or lists or dicts of
            arrays).
        y: Training targets. Defaults to `None`.
        steps: Training steps to take (whole epochs over `x` are run, so a
            few more steps may be taken). Defaults to `50`.
        batch_size: Examples per step; the first batch is also the
            activation probe. Defaults to `32`.
        sample_weight: Per-example weights, as `fit` takes them. Defaults to
            `None`.
        verbose: Print the report. Defaults to `True`.

    Returns:
        A `keras_acts.Diagnosis`: `flags`, the two monitors, and a report as
        its `str()`.

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
    if not getattr(model, "compiled", False) or model.optimizer is None:
        raise ValueError(
            f"diagnose trains a copy of model {model.name!r} with its loss and "
            "optimizer: compile the model first."
        )
    try:
        copy = keras.models.clone_model(model)
    except Exception as error:
        raise ValueError(
            f"diagnose could not copy model {model.name!r} with "
            f"keras.models.clone_model: {error}"
        ) from error
    copy.set_weights(model.get_weights())
    copy.compile_from_config(model.get_compile_config())
    examples = len(keras.tree.flatten(x)[0])
    batches = math.ceil(examples / batch_size)

    def first_batch(structure):
        if structure is None:
            return None
        return keras.tree.map_structure(lambda a: a[:batch_size], structure)

    probe = first_batch(x)
    if y is not None:
        probe = (probe, first_batch(y))
        if sample_weight is not None:
            probe += (first_batch(sample_weight),)
    gradients = GradientMonitor(warn=False)
    activations = ActivationMonitor(probe, freq=max(1, steps // 10), warn=False)
    copy.fit(
        x,
        y,
        sample_weight=sample_weight,
        batch_size=batch_size,
        epochs=math.ceil(steps / batches),
        shuffle=True,
        verbose=0,
        callbacks=[gradients, activations],
    )
    diagnosis = Diagnosis(
        flags=gradients.flags() + activations.flags(),
        gradients=gradients,
        activations=activations,
        steps=math.ceil(steps / batches) * batches,
        model_name=model.name,
    )
    if verbose:
        print(diagnosis)
    return diagnosis
