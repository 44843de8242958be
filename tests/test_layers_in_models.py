"""Every layer in each kind of model, compiled with XLA and in mixed precision."""

import keras
import numpy as np
import pytest
from helpers import regression_data

import keras_acts
from keras_acts import _backends

LAYERS = {
    "PReLU": lambda **kw: keras_acts.PReLU(**kw),
    "ParametricELU": lambda **kw: keras_acts.ParametricELU(**kw),
    "Maxout": lambda **kw: keras_acts.Maxout(4, **kw),
    "MaxoutDense": lambda **kw: keras_acts.MaxoutDense(4, pieces=3, **kw),
    "PELU": lambda **kw: keras_acts.PELU(**kw),
    "SReLU": lambda **kw: keras_acts.SReLU(**kw),
    "Swish": lambda **kw: keras_acts.Swish(**kw),
    "Snake": lambda **kw: keras_acts.Snake(**kw),
    "RReLU": lambda **kw: keras_acts.RReLU(seed=0, **kw),
}


class SubclassedNet(keras.Model):
    def __init__(self, make_layer, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(8)
        self.activation = make_layer()
        self.head = keras.layers.Dense(1)

    def call(self, inputs):
        return self.head(self.activation(self.hidden(inputs)))


def build(kind, make_layer):
    if kind == "subclassed":
        return SubclassedNet(make_layer)
    layers = [keras.layers.Dense(8), make_layer(), keras.layers.Dense(1)]
    if kind == "sequential":
        return keras.Sequential([keras.Input((8,))] + layers)
    inputs = keras.Input((8,))
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x)


def sine_data():
    """64 examples of 8 features, a sine of a linear target."""
    return regression_data(samples=64, features=8, squash=np.sin)


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("kind", ["sequential", "functional", "subclassed"])
def test_model_trains_and_loss_falls(name, kind):
    x, y = sine_data()
    model = build(kind, LAYERS[name])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", jit_compile=False)
    losses = model.fit(x, y, epochs=10, batch_size=32, verbose=0).history["loss"]
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.parametrize("name", LAYERS)
def test_jit_compiled_training_and_inference(name):
    x, y = sine_data()
    model = build("functional", LAYERS[name])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", jit_compile=True)
    losses = model.fit(x, y, epochs=10, batch_size=32, verbose=0).history["loss"]
    assert losses[-1] < 0.7 * losses[0]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.predict(x, verbose=0)),
        keras.ops.convert_to_numpy(model(x)),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize(
    "policy, compute_dtype",
    [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")],
)
def test_mixed_precision(name, policy, compute_dtype):
    x, y = sine_data()
    layer = LAYERS[name](dtype=policy)
    out = layer(x)
    assert keras.backend.standardize_dtype(out.dtype) == compute_dtype
    for weight in layer.weights:
        assert weight.dtype == "float32"
    reference = LAYERS[name]()
    reference.build(x.shape)
    reference.set_weights(layer.get_weights())
    tolerance = 1e-2 if compute_dtype == "float16" else 5e-2
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.ops.cast(out, "float32")),
        keras.ops.convert_to_numpy(reference(x)),
        rtol=tolerance,
        atol=tolerance,
    )

    keras.config.set_dtype_policy(policy)
    model = build("functional", LAYERS[name])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (
        policy == "mixed_float16"
    )
    losses = model.fit(x, y, epochs=10, batch_size=16, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    for weight in model.weights:
        assert weight.dtype == "float32"


@pytest.mark.parametrize("on_inputs", [False, True], ids=["after_dense", "on_inputs"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", [*LAYERS, "Rational"])
def test_second_derivatives_match_finite_differences_of_the_gradient(
    name, dtype, on_inputs
):
    # A gradient penalty, or the Hessian-vector products of ActivationMonitor's
    # curvature, differentiates the layer's gradient again. On PyTorch the
    # gradients written by hand read values that autograd had not recorded:
    # their second derivatives came out wrong without an error. In float64,
    # TensorFlow refused to add PReLU's parameter gradient (summed in
    # float32) to a float64 one. `on_inputs`: the layer's inputs need no
    # gradient, only its parameters do.
    autodiff = _backends.module("autodiff")
    rng = np.random.default_rng(0)
    features = 4 if on_inputs else 3  # Maxout(4) groups its inputs by 4
    x = rng.normal(size=(8, features)).astype(dtype)
    make = LAYERS.get(name, keras_acts.Rational)
    with autodiff.float64_scope():
        keras.utils.set_random_seed(1)
        before = [] if on_inputs else [keras.layers.Dense(4, dtype=dtype)]
        model = keras.Sequential(
            [
                keras.Input((features,), dtype=dtype),
                *before,
                make(dtype=dtype),
                keras.layers.Dense(1, dtype=dtype),
            ]
        )
        variables = model.trainable_variables
        starts = [keras.ops.convert_to_numpy(v) for v in variables]
        directions = [rng.normal(size=v.shape).astype(dtype) for v in starts]

        def loss():
            return keras.ops.sum(keras.ops.square(model(x))), None

        def gradient_along(step):
            for variable, start, direction in zip(
                variables, starts, directions, strict=True
            ):
                variable.assign(start + step * direction)
            _, _, gradients = autodiff.value_and_gradients(loss, variables)
            return np.concatenate([_backends.to_numpy(g).ravel() for g in gradients])

        # Steps small enough that no unit crosses a kink of the piecewise
        # linear layers, large enough for float32 (in which PyTorch computes
        # some float64 ops: see its FINITE_DIFFERENCE_STEP).
        step = 1e-3 if dtype == "float32" else 1e-4
        numeric = (gradient_along(step) - gradient_along(-step)) / (2 * step)
        gradient_along(0.0)
        product = autodiff.hessian_vector_product(loss, variables, directions)
        got = np.concatenate([_backends.to_numpy(p).ravel() for p in product])
    np.testing.assert_allclose(got, numeric, atol=3e-3 * np.abs(numeric).max())
