"""The checks the learnable activations share, each written once and run over
the layers it applies to: layer checks, values against the NumPy references,
finite-difference and analytic gradients, large inputs in float32 and mixed
precision, parameter gradients past float16's range, the default layer as a
Keras activation, any initializer arguments, the default constraints, and
invalid arguments and shapes.

What only one layer has stays in that layer's own test file."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from layer_checks import (
    GRADIENT_TOLERANCE,
    SNAKE_ALPHAS,
    np_parametric_elu,
    np_pelu,
    np_prelu,
    np_sigmoid,
    np_snake,
    np_snake_gradients,
    np_srelu,
    np_swish,
    run_layer_checks,
)

import keras_acts
from keras_acts.testing import check_gradients, vector_jacobian_product


@dataclasses.dataclass(frozen=True)
class Layer:
    cls: type
    prefix: str  # of its weights' paths
    parameters: tuple[str, ...]  # its weights, in the reference's order
    reference: Callable | None  # reference(x, *parameters)

    @property
    def gradient_keys(self):
        """The keys of vector_jacobian_product's and check_gradients' results."""
        return {"inputs"} | {f"{self.prefix}/{name}" for name in self.parameters}

    def parameter_values(self, layer, dtype="float32"):
        return [
            np.asarray(keras.ops.convert_to_numpy(getattr(layer, name)), dtype)
            for name in self.parameters
        ]


LAYERS = {
    "PReLU": Layer(keras_acts.PReLU, "p_re_lu", ("alpha",), np_prelu),
    "ParametricELU": Layer(
        keras_acts.ParametricELU, "parametric_elu", ("alpha",), np_parametric_elu
    ),
    "PELU": Layer(keras_acts.PELU, "pelu", ("a", "b"), np_pelu),
    "SReLU": Layer(
        keras_acts.SReLU,
        "s_re_lu",
        ("t_left", "a_left", "t_right", "a_right"),
        np_srelu,
    ),
    "Swish": Layer(keras_acts.Swish, "swish", ("beta",), np_swish),
    "Snake": Layer(keras_acts.Snake, "snake", ("alpha",), np_snake),
    "RReLU": Layer(keras_acts.RReLU, "r_re_lu", (), None),
}


def cases(table):
    """pytest.param per (layer name, case...) row, with the layer name in its id."""
    return [
        pytest.param(name, *row, id=f"{name}-{index}")
        for name, rows in table.items()
        for index, row in enumerate(rows)
    ]


# ---------------------------------------------------------------- layer checks

# SReLU: slopes away from 1 and inputs on every piece, so that every parameter
# gets a gradient in the fit step.
SRELU_TRAINS = {
    "a_right_initializer": 0.5,
    "t_left_initializer": -0.5,
    "t_right_initializer": 1.0,
}

LAYER_CHECKS = {
    "PReLU": [
        ({}, (4, 5)),
        ({}, (2, 3, 4, 5)),
        ({"channel_axis": 1}, (2, 3, 4, 5)),
        ({"channel_axis": None}, (2, 3, 4)),
        ({"shared_axes": [1, 2]}, (2, 3, 4, 5)),
        ({"alpha_regularizer": "l2", "alpha_constraint": "non_neg"}, (4, 6)),
    ],
    "ParametricELU": [
        ({}, (4, 5)),
        ({}, (2, 3, 4, 5)),
        ({"channel_axis": 1}, (2, 3, 4, 5)),
        ({"channel_axis": None, "alpha_constraint": None}, (2, 3, 4)),
        ({"shared_axes": [1, 2], "alpha_regularizer": "l1"}, (2, 3, 4, 5)),
    ],
    "PELU": [
        ({}, (4, 5)),
        ({}, (2, 3, 4, 5)),
        ({"channel_axis": 1, "b_initializer": 2.0}, (2, 3, 4, 5)),
        (
            {"channel_axis": None, "a_constraint": None, "b_constraint": "non_neg"},
            (2, 3, 4),
        ),
        (
            {"shared_axes": [1, 2], "a_regularizer": "l1", "b_regularizer": "l2"},
            (2, 3, 4, 5),
        ),
    ],
    "SReLU": [
        (SRELU_TRAINS, (4, 5)),
        (SRELU_TRAINS, (2, 3, 4, 5)),
        ({**SRELU_TRAINS, "channel_axis": 1, "a_right_initializer": 0.5}, (2, 3, 4, 5)),
        ({**SRELU_TRAINS, "channel_axis": None, "t_left_initializer": -1.0}, (2, 3, 4)),
        (
            {
                **SRELU_TRAINS,
                "shared_axes": [1, 2],
                "a_left_regularizer": "l1",
                "t_right_constraint": "non_neg",
            },
            (2, 3, 4, 5),
        ),
    ],
    "Swish": [
        ({}, (4, 5)),
        ({}, (2, 3, 4, 5)),
        ({"channel_axis": 1, "beta_initializer": 0.5}, (2, 3, 4, 5)),
        ({"channel_axis": None, "beta_constraint": "non_neg"}, (2, 3, 4)),
        ({"shared_axes": [1, 2], "beta_regularizer": "l2"}, (2, 3, 4, 5)),
    ],
    "Snake": [
        ({}, (4, 5)),
        ({}, (2, 3, 4, 5)),
        ({"channel_axis": 1}, (2, 3, 4, 5)),
        ({"channel_axis": None, "alpha_initializer": 0.5}, (2, 3, 4)),
        ({"shared_axes": [1, 2], "alpha_regularizer": "l1"}, (2, 3, 4, 5)),
        ({"alpha_initializer": "ones", "alpha_constraint": "non_neg"}, (4, 5)),
    ],
    "RReLU": [
        ({}, (4, 5)),
        ({"lower": 0.0, "upper": 0.5, "seed": 3}, (2, 3, 4, 5)),
        ({"lower": 0.2, "upper": 0.2}, (2, 3)),
    ],
}


@pytest.mark.parametrize("name, kwargs, input_shape", cases(LAYER_CHECKS))
def test_layer_checks(name, kwargs, input_shape, tmp_path):
    run_layer_checks(LAYERS[name].cls, kwargs, input_shape, tmp_path)


# --------------------------------------------------------- values against NumPy

# kwargs, input shape, the parameters' shape, their shape broadcast to the
# input's.
SHAPES = [
    ({}, (2, 3, 4, 5), (5,), (1, 1, 1, 5)),
    ({"channel_axis": 1}, (2, 3, 4), (3,), (1, 3, 1)),
    ({"channel_axis": None}, (3, 4), (), ()),
    ({"shared_axes": [1]}, (2, 3, 4), (1, 4), (1, 4)),
]

VALUE_CASES = {
    "PReLU": [
        ({}, (2, 3, 4, 5), (5,), (1, 1, 1, 5)),
        ({"channel_axis": 1}, (2, 3, 4, 5), (3,), (1, 3, 1, 1)),
        ({"channel_axis": -2}, (2, 3, 4), (3,), (1, 3, 1)),
        ({"channel_axis": None}, (2, 3, 4), (), ()),
        ({"shared_axes": [1, 2]}, (2, 3, 4, 5), (1, 1, 5), (1, 1, 5)),
        ({"shared_axes": 2}, (2, 3, 4), (3, 1), (3, 1)),
        ({"shared_axes": []}, (2, 3, 4), (3, 4), (3, 4)),
    ],
    "ParametricELU": SHAPES,
    "PELU": SHAPES,
    "SReLU": SHAPES,
    "Swish": SHAPES,
    "Snake": SHAPES,
}


@dataclasses.dataclass(frozen=True)
class ValueSpec:
    x_scale: float
    ranges: tuple[tuple[float, float], ...]  # uniform draws, one per parameter
    rtol: float
    atol: float


VALUE_SPECS = {
    "PReLU": ValueSpec(1.0, ((-1, 1),), rtol=1e-6, atol=0.0),
    "ParametricELU": ValueSpec(3.0, ((0.1, 2.0),), rtol=1e-5, atol=1e-7),
    "PELU": ValueSpec(3.0, ((0.2, 2.0), (0.2, 2.0)), rtol=1e-5, atol=1e-6),
    # t_right negative too: the distance between the thresholds is |t_right|.
    "SReLU": ValueSpec(
        3.0,
        ((-1.0, 0.5), (0.0, 1.0), (-3.0, 3.0), (0.0, 2.0)),
        rtol=1e-5,
        atol=1e-6,
    ),
    "Swish": ValueSpec(3.0, ((-1.0, 3.0),), rtol=1e-5, atol=1e-6),
    "Snake": ValueSpec(3.0, ((-3.0, 3.0),), rtol=1e-5, atol=1e-5),
}


@pytest.mark.parametrize(
    "name, kwargs, input_shape, shape, broadcast", cases(VALUE_CASES)
)
def test_values_against_numpy(name, kwargs, input_shape, shape, broadcast, rng):
    spec, described = VALUE_SPECS[name], LAYERS[name]
    x = (spec.x_scale * rng.normal(size=input_shape)).astype("float32")
    layer = described.cls(**kwargs)
    layer.build(x.shape)
    values = []
    for parameter, (low, high) in zip(described.parameters, spec.ranges, strict=True):
        weight = getattr(layer, parameter)
        assert tuple(weight.shape) == shape, parameter
        values.append(rng.uniform(low, high, size=shape).astype("float32"))
    for parameter, value in zip(described.parameters, values, strict=True):
        getattr(layer, parameter).assign(value)
    expected = described.reference(x, *(np.reshape(v, broadcast) for v in values))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)), expected, rtol=spec.rtol, atol=spec.atol
    )


# ----------------------------------------------- finite-difference gradients

# x scale, constructor arguments: parameters away from the kinks and from
# the values where a parameter's gradient vanishes.
GRADIENT_LAYERS = {
    "PReLU": (1.0, dict),
    "ParametricELU": (1.0, dict),
    "PELU": (1.0, lambda: {"a_initializer": 0.7, "b_initializer": 1.3}),
    "SReLU": (
        2.0,
        lambda: {
            "t_left_initializer": -0.5,
            "a_right_initializer": 0.5,
            "t_right_initializer": keras.initializers.RandomUniform(-2.0, 2.0, seed=1),
        },
    ),
    "Swish": (2.0, lambda: {"beta_initializer": 1.7}),
    "Snake": (1.0, dict),
}

AXES = [({}, (3, 4)), ({"channel_axis": None}, (3, 4)), ({"shared_axes": 1}, (3, 4))]

GRADIENT_CASES = {
    "PReLU": [
        ({}, (3, 4)),
        ({"channel_axis": 1}, (2, 3, 2)),
        ({"shared_axes": [1]}, (2, 2, 3)),
    ],
    "ParametricELU": AXES,
    "PELU": AXES,
    "SReLU": AXES,
    "Swish": AXES,
    "Snake": AXES + [({"shared_axes": []}, (3, 4))],
}


@pytest.mark.parametrize("name, kwargs, input_shape", cases(GRADIENT_CASES))
def test_gradients(name, kwargs, input_shape, rng):
    x_scale, arguments = GRADIENT_LAYERS[name]
    x = x_scale * rng.normal(size=input_shape)
    layer = LAYERS[name].cls(**arguments(), **kwargs)
    errors = check_gradients(layer, x, tolerance=GRADIENT_TOLERANCE)
    assert set(errors) == LAYERS[name].gradient_keys


# ------------------------------------------------------ analytic gradients
# Each: the expected vector-Jacobian products of `upstream`, as
# {key: (value, rtol, atol)}.


def prelu_gradients(x, upstream):
    alpha = 0.25  # the default
    return {
        "inputs": (upstream * np.where(x > 0, 1.0, alpha), 1e-6, 0.0),
        "p_re_lu/alpha": (np.sum(upstream * np.minimum(x, 0), axis=0), 1e-5, 0.0),
    }


def parametric_elu_gradients(x, upstream, alpha):
    negative = np.minimum(x, 0)
    return {
        "inputs": (
            upstream * np.where(x > 0, 1.0, alpha * np.exp(negative)),
            1e-5,
            0.0,
        ),
        "parametric_elu/alpha": (
            np.sum(upstream * np.expm1(negative), axis=0),
            1e-5,
            0.0,
        ),
    }


def pelu_gradients(x, upstream, a, b):
    exponential = np.exp(np.minimum(x, 0) / b)
    return {
        "inputs": (upstream * np.where(x >= 0, a / b, a / b * exponential), 1e-5, 0.0),
        "pelu/a": (
            np.sum(upstream * np.where(x >= 0, x / b, exponential - 1), axis=0),
            1e-5,
            0.0,
        ),
        "pelu/b": (
            np.sum(
                upstream * np.where(x >= 0, -a * x / b**2, -a * x / b**2 * exponential),
                axis=0,
            ),
            1e-5,
            0.0,
        ),
    }


def srelu_gradients(x, upstream, t_left, a_left, t_right, a_right):
    right = t_left + np.abs(t_right)
    below, above = x < t_left, x > right
    pushed_right = np.sum(upstream * above, axis=0) * (1 - a_right)
    return {
        "inputs": (
            upstream * np.where(below, a_left, np.where(above, a_right, 1.0)),
            1e-6,
            0.0,
        ),
        "s_re_lu/t_left": (
            np.sum(upstream * below, axis=0) * (1 - a_left) + pushed_right,
            1e-5,
            1e-6,
        ),
        "s_re_lu/a_left": (
            np.sum(upstream * np.minimum(x - t_left, 0), axis=0),
            1e-5,
            1e-6,
        ),
        "s_re_lu/t_right": (np.sign(t_right) * pushed_right, 1e-5, 1e-6),
        "s_re_lu/a_right": (
            np.sum(upstream * np.maximum(x - right, 0), axis=0),
            1e-5,
            1e-6,
        ),
    }


def swish_gradients(x, upstream, beta):
    gate = np_sigmoid(beta * x)
    derivative = gate * np_sigmoid(-beta * x)  # sigmoid'(beta * x)
    return {
        "inputs": (upstream * (gate + beta * x * derivative), 1e-5, 1e-7),
        "swish/beta": (np.sum(upstream * x**2 * derivative, axis=0), 1e-5, 0.0),
    }


def snake_gradients(x, upstream, alpha):
    dx, dalpha = np_snake_gradients(x, alpha.astype("float64"))
    return {
        "inputs": (upstream * dx, 1e-5, 1e-6),
        "snake/alpha": (np.sum(upstream * dalpha, axis=0), 1e-4, 1e-5),
    }


def _f32(*values):
    return np.array(values, "float32")


# x shape and scale, the parameters' values (none: the layer's defaults), the
# expected gradients.
FORMULAS = {
    "PReLU": ((6, 3), 1.0, (), prelu_gradients),
    "ParametricELU": ((5, 3), 2.0, (_f32(0.5, 1.0, 1.5),), parametric_elu_gradients),
    "PELU": ((6, 3), 2.0, (_f32(0.5, 1.0, 1.5), _f32(2.0, 0.3, 1.0)), pelu_gradients),
    "SReLU": (
        (8, 3),
        2.0,
        (
            _f32(-0.5, 0.0, -1.0),
            _f32(0.1, 0.5, 0.9),
            _f32(1.0, -0.5, 2.0),
            _f32(0.3, 2.0, 1.5),
        ),
        srelu_gradients,
    ),
    "Swish": ((6, 3), 3.0, (_f32(0.5, 1.0, 4.0),), swish_gradients),
    "Snake": ((5, len(SNAKE_ALPHAS)), 2.0, (SNAKE_ALPHAS,), snake_gradients),
}


@pytest.mark.parametrize("name", FORMULAS)
def test_gradient_formula(name, rng):
    shape, x_scale, values, formula = FORMULAS[name]
    described = LAYERS[name]
    x = (x_scale * rng.normal(size=shape)).astype("float32")
    upstream = rng.normal(size=x.shape).astype("float32")
    layer = described.cls()
    if values:
        layer.build(x.shape)
        for parameter, value in zip(described.parameters, values, strict=True):
            getattr(layer, parameter).assign(value)
    gradients = vector_jacobian_product(layer, x, upstream)
    expected = formula(x, upstream, *values)
    assert set(expected) == described.gradient_keys
    for key, (value, rtol, atol) in expected.items():
        np.testing.assert_allclose(
            gradients[key], value, rtol=rtol, atol=atol, err_msg=key
        )


# ------------------------------------------------------------ large inputs

LARGE = np.array([[30.0, 100.0, 1e4, -1e4, -30.0]], "float32")

# Constructor arguments, and the expected gradients as (key, index, value,
# rtol, atol).
LARGE_INPUTS = {
    "ParametricELU": (
        {},
        [
            ("inputs", np.s_[0, :3], [1.0, 1.0, 1.0], 1e-7, 0.0),
            ("parametric_elu/alpha", ..., [0, 0, 0, -1, -1], 1e-7, 1e-6),
        ],
    ),
    "PELU": (
        {},
        [
            ("inputs", ..., [[1, 1, 1, 0, 0]], 1e-7, 1e-6),
            ("pelu/a", ..., [30, 100, 1e4, -1, -1], 1e-2, 1e-6),
            ("pelu/b", ..., [-30, -100, -1e4, 0, 0], 1e-2, 1e-6),
        ],
    ),
    "SReLU": (
        {
            "t_left_initializer": -1.0,
            "a_left_initializer": 0.25,
            "t_right_initializer": 2.0,
            "a_right_initializer": 0.5,
            "channel_axis": None,
        },
        [
            ("inputs", ..., [[0.5, 0.5, 0.5, 0.25, 0.25]], 1e-7, 0.0),
            ("s_re_lu/t_left", ..., 0.75 * 2 + 0.5 * 3, 1e-7, 0.0),
            ("s_re_lu/t_right", ..., 0.5 * 3, 1e-7, 0.0),
            ("s_re_lu/a_right", ..., 29 + 99 + 9999, 1e-2, 0.0),
            ("s_re_lu/a_left", ..., -9999 - 29, 1e-2, 0.0),
        ],
    ),
    "Swish": (
        {},
        [
            ("inputs", ..., [[1, 1, 1, 0, 0]], 1e-7, 1e-6),
            ("swish/beta", ..., 0, 1e-7, 1e-6),
        ],
    ),
}


@pytest.mark.parametrize("dtype", ["float32", "mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("name", LARGE_INPUTS)
def test_gradient_stays_finite_for_large_inputs(name, dtype):
    kwargs, expected = LARGE_INPUTS[name]
    described = LAYERS[name]
    layer = described.cls(dtype=dtype, **kwargs)
    outputs = keras.ops.convert_to_numpy(layer(LARGE)).astype("float32")
    gradients = vector_jacobian_product(layer, LARGE, np.ones_like(LARGE))
    assert set(gradients) == described.gradient_keys
    assert np.all(np.isfinite(outputs))
    for key, value in gradients.items():
        assert np.all(np.isfinite(value)), key
        if key != "inputs":  # the parameters' gradients are float32
            assert value.dtype == np.float32, key
    np.testing.assert_allclose(
        outputs,
        described.reference(LARGE, *described.parameter_values(layer)),
        rtol=1e-2,
        atol=1e-6,
    )
    for key, index, value, rtol, atol in expected:
        np.testing.assert_allclose(
            gradients[key][index], value, rtol=rtol, atol=atol, err_msg=key
        )


# A float16 parameter in between (Keras's autocast) turned these sums into
# -inf on PyTorch; they must be summed in float32. Constructor arguments, the
# input's value (4 of them), the dtype, the expected gradients, rtol.
SRELU_RIGHT = {"t_right_initializer": 0.0, "a_right_initializer": 0.5}
HALF = ("mixed_float16", "mixed_bfloat16")
BEYOND_FLOAT16 = [
    # sum(upstream * min(x, 0)) = -1.2e5; ParametricELU's saturates at -4.
    ("PReLU", {}, -3e4, "mixed_float16", {"p_re_lu/alpha": -1.2e5}, 1e-3),
    ("ParametricELU", {}, -3e4, "mixed_float16", {"parametric_elu/alpha": -4}, 1e-3),
    # Four elements of 30000: the sums, 1.2e5, are beyond float16's 65504.
    *[("PELU", {}, 3e4, d, {"pelu/a": 1.2e5, "pelu/b": -1.2e5}, 1e-2) for d in HALF],
    *[("SReLU", SRELU_RIGHT, 3e4, d, {"s_re_lu/a_right": 1.2e5}, 1e-2) for d in HALF],
]


@pytest.mark.parametrize(
    "name, kwargs, value, dtype, expected, rtol",
    [pytest.param(*row, id=f"{row[0]}-{row[3]}") for row in BEYOND_FLOAT16],
)
def test_parameter_gradients_beyond_float16_range(
    name, kwargs, value, dtype, expected, rtol
):
    layer = LAYERS[name].cls(channel_axis=None, dtype=dtype, **kwargs)
    x = np.full((4, 1), value, "float32")
    gradients = vector_jacobian_product(layer, x, np.ones_like(x))
    assert set(gradients) == LAYERS[name].gradient_keys
    for key, gradient in expected.items():
        np.testing.assert_allclose(gradients[key], gradient, rtol=rtol, err_msg=key)


# ------------------------------------------- the default layer, as in Keras

KERAS_ACTIVATIONS = {
    "ParametricELU": keras.activations.elu,  # alpha = 1
    "PELU": keras.activations.elu,  # a = b = 1
    "Swish": keras.activations.silu,  # beta = 1
}


@pytest.mark.parametrize("name", KERAS_ACTIVATIONS)
@settings(max_examples=25, deadline=None)
@given(
    hnp.arrays(
        "float32",
        hnp.array_shapes(min_dims=2, max_dims=4),
        elements=st.floats(-50, 50, width=32, allow_subnormal=False),
    )
)
@example((5 * np.random.default_rng(0).normal(size=(4, 6))).astype("float32"))
def test_default_layer_is_a_keras_activation(name, x):
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(LAYERS[name].cls()(x)),
        keras.ops.convert_to_numpy(KERAS_ACTIVATIONS[name](x)),
        rtol=1e-6,
        atol=1e-7,
    )


# ---------------------------------------------------- any initializer values


def _initializers(**strategies):
    """Initializer arguments, those drawn as None left out."""
    return st.fixed_dictionaries(strategies).map(
        lambda drawn: {
            f"{name}_initializer": value
            for name, value in drawn.items()
            if value is not None
        }
    )


SRELU_NUMBERS = st.one_of(
    st.floats(-3.0, 3.0), st.sampled_from([np.nan, np.inf, True, "zeros", None, "x"])
)

# The initializer arguments, the input dtypes, the tolerance in float16.
ANY_ARGUMENTS = {
    "Swish": (
        # None passed, not left out: it is an invalid initializer.
        st.fixed_dictionaries(
            {
                "beta_initializer": st.one_of(
                    st.floats(-3.0, 3.0),
                    st.sampled_from(
                        [np.nan, -np.inf, False, "ones", "glorot_uniform", None, "x"]
                    ),
                )
            }
        ),
        ["float32", "float16", "int32", "bool"],
        1e-2,
    ),
    "PELU": (
        _initializers(
            a=st.one_of(
                st.floats(0.1, 3.0),
                st.sampled_from([0.0, -1.0, np.nan, np.inf, True, "ones"]),
            ),
            b=st.one_of(
                st.floats(0.1, 3.0), st.sampled_from([0.0, -0.5, np.nan, None, "x"])
            ),
        ),
        ["float32", "float16", "int32"],
        1e-2,
    ),
    "SReLU": (
        _initializers(
            t_left=SRELU_NUMBERS,
            a_left=SRELU_NUMBERS,
            t_right=SRELU_NUMBERS,
            a_right=SRELU_NUMBERS,
        ),
        ["float32", "float16", "int32"],
        2e-2,
    ),
}


@pytest.mark.parametrize("name", ANY_ARGUMENTS)
@settings(max_examples=25, deadline=None)
@given(drawn=st.data())
def test_any_arguments_give_the_right_value_or_a_clear_error(name, drawn):
    strategy, dtypes, float16_tolerance = ANY_ARGUMENTS[name]
    described = LAYERS[name]
    arguments = drawn.draw(strategy, label="arguments")
    dtype = drawn.draw(st.sampled_from(dtypes), label="dtype")
    seed = drawn.draw(st.integers(0, 2**32 - 1), label="seed")
    try:
        layer = described.cls(**arguments)
    except ValueError as error:
        assert any(f"{argument}=" in str(error) for argument in arguments), str(error)
        return
    x = 3 * np.random.default_rng(seed).normal(size=(2, 3))
    x = x > 0 if dtype == "bool" else x.astype(dtype)
    outputs = np.asarray(keras.ops.convert_to_numpy(layer(x)), np.float64)
    assert np.all(np.isfinite(outputs))
    tolerance = float16_tolerance if dtype == "float16" else 1e-5
    np.testing.assert_allclose(
        outputs,
        described.reference(
            x.astype(np.float64), *described.parameter_values(layer, np.float64)
        ),
        rtol=tolerance,
        atol=tolerance,
    )


# ------------------------------------------------------ default constraints

# The initial values, the constraints off, an input row and a target row that
# one SGD step at rate 1 reaches only by taking the parameters picked, as
# (name, index), below -1; the default constraints project them back to the
# values given.
CONSTRAINTS = {
    # Reaching +5 from x = -1 needs alpha < 0: one step moves alpha from 0.05
    # to about -3.1.
    "ParametricELU": (
        {"alpha_initializer": 0.05},
        {"alpha_constraint": None},
        [-1.0, -1.0],
        [5.0, 5.0],
        [("alpha", ...)],
        [0.0, 0.0],
    ),
    # Channel 0 reaches +5 from x = -1 only with a < 0, channel 1 reaches +50
    # from x = 1 faster with a smaller b: one step takes a[0] to about -2.6
    # and b[1] to about -48.
    "PELU": (
        {},
        {"a_constraint": None, "b_constraint": None},
        [-1.0, 1.0],
        [5.0, 50.0],
        [("a", 0), ("b", 1)],
        [0.1, 0.1],
    ),
}


def _after_one_step(layer, x_row, y_row, picks):
    model = keras.Sequential([keras.Input((2,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    x = np.tile(np.array([x_row], "float32"), (8, 1))
    y = np.tile(np.array([y_row], "float32"), (8, 1))
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    return np.concatenate(
        [
            np.atleast_1d(keras.ops.convert_to_numpy(getattr(layer, name))[index])
            for name, index in picks
        ]
    )


@pytest.mark.parametrize("name", CONSTRAINTS)
def test_default_constraints_keep_parameters_in_range(name):
    initial, free, x_row, y_row, picks, projected = CONSTRAINTS[name]
    layer_class = LAYERS[name].cls
    constrained = _after_one_step(layer_class(**initial), x_row, y_row, picks)
    np.testing.assert_allclose(constrained, projected, rtol=1e-7, atol=0.0)
    unconstrained = _after_one_step(layer_class(**initial, **free), x_row, y_row, picks)
    assert np.all(unconstrained < -1.0), unconstrained


# ---------------------------------------------------------- invalid arguments

INVALID_ARGUMENTS = {
    "PReLU": [
        ({"channel_axis": "last"}, "channel_axis"),
        ({"channel_axis": 1.0}, "channel_axis"),
        ({"shared_axes": 0}, "shared_axes"),
        ({"shared_axes": [1, "2"]}, "shared_axes"),
        ({"alpha_initializer": "no_such_initializer"}, "initializer"),
    ],
    "ParametricELU": [
        ({"channel_axis": "first"}, "channel_axis='first'"),
        ({"shared_axes": -1}, "shared_axes=-1"),
        ({"alpha_constraint": "x"}, "alpha_constraint='x'"),
    ],
    "PELU": [
        ({"a_initializer": 0}, "a_initializer=0"),
        ({"b_initializer": -1.0}, "b_initializer=-1.0"),
        ({"a_constraint": "x"}, "a_constraint='x'"),
        ({"b_regularizer": 3}, "b_regularizer=3"),
        ({"channel_axis": "first"}, "channel_axis='first'"),
        ({"shared_axes": -1}, "shared_axes=-1"),
    ],
    "SReLU": [
        ({"t_left_initializer": np.nan}, "t_left_initializer=nan"),
        ({"a_left_initializer": None}, "a_left_initializer=None"),
        ({"t_right_initializer": "x"}, "t_right_initializer='x'"),
        ({"a_right_constraint": "x"}, "a_right_constraint='x'"),
        ({"t_left_regularizer": 3}, "t_left_regularizer=3"),
        ({"channel_axis": 1.5}, "channel_axis=1.5"),
        ({"shared_axes": [0]}, r"shared_axes=\[0\]"),
    ],
    "Swish": [
        ({"beta_initializer": np.inf}, "beta_initializer=inf"),
        ({"beta_initializer": True}, "beta_initializer=True"),
        ({"beta_constraint": "x"}, "beta_constraint='x'"),
        ({"beta_regularizer": 3}, "beta_regularizer=3"),
        ({"channel_axis": "first"}, "channel_axis='first'"),
        ({"shared_axes": -1}, "shared_axes=-1"),
    ],
    "Snake": [
        ({"channel_axis": "first"}, "channel_axis"),
        ({"shared_axes": -1}, "shared_axes"),
        ({"alpha_constraint": "x"}, "alpha_constraint"),
        ({"alpha_initializer": np.nan}, "alpha_initializer"),
        ({"alpha_initializer": True}, "alpha_initializer"),
    ],
    "RReLU": [
        ({"lower": 0.5, "upper": 0.1}, "lower=0.5, upper=0.1"),
        ({"lower": -0.1}, "lower=-0.1"),
        ({"upper": -1.0, "lower": -2.0}, "lower=-2.0"),
        ({"lower": np.nan}, "lower=nan"),
        ({"upper": np.inf}, "upper=inf"),
        ({"lower": True}, "lower=True"),
        ({"upper": "0.3"}, "upper='0.3'"),
        ({"seed": "x"}, "seed='x'"),
        ({"seed": 1.5}, "seed=1.5"),
        ({"seed": -1}, "seed=-1"),
        ({"seed": True}, "seed=True"),
    ],
}


@pytest.mark.parametrize("name, kwargs, match", cases(INVALID_ARGUMENTS))
def test_invalid_arguments(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        LAYERS[name].cls(**kwargs)


INVALID_SHAPES = {
    "PReLU": [
        ({"channel_axis": 3}, (None, 4, 5), "channel_axis=3"),
        ({"channel_axis": 0}, (None, 4, 5), "channel_axis=0"),
        ({}, (None, None), "channel axis must be known"),
        ({}, (None,), "rank >= 2"),
        ({"shared_axes": [3]}, (None, 4, 5), "shared_axes"),
        ({"shared_axes": [1]}, (None, 4, None), "Axis 2 is not in `shared_axes`"),
    ],
    "ParametricELU": [
        ({"channel_axis": -3}, (None, 4), "channel_axis=-3"),
        ({}, (None, 4, None), "channel axis must be known"),
    ],
    "PELU": [
        ({"channel_axis": -3}, (None, 4), "channel_axis=-3"),
        ({}, (None, 4, None), "channel axis must be known"),
        ({"shared_axes": [3]}, (None, 4, 5), "shared_axes"),
        ({}, (4,), "rank >= 2"),
    ],
    "SReLU": [
        ({"channel_axis": 2}, (None, 4), "channel_axis=2"),
        ({}, (None, 4, None), "channel axis must be known"),
        ({"shared_axes": [1]}, (None, 4, None), "needs a known"),
    ],
    "Swish": [
        ({"channel_axis": -3}, (None, 4), "channel_axis=-3"),
        ({}, (None, 4, None), "channel axis must be known"),
        ({"shared_axes": [1, 5]}, (None, 4, 5), "shared_axes"),
    ],
    "Snake": [
        ({"channel_axis": -3}, (None, 4), "channel_axis=-3"),
        ({}, (None, 4, None), "channel axis must be known"),
        ({}, (4,), "rank >= 2"),
        ({"shared_axes": [3]}, (None, 4, 5), "shared_axes"),
    ],
}


@pytest.mark.parametrize("name, kwargs, input_shape, match", cases(INVALID_SHAPES))
def test_invalid_shapes(name, kwargs, input_shape, match):
    with pytest.raises(ValueError, match=match):
        LAYERS[name].cls(**kwargs).build(input_shape)
