"""JAX: `jax.value_and_grad` of the function of the variables' values, which
it reads through a StatelessScope."""

from __future__ import annotations

import jax
import keras

# The default finite-difference step of keras_acts.testing.check_gradients.
# Some ops round to float32 even under float64_scope: a finer step is lost
# in that rounding.
FINITE_DIFFERENCE_STEP = 1e-3


def value_and_gradients(function, variables):
    def of_values(values):
        mapping = list(zip(variables, values, strict=True))
        with keras.StatelessScope(state_mapping=mapping):
            return function()

    (scalar, aux), gradients = jax.value_and_grad(of_values, has_aux=True)(
        [v.value for v in variables]
    )
    return scalar, aux, gradients


def float64_scope():
    """Without it JAX silently computes float64 arrays in float32."""
    return jax.enable_x64(True)
