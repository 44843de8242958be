"""The fused activations in `keras.ops`, each one op with a hand-written
gradient (`_kernels` picks a backend's own version where it has one)."""

import keras
import numpy as np
from keras import ops

from keras_acts import _backends

# For `pelu`: below this, exp(x / b) is 0 even in float64 (whose smallest
# value is about exp(-745)): clipping x / b there changes nothing but keeps
# x / b * exp(x / b) at 0 instead of -inf * 0 = NaN for x = -inf.
_LOWEST_EXPONENT = -1000.0


def floating(inputs, dtype):
    """Integer and boolean inputs cast to `dtype` (a layer's compute dtype),
    as `keras.layers.Dense` does; floating inputs as they are."""
    if keras.backend.is_float_dtype(keras.backend.standardize_dtype(inputs.dtype)):
        return inputs
    return ops.cast(inputs, dtype)


def custom_gradient(forward):
    """`keras.ops.custom_gradient`, or the backend's own where it has one:
    PyTorch's, whose gradient autograd can differentiate again."""
    own = getattr(_backends.module("autodiff"), "custom_gradient", None)
    return (own or ops.custom_gradient)(forward)


def _accumulation_dtype(*tensors):
    """float32, or float64 where one of `tensors` is float64 (a float64
    layer's). Not `keras.backend.result_type`, which gives float32 for
    float64 outside TensorFlow."""
    dtypes = {keras.backend.standardize_dtype(t.dtype) for t in tensors}
    return "float64" if "float64" in dtypes else "float32"


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
    in float32 (float64 for a float64 layer's), so a float16 batch does not
    lose it to rounding. The gradient
    is written by hand because autodiff of the two-branch expression keeps
    several full-size intermediates that cost more than the op itself.
    """

    @custom_gradient
    def forward(x, alpha_param):
        alpha_compute = ops.cast(alpha_param, x.dtype)
        negative = ops.minimum(x, 0)
        # Not x + (alpha - 1) * negative: at x = -inf that is -inf + inf.
        outputs = ops.maximum(x, 0) + alpha_compute * negative

        def backward(*args, upstream=None):
            upstream = upstream_gradient(args, upstream)
            grad_inputs = ops.where(x > 0, upstream, upstream * alpha_compute)
            grad_alpha = sum_to_shape(
                ops.cast(upstream * negative, _accumulation_dtype(alpha_param)),
                alpha_param.shape,
            )
            return grad_inputs, grad_alpha

        return outputs, backward

    return forward(inputs, alpha)


def parametric_elu(inputs, alpha):
    """`inputs` where positive, `alpha * (exp(inputs) - 1)` elsewhere.

    One hand-written gradient for the whole op, from `e = expm1(min(x, 0))`
    alone, which is 0 exactly where `x >= 0`: `d/dx = alpha * (e + 1)` where
    `e < 0` (else 1: at 0 the positive side's slope, where keras.layers.ELU
    and torch take alpha; docs/layers/parametric_elu.md), `d/dalpha = e`.
    Only `e` is kept for the backward pass, as ELU keeps only its output;
    `alpha` gets a float32 gradient summed in float32, as in `prelu`.
    """

    @custom_gradient
    def forward(x, alpha_param):
        alpha_compute = ops.cast(alpha_param, x.dtype)
        negative_part = ops.expm1(ops.minimum(x, 0))
        outputs = ops.where(x > 0, x, alpha_compute * negative_part)

        def backward(*args, upstream=None):
            upstream = upstream_gradient(args, upstream)
            slope = ops.where(negative_part < 0, alpha_compute * (negative_part + 1), 1)
            grad_alpha = sum_to_shape(
                ops.cast(upstream * negative_part, _accumulation_dtype(alpha_param)),
                alpha_param.shape,
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

    @custom_gradient
    def forward(x, beta):
        # The layer passes a float32 `beta` (float64 in check_gradients'
        # copy); its gradient is formed and summed in at least float32
        # whatever the caller passes.
        accumulate = _accumulation_dtype(beta)
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


def pelu(inputs, a, b):
    """`(a / b) * x` for `x >= 0`, `a * (exp(x / b) - 1)` below, with a
    hand-written gradient: `a` and `b` (broadcastable to `inputs`) get their
    gradients summed in float32 (float64 for float64 parameters)."""

    @custom_gradient
    def forward(x, a, b):
        # The layer passes float32 parameters (float64 in check_gradients'
        # copy); ratios and sums are taken in at least float32 whatever the
        # caller passes.
        accumulate = _accumulation_dtype(a)
        a_wide, b_wide = ops.cast(a, accumulate), ops.cast(b, accumulate)
        ratio = ops.cast(a_wide / b_wide, x.dtype)
        scaled = x * ops.cast(1 / b_wide, x.dtype)
        positive = ops.maximum(scaled, 0)
        # At most 0: the exponential never sees a large positive number.
        exponent = ops.clip(scaled, _LOWEST_EXPONENT, 0)
        # f / a, also the derivative by a.
        shape = positive + ops.expm1(exponent)
        outputs = ops.cast(a_wide, x.dtype) * shape

        def backward(*args, upstream=None):
            upstream = upstream_gradient(args, upstream)
            # exp(x / b) is 1 for x >= 0, so (a / b) * exp is f' on both sides.
            exponential = ops.exp(exponent)
            grad_inputs = upstream * ratio * exponential
            grad_a = sum_to_shape(ops.cast(upstream * shape, accumulate), a.shape)
            # df/db = -(a / b) * (x / b) * exp(min(x / b, 0)), its factor
            # -(a / b) applied after summing.
            grad_b = sum_to_shape(
                ops.cast(upstream * (positive + exponent * exponential), accumulate),
                b.shape,
            )
            return grad_inputs, grad_a, -(a_wide / b_wide) * grad_b

        return outputs, backward

    return forward(inputs, a, b)


def srelu(inputs, t_left, a_left, t_right, a_right):
    """Identity between `t_left` and `t_left + |t_right|`, slopes `a_left` and
    `a_right` outside, with a hand-written gradient: the parameters
    (broadcastable to `inputs`) get their gradients summed in float32
    (float64 for float64 parameters)."""

    @custom_gradient
    def forward(x, t_left, a_left, t_right, a_right):
        # The layer passes float32 parameters (float64 in check_gradients'
        # copy); the right threshold and the sums are taken in at least
        # float32 whatever the caller passes.
        accumulate = _accumulation_dtype(t_left)
        t_left_wide, a_left_wide, t_right_wide, a_right_wide = (
            ops.cast(value, accumulate) for value in (t_left, a_left, t_right, a_right)
        )
        # keras-contrib's parametrization: the right threshold is never left of
        # the left one.
        threshold_left = ops.cast(t_left_wide, x.dtype)
        threshold_right = ops.cast(t_left_wide + ops.abs(t_right_wide), x.dtype)
        slope_left = ops.cast(a_left_wide, x.dtype)
        slope_right = ops.cast(a_right_wide, x.dtype)
        below = ops.minimum(x - threshold_left, 0)
        above = ops.maximum(x - threshold_right, 0)
        # A slope of 0 (the plain ReLU's left piece) times an infinite input
        # is NaN where the function's limit is the threshold: such a piece
        # adds nothing.
        outputs = (
            ops.clip(x, threshold_left, threshold_right)
            + ops.where(slope_left == 0, 0.0, slope_left * below)
            + ops.where(slope_right == 0, 0.0, slope_right * above)
        )

        def backward(*args, upstream=None):
            upstream = upstream_gradient(args, upstream)
            left = x < threshold_left
            right = x > threshold_right
            grad_inputs = ops.where(
                left,
                upstream * slope_left,
                ops.where(right, upstream * slope_right, upstream),
            )
            zero = ops.zeros_like(upstream)

            def total(values):
                return sum_to_shape(ops.cast(values, accumulate), t_left.shape)

            # The thresholds move the outer pieces by (1 - slope) each; the
            # per-channel factors are applied after summing.
            upstream_left = total(ops.where(left, upstream, zero))
            upstream_right = total(ops.where(right, upstream, zero))
            grad_threshold_right = (1 - a_right_wide) * upstream_right
            grad_t_left = (1 - a_left_wide) * upstream_left + grad_threshold_right
            # d|t|/dt, taken as 1 at t = 0 so that a gap of zero can open.
            sign = ops.cast(ops.where(t_right_wide < 0, -1.0, 1.0), accumulate)
            grad_t_right = sign * grad_threshold_right
            grad_a_left = total(upstream * below)
            grad_a_right = total(upstream * above)
            return grad_inputs, grad_t_left, grad_a_left, grad_t_right, grad_a_right

        return outputs, backward

    return forward(inputs, t_left, a_left, t_right, a_right)


def snake(inputs, alpha):
    """`inputs + sin(alpha * inputs)**2 / alpha`, and `inputs` at `alpha = 0`.

    Written with `q = x * sinc(t)` (`t = alpha * x`, `sinc(t) = sin(t) / t`,
    1 at 0), which is `sin(t) / alpha` without dividing by `alpha`:
    `outputs = x + alpha * q**2`. Both gradients are written by hand, from `q`
    and `cos(t)`, so the op costs one sine and one cosine, as autodiff of the
    formula does:

    ```
    d/dx     = 1 + sin(2 t)                      = 1 + 2 alpha q cos(t)
    d/dalpha = x sin(2 t) / alpha - sin(t)**2 / alpha**2 = q (2 x cos(t) - q)
    ```

    `alpha` (broadcastable to `inputs`) gets its gradient formed and summed
    in its own dtype (float32 in mixed precision), where `x * x` does not
    overflow as in float16; at `alpha = 0` it is `x**2`.
    """

    @custom_gradient
    def forward(x, alpha_param):
        alpha = ops.cast(alpha_param, x.dtype)
        t = alpha * x
        # keras.ops.sinc is sin(pi x) / (pi x). Half-precision inputs take it
        # in float32: near float16's largest value, pi * (t / pi) rounds past
        # it on TensorFlow, to inf and a NaN sinc.
        if keras.backend.standardize_dtype(x.dtype) in ("float16", "bfloat16"):
            q = x * ops.cast(ops.sinc(ops.cast(t, "float32") / np.pi), x.dtype)
        else:
            q = x * ops.sinc(t / np.pi)
        # (alpha * q) * q = sin(t) * q, which stays within |x|: q * q would
        # overflow float16 from |x| = 256.
        outputs = x + alpha * q * q

        def backward(*args, upstream=None):
            upstream = upstream_gradient(args, upstream)
            cos = ops.cos(t)
            grad_inputs = upstream * (1 + 2 * alpha * q * cos)
            x_param, q_param, cos_param = (
                ops.cast(v, alpha_param.dtype) for v in (x, q, cos)
            )
            grad_alpha = sum_to_shape(
                ops.cast(upstream, alpha_param.dtype)
                * q_param
                * (2 * x_param * cos_param - q_param),
                alpha_param.shape,
            )
            return grad_inputs, grad_alpha

        return outputs, backward

    return forward(inputs, alpha)


def rational(inputs, numerator, denominator, variant: str = "safe"):
    """`P(x) / Q(x)` with a hand-written gradient.

    `numerator` holds a_0..a_m and `denominator` b_1..b_n along axis 0, each
    coefficient broadcastable to `inputs`. P and the sum in Q are evaluated by
    Horner's scheme in at least float32 (float16 and bfloat16 inputs are cast
    up, the result cast back), so `x**5` does not overflow for any float16
    input. `variant="safe"`: `Q(x) = 1 + |b_1 x + ... + b_n x^n|`;
    `"absolute"`: `Q(x) = 1 + |b_1| |x| + ... + |b_n| |x|^n`.

    The coefficients' gradients are summed in at least float32. With
    `c = upstream / Q` and `F = P / Q`, the gradient by `a_k` sums `c x^k`,
    the one by `b_k` sums `-c F sign(B(x)) x^k` (safe; `B` the sum inside
    `|.|`) or `-c F sign(b_k) |x|^k` (absolute). The powers of `x` multiply
    into `c`, which falls like `x**-n`, one at a time, rather than being
    formed first: no intermediate grows faster than the output. The
    derivative of `|z|` is taken as 1 at `z = 0`, as the `copysign(1, z)` of
    the PAU kernels, so coefficients that start at zero still learn.
    """
    m = numerator.shape[0] - 1
    n = denominator.shape[0]
    safe = variant == "safe"

    @custom_gradient
    def forward(x_in, numerator, denominator):
        work = _accumulation_dtype(x_in, numerator)
        x = ops.cast(x_in, work)
        a = [ops.cast(numerator[k], work) for k in range(m + 1)]
        b = [ops.cast(denominator[k], work) for k in range(n)]  # b[k]: b_{k+1}
        if not safe:
            b = [ops.abs(value) for value in b]
        powers_of = x if safe else ops.abs(x)
        p = a[m]
        for k in range(m - 1, -1, -1):
            p = p * x + a[k]
        s = b[n - 1]
        for k in range(n - 2, -1, -1):
            s = s * powers_of + b[k]
        s = s * powers_of
        q = 1 + (ops.abs(s) if safe else s)
        f = p / q
        outputs = ops.cast(f, x_in.dtype)

        def backward(*args, upstream=None):
            upstream = ops.cast(upstream_gradient(args, upstream), work)
            c = upstream / q
            dp = m * a[m]
            for k in range(m - 1, 0, -1):
                dp = dp * x + k * a[k]
            ds = n * b[n - 1]
            for k in range(n - 1, 0, -1):
                ds = ds * powers_of + k * b[k - 1]
            # dQ/dx, and the sign in dQ/db_k (|z|' is 1 at z = 0).
            negative = s < 0 if safe else x < 0
            dq = ops.where(negative, -ds, ds)
            grad_inputs = c * (dp - f * dq)
            shape = tuple(numerator.shape[1:])
            grad_numerator = [sum_to_shape(c, shape)]
            moment = c
            for _ in range(m):
                moment = moment * x
                grad_numerator.append(sum_to_shape(moment, shape))
            moment = -c * f
            if safe:
                moment = ops.where(negative, -moment, moment)
            grad_denominator = []
            for _ in range(n):
                moment = moment * powers_of
                grad_denominator.append(sum_to_shape(moment, shape))
            grad_denominator = ops.stack(grad_denominator)
            if not safe:
                # d|b|/db, 1 at b = 0 too: zero coefficients (some fits have
                # them) can still move.
                negative = ops.cast(denominator, work) < 0
                grad_denominator = ops.where(
                    negative, -grad_denominator, grad_denominator
                )
            return (
                ops.cast(grad_inputs, x_in.dtype),
                ops.cast(ops.stack(grad_numerator), numerator.dtype),
                ops.cast(grad_denominator, denominator.dtype),
            )

        return outputs, backward

    return forward(inputs, numerator, denominator)


def group_max(values, axis: int):
    """The maximum over `axis` (of a known size), for an empty batch too.

    Groups of two, the usual maxout, take the elementwise maximum of the two
    halves: its gradient costs a fifth of `max`'s under XLA and 60% on
    TensorFlow (`max` finds and counts every maximum to split the gradient
    between ties; `maximum` gives a tie's gradient to one piece, or halves
    it, as the backend's `maximum` does). Larger groups use `max`.
    """
    if values.shape[axis] == 2:
        pair = ops.unstack(values, axis=axis)
        if keras.backend.standardize_dtype(values.dtype) == "bool":
            # TensorFlow's maximum takes no booleans; theirs is `or`.
            return ops.logical_or(*pair)
        return ops.maximum(*pair)
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
        if dtype == "bool":
            lowest = False
        elif keras.backend.is_float_dtype(dtype):
            lowest = -np.inf
        else:
            lowest = np.iinfo(dtype).min
        return ops.max(values, axis=axis, initial=lowest)
    return ops.max(values, axis=axis)
