import json
import os
import pathlib
import runpy
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_checks import GRADIENT_TOLERANCE, run_layer_checks

import keras_acts
from keras_acts.layers._rational_coefficients import (
    COEFFICIENTS,
    FIT_RANGE,
    MAX_ERRORS,
)
from keras_acts.testing import check_gradients, vector_jacobian_product

ROOT = pathlib.Path(__file__).resolve().parents[1]
ops = keras.ops


def np_rational(x, numerator, denominator, variant="safe"):
    """P(x) / Q(x) in float64, by sums of powers (not Horner's scheme).
    Coefficients along axis 0, each broadcastable to x."""
    x = np.asarray(x, np.float64)
    numerator = np.asarray(numerator, np.float64)
    denominator = np.asarray(denominator, np.float64)
    p = sum(numerator[k] * x**k for k in range(len(numerator)))
    if variant == "safe":
        q = 1 + np.abs(
            sum(denominator[k] * x ** (k + 1) for k in range(len(denominator)))
        )
    else:
        q = 1 + sum(
            np.abs(denominator[k]) * np.abs(x) ** (k + 1)
            for k in range(len(denominator))
        )
    return p / q


def np_rational_gradients(x, numerator, denominator, variant, upstream):
    """The analytic gradients of sum(upstream * F) by x, a_k and b_k, for one
    set of coefficients."""
    x = np.asarray(x, np.float64)
    m, n = len(numerator) - 1, len(denominator)
    p = sum(numerator[k] * x**k for k in range(m + 1))
    dp = sum(k * numerator[k] * x ** (k - 1) for k in range(1, m + 1))
    if variant == "safe":
        inner = sum(denominator[k - 1] * x**k for k in range(1, n + 1))
        sign = np.where(inner < 0, -1.0, 1.0)
        q = 1 + np.abs(inner)
        dq = sign * sum(k * denominator[k - 1] * x ** (k - 1) for k in range(1, n + 1))
        dq_db = [sign * x**k for k in range(1, n + 1)]
    else:
        b = np.abs(denominator)
        q = 1 + sum(b[k - 1] * np.abs(x) ** k for k in range(1, n + 1))
        dq = np.sign(x) * sum(
            k * b[k - 1] * np.abs(x) ** (k - 1) for k in range(1, n + 1)
        )
        dq_db = [np.sign(denominator[k - 1]) * np.abs(x) ** k for k in range(1, n + 1)]
    f = p / q
    return {
        "inputs": upstream * (dp - f * dq) / q,
        "numerator": np.array([np.sum(upstream * x**k / q) for k in range(m + 1)]),
        "denominator": np.array([np.sum(-upstream * f / q * d) for d in dq_db]),
    }


TARGETS = {
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
    "relu": lambda x: np.maximum(x, 0),
    "gelu": lambda x: ops.convert_to_numpy(
        keras.activations.gelu(ops.convert_to_tensor(x, "float64"))
    ),
    "swish": lambda x: x / (1 + np.exp(-x)),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
}


def random_coefficients(rng, m=5, n=4, channels=()):
    """Coefficients that keep F moderate on inputs of a few units."""
    numerator = rng.uniform(-1, 1, size=(m + 1, *channels)) / 2.0 ** np.arange(
        m + 1
    ).reshape((-1,) + (1,) * len(channels))
    denominator = rng.uniform(0.2, 1, size=(n, *channels)) * rng.choice(
        [-1, 1], size=(n, *channels)
    )
    return numerator.astype("float32"), denominator.astype("float32")


@pytest.mark.parametrize(
    "kwargs, input_shape",
    [
        ({}, (4, 5)),
        ({"variant": "absolute", "channel_axis": -1}, (2, 3, 4)),
        ({"approximation": "tanh", "channel_axis": 1}, (2, 3, 4, 5)),
        ({"shared_axes": [1, 2], "numerator_regularizer": "l2"}, (2, 3, 4, 5)),
        (
            {
                "approximation": None,
                "numerator_degree": 3,
                "denominator_degree": 2,
                "numerator_initializer": [0.0, 1.0, 0.5, 0.1],
                "denominator_initializer": "zeros",
                "denominator_constraint": "non_neg",
            },
            (4, 6),
        ),
        (
            {"approximation": "gelu", "numerator_degree": 6, "variant": "absolute"},
            (3, 4),
        ),
    ],
)
def test_layer_checks(kwargs, input_shape, tmp_path):
    run_layer_checks(keras_acts.Rational, kwargs, input_shape, tmp_path)


@pytest.mark.parametrize("variant", ["safe", "absolute"])
@pytest.mark.parametrize(
    "kwargs, input_shape, channels, broadcast",
    [
        ({}, (3, 7), (), ()),
        ({"channel_axis": -1}, (2, 3, 4), (4,), (1, 1, 4)),
        ({"channel_axis": 1}, (2, 3, 4), (3,), (3, 1)),
        ({"shared_axes": [1]}, (2, 3, 4), (1, 4), (1, 4)),
        ({"shared_axes": []}, (2, 3), (3,), (3,)),
    ],
)
def test_values_against_numpy(variant, kwargs, input_shape, channels, broadcast, rng):
    x = (2 * rng.normal(size=input_shape)).astype("float32")
    layer = keras_acts.Rational(variant=variant, **kwargs)
    layer.build(x.shape)
    assert tuple(layer.numerator.shape) == (6, *channels)
    assert tuple(layer.denominator.shape) == (4, *channels)
    assert layer.numerator.dtype == layer.denominator.dtype == "float32"
    numerator, denominator = random_coefficients(rng, channels=channels)
    layer.numerator.assign(numerator)
    layer.denominator.assign(denominator)
    expected = np_rational(
        x,
        numerator.reshape((6, *broadcast)),
        denominator.reshape((4, *broadcast)),
        variant,
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("variant", ["safe", "absolute"])
@pytest.mark.parametrize("approximation", list(TARGETS))
def test_initial_coefficients_are_the_shipped_fit(approximation, variant):
    x = np.linspace(*FIT_RANGE, 601).astype("float32")[:, None]
    layer = keras_acts.Rational(approximation, variant=variant)
    outputs = ops.convert_to_numpy(layer(x))
    fitted = "swish" if approximation == "silu" else approximation
    numerator, denominator = COEFFICIENTS[variant][fitted]
    np.testing.assert_allclose(
        outputs, np_rational(x, numerator, denominator, variant), rtol=1e-5, atol=2e-6
    )
    error = np.max(np.abs(outputs - TARGETS[approximation](x.astype(np.float64))))
    # The fit's own error, and float32 rounding.
    assert error <= MAX_ERRORS[variant][fitted] * 1.01 + 2e-6


def test_larger_degrees_start_from_the_fit_padded_with_zeros(rng):
    x = (2 * rng.normal(size=(4, 5))).astype("float32")
    padded = keras_acts.Rational(numerator_degree=7, denominator_degree=6)
    np.testing.assert_allclose(
        ops.convert_to_numpy(padded(x)),
        ops.convert_to_numpy(keras_acts.Rational()(x)),
        rtol=1e-6,
        atol=1e-7,
    )
    np.testing.assert_array_equal(ops.convert_to_numpy(padded.numerator)[6:], 0)
    np.testing.assert_array_equal(ops.convert_to_numpy(padded.denominator)[4:], 0)


def test_channels_start_equal(rng):
    layer = keras_acts.Rational(approximation="tanh", channel_axis=-1)
    layer.build((None, 3))
    numerator = ops.convert_to_numpy(layer.numerator)
    np.testing.assert_allclose(
        numerator, np.repeat(numerator[:, :1], 3, axis=1), rtol=0, atol=0
    )
    np.testing.assert_allclose(
        numerator[:, 0], COEFFICIENTS["safe"]["tanh"][0], rtol=1e-7
    )


def test_the_fit_script_reproduces_the_shipped_coefficients():
    pytest.importorskip("scipy")
    script = runpy.run_path(str(ROOT / "docs" / "scripts" / "fit_rational.py"))
    coefficients, errors = script["fit_all"]()
    assert script["largest_difference"](COEFFICIENTS, coefficients) < 1e-6
    for variant, values in errors.items():
        for name, error in values.items():
            assert error == pytest.approx(MAX_ERRORS[variant][name], rel=0.02)


def test_the_docs_quote_the_fit_errors():
    for page in ("rational.md", "rational.ko.md"):
        text = (ROOT / "docs" / "layers" / page).read_text()
        for variant in ("safe", "absolute"):
            for name, error in MAX_ERRORS[variant].items():
                assert f"{error:.2g}" in text, (page, variant, name)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"variant": "absolute"}, {"channel_axis": -1}, {"shared_axes": [1]}],
)
def test_gradients_against_finite_differences(kwargs, rng):
    x = 1.5 * rng.normal(size=(3, 4))
    layer = keras_acts.Rational(**kwargs)
    layer.build(x.shape)
    channels = tuple(layer.numerator.shape[1:])
    numerator, denominator = random_coefficients(rng, channels=channels)
    layer.numerator.assign(numerator)
    layer.denominator.assign(denominator)
    errors = check_gradients(layer, x, tolerance=GRADIENT_TOLERANCE)
    assert set(errors) == {
        "inputs",
        f"{layer.name}/numerator",
        f"{layer.name}/denominator",
    }


class PlainRational(keras.layers.Layer):
    """The formula in keras.ops, differentiated by the backend's autodiff."""

    def __init__(self, numerator, denominator, variant, **kwargs):
        super().__init__(**kwargs)
        self.initial = (numerator, denominator)
        self.variant = variant

    def build(self, input_shape):
        for name, value in zip(("numerator", "denominator"), self.initial, strict=True):
            setattr(
                self,
                name,
                self.add_weight(
                    shape=np.shape(value),
                    initializer=keras.initializers.Constant(value),
                    name=name,
                ),
            )

    def call(self, x):
        a, b = self.numerator, self.denominator
        p = sum(a[k] * x**k for k in range(a.shape[0]))
        if self.variant == "safe":
            q = 1 + ops.abs(sum(b[k] * x ** (k + 1) for k in range(b.shape[0])))
        else:
            q = 1 + sum(
                ops.abs(b[k]) * ops.abs(x) ** (k + 1) for k in range(b.shape[0])
            )
        return p / q


@pytest.mark.parametrize("variant", ["safe", "absolute"])
def test_gradients_against_the_formula_and_autodiff(variant, rng):
    x = (2 * rng.normal(size=(16, 3))).astype("float32")
    upstream = rng.normal(size=x.shape).astype("float32")
    numerator, denominator = random_coefficients(rng)
    layer = keras_acts.Rational(variant=variant, name="rational")
    layer.build(x.shape)
    layer.numerator.assign(numerator)
    layer.denominator.assign(denominator)
    ours = vector_jacobian_product(layer, x, upstream)
    plain = vector_jacobian_product(
        PlainRational(numerator, denominator, variant, name="plain"), x, upstream
    )
    analytic = np_rational_gradients(x, numerator, denominator, variant, upstream)
    for name in ("inputs", "numerator", "denominator"):
        key = name if name == "inputs" else f"rational/{name}"
        other = name if name == "inputs" else f"plain/{name}"
        scale = np.max(np.abs(analytic[name]))
        np.testing.assert_allclose(ours[key], analytic[name], atol=1e-5 * scale)
        np.testing.assert_allclose(plain[other], analytic[name], atol=1e-5 * scale)


@pytest.mark.parametrize("variant", ["safe", "absolute"])
def test_zero_coefficients_still_learn(variant):
    # |z|' is taken as 1 at 0: a denominator started at zero moves.
    layer = keras_acts.Rational(
        approximation=None,
        variant=variant,
        numerator_initializer=[0.0, 1.0, 0.0, 0.0, 0.0, 0.1],
        denominator_initializer="zeros",
        name="rational",
    )
    x = np.array([[-2.0, -1.0, 0.5, 1.5]], "float32")
    gradients = vector_jacobian_product(layer, x, np.ones_like(x))
    assert np.all(gradients["rational/denominator"] != 0)


@pytest.mark.parametrize(
    "dtype", ["float16", "bfloat16", "mixed_float16", "mixed_bfloat16"]
)
@pytest.mark.parametrize("variant", ["safe", "absolute"])
def test_half_precision(dtype, variant, rng):
    layer = keras_acts.Rational(variant=variant, dtype=dtype, name="rational")
    reference = keras_acts.Rational(variant=variant)
    x = (2 * rng.normal(size=(8, 5))).astype("float32")
    outputs = layer(x)
    half = dtype.removeprefix("mixed_")
    assert keras.backend.standardize_dtype(outputs.dtype) == half
    tolerance = 1e-2 if half == "float16" else 4e-2
    np.testing.assert_allclose(
        np.asarray(ops.convert_to_numpy(outputs), np.float32),
        ops.convert_to_numpy(reference(x)),
        rtol=tolerance,
        atol=tolerance,
    )
    gradients = vector_jacobian_product(layer, x, np.ones_like(x))
    coefficients = (gradients["rational/numerator"], gradients["rational/denominator"])
    if dtype.startswith("mixed"):
        assert layer.numerator.dtype == "float32"
        assert all(g.dtype == np.float32 for g in coefficients)
    expected = vector_jacobian_product(reference, x, np.ones_like(x))
    np.testing.assert_allclose(
        np.asarray(coefficients[0], np.float32),
        expected[f"{reference.name}/numerator"],
        rtol=5 * tolerance,
        atol=5 * tolerance,
    )


@pytest.mark.parametrize(
    "dtype", ["float16", "mixed_float16", "mixed_bfloat16", "float32"]
)
@pytest.mark.parametrize("variant", ["safe", "absolute"])
def test_finite_for_large_inputs(dtype, variant):
    # x**5 is about 1.2e24 at float16's largest value: it overflows float16,
    # not the float32 in which the layer evaluates the polynomials.
    layer = keras_acts.Rational(variant=variant, dtype=dtype, name="rational")
    x = np.array([[65504.0, -65504.0, 3e4, -1e3, 300.0, 0.0]], "float32")
    outputs = np.asarray(ops.convert_to_numpy(layer(x)), np.float64)
    assert np.all(np.isfinite(outputs))
    numerator, denominator = COEFFICIENTS[variant]["leaky_relu"]
    np.testing.assert_allclose(
        outputs, np_rational(x, numerator, denominator, variant), rtol=1e-2
    )
    gradients = vector_jacobian_product(layer, x, np.ones_like(x))
    if dtype == "float16":
        # float16 coefficients: the gradient of a_5, about the sum of x/b_4
        # (3e5), is past float16's range itself. Mixed precision keeps them
        # in float32.
        gradients = {"inputs": gradients["inputs"]}
    for name, gradient in gradients.items():
        assert np.all(np.isfinite(np.asarray(gradient, np.float64))), name
    if dtype == "float32":
        x = np.array([[1e6, -1e6]], "float32")
        assert np.all(np.isfinite(ops.convert_to_numpy(layer(x))))


FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    import keras_acts  # registers the layers; no custom_objects below

    folder = sys.argv[1]
    x = np.load(f"{folder}/x.npy")
    model = keras.saving.load_model(f"{folder}/model.keras", safe_mode=True)
    layers = [layer for layer in model.layers if type(layer).__name__ == "Rational"]
    np.save(f"{folder}/loaded.npy", model.predict(x, verbose=0))
    print(json.dumps([layer.get_config()["variant"] for layer in layers]))
    """
)


def other_backends():
    import importlib.util

    current = keras.backend.backend()
    return [
        backend
        for backend in ("tensorflow", "jax", "torch")
        if backend != current and importlib.util.find_spec(backend) is not None
    ]


def test_saves_and_loads_in_a_fresh_process(tmp_path, rng):
    inputs = keras.Input((4, 6))
    h = keras.layers.Dense(6)(inputs)
    h = keras_acts.Rational(channel_axis=-1)(h)
    h = keras.layers.Dense(6)(h)
    h = keras_acts.Rational("tanh", variant="absolute", shared_axes=[1])(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(h)))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    x = rng.normal(size=(16, 4, 6)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    np.save(tmp_path / "x.npy", x)
    model.save(tmp_path / "model.keras")
    expected = model.predict(x, verbose=0)
    # In a fresh process of this backend, then of each other one installed.
    for backend in [keras.backend.backend(), *other_backends()]:
        child = subprocess.run(
            [sys.executable, "-c", FRESH_PROCESS, str(tmp_path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "KERAS_BACKEND": backend},
        )
        assert child.returncode == 0, child.stderr[-3000:]
        variants = json.loads(child.stdout.strip().splitlines()[-1])
        assert variants == ["safe", "absolute"]
        np.testing.assert_allclose(
            np.load(tmp_path / "loaded.npy"),
            expected,
            rtol=1e-5,
            atol=1e-6,
            err_msg=backend,
        )


@pytest.mark.parametrize("dtype", ["float32", "mixed_float16"])
def test_trains_compiled_in_a_model(dtype, rng):
    # XLA on TensorFlow, jit on JAX; PyTorch eagerly.
    keras.config.set_dtype_policy(dtype)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16),
            keras_acts.Rational(channel_axis=-1),
            keras.layers.Dense(16),
            keras_acts.Rational("gelu", variant="absolute"),
            keras.layers.Dense(1, dtype="float32"),
        ]
    )
    x = rng.normal(size=(128, 8)).astype("float32")
    y = np.sin(x @ rng.normal(size=(8, 1))).astype("float32")
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="mse",
        jit_compile=keras.backend.backend() != "torch",
    )
    losses = model.fit(x, y, epochs=15, batch_size=32, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.7 * losses[0]
    assert model.layers[1].numerator.dtype == "float32"


def test_replace_activations_round_trip(tmp_path, rng):
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(8),
            keras.layers.ReLU(),
            keras.layers.Dense(1),
        ]
    )
    x = rng.normal(size=(32, 5)).astype("float32")
    replaced = keras_acts.replace_activations(
        model, "relu", lambda: keras_acts.Rational("relu")
    )
    rationals = [
        layer for layer in replaced.layers if isinstance(layer, keras_acts.Rational)
    ]
    assert len(rationals) == 2
    # The fit of ReLU: within its error of the original model's outputs.
    original = model.predict(x, verbose=0)
    scale = np.max(np.abs(original)) + 1
    np.testing.assert_allclose(
        replaced.predict(x, verbose=0), original, atol=0.1 * scale
    )
    replaced.compile(optimizer="adam", loss="mse")
    replaced.fit(x, rng.normal(size=(32, 1)), epochs=1, verbose=0)
    path = tmp_path / "replaced.keras"
    replaced.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), replaced.predict(x, verbose=0), rtol=1e-6
    )


def test_activation_monitor_reports_the_coefficients(rng):
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8),
            keras_acts.Rational(),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    x = rng.normal(size=(32, 4)).astype("float32")
    monitor = keras_acts.ActivationMonitor(x[:16])
    model.fit(x, rng.normal(size=(32, 1)), epochs=1, verbose=0, callbacks=[monitor])
    assert "rational" in monitor.summary()
    parameters = {row["parameter"] for row in monitor.parameter_history}
    assert parameters == {"numerator", "denominator"}


APPROXIMATION_VALUES = [*TARGETS, None, "Relu", "", 3, "elu"]


@settings(max_examples=30, deadline=None)
@given(
    approximation=st.sampled_from(APPROXIMATION_VALUES),
    variant=st.sampled_from(["safe", "absolute", "A", None]),
    numerator_degree=st.one_of(st.integers(-1, 7), st.sampled_from([2.0, True])),
    denominator_degree=st.one_of(st.integers(-1, 6), st.sampled_from(["4"])),
    initializer=st.sampled_from([None, "zeros", [0.5, 1.0], 1.5, "x"]),
    dtype=st.sampled_from(["float32", "float16", "int32"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_arguments_give_the_right_value_or_a_clear_error(
    approximation,
    variant,
    numerator_degree,
    denominator_degree,
    initializer,
    dtype,
    seed,
):
    kwargs = {
        "approximation": approximation,
        "variant": variant,
        "numerator_degree": numerator_degree,
        "denominator_degree": denominator_degree,
        "numerator_initializer": initializer,
    }
    try:
        layer = keras_acts.Rational(**kwargs)
    except ValueError as error:
        message = str(error)
        names = [*kwargs, "denominator_initializer"]
        assert "Received:" in message, message
        assert any(f"{name}=" in message for name in names), message
        return
    x = 2 * np.random.default_rng(seed).normal(size=(3, 4))
    x = x.astype(dtype)
    outputs = np.asarray(ops.convert_to_numpy(layer(x)), np.float64)
    numerator = ops.convert_to_numpy(layer.numerator).astype(np.float64)
    denominator = ops.convert_to_numpy(layer.denominator).astype(np.float64)
    assert numerator.shape == (numerator_degree + 1,)
    assert denominator.shape == (denominator_degree,)
    expected = np_rational(x.astype(np.float64), numerator, denominator, variant)
    tolerance = 2e-2 if dtype == "float16" else 1e-5
    np.testing.assert_allclose(outputs, expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"approximation": "elu"}, "approximation='elu'"),
        ({"variant": "B"}, "variant='B'"),
        ({"numerator_degree": 0}, "numerator_degree=0"),
        ({"denominator_degree": 2.0}, "denominator_degree=2.0"),
        ({"numerator_degree": 4}, "numerator_degree=4"),
        ({"denominator_degree": 3}, "denominator_degree=3"),
        ({"approximation": None}, "numerator_initializer=None"),
        ({"numerator_initializer": [1.0, 2.0]}, r"numerator_initializer=\[1.0, 2.0\]"),
        ({"denominator_initializer": [1, 2, 3, np.nan]}, "denominator_initializer"),
        ({"denominator_initializer": 0.5}, "denominator_initializer=0.5"),
        ({"numerator_regularizer": 3}, "numerator_regularizer=3"),
        ({"denominator_constraint": "x"}, "denominator_constraint='x'"),
        ({"channel_axis": "last"}, "channel_axis='last'"),
        ({"shared_axes": -1}, "shared_axes=-1"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_acts.Rational(**kwargs)


@pytest.mark.parametrize(
    "kwargs, input_shape, match",
    [
        ({}, (4,), "rank >= 2"),
        ({"channel_axis": -3}, (None, 4), "channel_axis=-3"),
        ({"channel_axis": -1}, (None, 4, None), "channel axis must be known"),
        ({"shared_axes": [1, 5]}, (None, 4, 5), "shared_axes"),
    ],
)
def test_invalid_shapes(kwargs, input_shape, match):
    with pytest.raises(ValueError, match=match):
        keras_acts.Rational(**kwargs).build(input_shape)


MIRRORED = textwrap.dedent(
    """
    import json
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras, numpy as np
    import keras_acts

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")

    def trained():
        keras.utils.set_random_seed(3)
        model = keras.Sequential([
            keras.Input((6,)), keras.layers.Dense(8),
            keras_acts.Rational(channel_axis=-1), keras.layers.Dense(1),
        ])
        model.compile(keras.optimizers.SGD(0.05), "mse")
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        return model.layers[1]

    one = trained()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        mirrored = trained()
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "difference": max(
            float(np.max(np.abs(a.numpy() - b.numpy())))
            for a, b in zip(one.weights, mirrored.weights)
        ),
    }))
    """
)


@pytest.mark.tensorflow_only
def test_trains_under_mirrored_strategy():
    # The coefficients' gradients, summed per replica and all-reduced, give
    # the one-device training.
    child = subprocess.run(
        [sys.executable, "-c", MIRRORED],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert report["difference"] < 1e-5
