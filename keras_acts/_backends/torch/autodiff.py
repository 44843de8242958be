"""PyTorch: autograd on the variables' parameters."""

from __future__ import annotations

import contextlib

import torch

# The default finite-difference step of keras_acts.testing.check_gradients.
# Some ops round to float32 even for float64 tensors: a finer step is lost
# in that rounding.
FINITE_DIFFERENCE_STEP = 1e-3


def value_and_gradients(function, variables):
    scalar, aux = function()
    gradients = torch.autograd.grad(
        scalar, [v.value for v in variables], allow_unused=True
    )
    return scalar, aux, list(gradients)


def float64_scope():
    """float64 tensors compute in float64 here already."""
    return contextlib.nullcontext()
