"""Data, fit and model helpers shared by the test modules.

Imported as `from helpers import ...`, like layer_checks: pytest puts tests/
on sys.path (rootdir-relative "prepend" imports), also in the child pytest
runs of test_backends.py."""

from __future__ import annotations

import keras
import numpy as np

# The plain SGD of the monitors' tests, whose expected records they compute.
LEARNING_RATE = 0.1


def data(samples=16, seed=0, outputs=2):
    """Normal inputs of 3 features and normal targets of `outputs`."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 3)).astype("float32")
    y = rng.normal(size=(samples, outputs)).astype("float32")
    return x, y


def regression_data(samples=256, features=10, offset=0.0, squash=None):
    """Normal inputs and a linear target (or `squash` of one), seed 0; the
    inputs shifted by `offset` after the target is formed."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, features)).astype("float32")
    y = x @ rng.normal(size=(features, 1))
    if squash is not None:
        y = squash(y)
    return x + offset, y.astype("float32")


def fit(model, callbacks, x, y, epochs=1, batch_size=8, **compile_kwargs):
    """Fit without shuffling or logs; `callbacks` a list, one callback or
    None. A model not compiled yet gets SGD(LEARNING_RATE) on the mean
    squared error, with `compile_kwargs`."""
    if not model.compiled:
        model.compile(
            optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="mse", **compile_kwargs
        )
    if callbacks is None:
        callbacks = []
    elif not isinstance(callbacks, list):
        callbacks = [callbacks]
    return model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        shuffle=False,
        verbose=0,
        callbacks=callbacks,
    )


class Subclassed(keras.Model):
    """A subclassed model: one Dense layer with a ReLU activation."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2, activation="relu")

    def call(self, inputs):
        return self.dense(inputs)


class HeadFirst(keras.Model):
    """A deep subclassed net that makes its head before its body (and, with
    `temperature`, a variable of its own, applied last)."""

    def __init__(self, activation, initializer, depth=10, temperature=False):
        super().__init__(name="head_first")
        self.head = keras.layers.Dense(1, activation="sigmoid", name="head")
        self.body = [
            keras.layers.Dense(
                10, activation, kernel_initializer=initializer, name=f"s{i}"
            )
            for i in range(depth)
        ]
        self.has_temperature = temperature

    def build(self, input_shape):
        if self.has_temperature:
            self.temperature = self.add_weight(
                shape=(), initializer="ones", name="temperature"
            )

    def call(self, x):
        for layer in self.body:
            x = layer(x)
        if self.has_temperature:
            x = x * self.temperature
        return self.head(x)


def xor_data(samples=64):
    x = np.random.default_rng(0).normal(size=(samples, 2)).astype("float32")
    return x, (x[:, :1] * x[:, 1:] > 0).astype("float32")


def count_calls(layer) -> list:
    """Puts on `layer` a `call` of the user's own, as an instance attribute,
    that counts its calls: the list returned gets one item per call."""
    calls = []
    call = layer.call

    def counted_call(*args, **kwargs):
        calls.append(1)
        return call(*args, **kwargs)

    layer.call = counted_call
    return calls


# Tiny keras-hub backbones, built from arguments (no presets, no downloads).
class ScaledAdam(keras.optimizers.Adam):
    """A custom optimizer whose `get_config` lacks its own argument, as many
    users' do: `from_config` cannot make it again."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale


class ConfiglessAdam(keras.optimizers.Adam):
    """A custom optimizer whose `get_config` itself fails."""

    def get_config(self):
        raise NotImplementedError("ConfiglessAdam has no config")


KERAS_HUB_TEXT = dict(
    vocabulary_size=100,
    num_layers=2,
    num_heads=2,
    hidden_dim=16,
    intermediate_dim=32,
    max_sequence_length=16,
)
KERAS_HUB_RESNET = dict(
    input_conv_filters=[64],
    input_conv_kernel_sizes=[3],
    stackwise_num_filters=[64, 64],
    stackwise_num_blocks=[1, 1],
    stackwise_num_strides=[1, 2],
    block_type="basic_block",
    image_shape=(32, 32, 3),
)
