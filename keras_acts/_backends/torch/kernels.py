"""PyTorch: the fused activations as `torch.autograd.Function`s of torch ops.

The same math as `_ops`, but without `keras.ops.custom_gradient`, whose
keras.ops calls cost tens of microseconds each in conversions: on tensors of
1e4 to 1e5 elements that fixed cost was most of the layer's time. Eager
PyTorch runs one kernel per op, so each Function is written in the fewest
full-size kernels found, and only in vectorized ones: on the CPU,
`torch.where` and every op on a boolean mask ran 5 to 10 times slower per
element than arithmetic, so sides are told apart by signs, and the
per-channel choice between 1 and `alpha` is `torch._prelu_kernel` (PReLU's
own kernel, which broadcasts its weight like any binary op). A Function of
plain torch ops also traces under torch.compile.

ParametricELU on tensors of `_COMPILE_FROM` elements or more, on a CPU or a
CUDA device, is compiled by torch.compile into a kernel each way that keeps
no full-size intermediate: its eager Function runs 9 full-size kernels
against ELU's 2 and cost 2.1 times ELU at 1e6 and 1e7 elements on a 2-core
CPU, mostly in filling freshly allocated intermediates (the same kernels ran
5 to 8 times faster on reused memory). Compiling takes seconds, once per
dtype and rank, so smaller tensors, where the Function's Python is the
larger cost, stay eager. Wherever torch.compile fails (no C++ compiler, an
unsupported platform or Python), a warning says so and the op runs eagerly
from then on.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from keras_acts import _private_api, _warnings
from keras_acts.layers import _ops

_prelu_kernel = _private_api.torch_function("_prelu_kernel")

# Here max's backward beats maximum's at every group size, pairs included
# (its boolean masks are the slow ops above).
group_max = _ops.reduce_max


def _summed_to(values, parameter):
    """`values` summed to the parameter's shape, in at least float32: a
    float16 batch does not lose a parameter's gradient to rounding."""
    dtype = torch.promote_types(parameter.dtype, torch.float32)
    return values.to(dtype).sum_to_size(parameter.shape).to(parameter.dtype)


def _slope(side, alpha):
    """`side` where positive, `-alpha * side` elsewhere: a slope of 1 or
    `alpha` times a magnitude, from a tensor whose sign tells the sides."""
    return _prelu_kernel(side, -alpha)


class _PReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs, alpha):
        ctx.save_for_backward(inputs, alpha)
        return _prelu_kernel(inputs, alpha.to(inputs.dtype))

    @staticmethod
    def backward(ctx, upstream):
        inputs, alpha = ctx.saved_tensors
        grad_inputs = grad_alpha = None
        if ctx.needs_input_grad[0]:
            # +1 where inputs > 0, -1 where inputs <= 0: the slope at 0 is alpha.
            side = torch.sign(inputs).sub_(0.5).sign_()
            slope = _slope(side, alpha.to(upstream.dtype))
            grad_inputs = slope.mul_(upstream)
        if ctx.needs_input_grad[1]:
            grad_alpha = _summed_to(inputs.clamp(max=0).mul_(upstream), alpha)
        return grad_inputs, grad_alpha


class _ParametricELU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs, alpha):
        elu = F.elu(inputs)
        ctx.save_for_backward(inputs, elu, alpha)
        return _prelu_kernel(elu, alpha.to(inputs.dtype))

    @staticmethod
    def backward(ctx, upstream):
        inputs, elu, alpha = ctx.saved_tensors
        if torch.is_grad_enabled():
            # create_graph: `elu` was computed unrecorded; from the inputs,
            # autograd records the gradient to differentiate it again.
            outputs = _parametric_elu_forward(inputs, alpha)
            return _parametric_elu_backward(inputs, outputs, alpha, upstream)
        # expm1(min(inputs, 0)): 0 exactly where inputs >= 0.
        negative_part = elu.clamp(max=0)
        grad_inputs = grad_alpha = None
        if ctx.needs_input_grad[0]:
            # exp(inputs) signed by side (+1 where inputs >= 0, so the slope
            # at 0 is 1, as in _ops.parametric_elu).
            side = torch.add(negative_part, 1).copysign_(elu)
            slope = _slope(side, alpha.to(upstream.dtype))
            grad_inputs = slope.mul_(upstream)
        if ctx.needs_input_grad[1]:
            grad_alpha = _summed_to(negative_part.mul_(upstream), alpha)
        return grad_inputs, grad_alpha


# Elements from which ParametricELU is compiled (see the module docstring).
_COMPILE_FROM = 100_000


def _parametric_elu_forward(inputs, alpha):
    negative_part = torch.expm1(inputs.clamp(max=0))
    return torch.where(inputs > 0, inputs, alpha.to(inputs.dtype) * negative_part)


def _parametric_elu_backward(inputs, outputs, alpha, upstream):
    """The gradients of `_ops.parametric_elu`. Where `inputs < 0` the slope
    `alpha * e^x` is `outputs + alpha`, as ELU's own gradient takes it (1 at
    0); alpha's gradient recomputes `e^x - 1`, which a fused kernel does for
    less than it would pay to keep it."""
    negative_part = torch.expm1(inputs.clamp(max=0))
    slope = torch.where(inputs < 0, outputs + alpha.to(upstream.dtype), 1)
    return upstream * slope, _summed_to(upstream * negative_part, alpha)


_compile_failed = False


def _compiled(function):
    """`function` compiled by torch.compile when first called, or as it is
    once compiling has failed."""

    @functools.cache
    def compiled():
        # Shapes vary (a fit's last batch, layers of other widths): one
        # compilation for all of them instead of one per shape.
        return torch.compile(function, dynamic=True)

    @functools.wraps(function)
    def run(*args):
        global _compile_failed
        if not _compile_failed:
            try:
                return compiled()(*args)
            except Exception as error:  # whatever stops compiling, see above
                _compile_failed = True
                _warnings.warn(
                    f"keras_acts: torch.compile failed ({type(error).__name__}: "
                    f"{str(error)[:200]}); ParametricELU runs unfused from now "
                    "on, about twice ELU's time.",
                    RuntimeWarning,
                )
        return function(*args)

    return run


_fused_parametric_elu_forward = _compiled(_parametric_elu_forward)
_fused_parametric_elu_backward = _compiled(_parametric_elu_backward)


class _CompiledParametricELU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs, alpha):
        outputs = _fused_parametric_elu_forward(inputs, alpha)
        ctx.save_for_backward(inputs, outputs, alpha)
        return outputs

    @staticmethod
    def backward(ctx, upstream):
        saved = ctx.saved_tensors
        if torch.is_grad_enabled():
            # create_graph (a Hessian-vector product): autograd records these
            # ops to differentiate them again; compiled, they would be
            # compiled a second time, with a backward of their own.
            return _parametric_elu_backward(*saved, upstream)
        return _fused_parametric_elu_backward(*saved, upstream)


def _swish_parts(inputs, beta):
    """x * sigmoid(beta * x), with beta * x and its sigmoid."""
    scaled = beta.to(inputs.dtype) * inputs
    gate = torch.sigmoid(scaled)
    return inputs * gate, scaled, gate


class _Swish(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs, beta):
        outputs, scaled, gate = _swish_parts(inputs, beta)
        ctx.save_for_backward(inputs, scaled, gate, beta)
        return outputs

    @staticmethod
    def backward(ctx, upstream):
        inputs, scaled, gate, beta = ctx.saved_tensors
        if torch.is_grad_enabled():
            # create_graph: `scaled` and `gate` were computed unrecorded, and
            # the ops below work in place; autograd of the formula instead.
            wanted = [
                t
                for t, need in zip((inputs, beta), ctx.needs_input_grad, strict=True)
                if need
            ]
            outputs, _, _ = _swish_parts(inputs, beta)
            gradients = iter(
                torch.autograd.grad(outputs, wanted, upstream, create_graph=True)
            )
            return tuple(
                next(gradients) if need else None for need in ctx.needs_input_grad
            )
        # sigmoid'(z) as sigmoid(z) * sigmoid(-z), for the reason in
        # _ops.swish; a second sigmoid costs less here than its torch.where.
        slope = torch.sigmoid(scaled.neg()).mul_(gate).mul_(inputs)
        grad_inputs = grad_beta = None
        if ctx.needs_input_grad[0]:
            beta_compute = beta.to(upstream.dtype)
            grad_inputs = torch.addcmul(gate, slope, beta_compute).mul_(upstream)
        if ctx.needs_input_grad[1]:
            # x * (x sigmoid'(z)), the last product in float32, where it does
            # not overflow as in float16.
            accumulate = torch.promote_types(beta.dtype, torch.float32)
            grad_beta = _summed_to(
                (upstream * slope).to(accumulate) * inputs.to(accumulate), beta
            )
        return grad_inputs, grad_beta


def prelu(inputs, alpha):
    if inputs.dtype == alpha.dtype:
        # Autograd of PReLU's own kernel sums alpha's gradient in alpha's
        # dtype, which is then the float32 of the weight, and has no Python
        # backward: on 1e4 elements the Function's cost 1.3 times Keras's PReLU.
        return _prelu_kernel(inputs, alpha)
    return _PReLU.apply(inputs, alpha)


def parametric_elu(inputs, alpha):
    if (
        inputs.numel() < _COMPILE_FROM
        # Keras infers output shapes on "meta" tensors, which have no data.
        or inputs.device.type not in ("cpu", "cuda")
        # Inside a step that torch.compile traces, its compiler fuses the
        # Function like the rest of the step.
        or torch.compiler.is_compiling()
    ):
        return _ParametricELU.apply(inputs, alpha)
    return _CompiledParametricELU.apply(inputs, alpha)


def swish(inputs, beta):
    return _Swish.apply(inputs, beta)
