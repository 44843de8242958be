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
    return scalar, aux, tape.gradient(scalar, values)


def float64_scope():
    """float64 tensors compute in float64 here already."""
    return contextlib.nullcontext()
