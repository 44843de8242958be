"""Gradients of a scalar function with respect to Keras variables, by the
backend's own automatic differentiation: one small module per backend, the
one in use imported on first use."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import keras


def value_and_gradients(
    function: Callable[[], tuple[Any, Any]], variables: list
) -> tuple[Any, Any, list]:
    """`scalar, aux = function()`, and the gradients of `scalar` with respect
    to `variables`: `(scalar, aux, gradients)`.

    `function` reads the variables as a layer does; `aux` is any other result
    it returns (computed in the same pass). A variable it does not use gets
    a gradient of None (zeros on JAX).
    """
    backend = keras.backend.backend()
    try:
        module = importlib.import_module(f"keras_acts._autodiff.{backend}")
    except ImportError as error:
        raise ValueError(
            "keras_acts differentiates on the tensorflow, jax and torch backends. "
            f"Received: backend={backend!r}"
        ) from error
    return module.value_and_gradients(function, variables)
