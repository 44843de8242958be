"""PyTorch: autograd on the variables' parameters, and a custom gradient
that autograd can differentiate again."""

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


class _CustomGradient(torch.autograd.Function):
    """`keras.ops.custom_gradient`'s Function, with a backward that autograd
    differentiates again (a gradient penalty, a Hessian-vector product).
    Keras's runs the backward on what its forward computed, which autograd
    did not record, so the second derivatives came out wrong without a
    word. Under `create_graph` the forward runs again, recorded, on the
    inputs it kept."""

    @staticmethod
    def forward(ctx, forward_function, *args):
        ctx.forward_function = forward_function
        ctx.save_for_backward(*args)
        outputs, ctx.backward_function = forward_function(*args)
        return outputs

    @staticmethod
    def backward(ctx, upstream):
        backward_function = ctx.backward_function
        if torch.is_grad_enabled():
            _, backward_function = ctx.forward_function(*ctx.saved_tensors)
        gradients = backward_function(upstream=upstream)
        if not isinstance(gradients, tuple):
            gradients = (gradients,)
        return (None, *gradients)


def custom_gradient(forward_function):
    """`keras.ops.custom_gradient`, differentiable twice (see
    `_CustomGradient`)."""

    def call(*args):
        return _CustomGradient.apply(forward_function, *args)

    return call
