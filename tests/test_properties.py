"""Property-based tests of argument and input handling, for every public
object: whatever it is given, a correct value (against a NumPy reference) or
a ValueError/TypeError that names the argument; never another exception, a
NaN where the reference is finite, a crash or a hang.

Arguments are drawn from a pool of plausible and implausible values (NumPy
scalars, bools, NaN, infinities, strings, None, lists); inputs from small
arrays of every float, integer and bool dtype, empty batches included."""

import os
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import keras_acts

BACKEND = keras.backend.backend()
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

ODD_VALUES = st.sampled_from(
    [
        0,
        -1,
        1.5,
        np.nan,
        np.inf,
        -np.inf,
        True,
        False,
        None,
        "yes",
        "",
        [1],
        (),
        np.int64(-3),
        np.float32(0.0),
    ]
)
INTEGERS = st.one_of(
    st.integers(-3, 6), st.integers(1, 6).map(np.int64), st.integers(1, 6).map(np.int32)
)
FLOATS = st.one_of(
    st.floats(-2, 2, allow_nan=False),
    st.floats(0.01, 2).map(np.float32),
    st.sampled_from([np.nan, np.inf, -np.inf, 1e-30, 1e30]),
)


def maybe(strategy):
    """The argument's default (left out), a drawn value, or an odd one."""
    return st.one_of(st.just(None), strategy, ODD_VALUES)


def required(strategy):
    """A drawn value or an odd one, never left out."""
    return st.one_of(strategy, ODD_VALUES.filter(lambda value: value is not None))


def build(constructor, arguments):
    """The object, or None after a ValueError/TypeError naming an argument."""
    arguments = {k: v for k, v in arguments.items() if v is not None}
    try:
        return constructor(**arguments)
    except (ValueError, TypeError) as error:
        message = str(error)
        assert any(name in message for name in arguments), (
            f"{constructor.__name__}({arguments}) raised without naming the "
            f"argument: {message}"
        )
        return None


def named_error_or(function, names):
    """`function()`, or None after a ValueError naming one of `names`: a
    shape checked in `build`, data checked in `adapt`."""
    try:
        return function()
    except ValueError as error:
        assert any(name in str(error) for name in names), str(error)
        return None


def inputs(shape, dtypes=("float32", "float64", "float16", "int32", "uint8", "bool")):
    return st.tuples(
        st.sampled_from(dtypes), st.integers(0, 3), st.integers(0, 2**32 - 1)
    ).map(lambda a: _array(shape, *a))


def _array(shape, dtype, batch, seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(batch, *shape)) * 3
    if dtype == "bool":
        return values > 0
    return values.astype(dtype)


def assert_matches(actual, expected, dtype):
    actual = np.asarray(keras.ops.convert_to_numpy(actual), np.float64)
    assert actual.shape == expected.shape
    finite = np.isfinite(expected)
    assert np.all(np.isfinite(actual[finite])), (
        "NaN or Inf where the reference is finite"
    )
    tolerance = 2e-2 if dtype == "float16" else 1e-5
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance)


def floating(x):
    return np.asarray(x, np.float64)


@SETTINGS
@given(
    alpha=maybe(st.one_of(FLOATS, st.sampled_from(["zeros", "ones"]))),
    channel_axis=maybe(st.sampled_from([-1, 1, np.int64(-1)])),
    shared_axes=maybe(st.sampled_from([1, [1], np.int64(1)])),
    x=inputs((3,)),
    parametric_elu=st.booleans(),
)
def test_alpha_activations(alpha, channel_axis, shared_axes, x, parametric_elu):
    layer_class = keras_acts.ParametricELU if parametric_elu else keras_acts.PReLU
    layer = build(
        layer_class,
        {
            "alpha_initializer": alpha,
            "channel_axis": channel_axis,
            "shared_axes": shared_axes,
        },
    )
    if layer is None:
        return
    outputs = named_error_or(lambda: layer(x), ["channel_axis", "shared_axes"])
    if outputs is None:
        return
    slope = np.broadcast_to(floating(keras.ops.convert_to_numpy(layer.alpha)), (3,))
    values = floating(x)
    negative = slope * (np.expm1(values) if parametric_elu else values)
    expected = np.where(values > 0, values, negative)
    dtype = str(x.dtype)
    if dtype in ("int32", "uint8", "bool"):
        assert keras.backend.standardize_dtype(outputs.dtype) == "float32"
    assert_matches(outputs, expected, dtype)


@SETTINGS
@given(
    num_units=required(INTEGERS),
    axis=maybe(st.sampled_from([-1, 1, np.int64(-1)])),
    grouping=maybe(st.sampled_from(["contiguous", "interleaved", "other"])),
    x=inputs((6,)),
)
# Pairs of booleans, which TensorFlow's maximum refused (found by hypothesis).
@example(num_units=3, axis=None, grouping=None, x=_array((6,), "bool", 2, 0))
@example(num_units=3, axis=None, grouping=None, x=_array((6,), "bool", 0, 0))
def test_maxout(num_units, axis, grouping, x):
    layer = build(
        keras_acts.Maxout, {"num_units": num_units, "axis": axis, "grouping": grouping}
    )
    if layer is None:
        return
    outputs = named_error_or(lambda: layer(x), ["num_units", "axis"])
    if outputs is None:
        return
    units = layer.num_units
    pieces = 6 // units
    values = floating(x)
    if layer.grouping == "contiguous":
        expected = values.reshape(len(x), units, pieces).max(axis=-1)
    else:
        expected = values.reshape(len(x), pieces, units).max(axis=1)
    assert_matches(outputs, expected, str(x.dtype))


@SETTINGS
@given(
    units=required(INTEGERS),
    pieces=maybe(INTEGERS),
    use_bias=maybe(st.booleans()),
    x=inputs((4,)),
)
def test_maxout_dense(units, pieces, use_bias, x):
    layer = build(
        keras_acts.MaxoutDense, {"units": units, "pieces": pieces, "use_bias": use_bias}
    )
    if layer is None:
        return
    outputs = layer(x)
    assert keras.backend.is_float_dtype(keras.backend.standardize_dtype(outputs.dtype))
    kernel = floating(keras.ops.convert_to_numpy(layer.kernel))
    affine = floating(x) @ kernel
    if layer.use_bias:
        affine = affine + floating(keras.ops.convert_to_numpy(layer.bias))
    expected = affine.reshape(len(x), layer.units, layer.pieces).max(axis=-1)
    assert_matches(outputs, expected, str(x.dtype))


@SETTINGS
@given(
    axis=maybe(st.sampled_from([-1, 1, [1], np.int64(-1)])),
    center=maybe(st.booleans()),
    scale=maybe(st.booleans()),
    invert=maybe(st.booleans()),
    epsilon=maybe(FLOATS),
    data=inputs((3,), dtypes=("float32", "float64", "int32", "uint8")),
    x=inputs((3,)),
)
def test_standardize(axis, center, scale, invert, epsilon, data, x):
    layer = build(
        keras_acts.Standardize,
        {
            "axis": axis,
            "center": center,
            "scale": scale,
            "invert": invert,
            "epsilon": epsilon,
        },
    )
    if layer is None:
        return
    statistics = named_error_or(lambda: layer.adapt(data), ["axis", "row"])
    if statistics is None:
        return
    mean, variance = statistics["mean"], statistics["variance"]
    np.testing.assert_allclose(mean, floating(data).mean(0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(variance, floating(data).var(0), rtol=1e-6, atol=1e-9)
    stored_mean = floating(keras.ops.convert_to_numpy(layer.mean))
    stored_variance = floating(keras.ops.convert_to_numpy(layer.variance))
    floored = np.maximum(np.sqrt(stored_variance), layer.epsilon)
    std = np.where(stored_variance > 0, floored, 1)
    values = floating(x)
    if layer.invert:
        expected = (values * std if layer.scale else values) + (
            stored_mean if layer.center else 0
        )
    else:
        expected = (values - stored_mean if layer.center else values) / (
            std if layer.scale else 1
        )
    assert_matches(layer(x), expected, str(x.dtype))


@SETTINGS
@given(
    freq=maybe(st.one_of(INTEGERS, st.just("epoch"))),
    histograms=maybe(st.booleans()),
    append=maybe(st.booleans()),
    stats=maybe(st.sampled_from([["l2"], "l2", ["l3"], []])),
    on_nonfinite=maybe(st.sampled_from(["warn", "stop", "raise", "ignore"])),
    vanishing_ratio=maybe(FLOATS),
    exploding_threshold=maybe(FLOATS),
    warn=maybe(st.sampled_from([True, ["vanishing"], ["dead"], "vanishing"])),
)
def test_gradient_monitor_arguments(
    freq,
    histograms,
    append,
    stats,
    on_nonfinite,
    vanishing_ratio,
    exploding_threshold,
    warn,
):
    monitor = build(
        keras_acts.GradientMonitor,
        {
            "freq": freq,
            "histograms": histograms,
            "append": append,
            "stats": stats,
            "on_nonfinite": on_nonfinite,
            "vanishing_ratio": vanishing_ratio,
            "exploding_threshold": exploding_threshold,
            "warn": warn,
        },
    )
    if monitor is not None:
        assert monitor.freq in ("epoch", "auto") or isinstance(monitor.freq, int)
        assert monitor.vanishing_ratio > 0 and np.isfinite(monitor.vanishing_ratio)


@SETTINGS
@given(
    freq=maybe(st.one_of(INTEGERS, st.just("epoch"))),
    dead_threshold=maybe(FLOATS),
    saturation_margin=maybe(FLOATS),
    append=maybe(st.booleans()),
    warn=maybe(st.sampled_from([False, ["dead"], ["vanishing"]])),
    data=st.sampled_from(
        [np.zeros((4, 3)), np.zeros((0, 3)), (np.zeros((4, 3)), np.zeros((3, 1)))]
    ),
)
def test_activation_monitor_arguments(
    freq, dead_threshold, saturation_margin, append, warn, data
):
    build(
        keras_acts.ActivationMonitor,
        {
            "data": data,
            "freq": freq,
            "dead_threshold": dead_threshold,
            "saturation_margin": saturation_margin,
            "append": append,
            "warn": warn,
        },
    )


@SETTINGS
@given(
    epsilon=maybe(st.floats(1e-6, 1e-2)),
    tolerance=maybe(FLOATS),
    seed=maybe(INTEGERS),
)
def test_check_gradients_arguments(epsilon, tolerance, seed):
    def check_gradients(**arguments):
        return keras_acts.testing.check_gradients(
            keras.ops.tanh, np.linspace(-1, 1, 4).reshape(2, 2), **arguments
        )

    check_gradients.__name__ = "check_gradients"
    try:
        errors = build(
            check_gradients,
            {"epsilon": epsilon, "tolerance": tolerance, "seed": seed},
        )
    except AssertionError as error:  # a tolerance below the achieved error
        assert "tolerance" in str(error)
        return
    if errors is not None and (epsilon is None or epsilon <= 1e-2):
        assert errors["inputs"] < 1e-2


ADAPT_IN_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    import keras_acts

    for batch_size in (-1, 0, 1, 2.5, True, np.int64(3), 10**9, None):
        for steps in (-1, 0, 1, None):
            try:
                keras_acts.Standardize().adapt(
                    np.ones((5, 2)), batch_size=batch_size, steps=steps
                )
            except ValueError as error:
                message = str(error)
                assert "batch_size" in message or "steps" in message, message
    print("done")
    """
)


def test_adapt_arguments_neither_crash_nor_hang():
    # Once a segfault (batch_size=-1) and a hang (batch_size=0): in a child
    # process, bounded in time.
    child = subprocess.run(
        [sys.executable, "-c", ADAPT_IN_CHILD],
        capture_output=True,
        text=True,
        timeout=240,
        env=dict(os.environ),
    )
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.strip().endswith("done")


@pytest.mark.parametrize("values", [[-np.inf, np.inf], [-60000.0, 60000.0]])
def test_prelu_at_extremes(values):
    x = np.array([values], "float16" if abs(values[0]) < np.inf else "float32")
    outputs = keras.ops.convert_to_numpy(keras_acts.PReLU(dtype=str(x.dtype))(x))
    np.testing.assert_allclose(
        np.asarray(outputs, np.float64), [[0.25 * values[0], values[1]]], rtol=1e-3
    )


# Issue #28: several GradientMonitors at once, and fits stopped by another
# callback, on one model that goes on training across examples (so stopped
# fits are followed by new ones).
_MONITORED = {}


class _StopAt(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step = step
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen - 1 == self.step:
            raise KeyboardInterrupt


def _monitored_model():
    if not _MONITORED:
        model = keras.Sequential(
            [
                keras.Input((3,)),
                keras.layers.Dense(4, activation="tanh"),
                keras.layers.Dense(2),
            ]
        )
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
        y = np.random.default_rng(1).normal(size=(8, 2)).astype("float32")
        model.fit(x, y, batch_size=2, verbose=0)
        _MONITORED.update(model=model, x=x, y=y, plain=model.train_function)
    return _MONITORED


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    freqs=st.lists(st.sampled_from([1, 2, 3, 5, "epoch"]), min_size=1, max_size=3),
    stop=st.one_of(st.none(), st.integers(0, 7)),
    stopper_first=st.booleans(),
)
def test_several_monitors_and_stopped_fits(freqs, stop, stopper_first):
    state = _monitored_model()
    model = state["model"]
    first = int(model.optimizer.iterations)
    monitors = [keras_acts.GradientMonitor(freq=freq) for freq in freqs]
    callbacks = list(monitors)
    if stop is not None:
        stopper = _StopAt(stop)
        callbacks = [stopper, *monitors] if stopper_first else [*monitors, stopper]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # 2 epochs of 4 steps.
            model.fit(
                state["x"],
                state["y"],
                batch_size=2,
                epochs=2,
                shuffle=False,
                verbose=0,
                callbacks=callbacks,
            )
        except KeyboardInterrupt:
            assert stop is not None
    # No warning: in particular none of records overwritten before read.
    assert not [str(w.message) for w in caught if "GradientMonitor" in str(w.message)]
    ran = int(model.optimizer.iterations) - first
    assert ran == (8 if stop is None else stop + 1)
    for freq, monitor in zip(freqs, monitors, strict=True):
        steps = range(first, first + ran)
        if freq == "epoch":
            due = [s for s in steps if (s - first) % 4 == 0]
        else:
            due = [s for s in steps if s % freq == 0]
        recorded = [r["step"] for r in monitor.history if r["layer"] == "(global)"]
        assert recorded == due, (freq, monitor)
    assert "apply" not in vars(model.optimizer)
    assert "train_step" not in vars(model)
    assert "make_train_function" not in vars(model)
    assert model.train_function is state["plain"]
