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


def hessian_vector_product(function, variables, vectors):
    """The product of the Hessian of `function()`'s scalar with respect to
    `variables` and `vectors` (one per variable), reverse-over-reverse."""
    parameters = [v.value for v in variables]
    scalar, _ = function()
    gradients = torch.autograd.grad(
        scalar, parameters, create_graph=True, allow_unused=True
    )
    connected = [
        (gradient, parameter, vector)
        for gradient, parameter, vector in zip(
            gradients, parameters, vectors, strict=True
        )
        # A gradient that does not depend on the variables (a linear
        # function's) has a zero Hessian.
        if gradient is not None and gradient.requires_grad
    ]
    if not connected:
        return [torch.zeros_like(parameter) for parameter in parameters]
    products = torch.autograd.grad(
        [gradient for gradient, _, _ in connected],
        parameters,
        grad_outputs=[
            torch.as_tensor(vector, dtype=parameter.dtype, device=parameter.device)
            for _, parameter, vector in connected
        ],
        allow_unused=True,
    )
    return [
        torch.zeros_like(parameter) if product is None else product
        for product, parameter in zip(products, parameters, strict=True)
    ]


def float64_scope():
    """float64 tensors compute in float64 here already."""
    return contextlib.nullcontext()


def compiled(function, variables):
    """`function` itself: PyTorch runs eagerly."""
    return function
