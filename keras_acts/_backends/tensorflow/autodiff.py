"""TensorFlow: a GradientTape."""

from __future__ import annotations

import contextlib

import tensorflow as tf

# The default finite-difference step of keras_acts.testing.check_gradients.
# TensorFlow keeps float64 through every op, so a fine step is exact enough.
FINITE_DIFFERENCE_STEP = 1e-6


def value_and_gradients(function, variables):
    values = [v.value for v in variables]
    with tf.GradientTape() as tape:
        tape.watch(values)
        scalar, aux = function()
    return scalar, aux, _dense(tape.gradient(scalar, values))


def _dense(gradients):
    """`gradients` with an embedding's IndexedSlices as dense tensors, which
    NumPy and a second differentiation both take."""
    return [
        tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
        for g in gradients
    ]


def hessian_vector_product(function, variables, vectors):
    """The product of the Hessian of `function()`'s scalar with respect to
    `variables` and `vectors` (one per variable), by reverse-over-reverse:
    the gradient of the gradient's dot product with the vectors."""
    values = [v.value for v in variables]
    with tf.GradientTape() as outer:
        outer.watch(values)
        with tf.GradientTape() as inner:
            inner.watch(values)
            scalar, _ = function()
        gradients = _dense(
            inner.gradient(
                scalar, values, unconnected_gradients=tf.UnconnectedGradients.ZERO
            )
        )
    return outer.gradient(
        gradients,
        values,
        output_gradients=vectors,
        unconnected_gradients=tf.UnconnectedGradients.ZERO,
    )


def float64_scope():
    """float64 tensors compute in float64 here already."""
    return contextlib.nullcontext()


def compiled(function, variables):
    """`function(*args)` as a graph traced once (it reads `variables` as they
    are at each call): the probe's measurements call it a dozen times with
    tensors of the same shapes, and eager TensorFlow runs them ten times
    slower. Without AutoGraph: the functions have no control flow to
    convert, and AutoGraph warns about lambdas."""
    return tf.function(function, reduce_retracing=True, autograph=False)
