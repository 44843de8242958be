"""PyTorch: autograd on the variables' parameters."""

from __future__ import annotations

import contextlib

import torch


def value_and_gradients(function, variables):
    scalar, aux = function()
    gradients = torch.autograd.grad(
        scalar, [v.value for v in variables], allow_unused=True
    )
    return scalar, aux, list(gradients)


def float64_scope():
    """float64 tensors compute in float64 here already."""
    return contextlib.nullcontext()
