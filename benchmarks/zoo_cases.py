"""The failure zoo of issue #26: broken training runs, each with the flag
kinds a diagnosis should raise on it, and healthy runs, on which it should
raise none. benchmarks/diagnosis_zoo.py runs them with `keras_acts.diagnose`
and with both monitors attached to a `fit`; tests/test_diagnosis_zoo.py runs
the `fast` ones.

Every case is a small real model on data that ships offline: scikit-learn's
`load_digits`, and regression data and sequences made by numpy with a fixed
seed. A case's `build()` returns `(compiled model, x, y)`; call
`keras.utils.set_random_seed(0)` first for the same weights every time.

`expected` are the kinds that should fire. When the zoo was written some of
them had no detection in keras_acts ("lr_too_high", "noisy_gradients",
"frozen"; `existing_kinds()` reads what the installed keras_acts has): they
were named anyway, so that the results showed the miss.
`acceptable` are kinds that are true of the run as well, but not its point
(a saturated sigmoid net's gradients vanish too): raised, they count neither
as a hit nor as a false alarm.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import numpy as np

# The kinds keras_acts raised when the zoo was written; `existing_kinds()`
# reads the package's own list, which grows as detections are added.
KINDS_AT_WRITING = frozenset(
    {
        "nonfinite",
        "exploding",
        "vanishing",
        "stalled",
        "dead",
        "saturated",
        "off_center",
        "inputs_off_center",
        "targets_unscaled",
    }
)
# Kinds that issue #26 asks for; those without a detection yet are misses by
# construction.
NEW_KINDS = frozenset({"lr_too_high", "noisy_gradients", "targets_unscaled", "frozen"})


def existing_kinds() -> frozenset[str]:
    """The flag kinds the installed keras_acts can raise."""
    try:
        from keras_acts.callbacks._rules import RULES_BY_KIND
    except ImportError:  # a layout of the package this zoo does not know
        return KINDS_AT_WRITING
    return frozenset(RULES_BY_KIND)


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "broken" or "healthy"
    expected: frozenset[str]
    build: Callable = dataclasses.field(repr=False)
    steps: int = 60
    batch_size: int = 32
    fast: bool = False
    acceptable: frozenset[str] = frozenset()
    note: str = ""


# Data -------------------------------------------------------------------


@functools.cache
def _digits_raw():
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data.astype("float32"), digits.target.astype("int32")


def digits(standardized=True, images=False, n=None):
    """scikit-learn's 8x8 digits (1797 examples, pixel values 0 to 16):
    standardized per pixel, or raw; flat or as (8, 8, 1) images."""
    x, y = _digits_raw()
    x = x.copy()
    if standardized:
        x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1.0)
    if images:
        x = x.reshape(-1, 8, 8, 1)
    if n is not None:
        x, y = x[:n], y[:n]
    return x, y.copy()


def regression(n=1024, features=10, seed=0):
    """A smooth nonlinear target of standard normal features, standardized."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    w = rng.normal(size=(features,))
    y = np.sin(x @ w / np.sqrt(features)) + 0.5 * x[:, 0] * x[:, 1]
    y = (y - y.mean()) / y.std()
    return x, y[:, None].astype("float32")


def sequences(n=512, length=30, seed=0):
    """Noisy sine waves of random frequency and phase; the target is the
    frequency (standardized)."""
    rng = np.random.default_rng(seed)
    frequency = rng.uniform(0.1, 0.5, size=(n, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    t = np.arange(length)[None, :]
    x = np.sin(frequency * t + phase) + 0.1 * rng.normal(size=(n, length))
    y = (frequency - frequency.mean()) / frequency.std()
    return x[..., None].astype("float32"), y.astype("float32")


def tokens(n=256, length=16, vocabulary=100, seed=0):
    """Random token sequences; the label is whether token 7 occurs."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocabulary, size=(n, length)).astype("int32")
    y = (ids == 7).any(axis=1).astype("int32")
    return ids, y


# Models -----------------------------------------------------------------


def _keras():
    import keras

    return keras


def mlp(inputs, hidden, units=32, outputs=10, activation="relu", **dense):
    """`hidden` Dense layers named h1, h2, ... and a linear head "out"."""
    keras = _keras()
    layers = [keras.Input((inputs,))]
    for i in range(1, hidden + 1):
        layers.append(keras.layers.Dense(units, activation, name=f"h{i}", **dense))
    layers.append(keras.layers.Dense(outputs, name="out"))
    return keras.Sequential(layers, name="mlp")


def sparse_ce(from_logits=True):
    keras = _keras()
    return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)


def _compile(model, optimizer, loss):
    model.compile(optimizer=optimizer, loss=loss)
    return model


def _sgd(rate, **kwargs):
    return _keras().optimizers.SGD(rate, **kwargs)


def _adam(rate):
    return _keras().optimizers.Adam(rate)


def _normal(stddev):
    return _keras().initializers.RandomNormal(stddev=stddev, seed=0)


def _constant(value):
    return _keras().initializers.Constant(value)


# Broken runs ------------------------------------------------------------


def deep_sigmoid():
    x, y = digits()
    model = mlp(64, 8, activation="sigmoid")
    return _compile(model, _sgd(0.01), sparse_ce()), x, y


def deep_tanh_small_init():
    x, y = digits()
    model = mlp(64, 10, activation="tanh", kernel_initializer=_normal(0.05))
    return _compile(model, _sgd(0.01), sparse_ce()), x, y


def tiny_init_relu():
    x, y = regression()
    model = mlp(10, 6, outputs=1, kernel_initializer=_normal(1e-3))
    return _compile(model, _sgd(0.01), "mse"), x, y


def large_init_relu():
    x, y = regression()
    model = mlp(10, 8, outputs=1, kernel_initializer=_normal(1.0))
    return _compile(model, _sgd(1e-4), "mse"), x, y


def deep_linear_large_init():
    x, y = regression()
    model = mlp(10, 12, outputs=1, activation=None, kernel_initializer=_normal(0.5))
    return _compile(model, _sgd(1e-3), "mse"), x, y


def rnn_recurrent_gain():
    keras = _keras()
    x, y = sequences()
    model = keras.Sequential(
        [
            keras.Input(x.shape[1:]),
            keras.layers.SimpleRNN(
                32,
                activation=None,
                recurrent_initializer=keras.initializers.Orthogonal(gain=1.5, seed=0),
                name="rnn",
            ),
            keras.layers.Dense(1, name="out"),
        ],
        name="rnn",
    )
    return _compile(model, _sgd(1e-3), "mse"), x, y


def unscaled_targets_sgd():
    x, y = regression()
    model = mlp(10, 3, outputs=1, kernel_initializer="he_normal")
    return _compile(model, _sgd(0.01), "mse"), x, 1000.0 * y + 5000.0


def unscaled_targets_adam():
    x, y = regression()
    model = mlp(10, 3, outputs=1, kernel_initializer="he_normal")
    return _compile(model, _adam(1e-3), "mse"), x, 1000.0 * y + 5000.0


def lr_divergence():
    x, y = digits()
    model = mlp(64, 3, kernel_initializer="he_normal")
    return _compile(model, _sgd(5.0), sparse_ce()), x, y


def lr_regression_divergence():
    x, y = regression()
    model = mlp(10, 3, outputs=1, activation="tanh")
    return _compile(model, _sgd(2.0), "mse"), x, y


def lr_oscillation_bounded():
    """SGD at 300 on a net whose loss is bounded (mean squared error of a
    sigmoid output, on digits 0-4 against 5-9): the weights jump back and
    forth, the loss stays between 0.33 and 0.41 and the accuracy near 65%
    after 4 epochs (at 30: 0.09 and 92%); nothing becomes infinite."""
    keras = _keras()
    x, y = digits()
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, "tanh", name="h1"),
            keras.layers.Dense(1, "sigmoid", name="out"),
        ],
        name="bounded",
    )
    return _compile(model, _sgd(300.0), "mse"), x, (y < 5).astype("float32")[:, None]


def lr_oscillation_cross_entropy():
    """SGD at 30 on a tanh net with cross-entropy: the loss hovers at 23 to
    28 (chance is 2.3) over 4 epochs, 55% accuracy, and stays finite (the
    tanh units bound the logits). At 3.0 the same net trains to 98%."""
    x, y = digits()
    model = mlp(64, 2, activation="tanh")
    return _compile(model, _sgd(30.0), sparse_ce()), x, y


def lr_adam_too_high():
    x, y = digits()
    model = mlp(64, 3, activation="tanh")
    return _compile(model, _adam(0.5), sparse_ce()), x, y


def lr_too_low_sgd():
    x, y = digits()
    model = mlp(64, 3, kernel_initializer="he_normal")
    return _compile(model, _sgd(1e-8), sparse_ce()), x, y


def lr_too_low_adam():
    x, y = regression()
    model = mlp(10, 3, outputs=1, kernel_initializer="he_normal")
    return _compile(model, _adam(1e-9), "mse"), x, y


def dead_negative_bias():
    x, y = regression()
    model = mlp(10, 4, outputs=1, bias_initializer=_constant(-50.0))
    return _compile(model, _adam(1e-3), "mse"), x, y


def dead_conv_negative_bias():
    keras = _keras()
    x, y = digits(images=True)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(
                16, 3, activation="relu", bias_initializer=_constant(-20.0), name="c1"
            ),
            keras.layers.Flatten(),
            keras.layers.Dense(10, name="out"),
        ],
        name="cnn",
    )
    return _compile(model, _adam(1e-3), sparse_ce()), x, y


def dying_relu_high_lr():
    """Adam at 0.05 on a He-initialised ReLU net: the first steps push most
    units of h2 to h4 below zero for every example (checked apart: 72% of
    them dead on the whole data after two epochs), and the loss does not
    diverge (with SGD at 0.1 to 0.5 it does, and the run is an exploding
    one)."""
    x, y = regression()
    model = mlp(10, 4, outputs=1, kernel_initializer="he_normal")
    return _compile(model, _adam(0.05), "mse"), x, y


def saturated_sigmoid_large_init():
    x, y = regression()
    model = mlp(10, 4, outputs=1, activation="sigmoid", kernel_initializer=_normal(5.0))
    return _compile(model, _adam(1e-3), "mse"), x, y


def saturated_tanh_large_init():
    x, y = digits()
    model = mlp(64, 3, activation="tanh", kernel_initializer=_normal(3.0))
    return _compile(model, _sgd(0.01), sparse_ce()), x, y


def softmax_given_to_logits_loss():
    """A softmax head, computed by hand as a custom head would be, given to a
    loss with from_logits=True: the loss softmaxes probabilities again, its
    predictions stay near uniform and its gradients small. (Keras's own
    softmax would not do: on TensorFlow the loss finds the Softmax op, takes
    its input as the logits and only warns.)"""
    keras = _keras()
    ops = keras.ops

    class HandSoftmax(keras.layers.Layer):
        def call(self, inputs):
            exp = ops.exp(inputs - ops.max(inputs, axis=-1, keepdims=True))
            return exp / ops.sum(exp, axis=-1, keepdims=True)

    x, y = digits()
    model = mlp(64, 2, kernel_initializer="he_normal")
    model.add(HandSoftmax(name="softmax"))
    return _compile(model, _adam(1e-3), sparse_ce(from_logits=True)), x, y


def inputs_off_center():
    x, y = digits(standardized=False)
    return (
        _compile(mlp(64, 2, activation="tanh"), _sgd(1e-3), sparse_ce()),
        x + 100.0,
        y,
    )


def inputs_badly_scaled():
    x, y = regression()
    model = mlp(10, 3, outputs=1, activation="tanh")
    return _compile(model, _sgd(0.01), "mse"), 1000.0 * x, y


def inputs_one_wide_feature():
    # Standardized pixels beside one feature in raw units (here a noise
    # feature of spread 1000, in place of a blank pixel): it dominates the
    # first layer, and one learning rate cannot suit its weights and the
    # others'.
    x, y = digits()
    x[:, 0] = np.random.default_rng(0).normal(0.0, 1000.0, size=len(x))
    model = mlp(64, 2, kernel_initializer="he_normal")
    return _compile(model, _adam(1e-3), sparse_ce()), x, y


def nan_in_inputs():
    x, y = regression()
    x = x.copy()
    x[::50, 3] = np.nan
    model = mlp(10, 3, outputs=1, kernel_initializer="he_normal")
    return _compile(model, _adam(1e-3), "mse"), x, y


def inf_in_targets():
    x, y = regression()
    y = y.copy()
    y[100] = np.inf
    model = mlp(10, 3, outputs=1, kernel_initializer="he_normal")
    return _compile(model, _adam(1e-3), "mse"), x, y


def frozen_hidden_layer():
    """The first hidden layer frozen by mistake (say, left over from a
    fine-tuning recipe), at its random initialisation."""
    x, y = digits()
    model = mlp(64, 3, units=16, kernel_initializer="he_normal")
    model.get_layer("h1").trainable = False
    return _compile(model, _adam(1e-3), sparse_ce()), x, y


def frozen_all_but_head():
    """Every layer but the head frozen, with random weights: a linear
    classifier of random features that looks like it trains."""
    x, y = digits()
    model = mlp(64, 3, units=8, activation="tanh")
    for layer in model.layers[:-1]:
        layer.trainable = False
    return _compile(model, _adam(1e-3), sparse_ce()), x, y


def noisy_small_batch():
    x, y = digits(n=400)
    model = mlp(64, 2, kernel_initializer="he_normal")
    return _compile(model, _sgd(0.3), sparse_ce()), x, y


def replaced_relu_dead():
    """A tanh net whose pre-activations sit far below zero (bias -4: tanh
    still passes a gradient there), swapped to ReLU by replace_activations:
    the ReLUs are dead from the start."""
    import keras_acts

    x, y = regression()
    model = mlp(10, 3, outputs=1, activation="tanh", bias_initializer=_constant(-4.0))
    model = keras_acts.replace_activations(model, "tanh", _keras().layers.ReLU)
    return _compile(model, _adam(1e-3), "mse"), x, y


# Healthy runs -----------------------------------------------------------


def healthy_mlp_digits():
    x, y = digits()
    model = mlp(64, 2, kernel_initializer="he_normal")
    return _compile(model, _adam(1e-3), sparse_ce()), x, y


def healthy_tanh_regression():
    x, y = regression()
    model = mlp(10, 3, outputs=1, activation="tanh")
    return _compile(model, _sgd(0.05), "mse"), x, y


def healthy_cnn_digits():
    keras = _keras()
    x, y = digits(images=True)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="c1"),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="c2"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(32, "relu", name="h1"),
            keras.layers.Dense(10, name="out"),
        ],
        name="cnn",
    )
    return _compile(model, _adam(1e-3), sparse_ce()), x, y


def healthy_batchnorm_mlp():
    keras = _keras()
    x, y = digits()
    inputs = keras.Input((64,))
    h = inputs
    for i in range(1, 7):
        h = keras.layers.Dense(32, use_bias=False, name=f"h{i}")(h)
        h = keras.layers.BatchNormalization(name=f"bn{i}")(h)
        h = keras.layers.Activation("relu", name=f"relu{i}")(h)
    model = keras.Model(inputs, keras.layers.Dense(10, name="out")(h), name="bn_mlp")
    return _compile(model, _sgd(0.05, momentum=0.9), sparse_ce()), x, y


def healthy_residual_mlp():
    keras = _keras()
    x, y = regression()
    inputs = keras.Input((10,))
    h = keras.layers.Dense(32, name="stem")(inputs)
    for i in range(1, 7):
        branch = keras.layers.Dense(
            32, "relu", kernel_initializer="he_normal", name=f"r{i}a"
        )(h)
        branch = keras.layers.Dense(32, kernel_initializer="zeros", name=f"r{i}b")(
            branch
        )
        h = keras.layers.Add(name=f"add{i}")([h, branch])
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(h), name="resnet_mlp")
    return _compile(model, _adam(1e-3), "mse"), x, y


def healthy_residual_cnn():
    keras = _keras()
    x, y = digits(images=True)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(16, 3, padding="same", name="stem")(inputs)
    for i in range(1, 4):
        branch = keras.layers.BatchNormalization(name=f"bn{i}")(h)
        branch = keras.layers.Activation("relu", name=f"relu{i}")(branch)
        branch = keras.layers.Conv2D(16, 3, padding="same", name=f"conv{i}")(branch)
        h = keras.layers.Add(name=f"add{i}")([h, branch])
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(10, name="out")(h), name="rescnn")
    return _compile(model, _adam(1e-3), sparse_ce()), x, y


def healthy_lstm_sequences():
    keras = _keras()
    x, y = sequences()
    model = keras.Sequential(
        [
            keras.Input(x.shape[1:]),
            keras.layers.LSTM(16, name="lstm"),
            keras.layers.Dense(1, name="out"),
        ],
        name="lstm",
    )
    return _compile(model, _adam(3e-3), "mse"), x, y


def healthy_standardize_first():
    """Raw, off-centre inputs, standardized by an adapted Standardize layer
    first: the advice of inputs_off_center, already followed."""
    import keras_acts

    keras = _keras()
    x, y = digits(standardized=False)
    x = x + 100.0
    standardize = keras_acts.Standardize(name="standardize")
    standardize.adapt(x)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            standardize,
            keras.layers.Dense(32, "relu", kernel_initializer="he_normal", name="h1"),
            keras.layers.Dense(32, "relu", kernel_initializer="he_normal", name="h2"),
            keras.layers.Dense(10, name="out"),
        ],
        name="standardized",
    )
    return _compile(model, _adam(1e-3), sparse_ce()), x, y


def _learned_activation_mlp(activation):
    keras = _keras()
    x, y = digits()
    layers = [keras.Input((64,))]
    for i in range(1, 4):
        layers += [
            keras.layers.Dense(32, kernel_initializer="he_normal", name=f"h{i}"),
            activation(name=f"act{i}"),
        ]
    layers.append(keras.layers.Dense(10, name="out"))
    model = keras.Sequential(layers, name="learned")
    return _compile(model, _adam(1e-3), sparse_ce()), x, y


def healthy_prelu_mlp():
    import keras_acts

    return _learned_activation_mlp(keras_acts.PReLU)


def healthy_parametric_elu_mlp():
    import keras_acts

    return _learned_activation_mlp(keras_acts.ParametricELU)


def healthy_mobilenet_v3_small():
    keras = _keras()
    x, y = digits(images=True, n=256)
    x = np.repeat(np.repeat(x, 4, axis=1), 4, axis=2)  # 32x32
    x = np.repeat(x, 3, axis=3)
    model = keras.applications.MobileNetV3Small(
        weights=None,
        input_shape=(32, 32, 3),
        classes=10,
        classifier_activation=None,
        include_preprocessing=False,
    )
    model.compile(_adam(1e-3), sparse_ce(), jit_compile=False)
    return model, x, y


def healthy_tiny_bert():
    import keras_hub

    keras = _keras()
    ids, y = tokens()
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=100,
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=16,
    )
    inputs = {
        t.name: keras.Input((16,), dtype="int32", name=t.name) for t in backbone.inputs
    }
    pooled = backbone(inputs)["pooled_output"]
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(pooled))
    x = {
        "token_ids": ids,
        "padding_mask": np.ones_like(ids),
        "segment_ids": np.zeros_like(ids),
    }
    x = {name: x[name] for name in inputs}
    return _compile(model, _adam(1e-3), sparse_ce()), x, y


def _needs(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _b(name, expected, build, acceptable=(), **kwargs):
    return Case(
        name,
        "broken",
        frozenset(expected),
        build,
        acceptable=frozenset(acceptable),
        **kwargs,
    )


def _h(name, build, **kwargs):
    return Case(name, "healthy", frozenset(), build, **kwargs)


CASES = [
    # Vanishing gradients.
    _b(
        "deep_sigmoid",
        {"vanishing"},
        deep_sigmoid,
        {"off_center", "stalled", "saturated"},
        fast=True,
    ),
    _b("deep_tanh_small_init", {"vanishing"}, deep_tanh_small_init, {"stalled"}),
    _b("tiny_init_relu", {"vanishing"}, tiny_init_relu, {"stalled", "dead"}),
    # Exploding gradients.
    _b(
        "large_init_relu",
        {"exploding"},
        large_init_relu,
        {"nonfinite", "dead"},
        fast=True,
    ),
    _b("deep_linear_large_init", {"exploding"}, deep_linear_large_init, {"nonfinite"}),
    _b("rnn_recurrent_gain", {"exploding"}, rnn_recurrent_gain, {"nonfinite"}),
    _b(
        "unscaled_targets_sgd",
        {"exploding", "targets_unscaled"},
        unscaled_targets_sgd,
        {"nonfinite", "dead"},
    ),
    _b("unscaled_targets_adam", {"targets_unscaled"}, unscaled_targets_adam, fast=True),
    # Learning rate far too high.
    _b(
        "lr_divergence",
        {"exploding"},
        lr_divergence,
        {"nonfinite", "dead", "lr_too_high"},
    ),
    _b(
        "lr_regression_divergence",
        {"exploding"},
        lr_regression_divergence,
        {"nonfinite", "saturated", "lr_too_high"},
    ),
    _b(
        "lr_oscillation_cross_entropy",
        {"lr_too_high"},
        lr_oscillation_cross_entropy,
        {"saturated"},
    ),
    _b(
        "lr_oscillation_bounded", {"lr_too_high"}, lr_oscillation_bounded, {"saturated"}
    ),
    # Fast: named, and nothing else flagged, on all three backends (the
    # bounded SGD case gets stalled and vanishing too on JAX).
    _b(
        "lr_adam_too_high",
        {"lr_too_high"},
        lr_adam_too_high,
        {"saturated"},
        fast=True,
    ),
    # Learning rate far too low.
    _b("lr_too_low_sgd", {"stalled"}, lr_too_low_sgd, fast=True),
    _b("lr_too_low_adam", {"stalled"}, lr_too_low_adam),
    # Dead ReLUs.
    _b(
        "dead_negative_bias",
        {"dead"},
        dead_negative_bias,
        {"vanishing", "stalled"},
        fast=True,
    ),
    _b(
        "dead_conv_negative_bias",
        {"dead"},
        dead_conv_negative_bias,
        {"vanishing", "stalled"},
    ),
    _b(
        "dying_relu_high_lr",
        {"dead"},
        dying_relu_high_lr,
        {"exploding", "vanishing", "lr_too_high"},
    ),
    # Saturation.
    _b(
        "saturated_sigmoid_large_init",
        {"saturated"},
        saturated_sigmoid_large_init,
        {"vanishing", "off_center"},
        fast=True,
    ),
    _b(
        "saturated_tanh_large_init",
        {"saturated"},
        saturated_tanh_large_init,
        {"vanishing", "stalled"},
    ),
    _b(
        "softmax_given_to_logits_loss",
        {"saturated"},
        softmax_given_to_logits_loss,
        {"vanishing", "stalled"},
    ),
    # Inputs.
    _b(
        "inputs_off_center",
        {"inputs_off_center"},
        inputs_off_center,
        # Inputs near 100 make the loss's curvature so large that SGD at
        # 1e-3 overshoots it: true of the run, but centering is the cure.
        {"saturated", "vanishing", "lr_too_high"},
        fast=True,
    ),
    _b(
        "inputs_badly_scaled",
        {"saturated"},
        inputs_badly_scaled,
        {"vanishing", "exploding"},
    ),
    _b(
        "inputs_one_wide_feature",
        {"inputs_unscaled"},
        inputs_one_wide_feature,
        {"dead", "stalled"},
    ),
    _b("nan_in_inputs", {"nonfinite"}, nan_in_inputs, fast=True),
    _b("inf_in_targets", {"nonfinite"}, inf_in_targets),
    # A layer frozen by mistake.
    _b("frozen_hidden_layer", {"frozen"}, frozen_hidden_layer, fast=True),
    _b("frozen_all_but_head", {"frozen"}, frozen_all_but_head),
    # Noisy gradients: a batch too small for the learning rate.
    _b(
        "noisy_small_batch",
        {"noisy_gradients"},
        noisy_small_batch,
        {"dead", "vanishing", "lr_too_high"},
        batch_size=2,
        steps=200,
    ),
    # What an activation swap can cause.
    _b("replaced_relu_dead", {"dead"}, replaced_relu_dead, {"vanishing", "stalled"}),
    # Healthy runs.
    _h("healthy_mlp_digits", healthy_mlp_digits, fast=True),
    _h("healthy_tanh_regression", healthy_tanh_regression),
    _h("healthy_cnn_digits", healthy_cnn_digits, fast=True),
    _h("healthy_batchnorm_mlp", healthy_batchnorm_mlp),
    _h("healthy_residual_mlp", healthy_residual_mlp),
    _h("healthy_residual_cnn", healthy_residual_cnn),
    _h("healthy_lstm_sequences", healthy_lstm_sequences),
    _h("healthy_standardize_first", healthy_standardize_first),
    _h("healthy_prelu_mlp", healthy_prelu_mlp, fast=True),
    _h("healthy_parametric_elu_mlp", healthy_parametric_elu_mlp),
    _h(
        "healthy_mobilenet_v3_small",
        healthy_mobilenet_v3_small,
        steps=16,
        batch_size=16,
    ),
    _h("healthy_tiny_bert", healthy_tiny_bert, steps=32),
]
CASES_BY_NAME = {case.name: case for case in CASES}
assert len(CASES_BY_NAME) == len(CASES)


def available(case: Case) -> bool:
    """Whether the case can run here (the keras-hub one needs keras_hub)."""
    if case.name == "healthy_tiny_bert":
        return _needs("keras_hub")
    return True


def fast_cases() -> list[Case]:
    return [case for case in CASES if case.fast]
