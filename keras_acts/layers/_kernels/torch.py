"""PyTorch: the fused activations as `torch.autograd.Function`s of torch ops.

The same math as `_ops`, but without `keras.ops.custom_gradient`, whose
keras.ops calls cost tens of microseconds each in conversions: on tensors of
1e4 to 1e5 elements that fixed cost was most of the layer's time. A Function
of plain torch ops also traces under torch.compile.
"""

from __future__ import annotations

import torch


def _summed_to(values, parameter):
    """`values` summed to the parameter's shape, in at least float32: a
    float16 batch does not lose a parameter's gradient to rounding."""
    dtype = torch.promote_types(parameter.dtype, torch.float32)
    return values.to(dtype).sum_to_size(parameter.shape).to(parameter.dtype)


class _PReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs, alpha):
        ctx.save_for_backward(inputs, alpha)
        return torch.where(inputs > 0, inputs, inputs * alpha.to(inputs.dtype))

    @staticmethod
    def backward(ctx, upstream):
        inputs, alpha = ctx.saved_tensors
        positive = inputs > 0
        grad_inputs = grad_alpha = None
        if ctx.needs_input_grad[0]:
            grad_inputs = torch.where(
                positive, upstream, upstream * alpha.to(upstream.dtype)
            )
        if ctx.needs_input_grad[1]:
            grad_alpha = _summed_to(torch.where(positive, 0, upstream * inputs), alpha)
        return grad_inputs, grad_alpha


class _ParametricELU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs, alpha):
        # 0 exactly where inputs >= 0: all the backward pass needs.
        negative_part = torch.expm1(inputs.clamp(max=0))
        ctx.save_for_backward(negative_part, alpha)
        return torch.where(inputs > 0, inputs, negative_part * alpha.to(inputs.dtype))

    @staticmethod
    def backward(ctx, upstream):
        negative_part, alpha = ctx.saved_tensors
        grad_inputs = grad_alpha = None
        if ctx.needs_input_grad[0]:
            slope = alpha.to(upstream.dtype)
            grad_inputs = torch.where(
                negative_part < 0,
                upstream * torch.addcmul(slope, slope, negative_part),
                upstream,
            )
        if ctx.needs_input_grad[1]:
            grad_alpha = _summed_to(upstream * negative_part, alpha)
        return grad_inputs, grad_alpha


def prelu(inputs, alpha):
    return _PReLU.apply(inputs, alpha)


def parametric_elu(inputs, alpha):
    return _ParametricELU.apply(inputs, alpha)
