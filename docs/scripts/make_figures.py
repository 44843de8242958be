"""Regenerates the figures of the docs site from the package's own code.

python docs/scripts/make_figures.py            # all figures
python docs/scripts/make_figures.py gradient_flow
"""

from __future__ import annotations

import pathlib
import sys

IMAGES = pathlib.Path(__file__).resolve().parents[1] / "images"


def gradient_flow() -> None:
    from keras_acts.demo import run_demo

    run_demo(
        ["sigmoid", "relu"],
        steps=2000,
        seed=1,
        plot_path=IMAGES / "gradient_flow.png",
        print_fn=lambda line: None,
    )


def dead_and_saturated() -> None:
    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from keras_acts import ActivationMonitor, Standardize

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 10)).astype("float32")
    y = (x @ rng.normal(size=(10, 1))).astype("float32")

    def train(activation, inputs, optimizer):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((10,)),
                keras.layers.Dense(32, activation=activation, name="h1"),
                keras.layers.Dense(32, activation=activation, name="h2"),
                keras.layers.Dense(1),
            ]
        )
        model.compile(optimizer, "mse")
        monitor = ActivationMonitor(inputs, freq=2)
        model.fit(inputs, y, batch_size=32, epochs=4, verbose=0, callbacks=[monitor])
        return monitor.history

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for rate, style in ((0.2, "-"), (0.001, "--")):
        history = train("relu", x, keras.optimizers.Adam(rate))
        for layer in ("h1", "h2"):
            rows = [r for r in history if r["layer"] == layer]
            left.plot(
                [r["step"] for r in rows],
                [r["dead_fraction"] for r in rows],
                style,
                label=f"{layer}, Adam lr={rate}",
            )
    left.set_title("ReLU units: dead fraction")
    raw = 20 * x  # badly scaled inputs
    standardize = Standardize()
    standardize.adapt(raw)
    for inputs, style, label in (
        (raw, "-", "raw inputs (std 20)"),
        (np.asarray(standardize(raw)), "--", "standardized"),
    ):
        history = train("sigmoid", inputs, keras.optimizers.SGD(0.01))
        rows = [r for r in history if r["layer"] == "h1"]
        right.plot(
            [r["step"] for r in rows],
            [r["saturated_fraction"] for r in rows],
            style,
            label=f"h1, {label}",
        )
    right.set_title("Sigmoid units: saturated fraction")
    for ax in (left, right):
        ax.set_xlabel("step")
        ax.set_ylabel("fraction")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(IMAGES / "dead_and_saturated.png", dpi=110)
    plt.close(figure)


def _function_and_derivative(layer, x):
    """The layer's output and its derivative, elementwise, by autodiff."""
    import numpy as np
    import tensorflow as tf

    inputs = tf.constant(x.reshape(-1, 1).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = layer(inputs)
        total = tf.reduce_sum(outputs)
    derivative = tape.gradient(total, inputs)
    return np.asarray(outputs).ravel(), np.asarray(derivative).ravel()


def _two_panel(title, curves, path, ylim=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for label, x, values, derivative in curves:
        left.plot(x, values, label=label)
        right.plot(x, derivative, label=label)
    left.set_title(f"{title}: f(x)")
    right.set_title(f"{title}: f'(x)")
    for ax in (left, right):
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.axvline(0, color="grey", linewidth=0.5)
        ax.set_xlabel("x")
        ax.legend(fontsize=8)
    if ylim:
        left.set_ylim(*ylim)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def activation_plots() -> None:
    import keras
    import numpy as np

    from keras_acts import MaxoutDense, ParametricELU, PReLU

    x = np.linspace(-6, 6, 601)
    builtins = [
        (name, *_function_and_derivative(keras.activations.get(name), x))
        for name in ("sigmoid", "tanh", "relu")
    ]
    _two_panel(
        "Classic activations",
        [(name, x, f, d) for name, f, d in builtins],
        IMAGES / "activations.png",
    )
    _two_panel(
        "PReLU",
        [
            (
                f"alpha = {a}",
                x,
                *_function_and_derivative(PReLU(a, channel_axis=None), x),
            )
            for a in (0.0, 0.1, 0.25, 1.0)
        ],
        IMAGES / "prelu.png",
        ylim=(-3, 6),
    )
    _two_panel(
        "ParametricELU",
        [
            (
                f"alpha = {a}",
                x,
                *_function_and_derivative(ParametricELU(a, channel_axis=None), x),
            )
            for a in (0.5, 1.0, 2.0)
        ],
        IMAGES / "parametric_elu.png",
        ylim=(-2.5, 6),
    )
    from keras_acts import PELU, SReLU, Swish

    _two_panel(
        "PELU",
        [
            (
                f"a = {a}, b = {b}",
                x,
                *_function_and_derivative(PELU(a, b, channel_axis=None), x),
            )
            for a, b in ((1.0, 1.0), (2.0, 1.0), (1.0, 2.0), (0.5, 0.25))
        ],
        IMAGES / "pelu.png",
        ylim=(-2.5, 6),
    )
    _two_panel(
        "SReLU",
        [
            (
                f"t_left = {t_left}, a_left = {a_left}, "
                f"t_right = {t_right}, a_right = {a_right}",
                x,
                *_function_and_derivative(
                    SReLU(t_left, a_left, t_right, a_right, channel_axis=None), x
                ),
            )
            for t_left, a_left, t_right, a_right in (
                (0.0, 0.2, 3.0, 1.0),
                (-1.0, 0.1, 3.0, 0.3),
                (0.0, 0.5, 2.0, 2.0),
            )
        ],
        IMAGES / "srelu.png",
        ylim=(-3, 6),
    )
    _two_panel(
        "Swish",
        [
            (
                f"beta = {beta}",
                x,
                *_function_and_derivative(Swish(beta, channel_axis=None), x),
            )
            for beta in (0.0, 0.5, 1.0, 3.0)
        ],
        IMAGES / "swish.png",
        ylim=(-1.5, 6),
    )
    from keras_acts import RReLU, Snake

    # Inference uses the mean slope; training draws each slope from the band
    # between the lower and upper curves.
    _two_panel(
        "RReLU",
        [
            (
                label,
                x,
                *_function_and_derivative(RReLU(lower, upper), x),
            )
            for label, lower, upper in (
                ("inference: slope (1/8 + 1/3) / 2", 1 / 8, 1 / 3),
                ("training: lowest slope, 1/8", 1 / 8, 1 / 8),
                ("training: highest slope, 1/3", 1 / 3, 1 / 3),
            )
        ],
        IMAGES / "rrelu.png",
        ylim=(-2.5, 6),
    )
    _two_panel(
        "Snake",
        [
            (
                f"alpha = {a}",
                x,
                *_function_and_derivative(Snake(a, channel_axis=None), x),
            )
            for a in (0.2, 0.5, 1.0, 2.0)
        ],
        IMAGES / "snake.png",
    )
    curves = []
    for pieces, slopes in ((2, [-0.5, 1.0]), (3, [-1.0, 0.2, 1.5])):
        layer = MaxoutDense(1, pieces=pieces)
        layer.build((None, 1))
        biases = [0.0, 0.5, -1.0][:pieces]
        layer.set_weights([np.array([slopes], "float32"), np.array(biases, "float32")])
        curves.append(
            (
                f"{pieces} pieces: slopes {slopes}",
                x,
                *_function_and_derivative(layer, x),
            )
        )
    _two_panel("MaxoutDense (one unit)", curves, IMAGES / "maxout.png")


FIGURES = {
    "gradient_flow": gradient_flow,
    "dead_and_saturated": dead_and_saturated,
    "activation_plots": activation_plots,
}


def main(names: list[str]) -> None:
    IMAGES.mkdir(exist_ok=True)
    for name in names or list(FIGURES):
        FIGURES[name]()
        print(f"wrote the {name} figure")


if __name__ == "__main__":
    main(sys.argv[1:])
