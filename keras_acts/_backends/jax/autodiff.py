"""JAX: `jax.value_and_grad` of the function of the variables' values, which
it reads through a StatelessScope."""

from __future__ import annotations

import jax
import keras

# The default finite-difference step of keras_acts.testing.check_gradients.
# Some ops round to float32 even under float64_scope: a finer step is lost
# in that rounding.
FINITE_DIFFERENCE_STEP = 1e-3


def _of_values(function, variables):
    """`function` as a function of the variables' values."""

    def of_values(values):
        mapping = list(zip(variables, values, strict=True))
        with keras.StatelessScope(state_mapping=mapping):
            return function()

    return of_values


def value_and_gradients(function, variables):
    (scalar, aux), gradients = jax.value_and_grad(
        _of_values(function, variables), has_aux=True
    )([v.value for v in variables])
    return scalar, aux, gradients


def hessian_vector_product(function, variables, vectors):
    """The product of the Hessian of `function()`'s scalar with respect to
    `variables` and `vectors` (one per variable), forward-over-reverse."""
    gradient = jax.grad(_of_values(function, variables), has_aux=True)
    values = [v.value for v in variables]
    _, product = jax.jvp(
        lambda values: gradient(values)[0],
        (values,),
        (
            [
                jax.numpy.asarray(vector, dtype=value.dtype)
                for vector, value in zip(vectors, values, strict=True)
            ],
        ),
    )
    return product


def float64_scope():
    """Without it JAX silently computes float64 arrays in float32."""
    return jax.enable_x64(True)


def compiled(function, variables):
    """`function(*args)` compiled by `jax.jit`, as a function of `variables`'
    values (all that it reads and that change between calls, passed anew at
    each call) and of `args`. A variable not in `variables` is read once, when
    the function is traced."""

    def of_values(values, *args):
        with keras.StatelessScope(
            state_mapping=list(zip(variables, values, strict=True))
        ):
            return function(*args)

    jitted = jax.jit(of_values)
    return lambda *args: jitted([v.value for v in variables], *args)
