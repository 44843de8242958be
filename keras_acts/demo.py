"""The vanishing-gradient demonstration behind `keras-acts demo`."""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np

from keras_acts import _validation, layers
from keras_acts.callbacks import ActivationMonitor, GradientMonitor
from keras_acts.layers import _registry

XOR_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
XOR_TARGETS = np.array([[0], [1], [1], [0]], dtype="float32")
HIDDEN_LAYERS = 9
HIDDEN_UNITS = 10
LEARNING_RATE = 0.1


# Record the gradients every 50 steps (one per block of steps_per_execution)
# and report those after the first 50.
REPORT_FREQ = 50
REPORT_STEP = 50


def _builtin(name: str) -> Callable[[str], list[keras.layers.Layer]]:
    return lambda block: [keras.layers.Dense(HIDDEN_UNITS, activation=name, name=block)]


def _dense_then(layer_class) -> Callable[[str], list[keras.layers.Layer]]:
    return lambda block: [
        keras.layers.Dense(HIDDEN_UNITS, name=block),
        layer_class(name=f"{block}_activation"),
    ]


def _layer_block(layer: _registry.Layer) -> Callable[[str], list[keras.layers.Layer]]:
    layer_class = getattr(layers, layer.name)
    if layer.demo == _registry.AS_DENSE:
        return lambda block: [layer_class(HIDDEN_UNITS, name=block)]
    return _dense_then(layer_class)


ACTIVATIONS = _registry.DEMO_ACTIVATIONS
DEFAULT_ACTIVATIONS = _registry.DEMO_DEFAULT_ACTIVATIONS
# Each builds hidden block `block`: its weight layer is named `block`.
HIDDEN_BLOCKS: dict[str, Callable[[str], list[keras.layers.Layer]]] = {
    **{name: _builtin(name) for name in _registry.DEMO_KERAS_ACTIVATIONS},
    **{layer.name: _layer_block(layer) for layer in _registry.LAYERS if layer.demo},
}
HIDDEN_NAMES = tuple(f"hidden_{i}" for i in range(1, HIDDEN_LAYERS + 1))
OUTPUT_NAME = "output"


@dataclass
class DemoResult:
    """Outcome of training one XOR net."""

    activation: str
    loss: float
    accuracy: float
    seconds: float
    gradients: GradientMonitor | None = None
    activations: ActivationMonitor | None = None

    def relative_gradient_norms(self, step: int = REPORT_STEP) -> dict[str, float]:
        """Each hidden layer's gradient norm relative to the output layer's."""
        norms = self.gradients.layer_norms(step)
        return {
            name: norms[name] / norms[OUTPUT_NAME]
            for name in HIDDEN_NAMES + (OUTPUT_NAME,)
        }

    def hidden_activation_rows(self) -> dict[str, dict]:
        """The last ActivationMonitor row of each hidden block's nonlinearity."""
        last_step = self.activations.history[-1]["step"]
        rows = {
            r["layer"]: r for r in self.activations.history if r["step"] == last_step
        }
        return {
            name: rows.get(name) or rows[f"{name}_activation"] for name in HIDDEN_NAMES
        }


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
    for name in HIDDEN_NAMES:
        layers.extend(HIDDEN_BLOCKS[activation](name))
    layers.append(keras.layers.Dense(1, activation="sigmoid", name=OUTPUT_NAME))
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
    monitors: Sequence[keras.callbacks.Callback] = (),
) -> tuple[keras.Model, DemoResult]:
    """Trains the deep XOR net with full-batch gradient descent for `steps` steps."""
    steps = _validation.positive_integer("steps", steps)
    model = build_xor_model(activation, seed)
    # fit's cost per epoch dwarfs a 4-point step: one epoch runs every
    # full-batch step, over `steps` copies of the 4 points.
    x = np.tile(XOR_INPUTS, (steps, 1))
    y = np.tile(XOR_TARGETS, (steps, 1))
    start = time.perf_counter()
    model.fit(
        x,
        y,
        batch_size=len(XOR_INPUTS),
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=list(monitors),
    )
    # A direct call: evaluate() would trace a test function for 4 points.
    probabilities = keras.ops.convert_to_numpy(model(XOR_INPUTS)).astype("float64")
    probabilities = np.clip(probabilities, 1e-7, 1 - 1e-7)
    loss = float(
        -np.mean(
            XOR_TARGETS * np.log(probabilities)
            + (1 - XOR_TARGETS) * np.log(1 - probabilities)
        )
    )
    accuracy = float(np.mean((probabilities > 0.5) == (XOR_TARGETS > 0.5)))
    seconds = time.perf_counter() - start
    by_type = {type(m): m for m in monitors}
    result = DemoResult(
        activation,
        loss,
        accuracy,
        seconds,
        by_type.get(GradientMonitor),
        by_type.get(ActivationMonitor),
    )
    return model, result


def run_demo(
    activations: Sequence[str] = DEFAULT_ACTIVATIONS,
    steps: int = 2000,
    seed: int = 1,
    plot_path: str | os.PathLike | None = "gradient_flow.png",
    print_fn: Callable[[str], None] = print,
) -> list[DemoResult]:
    """Trains one XOR net per activation and prints what happened.

    Prints the final loss and accuracy per activation, each hidden layer's
    gradient norm relative to the output layer after the first `REPORT_STEP`
    steps, and the dead and saturated fractions of each hidden layer after
    training; writes the gradient heatmaps side by side to `plot_path`: of
    the sigmoid and relu nets when both are trained, else of every net
    trained. A `plot_path` that cannot be written, a repeated or unknown
    activation, raise a ValueError before any training.
    """
    activations = list(activations)
    unknown = [name for name in activations if name not in HIDDEN_BLOCKS]
    if unknown or not activations:
        raise ValueError(
            f"Unknown activations {unknown}. Expected names from {ACTIVATIONS}."
            if unknown
            else "Expected at least one activation. Received: activations=[]"
        )
    repeated = sorted({name for name in activations if activations.count(name) > 1})
    if repeated:
        raise ValueError(
            f"Expected each activation once; {repeated} appear more than once. "
            f"Received: activations={activations}"
        )
    if plot_path is not None:
        plot_path = _plot_path(plot_path)
    print_fn(
        f"XOR with {HIDDEN_LAYERS} hidden layers of {HIDDEN_UNITS} units, "
        f"SGD (learning rate {LEARNING_RATE}), {steps} full-batch steps, seed {seed}"
    )
    results = []
    for index, activation in enumerate(activations, start=1):
        print_fn(f"[{index}/{len(activations)}] training {activation} ...")
        monitors = (
            GradientMonitor(freq=REPORT_FREQ),
            ActivationMonitor((XOR_INPUTS, XOR_TARGETS), freq="epoch"),
        )
        results.append(train_xor(activation, steps, seed, monitors)[1])

    print_fn("")
    print_fn(f"{'activation':<15}{'loss':>10}{'accuracy':>10}{'seconds':>10}")
    for r in results:
        print_fn(
            f"{r.activation:<15}{r.loss:>10.4f}{r.accuracy:>10.2f}{r.seconds:>10.1f}"
        )
    # Loss ln 2 is answering 0.5 everywhere: the net never left its start.
    stuck = [r.activation for r in results if abs(r.loss - np.log(2)) < 1e-3]
    diverged = [r.activation for r in results if not np.isfinite(r.loss)]
    if stuck:
        print_fn(f"Stuck at ln 2 (vanishing gradients): {', '.join(stuck)}")
    if diverged:
        print_fn(f"Non-finite loss (exploding gradients): {', '.join(diverged)}")

    if steps > REPORT_STEP:
        print_fn("")
        print_fn(
            f"Gradient L2 norm of each layer relative to the output layer, "
            f"at step {REPORT_STEP}:"
        )
        columns = [r.activation for r in results]
        print_fn(f"{'layer':<10}" + "".join(f"{c:>15}" for c in columns))
        relative = [r.relative_gradient_norms() for r in results]
        for name in HIDDEN_NAMES + (OUTPUT_NAME,):
            print_fn(f"{name:<10}" + "".join(f"{r[name]:>15.1e}" for r in relative))

    print_fn("")
    print_fn(
        "Dead units / saturated outputs of each hidden layer after training "
        "(probe: the 4 XOR points; - where it does not apply):"
    )
    print_fn(f"{'layer':<10}" + "".join(f"{r.activation:>15}" for r in results))
    tables = [r.hidden_activation_rows() for r in results]
    for name in HIDDEN_NAMES:
        cells = []
        for table in tables:
            row = table[name]
            cells.append(
                " / ".join(
                    "-" if value is None else f"{value:.0%}"
                    for value in (row["dead_fraction"], row["saturated_fraction"])
                )
            )
        print_fn(f"{name:<10}" + "".join(f"{c:>15}" for c in cells))

    by_activation = {r.activation: r for r in results}
    if plot_path is not None:
        if importlib.util.find_spec("matplotlib") is None:
            print_fn(
                f"\nNot writing {plot_path}: it needs matplotlib "
                '(pip install "keras-acts[plot]").'
            )
            return results
        plotted = results
        if {"sigmoid", "relu"} <= set(by_activation):
            plotted = [by_activation["sigmoid"], by_activation["relu"]]
        save_gradient_flow_plot(plotted, plot_path)
        names = " beside ".join(r.activation for r in plotted)
        print_fn(f"\nWrote {plot_path}: gradient norms per layer, {names}.")
    return results


def _plot_path(path: str | os.PathLike) -> pathlib.Path:
    """Where the plot goes (`gradient_flow.png` in a directory), checked as
    the command line checks it: a ValueError naming the path now, rather
    than after minutes of training."""
    from keras_acts_cli import resolve_plot_path

    try:
        return resolve_plot_path(path)
    except argparse.ArgumentTypeError as error:
        raise ValueError(
            f"`plot_path` must be a file or an existing directory that can be "
            f"written ({error}). Received: plot_path={os.fspath(path)!r}"
        ) from None


def save_gradient_flow_plot(
    results: Sequence[DemoResult], path: str | os.PathLike
) -> None:
    """Side by side, each result's gradient heatmap over its line plot, on one
    colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # One colour scale for both heatmaps; a layer without any gradient has
    # no log10 and stays out of it.
    norms = np.array(
        [
            row["l2"]
            for result in results
            for row in result.gradients.history
            if row["layer"] != "(global)" and row["variable"] is None
        ],
        dtype=float,
    )
    log_norms = np.log10(norms[norms > 0])
    # squeeze=False: a 2 x 1 grid for a single result, not a flat array.
    figure, axes = plt.subplots(
        2, len(results), figsize=(6 * len(results), 8), squeeze=False
    )
    for column, result in enumerate(results):
        result.gradients.plot(
            axes=(axes[0, column], axes[1, column]),
            title=f"{result.activation}: log10 gradient L2 norm",
            vmin=float(log_norms.min()),
            vmax=float(log_norms.max()),
        )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
