"""Every formulation of the fused activations (the keras.ops ones of
keras_acts.layers._ops and the backend's own, in
keras_acts._backends.<backend>.kernels) computes the same values and
gradients, on whichever backend runs the suite: a layer test only exercises
the one its backend picks."""

import inspect
import warnings

import keras
import numpy as np
import pytest

from keras_acts import _backends
from keras_acts.layers import _kernels, _ops
from keras_acts.testing import vector_jacobian_product

BACKEND = keras.backend.backend()
OWN = _backends.module("kernels")


def references(name):
    """(values, d/dx, d/dalpha) of the op at x with a per-channel alpha."""

    def prelu(x, alpha):
        negative = x <= 0
        return (
            np.where(negative, alpha * x, x),
            np.where(negative, alpha, 1),
            x * negative,
        )

    def parametric_elu(x, alpha):
        e = np.expm1(np.minimum(x, 0))
        # At 0 the slope of the positive side, as keras.layers.ELU.
        return np.where(x > 0, x, alpha * e), np.where(x < 0, alpha * (e + 1), 1), e

    def swish(x, beta):
        gate = 1 / (1 + np.exp(-beta * x))
        derivative = gate * (1 - gate)  # of the sigmoid, at beta * x
        return x * gate, gate + beta * x * derivative, x * x * derivative

    def snake(x, alpha):
        sine = np.sin(alpha * x)
        slope_by_alpha = x * np.sin(2 * alpha * x) / alpha - (sine / alpha) ** 2
        return x + sine**2 / alpha, 1 + np.sin(2 * alpha * x), slope_by_alpha

    return {
        "prelu": prelu,
        "parametric_elu": parametric_elu,
        "swish": swish,
        "snake": snake,
    }[name]


# The activations of one parameter that the front dispatches (it also
# dispatches group_max, pelu and srelu, which the layer tests check).
ACTIVATIONS = ("prelu", "parametric_elu", "swish", "snake")
IMPLEMENTATIONS = [
    pytest.param(name, getattr(module, name), id=f"{label}.{name}")
    for name in ACTIVATIONS
    for label, module in (("keras_ops", _ops), (BACKEND, OWN), ("front", _kernels))
    if hasattr(module, name)
]
if BACKEND == "torch":
    # What the layer runs from OWN._COMPILE_FROM elements on (once compiled:
    # seconds, so only in the first test below).
    IMPLEMENTATIONS.append(
        pytest.param(
            "parametric_elu",
            lambda inputs, alpha: OWN._CompiledParametricELU.apply(inputs, alpha),
            id="torch_compile.parametric_elu",
        )
    )


@pytest.mark.parametrize("name, op", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_values_and_gradients_against_numpy(name, op, dtype, rng):
    x = rng.normal(scale=3, size=(6, 5)).astype(dtype)
    x[0, :3] = [0, -np.inf, np.inf]
    x[1, 0] = 0  # a finite row: the slope at 0 is checked
    alpha = rng.uniform(0.1, 1.5, size=(5,)).astype("float32")
    upstream = rng.normal(size=x.shape).astype(dtype)
    with np.errstate(invalid="ignore"):  # inf * 0 in the rows left out below
        values, slope, alpha_part = references(name)(
            x.astype("float64"), alpha.astype("float64")
        )
    tolerance = {"float32": 1e-5, "float16": 2e-3}[dtype]
    if name == "snake" and dtype == "float16":
        # Its slope, 1 + sin(2 alpha x), is formed from terms up to 2 in
        # size: off by an ulp of 2 (2e-3) where the slope itself is small.
        tolerance *= 4

    result = keras.ops.convert_to_numpy(
        op(keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(alpha))
    )
    assert result.dtype == dtype
    np.testing.assert_allclose(result, values, rtol=tolerance, atol=tolerance)

    finite = np.isfinite(x).all(axis=1)  # the inf rows have no finite gradient
    layer = OneParameter(op, alpha, dtype=dtype)
    gradients = vector_jacobian_product(layer, x[finite], upstream[finite])
    u = upstream[finite].astype("float64")
    np.testing.assert_allclose(
        gradients["inputs"], u * slope[finite], rtol=tolerance, atol=tolerance
    )
    # The parameter's gradient is float32, summed in float32 (of terms
    # formed in the compute dtype: a few float16 roundings each).
    grad_alpha = gradients[layer.alpha.path]
    assert grad_alpha.dtype == np.float32
    np.testing.assert_allclose(
        grad_alpha,
        (u * alpha_part[finite]).sum(axis=0),
        rtol=2 * tolerance,
        atol=2 * tolerance,
    )


class OneParameter(keras.layers.Layer):
    """`op(inputs, alpha)` with a float32 `alpha` weight, as the layers call it."""

    def __init__(self, op, alpha, **kwargs):
        super().__init__(**kwargs)
        self.op = op
        self.alpha = self.add_weight(
            shape=alpha.shape,
            initializer=keras.initializers.Constant(alpha),
            dtype="float32",
            autocast=False,
            name="alpha",
        )

    def call(self, inputs):
        return self.op(inputs, keras.ops.convert_to_tensor(self.alpha.value))


FRONT = [
    name
    for name, function in inspect.getmembers(_kernels, inspect.isfunction)
    if function.__module__ == _kernels.__name__ and not name.startswith("_")
]


def test_every_op_of_the_front_has_a_keras_ops_version():
    # PELU, SReLU and Rational are checked against NumPy in their own tests.
    assert set(FRONT) == {*ACTIVATIONS, "pelu", "srelu", "rational", "group_max"}
    for name in FRONT:
        assert callable(getattr(_ops, name))


@pytest.mark.skipif(OWN is None, reason=f"no {BACKEND}-specific kernels")
def test_the_front_uses_the_backends_own_kernels():
    for name in FRONT:
        if hasattr(OWN, name):
            assert _kernels._resolve(name) is getattr(OWN, name)


@pytest.mark.parametrize(
    "name, op", [p for p in IMPLEMENTATIONS if not p.id.startswith("torch_compile")]
)
def test_float16_parameter_gradient_is_summed_past_float16s_range(name, op):
    # Each term fits float16; their sum (-5e5 for PReLU, -2e5 for
    # ParametricELU, 1e5 for Swish) is past its largest finite value, 65504:
    # summed in float16 it would be infinite.
    x = np.full((8192, 1), -2.0, dtype="float16")
    upstream = np.full(x.shape, 32.0, dtype="float16")
    layer = OneParameter(op, np.ones((1,), "float32"), dtype="float16")
    grad_alpha = vector_jacobian_product(layer, x, upstream)[layer.alpha.path]
    _, _, per_element = references(name)(np.float64(-2.0), 1.0)
    np.testing.assert_allclose(grad_alpha, [32.0 * per_element * 8192], rtol=2e-3)


def test_float64_parameters_have_their_gradients_summed_in_float64():
    # keras.backend.result_type gives float32 for float64 outside TensorFlow:
    # a float64 layer's parameter gradients were summed in float32 there.
    with _backends.module("autodiff").float64_scope():
        wide, narrow = (keras.ops.zeros((2,), d) for d in ("float64", "float16"))
        assert _ops._accumulation_dtype(wide) == "float64"
        assert _ops._accumulation_dtype(narrow) == "float32"
        assert _ops._accumulation_dtype(narrow, wide) == "float64"


@pytest.mark.skipif(BACKEND != "torch", reason="torch.compile is PyTorch's")
def test_compiled_parametric_elu_is_differentiated_twice(rng):
    # create_graph (a Hessian-vector product) runs the backward as eager ops,
    # which autograd must record with alpha in them.
    import torch

    x = torch.tensor(rng.normal(size=(4, 3)), dtype=torch.float32)
    x.requires_grad_(True)
    alpha = torch.tensor([0.5, 1.0, 1.5], requires_grad=True)
    upstream = torch.tensor(rng.normal(size=(4, 3)), dtype=torch.float32)
    outputs = OWN._CompiledParametricELU.apply(x, alpha)
    grad_x, _ = torch.autograd.grad(outputs, [x, alpha], upstream, create_graph=True)
    grad_x_of_grad_x, grad_alpha_of_grad_x = torch.autograd.grad(
        grad_x.sum(), [x, alpha]
    )
    # d/dx and d/dalpha of sum(upstream * alpha * e^x) over x < 0.
    x64 = x.detach().double().numpy()
    per_element = upstream.double().numpy() * np.exp(x64) * (x64 < 0)
    np.testing.assert_allclose(grad_alpha_of_grad_x, per_element.sum(axis=0), rtol=1e-5)
    alpha64 = alpha.detach().double().numpy()
    np.testing.assert_allclose(grad_x_of_grad_x, alpha64 * per_element, rtol=1e-5)


@pytest.mark.skipif(BACKEND != "torch", reason="torch.compile is PyTorch's")
def test_where_torch_compile_fails_the_op_warns_once_and_runs_eagerly(monkeypatch):
    import torch

    def broken_compile(function, **kwargs):
        def fails(*args):
            raise RuntimeError("no C++ compiler")

        return fails

    monkeypatch.setattr(torch, "compile", broken_compile)
    monkeypatch.setattr(OWN, "_compile_failed", False)
    calls = []

    def double(x):
        calls.append(x)
        return 2 * x

    run = OWN._compiled(double)
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler.*unfused"):
        assert run(torch.ones(2)).tolist() == [2.0, 2.0]
    assert OWN._compile_failed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run(torch.ones(2)).tolist() == [2.0, 2.0]
    assert len(calls) == 2


@pytest.mark.skipif(BACKEND != "torch", reason="torch.compile is PyTorch's")
def test_parametric_elu_is_compiled_from_its_size_on_data_bearing_devices(
    monkeypatch,
):
    import torch

    monkeypatch.setattr(OWN, "_COMPILE_FROM", 15)

    def function(x):
        alpha = torch.ones(5, device=x.device, requires_grad=True)
        return type(_kernels.parametric_elu(x, alpha).grad_fn).__name__

    assert function(torch.ones(3, 5)) == "_CompiledParametricELUBackward"
    assert function(torch.ones(2, 5)) == "_ParametricELUBackward"
    # Keras infers shapes on "meta" tensors, which have no data to compile for.
    meta = torch.ones(3, 5, device="meta")
    assert function(meta) == "_ParametricELUBackward"
