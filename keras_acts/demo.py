"""The vanishing-gradient demonstration behind `keras-acts demo`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np

from keras_acts.layers import MaxoutDense, ParametricELU, PReLU

XOR_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
XOR_TARGETS = np.array([[0], [1], [1], [0]], dtype="float32")
HIDDEN_LAYERS = 9
HIDDEN_UNITS = 10
LEARNING_RATE = 0.1


def _builtin(name: str) -> Callable[[], list[keras.layers.Layer]]:
    return lambda: [keras.layers.Dense(HIDDEN_UNITS, activation=name)]


HIDDEN_BLOCKS: dict[str, Callable[[], list[keras.layers.Layer]]] = {
    "sigmoid": _builtin("sigmoid"),
    "tanh": _builtin("tanh"),
    "relu": _builtin("relu"),
    "PReLU": lambda: [keras.layers.Dense(HIDDEN_UNITS), PReLU()],
    "ParametricELU": lambda: [keras.layers.Dense(HIDDEN_UNITS), ParametricELU()],
    "MaxoutDense": lambda: [MaxoutDense(HIDDEN_UNITS)],
}
ACTIVATIONS = tuple(HIDDEN_BLOCKS)


@dataclass
class DemoResult:
    """Outcome of training one XOR net."""

    activation: str
    loss: float
    accuracy: float
    seconds: float


def build_xor_model(
    activation: str, seed: int, steps_per_execution: int = 50
) -> keras.Model:
    """The deep XOR net: 9 hidden layers of 10 units and a sigmoid output.

    A 4-point step is cheaper than `fit`'s per-call overhead, so by default
    the model runs 50 steps per call (the results are the same).
    """
    if activation not in HIDDEN_BLOCKS:
        raise ValueError(
            f"Unknown activation {activation!r}. Expected one of {ACTIVATIONS}."
        )
    keras.utils.set_random_seed(seed)
    layers = [keras.Input(shape=(2,))]
    for _ in range(HIDDEN_LAYERS):
        layers.extend(HIDDEN_BLOCKS[activation]())
    layers.append(keras.layers.Dense(1, activation="sigmoid"))
    model = keras.Sequential(layers, name=f"xor_{activation}")
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE),
        loss="binary_crossentropy",
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
        steps_per_execution=steps_per_execution,
    )
    return model


def train_xor(
    activation: str,
    steps: int = 2000,
    seed: int = 1,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> tuple[keras.Model, DemoResult]:
    """Trains the deep XOR net with full-batch gradient descent for `steps` steps."""
    if steps < 1:
        raise ValueError(f"`steps` must be a positive integer. Received: steps={steps}")
    model = build_xor_model(activation, seed)
    # fit's cost per epoch dwarfs a 4-point step, so each epoch runs many
    # full-batch steps over copies of the 4 points.
    epochs = min(steps, 10)
    steps_per_epoch = -(-steps // epochs)
    x = np.tile(XOR_INPUTS, (steps_per_epoch, 1))
    y = np.tile(XOR_TARGETS, (steps_per_epoch, 1))
    start = time.perf_counter()
    model.fit(
        x,
        y,
        batch_size=len(XOR_INPUTS),
        epochs=epochs,
        shuffle=False,
        verbose=0,
        callbacks=list(callbacks),
    )
    loss, accuracy = model.evaluate(XOR_INPUTS, XOR_TARGETS, verbose=0)
    return model, DemoResult(activation, loss, accuracy, time.perf_counter() - start)


def run_demo(
    activations: Sequence[str] = ACTIVATIONS,
    steps: int = 2000,
    seed: int = 1,
    print_fn: Callable[[str], None] = print,
) -> list[DemoResult]:
    """Trains one XOR net per activation and prints a table of the results."""
    unknown = [name for name in activations if name not in HIDDEN_BLOCKS]
    if unknown:
        raise ValueError(
            f"Unknown activations {unknown}. Expected names from {ACTIVATIONS}."
        )
    print_fn(
        f"XOR with {HIDDEN_LAYERS} hidden layers of {HIDDEN_UNITS} units, "
        f"SGD (learning rate {LEARNING_RATE}), {steps} full-batch steps, seed {seed}"
    )
    results = []
    for index, activation in enumerate(activations, start=1):
        print_fn(f"[{index}/{len(activations)}] training {activation} ...")
        results.append(train_xor(activation, steps=steps, seed=seed)[1])
    print_fn("")
    print_fn(f"{'activation':<15}{'loss':>10}{'accuracy':>10}{'seconds':>10}")
    for r in results:
        print_fn(
            f"{r.activation:<15}{r.loss:>10.4f}{r.accuracy:>10.2f}{r.seconds:>10.1f}"
        )
    return results
