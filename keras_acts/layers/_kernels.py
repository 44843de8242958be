"""The fused activations, as the layers call them: the backend's own version
where `keras_acts._backends` has one (in `<backend>/kernels.py`, where the
backend runs it faster), else the `keras.ops` version of `_ops`. Layers call
these and never branch on the backend."""

from __future__ import annotations

from keras_acts import _backends
from keras_acts.layers import _ops


def _resolve(name: str):
    return getattr(_backends.module("kernels"), name, None) or getattr(_ops, name)


def prelu(inputs, alpha):
    """`_ops.prelu`, in the backend's own ops where it has them."""
    return _resolve("prelu")(inputs, alpha)


def parametric_elu(inputs, alpha):
    """`_ops.parametric_elu`, in the backend's own ops where it has them."""
    return _resolve("parametric_elu")(inputs, alpha)


def swish(inputs, beta):
    """`_ops.swish`, in the backend's own ops where it has them."""
    return _resolve("swish")(inputs, beta)


def pelu(inputs, a, b):
    """`_ops.pelu`, in the backend's own ops where it has them."""
    return _resolve("pelu")(inputs, a, b)


def srelu(inputs, t_left, a_left, t_right, a_right):
    """`_ops.srelu`, in the backend's own ops where it has them."""
    return _resolve("srelu")(inputs, t_left, a_left, t_right, a_right)


def snake(inputs, alpha):
    """`_ops.snake`, in the backend's own ops where it has them."""
    return _resolve("snake")(inputs, alpha)


def group_max(values, axis: int):
    """`_ops.group_max`, in the backend's own ops where it has them."""
    return _resolve("group_max")(values, axis)


def rational(inputs, numerator, denominator, variant: str = "safe"):
    """`_ops.rational`, in the backend's own ops where it has them."""
    return _resolve("rational")(inputs, numerator, denominator, variant)
