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


FIGURES = {"gradient_flow": gradient_flow, "dead_and_saturated": dead_and_saturated}


def main(names: list[str]) -> None:
    IMAGES.mkdir(exist_ok=True)
    for name in names or list(FIGURES):
        FIGURES[name]()
        print(f"wrote the {name} figure")


if __name__ == "__main__":
    main(sys.argv[1:])
