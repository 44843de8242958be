"""Measures the claims of the page "Claims, measured" (docs/claims.md).

One function per claim of CS231n's lecture on activation functions and data
preprocessing (and of the papers it cites), in the page's order; each trains
small models with keras_acts and returns its numbers and figures. The numbers
go to one flat JSON object (key -> number), which the pages quote through
`{{ claims.KEY }}` placeholders; the figures are SVGs in the style of
make_figures.py (light and dark, English and Korean).

    python docs/scripts/claims.py                # docs/numbers/claims.json, docs/images
    python docs/scripts/claims.py --only maxout  # some claims, merged into the JSON
    python docs/scripts/claims.py --fast         # tiny (CI): under build/claims-fast/

The full mode takes several minutes on two CPU cores; the fast mode, with one
seed and an epoch or two per model, about a minute: its numbers only show
that the code runs. TensorFlow backend, CPU; every model is seeded with
keras.utils.set_random_seed. The data ship with packages: scikit-learn's
digits and MNIST-1D, which the `mnist1d` package generates without a download.
The Korean figures need the Noto Sans CJK KR font (`apt-get install
fonts-noto-cjk`).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import pathlib
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import make_figures  # noqa: E402
from make_figures import THEMES, WIDTH, Draw, Translate, plt  # noqa: E402

import keras_acts  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
NUMBERS = ROOT / "docs" / "numbers" / "claims.json"
IMAGES = ROOT / "docs" / "images"
FAST_OUTPUT = ROOT / "build" / "claims-fast"
RERUN = "python docs/scripts/claims.py --only {name}"

KOREAN = {
    "epoch": "에포크",
    "step": "스텝",
    "training error": "학습 오류율",
    "target": "목표",
    "layer": "레이어",
    "x": "x",
    "seed": "시드",
    "sigmoid'(x) and tanh'(x)": "sigmoid'(x)와 tanh'(x)",
    "the same, log scale": "같은 그래프, 로그 눈금",
    "gradient relative to the output layer": "출력 레이어 대비 기울기",
    "median, min to max over seeds": "시드별 중앙값, 최솟값~최댓값",
    "XOR net, gradient norm per layer\nat step 50": (
        "XOR 네트워크,\n스텝 50의 레이어별 기울기 노름"
    ),
    "digits (4-layer CNN)": "digits (4층 CNN)",
    "MNIST-1D (4-layer CNN)": "MNIST-1D (4층 CNN)",
    "same-sign weight-gradient rows": "부호가 모두 같은 가중치 기울기 행",
    "fraction of (example, unit) rows": "(샘플, 유닛) 행의 비율",
    "raw pixels (all >= 0)": "원본 픽셀 (모두 >= 0)",
    "after sigmoid": "sigmoid 다음",
    "after tanh": "tanh 다음",
    "softmax regression on digits": "digits의 softmax 회귀",
    "raw pixels in [0, 1]": "[0, 1]의 원본 픽셀",
    "centered pixels": "중심화한 픽셀",
    "dead units\n(derivative < 1e-3 on every example)": (
        "죽은 유닛\n(모든 샘플에서 도함수 < 1e-3)"
    ),
    "fraction of hidden units": "은닉 유닛 비율",
    "Adam, learning rate {rate}": "Adam, 학습률 {rate}",
    "input < 0 on every example, learning rate {rate}": (
        "모든 샘플에서 입력 < 0, 학습률 {rate}"
    ),
    "target: {name}": "목표: {name}",
    "learned maxout unit": "학습된 maxout 유닛",
    "its two pieces": "두 조각",
    "learned PReLU slope by depth": "깊이별로 학습된 PReLU slope",
    "mean slope of the layer": "레이어의 평균 slope",
    "initial value 0.25": "초깃값 0.25",
    "CNN on MNIST-1D, SGD with momentum": "MNIST-1D의 CNN, 모멘텀 SGD",
    "raw [0, 1]": "원본 [0, 1]",
    "minus the per-channel mean": "채널별 평균 빼기",
    "minus the mean image": "평균 이미지 빼기",
    "standardized per pixel": "픽셀별 표준화",
    "4-layer ReLU CNN on digits": "digits의 4층 ReLU CNN",
    "epochs to {target:.0%} training error": "학습 오류율 {target:.0%}까지의 에포크",
}


@dataclass
class Measured:
    """What a claim's function returns: numbers by key, figures by name."""

    numbers: dict[str, float]
    figures: dict[str, Draw] = field(default_factory=dict)


# --- helpers -----------------------------------------------------------------


def spread(key: str, values: Sequence[float]) -> dict[str, float]:
    """The median, min and max of per-seed values, as <key>_median and so on."""
    values = np.asarray(values, dtype=float)
    return {
        f"{key}_median": float(np.median(values)),
        f"{key}_min": float(np.min(values)),
        f"{key}_max": float(np.max(values)),
    }


FAST_EXAMPLES = 512


def sample(x: np.ndarray, y: np.ndarray, fast: bool) -> tuple[np.ndarray, np.ndarray]:
    """The data, or its first FAST_EXAMPLES examples in the fast mode."""
    return (x[:FAST_EXAMPLES], y[:FAST_EXAMPLES]) if fast else (x, y)


def compile_options(fast: bool, xla: bool = False) -> dict:
    """Eagerly in the fast mode, whose few steps cost less than tracing them.
    XLA only where asked (the longer MNIST-1D runs): for the short ones,
    compiling costs more than it saves."""
    return {"run_eagerly": True} if fast else {"jit_compile": xla}


def seeds(fast: bool, full: int = 5) -> list[int]:
    """Measurement seeds: 1 to `full` (seed 0 picks learning rates)."""
    return [1] if fast else list(range(1, full + 1))


@functools.lru_cache
def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 digits as (N, 8, 8, 1) images in [0, 1]."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.images[..., None] / 16.0).astype("float32"), data.target


@functools.lru_cache
def mnist1d() -> tuple[np.ndarray, np.ndarray]:
    """The 4,000 training sequences of the standard MNIST-1D, (N, 40, 1)."""
    from mnist1d.data import get_dataset_args, make_dataset

    data = make_dataset(get_dataset_args())  # generated, not downloaded
    return data["x"][..., None].astype("float32"), np.asarray(data["y"])


def standardized(x: np.ndarray, **kwargs) -> np.ndarray:
    """`x` through a keras_acts.Standardize(**kwargs) adapted on it."""
    layer = keras_acts.Standardize(**kwargs)
    layer.adapt(x)
    return np.asarray(keras.ops.convert_to_numpy(layer(x)))


def derivative(function, z: np.ndarray) -> np.ndarray:
    """The elementwise derivative of an activation (function or layer) at z."""
    import tensorflow as tf

    z = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(z)
        total = tf.reduce_sum(function(z))
    return tape.gradient(total, z).numpy()


EVALUATION_EXAMPLES = 2000


class TrainingError(keras.callbacks.Callback):
    """The error on the training set (a fixed sample of EVALUATION_EXAMPLES
    of it, if larger) every `every` optimizer steps (one call per block of
    steps_per_execution); stops training once it is at most `target`, if
    given."""

    def __init__(self, x, y, every: int, target: float | None = None) -> None:
        super().__init__()
        if len(x) > EVALUATION_EXAMPLES:
            rng = np.random.default_rng(0)
            kept = np.sort(rng.choice(len(x), EVALUATION_EXAMPLES, replace=False))
            x, y = x[kept], y[kept]
        self.x, self.y, self.every, self.target = x, y, every, target

    def on_train_begin(self, logs=None) -> None:
        self.steps, self.errors = [], []
        self._evaluate()

    def _evaluate(self) -> None:
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        logits = np.asarray(self.model.predict_on_batch(self.x))
        error = float(np.mean(np.argmax(logits, axis=-1) != self.y))
        if not np.all(np.isfinite(logits)):
            error = 1.0  # diverged
        self.steps.append(step)
        self.errors.append(error)
        if self.target is not None and error <= self.target:
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None) -> None:
        self._evaluate()


@dataclass
class Run:
    """One training run: its training error at `epochs` (fractional)."""

    epochs: np.ndarray
    errors: np.ndarray
    target: float
    cap: float

    @property
    def reached(self) -> bool:
        return bool(np.any(self.errors <= self.target))

    @property
    def epochs_to_target(self) -> float:
        """The first evaluation at or under the target; the epoch budget
        (a lower bound) if never."""
        if not self.reached:
            return self.cap
        return float(self.epochs[np.argmax(self.errors <= self.target)])


def fit_to_target(
    build: Callable[[], keras.Model],
    x: np.ndarray,
    y: np.ndarray,
    optimizer: Callable[[], keras.optimizers.Optimizer],
    seed: int,
    epochs: int,
    target: float,
    batch_size: int = 32,
    evaluations_per_epoch: int = 4,
    stop_at_target: bool = True,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    fast: bool = False,
    xla: bool = False,
) -> Run:
    """Trains a seeded model, measuring its training error as it goes."""
    keras.utils.set_random_seed(seed)
    model = build()
    steps_per_epoch = math.ceil(len(x) / batch_size)
    every = max(1, steps_per_epoch // evaluations_per_epoch)
    model.compile(
        optimizer=optimizer(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=every,
        **compile_options(fast, xla),
    )
    curve = TrainingError(x, y, every, target if stop_at_target else None)
    model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        verbose=0,
        callbacks=[curve, *callbacks],
    )
    return Run(
        np.asarray(curve.steps) / steps_per_epoch,
        np.asarray(curve.errors),
        target,
        float(epochs),
    )


def best_learning_rate(
    rates: Sequence[float], run: Callable[[float, int], Run], budget: int
) -> float:
    """The rate of the grid that reaches the target in the fewest epochs on
    the tuning seed; if none does, the one with the lowest final error.
    `run(rate, epochs)` trains for at most `epochs`: once a rate has reached
    the target, the next ones get only as many epochs as it took."""
    runs = {}
    for rate in rates:
        reached = [r.epochs_to_target for r in runs.values() if r.reached]
        runs[rate] = run(rate, math.ceil(min(reached)) if reached else budget)
    reached = {rate: r for rate, r in runs.items() if r.reached}
    if reached:
        return min(reached, key=lambda rate: reached[rate].epochs_to_target)
    return min(runs, key=lambda rate: runs[rate].errors[-1])


def momentum_sgd(rate: float) -> Callable[[], keras.optimizers.Optimizer]:
    return lambda: keras.optimizers.SGD(rate, momentum=0.9)


def plain_sgd(rate: float) -> Callable[[], keras.optimizers.Optimizer]:
    return lambda: keras.optimizers.SGD(rate)


def cnn(input_shape: tuple[int, ...], activation: str) -> keras.Model:
    """The 4-layer CNN of the convergence claims: three convolutions and the
    classifier, as Krizhevsky et al.'s CIFAR-10 experiment has four layers."""
    conv = keras.layers.Conv2D if len(input_shape) == 3 else keras.layers.Conv1D
    return keras.Sequential(
        [
            keras.Input(input_shape),
            conv(32, 3, padding="same", activation=activation, name="conv_1"),
            conv(
                32, 3, strides=2, padding="same", activation=activation, name="conv_2"
            ),
            conv(
                64, 3, strides=2, padding="same", activation=activation, name="conv_3"
            ),
            keras.layers.Flatten(),
            keras.layers.Dense(10, name="classifier"),
        ]
    )


def draw_runs(ax, runs: Sequence[Run], colour: str, label: str) -> None:
    """Each seed's training error curve, thin, and the median epochs to the
    target as a dot on the target line, with the min to max range."""
    for index, run in enumerate(runs):
        ax.plot(
            run.epochs,
            run.errors,
            color=colour,
            linewidth=1.1,
            alpha=0.75,
            label=label if index == 0 else None,
        )
    to_target = [run.epochs_to_target for run in runs]
    if all(run.reached for run in runs):
        ax.errorbar(
            [np.median(to_target)],
            [runs[0].target],
            xerr=[
                [np.median(to_target) - min(to_target)],
                [max(to_target) - np.median(to_target)],
            ],
            color=colour,
            marker="o",
            markersize=6,
            capsize=4,
            linewidth=1.6,
            zorder=5,
        )


def legend_below(figure, ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    make_figures._legend_below(figure, handles, labels)


# --- 1. the sigmoid's derivative ---------------------------------------------

SATURATION_GRADIENT = 7e-3


def sigmoid_saturation(fast: bool) -> Measured:
    """The sigmoid's derivative is at most 1/4, and below 7e-3 for |x| > 5."""
    x = np.linspace(-10, 10, 20001).astype("float32")  # steps of 0.001
    sigmoid = derivative(keras.activations.sigmoid, x)
    tanh = derivative(keras.activations.tanh, x)

    def first_below(values):
        outside = np.abs(x)[(values < SATURATION_GRADIENT) & (x >= 0)]
        return float(outside.min())

    numbers = {
        "sigmoid_derivative_max": float(sigmoid.max()),
        "sigmoid_derivative_argmax": float(x[np.argmax(sigmoid)]),
        "sigmoid_derivative_at_5": float(
            derivative(keras.activations.sigmoid, np.float32([5.0]))[0]
        ),
        "sigmoid_saturation_x": first_below(sigmoid),
        "tanh_derivative_max": float(tanh.max()),
        "tanh_saturation_x": first_below(tanh),
        "saturation_gradient": SATURATION_GRADIENT,
    }

    def draw(tr: Translate, theme: dict) -> plt.Figure:
        figure, (top, bottom) = plt.subplots(
            2, 1, figsize=(WIDTH, 5.6), layout="constrained"
        )
        for ax in (top, bottom):
            ax.plot(x, sigmoid, label="sigmoid'(x)")
            ax.plot(x, tanh, label="tanh'(x)")
            ax.set_xlabel(tr("x"))
            ax.set_xlim(-8, 8)
        top.axhline(0.25, color=theme["faint"], linewidth=0.9, linestyle="--")
        top.set_title(tr("sigmoid'(x) and tanh'(x)"))
        bottom.set_yscale("log")
        bottom.set_ylim(1e-4, 2)
        bottom.axhline(
            SATURATION_GRADIENT, color=theme["faint"], linewidth=0.9, linestyle="--"
        )
        for edge in (-5, 5):
            bottom.axvline(edge, color=theme["faint"], linewidth=0.9, linestyle=":")
        bottom.set_title(tr("the same, log scale"))
        legend_below(figure, top)
        return figure

    return Measured(numbers, {"claims_sigmoid": draw})


# --- 2. a deep sigmoid net's gradient, layer by layer -------------------------


def deep_sigmoid_gradients(fast: bool) -> Measured:
    """The demo's 9-layer XOR net: the gradient norm of each layer relative
    to the output layer at step 50, and the factor lost per layer."""
    from keras_acts.demo import (
        HIDDEN_NAMES,
        OUTPUT_NAME,
        REPORT_FREQ,
        REPORT_STEP,
        train_xor,
    )

    layers = HIDDEN_NAMES + (OUTPUT_NAME,)
    relative = {}  # activation -> (seeds, layers)
    for activation in ("sigmoid", "relu"):
        rows = []
        for seed in seeds(fast):
            monitor = keras_acts.GradientMonitor(freq=REPORT_FREQ, warn=False)
            _, result = train_xor(activation, REPORT_STEP + 50, seed, [monitor])
            norms = result.relative_gradient_norms(REPORT_STEP)
            rows.append([norms[name] for name in layers])
        relative[activation] = np.asarray(rows)
    sigmoid = relative["sigmoid"]
    # Factor lost between layer k and the layer above it: norm(k+1) / norm(k).
    factors = sigmoid[:, 1:] / sigmoid[:, :-1]
    numbers = {"gradient_seeds": len(sigmoid)}
    numbers.update(spread("sigmoid_first_layer_relative_gradient", sigmoid[:, 0]))
    numbers.update(spread("relu_first_layer_relative_gradient", relative["relu"][:, 0]))
    numbers.update(
        spread(
            "sigmoid_gradient_factor_per_layer",
            (1 / sigmoid[:, 0]) ** (1 / (len(layers) - 1)),
        )
    )
    for index in range(factors.shape[1]):
        numbers.update(
            spread(f"sigmoid_gradient_factor_layer_{index + 1}", factors[:, index])
        )
    numbers["sigmoid_first_layer_relative_gradient_seed_1"] = float(sigmoid[0, 0])
    numbers["sigmoid_derivative_bound_9_layers"] = 0.25**9

    def draw(tr: Translate, theme: dict) -> plt.Figure:
        figure, ax = plt.subplots(figsize=(WIDTH, 4.0), layout="constrained")
        positions = np.arange(len(layers))
        for colour, (activation, values) in zip(
            theme["colours"], relative.items(), strict=False
        ):
            ax.plot(
                positions,
                np.median(values, axis=0),
                marker="o",
                color=colour,
                label=activation,
            )
            ax.fill_between(
                positions,
                values.min(axis=0),
                values.max(axis=0),
                color=colour,
                alpha=0.25,
                linewidth=0,
            )
        ax.set_yscale("log")
        ax.set_xticks(positions, [str(i) for i in range(1, 10)] + ["out"])
        ax.set_xlabel(tr("layer"))
        ax.set_ylabel(tr("gradient relative to the output layer"))
        ax.set_title(tr("XOR net, gradient norm per layer\nat step 50"))
        ax.legend(title=tr("median, min to max over seeds"), loc="lower right")
        return figure

    return Measured(numbers, {"claims_gradient_layers": draw})


# --- 3 and 4. convergence: sigmoid, tanh, relu --------------------------------

CONVERGENCE = {
    # dataset: (loader, training-error target, epoch budget)
    "digits": (digits, 0.02, 15),
    "mnist1d": (mnist1d, 0.25, 30),
}
CONVERGENCE_ACTIVATIONS = ("sigmoid", "tanh", "relu")
CONVERGENCE_RATES = (0.01, 0.03, 0.1)
FAST_RATE = 0.1


@dataclass
class Convergence:
    rate: float
    runs: list[Run]
    layer_means: list[float]  # per seed: the mean output, over the conv layers


@functools.lru_cache
def convergence(dataset: str, activation: str, fast: bool) -> Convergence:
    """The 4-layer CNN with one activation on one dataset: the learning rate
    of the grid that is fastest on seed 0 (as Krizhevsky et al. chose one per
    network), then one run per measurement seed, to the target."""
    loader, target, budget = CONVERGENCE[dataset]
    x, y = sample(*loader(), fast)
    x = standardized(x, axis=None)
    epochs = 1 if fast else budget

    def run(rate, seed, epochs=epochs, callbacks=()):
        return fit_to_target(
            lambda: cnn(x.shape[1:], activation),
            x,
            y,
            momentum_sgd(rate),
            seed,
            epochs,
            target,
            callbacks=callbacks,
            fast=fast,
            xla=dataset == "mnist1d",
        )

    if fast:
        rate = FAST_RATE
    else:
        rate = best_learning_rate(CONVERGENCE_RATES, lambda r, e: run(r, 0, e), epochs)
    runs, means = [], []
    for seed in seeds(fast):
        monitor = keras_acts.ActivationMonitor(x[:256], freq="epoch", warn=False)
        runs.append(run(rate, seed, callbacks=[monitor]))
        last = monitor.history[-1]["step"]
        means.append(
            float(np.mean([r["mean"] for r in monitor.history if r["step"] == last]))
        )
    return Convergence(rate, runs, means)


def convergence_numbers(slow: str, fast_one: str, fast: bool) -> dict[str, float]:
    numbers = {}
    for dataset, (_, target, _) in CONVERGENCE.items():
        results = {a: convergence(dataset, a, fast) for a in (slow, fast_one)}
        to_target = {
            a: np.array([run.epochs_to_target for run in r.runs])
            for a, r in results.items()
        }
        numbers.update(
            spread(
                f"{slow}_{fast_one}_epoch_ratio_{dataset}",
                to_target[slow] / to_target[fast_one],
            )
        )
        for activation, result in results.items():
            numbers.update(
                spread(f"{activation}_epochs_{dataset}", to_target[activation])
            )
            numbers[f"{activation}_reached_{dataset}"] = sum(
                run.reached for run in result.runs
            )
            numbers[f"{activation}_learning_rate_{dataset}"] = result.rate
            numbers.update(
                spread(
                    f"{activation}_final_error_{dataset}",
                    [run.errors[-1] for run in result.runs],
                )
            )
        numbers[f"convergence_target_{dataset}"] = target
        numbers[f"convergence_budget_{dataset}"] = results[slow].runs[0].cap
    numbers["convergence_seeds"] = len(seeds(fast))
    return numbers


def tanh_vs_sigmoid(fast: bool) -> Measured:
    """tanh's outputs are centered on 0, sigmoid's on 1/2; tanh reaches the
    training-error target in fewer epochs."""
    numbers = convergence_numbers("sigmoid", "tanh", fast)
    for dataset in CONVERGENCE:
        for activation in ("sigmoid", "tanh"):
            means = convergence(dataset, activation, fast).layer_means
            numbers.update(spread(f"{activation}_mean_output_{dataset}", means))
    return Measured(numbers)


def relu_vs_tanh(fast: bool) -> Measured:
    """ReLU reaches the training-error target several times faster than tanh
    (Krizhevsky et al.: 6 times, to 25% on CIFAR-10)."""
    numbers = convergence_numbers("tanh", "relu", fast)
    results = {
        dataset: {a: convergence(dataset, a, fast) for a in CONVERGENCE_ACTIVATIONS}
        for dataset in CONVERGENCE
    }

    def draw(tr: Translate, theme: dict) -> plt.Figure:
        figure, axes = plt.subplots(2, 1, figsize=(WIDTH, 6.2), layout="constrained")
        titles = {
            "digits": "digits (4-layer CNN)",
            "mnist1d": "MNIST-1D (4-layer CNN)",
        }
        for ax, (dataset, by_activation) in zip(axes, results.items(), strict=True):
            for colour, (activation, result) in zip(
                theme["colours"], by_activation.items(), strict=False
            ):
                draw_runs(ax, result.runs, colour, activation)
            target = CONVERGENCE[dataset][1]
            ax.axhline(target, color=theme["faint"], linewidth=0.9, linestyle="--")
            ax.set_title(tr(titles[dataset]))
            ax.set_xlabel(tr("epoch"))
            ax.set_ylim(0, 1)
            ax.set_xlim(0, CONVERGENCE[dataset][2] if not fast else 1)
            ax.set_ylabel(tr("training error"))
        legend_below(figure, axes[0])
        return figure

    return Measured(numbers, {"claims_convergence": draw})


# --- 5. zero-centered inputs --------------------------------------------------


def same_sign_fraction(gradients: np.ndarray) -> float:
    """Of per-example kernel gradients (examples, inputs, units), the
    fraction of (example, unit) rows whose nonzero entries share one sign;
    rows of zeros are left out."""
    signs = np.sign(gradients)
    nonzero = np.any(signs != 0, axis=1)
    one_sign = np.all(signs >= 0, axis=1) | np.all(signs <= 0, axis=1)
    return float(np.sum(one_sign & nonzero) / np.sum(nonzero))


def per_example_kernel_gradients(model, layer, x, y) -> np.ndarray:
    """d loss_n / d kernel for each example n: (examples, inputs, units)."""
    import tensorflow as tf

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    with tf.GradientTape() as tape:
        losses = loss(y, model(x, training=False))
    return tape.jacobian(losses, layer.kernel.value).numpy()


def zero_centered_inputs(fast: bool) -> Measured:
    """With inputs of one sign, all the weight gradients of a unit share a
    sign on each example; centered inputs converge in fewer steps."""
    images, y = digits()
    raw = images.reshape(len(images), -1)
    centered = standardized(raw, scale=False)  # minus each pixel's mean
    probe = slice(0, 256)

    fractions = {}
    keras.utils.set_random_seed(0)
    for name, inputs in (("raw", raw), ("centered", centered)):
        layer = keras.layers.Dense(10)
        model = keras.Sequential([keras.Input((64,)), layer])
        fractions[name] = same_sign_fraction(
            per_example_kernel_gradients(model, layer, inputs[probe], y[probe])
        )
    for activation in ("sigmoid", "tanh"):
        layer = keras.layers.Dense(10)
        model = keras.Sequential(
            [keras.Input((64,)), keras.layers.Dense(32, activation=activation), layer]
        )
        fractions[activation] = same_sign_fraction(
            per_example_kernel_gradients(model, layer, centered[probe], y[probe])
        )

    target = 0.05
    epochs = 1 if fast else 10
    rates = (0.1, 0.3, 1.0, 3.0, 10.0)

    def softmax_regression():
        return keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])

    runs, chosen = {}, {}
    for name, inputs in (("raw", raw), ("centered", centered)):

        def run(rate, seed, epochs=epochs, inputs=inputs):
            return fit_to_target(
                softmax_regression,
                *sample(inputs, y, fast),
                plain_sgd(rate),
                seed,
                epochs,
                target,
                evaluations_per_epoch=19,
                fast=fast,
            )

        if fast:
            chosen[name] = 0.3
        else:
            chosen[name] = best_learning_rate(
                rates, lambda r, e, run=run: run(r, 0, e), epochs
            )
        runs[name] = [run(chosen[name], seed) for seed in seeds(fast)]

    steps_per_epoch = math.ceil(len(raw) / 32)
    numbers = {f"same_sign_fraction_{name}": value for name, value in fractions.items()}
    to_target = {
        name: np.array([run.epochs_to_target for run in r]) * steps_per_epoch
        for name, r in runs.items()
    }
    for name in runs:
        numbers.update(spread(f"centering_steps_{name}", to_target[name]))
        numbers[f"centering_reached_{name}"] = sum(run.reached for run in runs[name])
        numbers[f"centering_learning_rate_{name}"] = chosen[name]
    numbers.update(
        spread("centering_step_ratio", to_target["raw"] / to_target["centered"])
    )
    numbers["centering_target"] = target
    numbers["centering_seeds"] = len(seeds(fast))

    def draw(tr: Translate, theme: dict) -> plt.Figure:
        figure, (top, bottom) = plt.subplots(
            2, 1, figsize=(WIDTH, 6.4), layout="constrained"
        )
        labels = [
            "raw pixels (all >= 0)",
            "centered pixels",
            "after sigmoid",
            "after tanh",
        ]
        values = [fractions[k] for k in ("raw", "centered", "sigmoid", "tanh")]
        colours = [theme["colours"][i] for i in (0, 1, 0, 1)]
        top.barh(range(4), values, color=colours)
        for position, value in enumerate(values):
            top.text(
                value + 0.03,
                position,
                f"{value:.0%}",
                va="center",
                color=theme["foreground"],
            )
        top.set_yticks(range(4), [tr(label) for label in labels])
        top.invert_yaxis()
        top.set_xlim(0, 1.35)
        top.set_xticks([0, 0.5, 1])
        top.set_xlabel(tr("fraction of (example, unit) rows"))
        top.set_title(tr("same-sign weight-gradient rows"))
        for colour, name, label in (
            (theme["colours"][0], "raw", "raw pixels in [0, 1]"),
            (theme["colours"][1], "centered", "centered pixels"),
        ):
            for run in runs[name]:
                run_steps = run.epochs * steps_per_epoch
                bottom.plot(run_steps, run.errors, color=colour, linewidth=1.1)
            bottom.plot([], [], color=colour, label=tr(label))
        bottom.axhline(target, color=theme["faint"], linewidth=0.9, linestyle="--")
        bottom.set_ylim(0, 0.6)
        bottom.set_xlim(
            0, max(r.epochs[-1] for rs in runs.values() for r in rs) * steps_per_epoch
        )
        bottom.set_xlabel(tr("step"))
        bottom.set_ylabel(tr("training error"))
        bottom.set_title(tr("softmax regression on digits"))
        bottom.legend(loc="upper right")
        return figure

    return Measured(numbers, {"claims_centering": draw})


# --- 6 and 8. dead units, and mean activations --------------------------------

DEAD_ACTIVATIONS = {
    "relu": lambda name: keras.layers.ReLU(name=name),
    "leaky_relu": lambda name: keras.layers.LeakyReLU(0.01, name=name),
    "PReLU": lambda name: keras_acts.PReLU(name=name),
    "elu": lambda name: keras.layers.ELU(name=name),
}
DEAD_TITLES = {
    "relu": "relu",
    "leaky_relu": "leaky ReLU (0.01)",
    "PReLU": "keras_acts.PReLU",
    "elu": "elu",
}
DEAD_RATES = {"lr_low": 0.001, "lr_mid": 0.01, "lr_high": 0.1}
DEAD_DERIVATIVE = 1e-3
HIDDEN = 3


@dataclass
class DeadRun:
    dead: np.ndarray  # (records, units): derivative below 1e-3 on every example
    negative: np.ndarray  # (records, units): pre-activation <= 0 on every example
    monitor_dead: list[float]  # ActivationMonitor's dead fraction (ReLU only)
    means: np.ndarray  # (records,): mean output over the hidden layers
    error: float  # final training error


class UnitCensus(keras.callbacks.Callback):
    """At the start and after every epoch, per hidden unit on the whole
    training set: whether the activation's derivative is below
    DEAD_DERIVATIVE on every example, and whether its input is <= 0 on
    every example."""

    def __init__(self, x) -> None:
        super().__init__()
        self.x = x

    def on_train_begin(self, logs=None) -> None:
        model = self.model
        self.pairs = [
            (model.get_layer(f"dense_{i}"), model.get_layer(f"activation_{i}"))
            for i in range(1, HIDDEN + 1)
        ]
        self.probe = keras.Model(
            model.inputs[0], [dense.output for dense, _ in self.pairs]
        )
        self.dead, self.negative = [], []
        self._count()

    def on_epoch_end(self, epoch, logs=None) -> None:
        self._count()

    def _count(self) -> None:
        dead, negative = [], []
        inputs = self.probe(self.x, training=False)
        for (_, activation), z in zip(self.pairs, inputs, strict=True):
            z = keras.ops.convert_to_numpy(z)
            slope = derivative(activation, z)
            dead.append(
                np.all(np.abs(slope) < DEAD_DERIVATIVE, axis=0)
                & np.all(np.isfinite(z), axis=0)
            )
            negative.append(np.all(z <= 0, axis=0))
        self.dead.append(np.concatenate(dead))
        self.negative.append(np.concatenate(negative))


@functools.lru_cache
def dead_run(activation: str, rate_name: str, seed: int, fast: bool) -> DeadRun:
    """A 3-hidden-layer MLP (64 units each) on the standardized digits,
    trained with Adam at one learning rate."""
    images, y = sample(*digits(), fast)
    x = standardized(images.reshape(len(images), -1))
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((64,))
    h = inputs
    for i in range(1, HIDDEN + 1):
        h = keras.layers.Dense(64, name=f"dense_{i}")(h)
        h = DEAD_ACTIVATIONS[activation](f"activation_{i}")(h)
    model = keras.Model(inputs, keras.layers.Dense(10, name="classifier")(h))
    model.compile(
        keras.optimizers.Adam(DEAD_RATES[rate_name]),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=8,
        **compile_options(fast),
    )
    census = UnitCensus(x)
    monitor = keras_acts.ActivationMonitor(
        x[:256], freq="epoch", dead_data=x, warn=False
    )
    model.fit(
        x,
        y,
        batch_size=64,
        epochs=1 if fast else 10,
        verbose=0,
        callbacks=[census, monitor],
    )
    by_step: dict[int, list[dict]] = {}
    for row in monitor.history:
        by_step.setdefault(row["step"], []).append(row)
    monitor_dead = [
        float(np.mean([r["dead_fraction_data"] for r in rows]))
        for rows in by_step.values()
        if rows[0]["dead_fraction_data"] is not None
    ]
    means = np.array([np.mean([r["mean"] for r in rows]) for rows in by_step.values()])
    logits = keras.ops.convert_to_numpy(model(x, training=False))
    error = (
        float(np.mean(np.argmax(logits, -1) != y))
        if np.all(np.isfinite(logits))
        else 1.0
    )
    return DeadRun(
        np.array(census.dead), np.array(census.negative), monitor_dead, means, error
    )


def recovered_fraction(masks: np.ndarray) -> float:
    """Of the units dead at some record, the fraction alive at the last."""
    ever = np.any(masks, axis=0)
    if not ever.any():
        return 0.0
    return float(np.mean(~masks[-1][ever]))


def dead_relus(fast: bool) -> Measured:
    """Dead ReLUs at a high learning rate; Leaky ReLU, PReLU and ELU."""
    seed_list = seeds(fast, full=3)
    numbers = {f"dead_{k}": rate for k, rate in DEAD_RATES.items()}
    numbers["dead_seeds"] = len(seed_list)
    numbers["dead_epochs"] = 1 if fast else 10
    numbers["dead_derivative"] = DEAD_DERIVATIVE
    curves = {}  # (activation, rate name) -> (seeds, records) dead fraction
    negative = {}  # activation -> (seeds, records), at the high rate
    for activation in DEAD_ACTIVATIONS:
        for rate_name in DEAD_RATES:
            runs = [dead_run(activation, rate_name, s, fast) for s in seed_list]
            key = f"{activation.lower()}_{rate_name}"
            curves[activation, rate_name] = np.array(
                [r.dead.mean(axis=1) for r in runs]
            )
            if rate_name == "lr_high":
                negative[activation] = np.array([r.negative.mean(axis=1) for r in runs])
            numbers.update(
                spread(f"dead_{key}_final", curves[activation, rate_name][:, -1])
            )
            numbers.update(
                spread(f"negative_{key}_final", [r.negative[-1].mean() for r in runs])
            )
            numbers.update(spread(f"error_{key}", [r.error for r in runs]))
            ever_dead = sum(int(np.any(r.dead, axis=0).sum()) for r in runs)
            numbers[f"dead_{key}_ever"] = ever_dead
            numbers[f"recovered_{key}"] = (
                float(
                    np.mean([recovered_fraction(r.dead) for r in runs if r.dead.any()])
                )
                if ever_dead
                else 0.0
            )
    relu_runs = [dead_run("relu", k, s, fast) for k in DEAD_RATES for s in seed_list]
    numbers["dead_monitor_max_difference"] = float(
        max(
            np.max(np.abs(np.array(r.monitor_dead) - r.dead[1:].mean(axis=1)))
            for r in relu_runs
        )
    )

    def draw(tr: Translate, theme: dict) -> plt.Figure:
        figure, axes = plt.subplots(
            2, 2, figsize=(WIDTH, 6.4), layout="constrained", sharex=True, sharey=True
        )
        for ax, activation in zip(axes.flat, DEAD_ACTIVATIONS, strict=True):
            for colour, (rate_name, rate) in zip(
                theme["colours"], DEAD_RATES.items(), strict=False
            ):
                values = curves[activation, rate_name]
                epochs = np.arange(values.shape[1])
                ax.plot(
                    epochs,
                    np.median(values, axis=0),
                    color=colour,
                    marker="o",
                    markersize=3,
                    label=tr("Adam, learning rate {rate}").format(rate=rate),
                )
                ax.fill_between(
                    epochs,
                    values.min(axis=0),
                    values.max(axis=0),
                    color=colour,
                    alpha=0.25,
                    linewidth=0,
                )
            ax.plot(
                epochs,
                np.median(negative[activation], axis=0),
                color=colour,
                linestyle="--",
                linewidth=1.3,
                label=tr("input < 0 on every example, learning rate {rate}").format(
                    rate=DEAD_RATES["lr_high"]
                ),
            )
            ax.set_title(DEAD_TITLES[activation])
            ax.set_ylim(-0.02, 1.02)
        for ax in axes[1]:
            ax.set_xlabel(tr("epoch"))
        for ax in axes[:, 0]:
            ax.set_ylabel(tr("fraction of hidden units"))
        figure.suptitle(tr("dead units\n(derivative < 1e-3 on every example)"))
        legend_below(figure, axes[0, 0])
        return figure

    return Measured(numbers, {"claims_dead_units": draw})


def elu_mean_activation(fast: bool) -> Measured:
    """ELU's mean output is closer to 0 than ReLU's (Clevert et al.)."""
    numbers = {}
    for activation in DEAD_ACTIVATIONS:
        runs = [dead_run(activation, "lr_low", s, fast) for s in seeds(fast, full=3)]
        name = activation.lower()
        numbers.update(spread(f"mean_output_{name}_start", [r.means[0] for r in runs]))
        numbers.update(spread(f"mean_output_{name}_end", [r.means[-1] for r in runs]))
    return Measured(numbers)


# --- 7. maxout ------------------------------------------------------------------

LEAKY_SLOPE = 0.1


def maxout(fast: bool) -> Measured:
    """A maxout unit of two pieces learns a ReLU and a leaky ReLU, with
    twice the parameters of a dense layer."""
    dense = keras.layers.Dense(64)
    dense.build((None, 64))
    maxout_dense = keras_acts.MaxoutDense(64, pieces=2)
    maxout_dense.build((None, 64))
    numbers = {
        "maxout_parameters_dense": dense.count_params(),
        "maxout_parameters_maxout_dense": maxout_dense.count_params(),
        "maxout_parameter_ratio": maxout_dense.count_params() / dense.count_params(),
        "maxout_leaky_slope": LEAKY_SLOPE,
    }
    x = np.linspace(-3, 3, 121, dtype="float32")[:, None]
    targets = {
        "relu": np.maximum(x, 0),
        "leaky_relu": np.where(x > 0, x, LEAKY_SLOPE * x),
    }
    steps = 20 if fast else 1500
    learned = {}  # target -> (seeds, x) outputs, and the pieces of seed 1
    for name, y in targets.items():
        outputs, errors, slopes = [], [], []
        for seed in seeds(fast):
            keras.utils.set_random_seed(seed)
            layer = keras_acts.MaxoutDense(1, pieces=2)
            model = keras.Sequential([keras.Input((1,)), layer])
            model.compile(
                keras.optimizers.Adam(0.02),
                "mse",
                steps_per_execution=steps,
                **compile_options(fast),
            )
            model.fit(
                np.tile(x, (steps, 1)),
                np.tile(y, (steps, 1)),
                batch_size=len(x),
                epochs=1,
                shuffle=False,
                verbose=0,
            )
            out = keras.ops.convert_to_numpy(model(x))
            kernel, bias = (keras.ops.convert_to_numpy(w) for w in layer.weights)
            outputs.append(out[:, 0])
            errors.append(float(np.max(np.abs(out - y))))
            slopes.append(np.sort(kernel[0]))
            if len(outputs) == 1:
                pieces = kernel[0][None, :] * x + bias[None, :]
        slopes = np.array(slopes)
        learned[name] = (np.array(outputs), pieces)
        numbers.update(spread(f"maxout_{name}_max_error", errors))
        numbers.update(spread(f"maxout_{name}_slope_low", slopes[:, 0]))
        numbers.update(spread(f"maxout_{name}_slope_high", slopes[:, 1]))
    numbers["maxout_seeds"] = len(seeds(fast))
    numbers["maxout_steps"] = steps

    def draw(tr: Translate, theme: dict) -> plt.Figure:
        figure, axes = plt.subplots(
            1, 2, figsize=(WIDTH, 3.5), layout="constrained", sharey=True
        )
        names = {"relu": "ReLU", "leaky_relu": f"leaky ReLU ({LEAKY_SLOPE})"}
        for ax, (name, (outputs, pieces)) in zip(axes, learned.items(), strict=True):
            ax.plot(x, pieces, color=theme["faint"], linewidth=1, linestyle=":")
            ax.plot(
                [],
                [],
                color=theme["faint"],
                linewidth=1,
                linestyle=":",
                label=tr("its two pieces"),
            )
            ax.plot(
                x,
                targets[name],
                color=theme["colours"][1],
                linewidth=4,
                alpha=0.5,
                label=tr("target"),
            )
            ax.plot(
                x,
                outputs[0],
                color=theme["colours"][0],
                label=tr("learned maxout unit"),
            )
            ax.set_title(tr("target: {name}").format(name=names[name]))
            ax.set_xlabel(tr("x"))
            ax.set_ylim(-1, 3.2)
        legend_below(figure, axes[0])
        return figure

    return Measured(numbers, {"claims_maxout": draw})


# --- 9. PReLU slopes by depth -----------------------------------------------------

PRELU_LAYERS = ("conv_1", "conv_2", "conv_3", "conv_4", "dense")


def prelu_cnn() -> keras.Model:
    layers = [keras.Input((40, 1))]
    for index, (filters, strides) in enumerate(((32, 1), (32, 2), (64, 2), (64, 2))):
        layers += [
            keras.layers.Conv1D(filters, 3, strides=strides, padding="same"),
            keras_acts.PReLU(name=f"prelu_conv_{index + 1}"),
        ]
    layers += [
        keras.layers.Flatten(),
        keras.layers.Dense(64),
        keras_acts.PReLU(name="prelu_dense"),
        keras.layers.Dense(10),
    ]
    return keras.Sequential(layers)


def rank_correlation(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (no ties)."""
    ranks_a = np.argsort(np.argsort(a))
    ranks_b = np.argsort(np.argsort(b))
    return float(np.corrcoef(ranks_a, ranks_b)[0, 1])


def prelu_slopes_by_depth(fast: bool) -> Measured:
    """He et al.: the learned PReLU slopes are larger in the first layers."""
    x, y = sample(*mnist1d(), fast)
    x = standardized(x, axis=None)
    epochs = 1 if fast else 20
    slopes, errors = [], []  # per seed
    for seed in seeds(fast):
        monitor = keras_acts.ActivationMonitor(x[:256], freq="epoch", warn=False)
        run = fit_to_target(
            prelu_cnn,
            x,
            y,
            momentum_sgd(0.01),
            seed,
            epochs,
            0.0,
            stop_at_target=False,
            evaluations_per_epoch=1,
            callbacks=[monitor],
            fast=fast,
            xla=True,
        )
        last = monitor.parameter_history[-1]["step"]
        by_layer = {
            row["layer"]: row["mean"]
            for row in monitor.parameter_history
            if row["step"] == last
        }
        slopes.append([by_layer[f"prelu_{name}"] for name in PRELU_LAYERS])
        errors.append(run.errors[-1])
    slopes = np.array(slopes)
    numbers = {"prelu_seeds": len(slopes), "prelu_epochs": epochs}
    for index, name in enumerate(PRELU_LAYERS):
        numbers.update(spread(f"prelu_slope_{name}", slopes[:, index]))
    depth = np.arange(len(PRELU_LAYERS))
    numbers.update(
        spread("prelu_depth_correlation", [rank_correlation(depth, s) for s in slopes])
    )
    numbers["prelu_first_largest"] = int(np.sum(np.argmax(slopes, axis=1) == 0))
    numbers.update(spread("prelu_training_error", errors))

    def draw(tr: Translate, theme: dict) -> plt.Figure:
        figure, ax = plt.subplots(figsize=(WIDTH, 3.6), layout="constrained")
        ax.plot(
            depth,
            np.median(slopes, axis=0),
            marker="o",
            label=tr("median, min to max over seeds"),
        )
        ax.fill_between(
            depth, slopes.min(axis=0), slopes.max(axis=0), alpha=0.25, linewidth=0
        )
        ax.axhline(
            0.25,
            color=theme["faint"],
            linewidth=0.9,
            linestyle="--",
            label=tr("initial value 0.25"),
        )
        ax.set_xticks(depth, list(PRELU_LAYERS))
        ax.set_xlabel(tr("layer"))
        ax.set_ylabel(tr("mean slope of the layer"))
        ax.set_title(tr("CNN on MNIST-1D, SGD with momentum"))
        ax.legend(loc="best")
        return figure

    return Measured(numbers, {"claims_prelu_slopes": draw})


# --- 10. image preprocessing --------------------------------------------------------

PREPROCESSING = {
    # name: (label, Standardize arguments, or None for the raw pixels)
    "raw": ("raw [0, 1]", None),
    "channel_mean": ("minus the per-channel mean", {"axis": -1, "scale": False}),
    "mean_image": ("minus the mean image", {"axis": (1, 2, 3), "scale": False}),
    "standardized": ("standardized per pixel", {"axis": (1, 2, 3)}),
}
PREPROCESSING_TARGET = 0.02
PREPROCESSING_RATES = (0.01, 0.03, 0.1)


def image_preprocessing(fast: bool) -> Measured:
    """Subtracting the per-channel mean, the mean image, or standardizing:
    the epochs a ReLU CNN needs to reach a training error on digits."""
    images, y = sample(*digits(), fast)
    epochs = 1 if fast else 15
    numbers = {
        "preprocessing_target": PREPROCESSING_TARGET,
        "preprocessing_seeds": len(seeds(fast)),
    }
    runs = {}
    for name, (_, arguments) in PREPROCESSING.items():
        x = images if arguments is None else standardized(images, **arguments)

        def run(rate, seed, epochs=epochs, x=x):
            return fit_to_target(
                lambda: cnn(x.shape[1:], "relu"),
                x,
                y,
                momentum_sgd(rate),
                seed,
                epochs,
                PREPROCESSING_TARGET,
                fast=fast,
            )

        if fast:
            rate = FAST_RATE
        else:
            rate = best_learning_rate(
                PREPROCESSING_RATES, lambda r, e, run=run: run(r, 0, e), epochs
            )
        runs[name] = [run(rate, seed) for seed in seeds(fast)]
        numbers.update(
            spread(
                f"preprocessing_epochs_{name}", [r.epochs_to_target for r in runs[name]]
            )
        )
        numbers[f"preprocessing_reached_{name}"] = sum(r.reached for r in runs[name])
        numbers[f"preprocessing_learning_rate_{name}"] = rate
        numbers[f"preprocessing_input_mean_{name}"] = float(np.mean(x))
        numbers[f"preprocessing_input_std_{name}"] = float(np.std(x))
    numbers["preprocessing_budget"] = float(epochs)

    def draw(tr: Translate, theme: dict) -> plt.Figure:
        figure, ax = plt.subplots(figsize=(WIDTH, 3.6), layout="constrained")
        for position, (colour, name) in enumerate(
            zip(theme["colours"], PREPROCESSING, strict=False)
        ):
            values = [r.epochs_to_target for r in runs[name]]
            # Seeds that tie would hide each other: spread them vertically.
            offsets = 0.08 * (np.arange(len(values)) - (len(values) - 1) / 2)
            ax.scatter(values, position + offsets, color=colour, alpha=0.8, s=30)
            ax.plot(
                [np.median(values)] * 2,
                [position - 0.3, position + 0.3],
                color=colour,
                linewidth=3,
            )
        ax.set_yticks(
            range(len(PREPROCESSING)),
            [tr(label) for label, _ in PREPROCESSING.values()],
        )
        ax.invert_yaxis()
        ax.set_xlim(left=0)
        ax.set_xlabel(
            tr("epochs to {target:.0%} training error").format(
                target=PREPROCESSING_TARGET
            )
        )
        ax.set_title(tr("4-layer ReLU CNN on digits"))
        return figure

    return Measured(numbers, {"claims_preprocessing": draw})


# --- running ----------------------------------------------------------------------

CLAIMS: dict[str, Callable[[bool], Measured]] = {
    "sigmoid_saturation": sigmoid_saturation,
    "deep_sigmoid_gradients": deep_sigmoid_gradients,
    "tanh_vs_sigmoid": tanh_vs_sigmoid,
    "relu_vs_tanh": relu_vs_tanh,
    "zero_centered_inputs": zero_centered_inputs,
    "dead_relus": dead_relus,
    "maxout": maxout,
    "elu_mean_activation": elu_mean_activation,
    "prelu_slopes_by_depth": prelu_slopes_by_depth,
    "image_preprocessing": image_preprocessing,
}


def translator(language: str) -> Translate:
    if language == "ko":
        return lambda text: KOREAN.get(text, make_figures.KOREAN.get(text, text))
    return lambda text: text


def save_figure(
    name: str, draw: Draw, images: pathlib.Path, languages: Sequence[str]
) -> list[pathlib.Path]:
    """<images>/<name>.svg and -dark.svg, and the same under ko/."""
    written = []
    for language in languages:
        folder = images / "ko" if language == "ko" else images
        folder.mkdir(parents=True, exist_ok=True)
        for theme in THEMES.values():
            with matplotlib_style(language, theme):
                figure = draw(translator(language), theme)
                path = folder / f"{name}{theme['suffix']}.svg"
                figure.savefig(path, dpi=200, metadata={"Date": None})
                plt.close(figure)
                written.append(path)
    return written


def matplotlib_style(language: str, theme: dict):
    import matplotlib

    return matplotlib.rc_context(make_figures._style(language, theme))


def measure(names: Sequence[str], fast: bool) -> dict[str, Measured]:
    from keras_acts import DiagnosisWarning

    results = {}
    with warnings.catch_warnings():
        # Some claims show these problems on purpose.
        warnings.simplefilter("ignore", DiagnosisWarning)
        for name in names:
            start = time.perf_counter()
            results[name] = CLAIMS[name](fast)
            print(f"{name}: {time.perf_counter() - start:.1f} s", flush=True)
    return results


def write_numbers(path: pathlib.Path, numbers: dict[str, float], merge: bool) -> None:
    """Writes the numbers, sorted by key; with `merge`, over those already
    in the file."""
    everything = {}
    if merge and path.exists():
        everything = json.loads(path.read_text())
    everything.update(numbers)
    for key, value in everything.items():
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{key} is not a finite number: {value!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(sorted(everything.items())), indent=1) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="claim",
        choices=list(CLAIMS),
        help=f"claims to measure, default all: {', '.join(CLAIMS)}",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="one seed, an epoch or two: checks that everything runs",
    )
    parser.add_argument(
        "--numbers",
        type=pathlib.Path,
        help=f"the JSON file; default {NUMBERS.relative_to(ROOT)} "
        f"({(FAST_OUTPUT / 'claims.json').relative_to(ROOT)} with --fast)",
    )
    parser.add_argument(
        "--images",
        type=pathlib.Path,
        help=f"the figure folder; default {IMAGES.relative_to(ROOT)} "
        f"({(FAST_OUTPUT / 'images').relative_to(ROOT)} with --fast)",
    )
    parser.add_argument(
        "--lang",
        choices=("en", "ko", "all"),
        default="all",
        help="the language of the figures' labels; default all",
    )
    parser.add_argument("--no-figures", action="store_true", help="numbers only")
    arguments = parser.parse_args(argv)
    if keras.backend.backend() != "tensorflow":
        parser.error(f"needs the TensorFlow backend; it is {keras.backend.backend()}")
    numbers_path = arguments.numbers or (
        FAST_OUTPUT / "claims.json" if arguments.fast else NUMBERS
    )
    images = arguments.images or (FAST_OUTPUT / "images" if arguments.fast else IMAGES)
    names = arguments.only or list(CLAIMS)
    results = measure(names, arguments.fast)
    numbers = {}
    for result in results.values():
        numbers.update(result.numbers)
    write_numbers(numbers_path, numbers, merge=arguments.only is not None)
    print(f"wrote {len(numbers)} numbers to {numbers_path}")
    if not arguments.no_figures:
        languages = ["en", "ko"] if arguments.lang == "all" else [arguments.lang]
        for result in results.values():
            for name, draw in result.figures.items():
                save_figure(name, draw, images, languages)
                print(f"wrote the {name} figure ({', '.join(languages)})")


if __name__ == "__main__":
    main()
