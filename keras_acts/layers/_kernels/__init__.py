"""The fused activations, per backend: a backend's own versions, where it
runs them faster, in `<backend>.py` beside this file (imported on the first
call, so only for the backend in use); the `keras.ops` versions of `_ops`
for the others. Layers call these and never branch on the backend."""

from __future__ import annotations

import functools
import importlib
import importlib.util

import keras

from keras_acts.layers import _ops


@functools.cache
def _backend_module():
    name = f"{__name__}.{keras.backend.backend()}"
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


def _resolve(name: str):
    return getattr(_backend_module(), name, None) or getattr(_ops, name)


def prelu(inputs, alpha):
    """`_ops.prelu`, in the backend's own ops where it has them."""
    return _resolve("prelu")(inputs, alpha)


def parametric_elu(inputs, alpha):
    """`_ops.parametric_elu`, in the backend's own ops where it has them."""
    return _resolve("parametric_elu")(inputs, alpha)


def swish(inputs, beta):
    """`_ops.swish`, in the backend's own ops where it has them."""
    return _resolve("swish")(inputs, beta)


def group_max(values, axis: int):
    """`_ops.group_max`, in the backend's own ops where it has them."""
    return _resolve("group_max")(values, axis)
