"""The fused activations in `keras.ops`, each one op with a hand-written
gradient (`_kernels` picks a backend's own version where it has one)."""

import keras
import numpy as np
from keras import ops


def floating(inputs, dtype):
    """Integer and boolean inputs cast to `dtype` (a layer's compute dtype),
    as `keras.layers.Dense` does; floating inputs as they are."""
    if keras.backend.is_float_dtype(keras.backend.standardize_dtype(inputs.dtype)):
        return inputs
    return ops.cast(inputs, dtype)


def upstream_gradient(args, upstream):
    """The upstream gradient a `keras.ops.custom_gradient` backward function
    receives: TensorFlow and JAX pass it positionally, PyTorch by keyword."""
    if upstream is None:
        (upstream,) = args
    return upstream


def sum_to_shape(values, shape):
    """Sums `values` (broadcast from `shape`, aligned right) back to `shape`."""
    leading = len(values.shape) - len(shape)
    axes = list(range(leading)) + [
        leading + i for i, size in enumerate(shape) if size == 1
    ]
    return ops.reshape(ops.sum(values, axis=axes), shape)


def prelu(inputs, alpha):
    """`inputs` where positive, `alpha * inputs` elsewhere.

    `alpha` (float32, broadcastable to `inputs`) gets a float32 gradient summed
    in float32, so a float16 batch does not lose it to rounding. The gradient
    is written by hand because autodiff of the two-branch expression keeps
    several full-size intermediates that cost more than the op itself.
    """

    @ops.custom_gradient
    def forward(x, alpha_float32):
        alpha_compute = ops.cast(alpha_float32, x.dtype)
        negative = ops.minimum(x, 0)
        # Not x + (alpha - 1) * negative: at x = -inf that is -inf + inf.
        outputs = ops.maximum(x, 0) + alpha_compute * negative

        def backward(*args, upstream=None):
            upstream = upstream_gradient(args, upstream)
            grad_inputs = ops.where(x > 0, upstream, upstream * alpha_compute)
            grad_alpha = sum_to_shape(
                ops.cast(upstream * negative, "float32"), alpha_float32.shape
            )
            return grad_inputs, grad_alpha

        return outputs, backward

    return forward(inputs, alpha)


def parametric_elu(inputs, alpha):
    """`inputs` where positive, `alpha * (exp(inputs) - 1)` elsewhere.

    One hand-written gradient for the whole op, from `e = expm1(min(x, 0))`
    alone, which is 0 exactly where `x >= 0`: `d/dx = alpha * (e + 1)` where
    `e < 0` (else 1, as `keras.layers.ELU` at 0), `d/dalpha = e`. Only `e` is
    kept for the backward pass, as ELU keeps only its output; `alpha` gets a
    float32 gradient summed in float32, as in `prelu`.
    """

    @ops.custom_gradient
    def forward(x, alpha_float32):
        alpha_compute = ops.cast(alpha_float32, x.dtype)
        negative_part = ops.expm1(ops.minimum(x, 0))
        outputs = ops.where(x > 0, x, alpha_compute * negative_part)

        def backward(*args, upstream=None):
            upstream = upstream_gradient(args, upstream)
            slope = ops.where(negative_part < 0, alpha_compute * (negative_part + 1), 1)
            grad_alpha = sum_to_shape(
                ops.cast(upstream * negative_part, "float32"), alpha_float32.shape
            )
            return upstream * slope, grad_alpha

        return outputs, backward

    return forward(inputs, alpha)


def swish(inputs, beta):
    """`x * sigmoid(beta * x)`, with a hand-written gradient: `beta`
    (broadcastable to `inputs`) gets its gradient summed in float32 (float64
    for a float64 parameter).

    One exp for the whole op: `sigmoid(-|z|)` (`z = beta * x`) gives both
    the gate and `sigmoid'(z) = sigmoid(z) * sigmoid(-z)`, which is the
    same at `z` and `-z`; `1 - sigmoid(z)` would round to 0 from `z = 8` in
    float16 (17 in float32), and with it the gradient of `beta`, which grows
    like `x**2` there.
    """

    @ops.custom_gradient
    def forward(x, beta):
        # The layer passes a float32 `beta` (float64 in check_gradients'
        # copy); its gradient is formed and summed in at least float32
        # whatever the caller passes.
        accumulate = keras.backend.result_type(beta.dtype, "float32")
        beta_compute = ops.cast(beta, x.dtype)
        scaled = beta_compute * x
        tail = ops.sigmoid(-ops.abs(scaled))
        gate = ops.where(scaled >= 0, 1 - tail, tail)
        outputs = x * gate

        def backward(*args, upstream=None):
            upstream = upstream_gradient(args, upstream)
            # Multiplied by x last, it stays 0, not inf * 0, where the gate
            # saturates.
            slope = x * (tail * (1 - tail))
            grad_inputs = upstream * (gate + beta_compute * slope)
            # x^2 sigmoid'(beta * x) as x * (x sigmoid'(beta * x)), the last
            # product in float32, where it does not overflow as in float16.
            grad_beta = sum_to_shape(
                ops.cast(upstream * slope, accumulate) * ops.cast(x, accumulate),
                beta.shape,
            )
            return grad_inputs, grad_beta

        return outputs, backward

    return forward(inputs, beta)


def group_max(values, axis: int):
    """The maximum over `axis` (of a known size), for an empty batch too.

    Groups of two, the usual maxout, take the elementwise maximum of the two
    halves: its gradient costs a fifth of `max`'s under XLA and 60% on
    TensorFlow (`max` finds and counts every maximum to split the gradient
    between ties; `maximum` gives a tie's gradient to one piece, or halves
    it, as the backend's `maximum` does). Larger groups use `max`.
    """
    if values.shape[axis] == 2:
        return ops.maximum(*ops.unstack(values, axis=axis))
    return reduce_max(values, axis)


def reduce_max(values, axis: int):
    """`ops.max` over `axis`, for an empty batch too: Keras's `max` refuses an
    empty tensor (on TensorFlow and PyTorch), though the maximum over a
    non-empty axis of zero rows is just zero rows."""
    shape = tuple(values.shape)
    if 0 in shape:
        return ops.zeros(shape[:axis] + shape[axis + 1 :], values.dtype)
    if None in shape:
        # A traced batch of unknown size: with an `initial`, Keras does not
        # check for emptiness.
        dtype = keras.backend.standardize_dtype(values.dtype)
        lowest = -np.inf if keras.backend.is_float_dtype(dtype) else np.iinfo(dtype).min
        return ops.max(values, axis=axis, initial=lowest)
    return ops.max(values, axis=axis)
