import keras
import numpy as np
import pytest
from keras import ops
from layer_checks import GRADIENT_TOLERANCE

import keras_acts
from keras_acts.testing import check_gradients, vector_jacobian_product

# Dense and PReLU keep float64 through every op on TensorFlow and JAX, where
# a correct model's errors are rounding; on PyTorch, Keras computes `matmul`
# of float64 tensors in float32 (see check_gradients' docstring).
ROUNDING = GRADIENT_TOLERANCE if keras.backend.backend() == "torch" else 1e-8


# TensorFlow and JAX pass the upstream gradient positionally, PyTorch by keyword.
@ops.custom_gradient
def sine_with_wrong_gradient(x):
    def grad(*args, upstream=None):
        return (upstream if upstream is not None else args[0]) * ops.sin(x)

    return ops.sin(x), grad


class ScaleWithWrongGradient(keras.layers.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, inputs):
        @ops.custom_gradient
        def scaled(x, scale):
            def grad(*args, upstream=None):
                upstream = upstream if upstream is not None else args[0]
                # The weight's gradient is off by a factor of 2.
                return upstream * scale, 2 * ops.sum(upstream * x, axis=0)

            return x * scale, grad

        return scaled(inputs, ops.cast(self.scale, inputs.dtype))


def test_correct_gradient_passes(rng):
    errors = check_gradients(
        ops.sin, rng.normal(size=(3, 4)), tolerance=GRADIENT_TOLERANCE
    )
    assert errors["inputs"] < GRADIENT_TOLERANCE


def test_wrong_input_gradient_is_caught(rng):
    x = rng.normal(size=(3, 4))
    assert check_gradients(sine_with_wrong_gradient, x)["inputs"] > 0.1
    with pytest.raises(AssertionError, match="inputs"):
        check_gradients(sine_with_wrong_gradient, x, tolerance=1e-4)


def test_wrong_weight_gradient_is_caught_and_named(rng):
    layer = ScaleWithWrongGradient(name="scale_layer")
    x = rng.normal(size=(3, 2))
    errors = check_gradients(layer, x)
    assert errors["inputs"] < GRADIENT_TOLERANCE
    assert errors["scale_layer/variable"] > 0.4
    with pytest.raises(AssertionError, match="scale_layer/variable") as info:
        check_gradients(layer, x, tolerance=1e-4)
    assert "inputs" not in str(info.value)


def test_a_gradient_zero_by_its_formula_is_not_measured_against_rounding(rng):
    # With a_right = 1, SReLU is the identity above t_right, so t_right's
    # gradient is exactly 0. On PyTorch the maximum rounds to float32, and
    # the differences were rounding alone: measured against themselves,
    # they read as an error of 1.
    layer = keras_acts.SReLU(
        t_right_initializer=keras.initializers.Constant(0.5), a_right_initializer="ones"
    )
    errors = check_gradients(layer, rng.normal(size=(4, 10)))
    assert max(errors.values()) < GRADIENT_TOLERANCE


@ops.custom_gradient
def double_with_no_gradient(x):
    def grad(*args, upstream=None):
        return ops.zeros_like(upstream if upstream is not None else args[0])

    return 2.0 * x, grad


def test_a_gradient_wrongly_zero_is_still_caught(rng):
    # Zero where the differences find a gradient of 2: not rounding.
    x = rng.normal(size=(4, 10))
    assert check_gradients(double_with_no_gradient, x)["inputs"] == 1.0


@ops.custom_gradient
def offset_small_slope_with_wrong_gradient(x):
    def grad(*args, upstream=None):
        return 2e-3 * (upstream if upstream is not None else args[0])

    return 100.0 + 1e-3 * x, grad


class ScaleByFrozenWeight(keras.layers.Layer):
    """`x + k w x`, with `w` behind a stop_gradient: autodiff gives its
    weight a gradient of exactly zero, though it has one of k sum(x)."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(), initializer="zeros", name="w")

    def call(self, x):
        return x + 1e-4 * ops.cast(ops.stop_gradient(self.w), x.dtype) * x


def test_a_small_gradient_that_autodiff_wrongly_zeroes_is_caught(rng):
    # Small beside the output (inputs of 10): the differences are not
    # rounding, which would change with the step; they are the gradient.
    errors = check_gradients(
        ScaleByFrozenWeight(name="scale"), 10 * rng.normal(size=(4, 16))
    )
    assert errors["scale/w"] == 1.0


def test_a_small_wrong_gradient_beside_a_large_output_is_caught(rng):
    # Gradients far below the output's rounding level are measured as they
    # are: only an exactly zero autodiff gradient is let off.
    x = rng.normal(size=(4, 10))
    errors = check_gradients(offset_small_slope_with_wrong_gradient, x)
    assert errors["inputs"] == pytest.approx(0.5, abs=0.01)


def test_weights_are_left_unchanged(rng):
    layer = keras.layers.Dense(3)
    x = rng.normal(size=(2, 4))
    layer(x)
    before = [w.copy() for w in layer.get_weights()]
    check_gradients(layer, x, tolerance=GRADIENT_TOLERANCE)
    for b, a in zip(before, layer.get_weights(), strict=True):
        np.testing.assert_array_equal(b, a)


def test_rejects_non_callable():
    with pytest.raises(ValueError, match="target"):
        check_gradients(42, np.zeros((1, 1)))


def test_vector_jacobian_product_matches_dense_formula(rng):
    layer = keras.layers.Dense(3, name="dense")
    x = rng.normal(size=(4, 2)).astype("float32")
    upstream = rng.normal(size=(4, 3)).astype("float32")
    gradients = vector_jacobian_product(layer, x, upstream)
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    np.testing.assert_allclose(gradients["inputs"], upstream @ kernel.T, rtol=1e-5)
    np.testing.assert_allclose(gradients["dense/kernel"], x.T @ upstream, rtol=1e-5)
    np.testing.assert_allclose(gradients["dense/bias"], upstream.sum(0), rtol=1e-5)


# Doubling, with the upstream gradient reversed: right for every upstream
# that reads the same backwards, such as all ones.
@ops.custom_gradient
def double_with_reversed_gradient(x):
    def grad(*args, upstream=None):
        upstream = upstream if upstream is not None else args[0]
        return 2 * ops.flip(upstream, axis=-1)

    return 2 * x, grad


def test_a_random_projection_catches_what_a_plain_sum_hides(rng):
    x = rng.normal(size=(2, 5))
    errors = check_gradients(double_with_reversed_gradient, x)
    assert errors["inputs"] > 0.1


def test_models_are_checked_in_float64_throughout(rng):
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(5, activation="tanh")(inputs)
    functional = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    sequential = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(5, activation="tanh"),
            keras.layers.Dense(2),
        ]
    )
    x = rng.normal(size=(3, 4))
    for model in (functional, sequential):
        errors = check_gradients(model, x)
        assert max(errors.values()) < GRADIENT_TOLERANCE, errors


def test_inputs_far_from_zero(rng):
    # The finite-difference step is relative to each input: an absolute step
    # of 1e-6 is lost in rounding at 1e8.
    import keras_acts

    x = 1e8 * rng.choice([-1.0, 1.0], size=(2, 3)) * (1 + rng.uniform(size=(2, 3)))
    errors = check_gradients(keras_acts.PReLU(), x)
    assert max(errors.values()) < GRADIENT_TOLERANCE, errors


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"epsilon": 0.0}, "epsilon=0.0"),
        ({"epsilon": float("nan")}, "epsilon=nan"),
        ({"tolerance": -1.0}, "tolerance=-1.0"),
        ({"seed": 1.5}, "seed=1.5"),
        ({"inputs": np.array([[np.inf]])}, "finite inputs"),
        ({"inputs": np.array([["a"]])}, "numeric inputs"),
        ({"inputs": np.array([[1 + 1j]])}, "real inputs.*complex128"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    arguments = {"target": ops.sin, "inputs": np.zeros((1, 1)), **kwargs}
    with pytest.raises(ValueError, match=match):
        check_gradients(**arguments)


def test_vector_jacobian_product_refuses_integer_inputs():
    with pytest.raises(ValueError, match="dtype int64"):
        vector_jacobian_product(ops.sin, np.ones((2, 2), "int64"), np.ones((2, 2)))


# A gradient that is NaN where the function's is 0: the largest finite
# difference is 0, and a NaN compared with it must not read as a match.
@ops.custom_gradient
def zero_with_nan_gradient(x):
    def grad(*args, upstream=None):
        upstream = upstream if upstream is not None else args[0]
        return upstream * np.nan

    return 0 * x, grad


@ops.custom_gradient
def sine_with_one_nan_gradient(x):
    def grad(*args, upstream=None):
        upstream = upstream if upstream is not None else args[0]
        cos = ops.cos(x)
        return upstream * ops.where(ops.arange(ops.size(x)) == 0, np.nan, cos)

    return ops.sin(x), grad


@pytest.mark.parametrize(
    "function", [zero_with_nan_gradient, sine_with_one_nan_gradient]
)
def test_a_nan_gradient_fails(function, rng):
    x = rng.normal(size=(1, 4))
    assert np.isnan(check_gradients(function, x)["inputs"])
    with pytest.raises(AssertionError, match=r"inputs: NaN \(autodiff gave [14] NaN"):
        check_gradients(function, x, tolerance=1.0)


def test_a_nan_in_the_finite_differences_fails(rng):
    class NanWeight(keras.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(), initializer="ones")

        def call(self, inputs):
            # Finite away from w = 1, where the differences are taken: the
            # steps to either side give NaN, the point itself does not.
            w = ops.cast(self.w, inputs.dtype)
            return inputs * ops.where(ops.abs(w - 1) > 0, np.nan, w)

    layer = NanWeight(name="nan_weight")
    errors = check_gradients(layer, rng.normal(size=(2, 2)))
    assert np.isnan(errors["nan_weight/variable"])
    with pytest.raises(AssertionError, match="finite differences gave 1 NaN"):
        check_gradients(layer, rng.normal(size=(2, 2)), tolerance=1e-3)


class RecordDtype(keras.layers.Layer):
    """The identity, recording the dtype of its inputs and its own."""

    seen = []

    def call(self, inputs):
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        RecordDtype.seen.append((dtype, self.compute_dtype))
        return inputs


class MadeOfLayers:
    """Makes its layers in `__init__`: a Dense, a PReLU and a RecordDtype."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(3)
        self.prelu = keras_acts.PReLU()
        self.record = RecordDtype()

    def call(self, inputs):
        return self.record(self.prelu(self.dense(inputs)))


class Block(MadeOfLayers, keras.layers.Layer):
    """A layer made of layers."""


class Subclassed(MadeOfLayers, keras.Model):
    """A subclassed model."""


def _layers():
    return [keras.layers.Dense(3), keras_acts.PReLU(), RecordDtype()]


def _nested_functional():
    inner_inputs = keras.Input((4,))
    outputs = inner_inputs
    for layer in _layers():
        outputs = layer(outputs)
    inner = keras.Model(inner_inputs, outputs)
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2)(inner(inputs)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: keras.Sequential([keras.Input((4,)), *_layers()]),
        lambda: keras.Sequential([keras.Input((4,)), keras.Sequential(_layers())]),
        _nested_functional,
        Subclassed,
        Block,
        lambda: keras.Sequential([keras.Input((4,)), Block()]),
    ],
    ids=[
        "flat",
        "sequential_in_sequential",
        "functional_in_functional",
        "subclassed_model",
        "composite_layer",
        "composite_layer_in_sequential",
    ],
)
def test_layers_at_any_depth_are_checked_in_float64(make, rng):
    # A model's dtype reaches neither the layers inside it nor the dtype its
    # inputs are converted to: a float32 layer anywhere gives float32 errors.
    x = rng.normal(size=(3, 4))
    target = make()
    target(x)
    RecordDtype.seen.clear()
    errors = check_gradients(target, x)
    assert set(RecordDtype.seen) == {("float64", "float64")}
    assert max(errors.values()) < ROUNDING, errors
    assert keras.config.dtype_policy().name == "float32"


def test_the_global_dtype_policy_is_restored_after_an_error():
    class FailsInFloat64(keras.layers.Layer):
        def build(self, input_shape):
            # While the float64 copy is made.
            if self.compute_dtype == "float64":
                raise RuntimeError("no float64 here")

        def call(self, inputs):
            return inputs

    keras.config.set_dtype_policy("mixed_float16")
    with pytest.raises(RuntimeError, match="no float64"):
        check_gradients(FailsInFloat64(), np.ones((1, 2)))
    assert keras.config.dtype_policy().name == "mixed_float16"


def test_models_of_several_inputs_or_outputs_are_refused(rng):
    x = rng.normal(size=(2, 4))
    a, b = keras.Input((4,)), keras.Input((4,))
    two_inputs = keras.Model([a, b], keras.layers.Add()([a, b]), name="two_in")
    with pytest.raises(ValueError, match="one input and one output.*'two_in'"):
        check_gradients(two_inputs, x)
    with pytest.raises(ValueError, match="one input and one output.*2 inputs"):
        vector_jacobian_product(two_inputs, x.astype("float32"), x)
    two_outputs = keras.Model(
        a, [keras.layers.Dense(2)(a), keras.layers.Dense(3)(a)], name="two_out"
    )
    with pytest.raises(ValueError, match="'two_out' returning 2 tensors"):
        check_gradients(two_outputs, x)
    with pytest.raises(ValueError, match="returning 2 tensors"):
        check_gradients(lambda t: (t, 2 * t), x)
    for returned in (None, 1.0):
        with pytest.raises(ValueError, match=f"returning {returned}\\.$"):
            check_gradients(lambda t, returned=returned: returned, x)
        with pytest.raises(ValueError, match="differentiates the tensor"):
            vector_jacobian_product(
                lambda t, returned=returned: returned, x.astype("float32"), x
            )
    # A list of one output is one output.
    one_output = keras.Model(a, [keras.layers.Dense(2)(a)])
    assert max(check_gradients(one_output, x).values()) < ROUNDING


def test_vector_jacobian_product_refuses_an_upstream_of_another_shape():
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(2, 2\)"):
        vector_jacobian_product(
            ops.sin, np.ones((3, 4), "float32"), np.ones((2, 2), "float32")
        )
