import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from layer_checks import GRADIENT_TOLERANCE, run_layer_checks

import keras_acts
from keras_acts.testing import check_gradients, vector_jacobian_product


def np_parametric_elu(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


@pytest.mark.parametrize(
    "kwargs, input_shape",
    [
        ({}, (4, 5)),
        ({}, (2, 3, 4, 5)),
        ({"channel_axis": 1}, (2, 3, 4, 5)),
        ({"channel_axis": None, "alpha_constraint": None}, (2, 3, 4)),
        ({"shared_axes": [1, 2], "alpha_regularizer": "l1"}, (2, 3, 4, 5)),
    ],
)
def test_layer_checks(kwargs, input_shape, tmp_path):
    run_layer_checks(keras_acts.ParametricELU, kwargs, input_shape, tmp_path)


@pytest.mark.parametrize(
    "kwargs, input_shape, alpha_shape, broadcast",
    [
        ({}, (2, 3, 4, 5), (5,), (1, 1, 1, 5)),
        ({"channel_axis": 1}, (2, 3, 4), (3,), (1, 3, 1)),
        ({"channel_axis": None}, (3, 4), (), ()),
        ({"shared_axes": [1]}, (2, 3, 4), (1, 4), (1, 4)),
    ],
)
def test_values_against_numpy(kwargs, input_shape, alpha_shape, broadcast, rng):
    x = (3 * rng.normal(size=input_shape)).astype("float32")
    layer = keras_acts.ParametricELU(**kwargs)
    layer.build(x.shape)
    assert tuple(layer.alpha.shape) == alpha_shape
    alpha = rng.uniform(0.1, 2.0, size=alpha_shape).astype("float32")
    layer.alpha.assign(alpha)
    expected = np_parametric_elu(x, np.reshape(alpha, broadcast))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-7
    )


@pytest.mark.parametrize("kwargs", [{}, {"channel_axis": None}, {"shared_axes": 1}])
def test_gradients(kwargs, rng):
    x = rng.normal(size=(3, 4))
    errors = check_gradients(
        keras_acts.ParametricELU(**kwargs), x, tolerance=GRADIENT_TOLERANCE
    )
    assert set(errors) == {"inputs", "parametric_elu/alpha"}


def test_gradient_formula(rng):
    x = (2 * rng.normal(size=(5, 3))).astype("float32")
    upstream = rng.normal(size=x.shape).astype("float32")
    alpha = np.array([0.5, 1.0, 1.5], "float32")
    layer = keras_acts.ParametricELU()
    layer.build(x.shape)
    layer.alpha.assign(alpha)
    gradients = vector_jacobian_product(layer, x, upstream)
    dx, dalpha = gradients["inputs"], gradients["parametric_elu/alpha"]
    negative = np.minimum(x, 0)
    np.testing.assert_allclose(
        dx, upstream * np.where(x > 0, 1.0, alpha * np.exp(negative)), rtol=1e-5
    )
    np.testing.assert_allclose(
        dalpha, np.sum(upstream * np.expm1(negative), axis=0), rtol=1e-5
    )


@pytest.mark.parametrize("dtype", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_gradient_stays_finite_for_large_inputs(dtype):
    layer = keras_acts.ParametricELU(dtype=dtype)
    x = np.array([[30.0, 100.0, 1e4, -1e4, -30.0]], "float32")
    gradients = vector_jacobian_product(layer, x, np.ones_like(x))
    dx, dalpha = gradients["inputs"], gradients["parametric_elu/alpha"]
    assert np.all(np.isfinite(dx)) and np.all(np.isfinite(dalpha))
    np.testing.assert_allclose(dx[0, :3], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(dalpha, [0, 0, 0, -1, -1], atol=1e-6)


def _alpha_after_one_step_towards_negative(layer):
    # Reaching +5 from x = -1 needs alpha < 0: one SGD step moves alpha from
    # 0.05 to about -3.1 unless the constraint projects it back.
    model = keras.Sequential([keras.Input((2,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    x = -np.ones((8, 2), "float32")
    model.fit(x, np.full((8, 2), 5.0), epochs=1, batch_size=8, verbose=0)
    return layer.alpha.numpy()


def test_default_constraint_keeps_alpha_non_negative():
    constrained = keras_acts.ParametricELU(alpha_initializer=0.05)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(_alpha_after_one_step_towards_negative(constrained)),
        [0.0, 0.0],
    )
    free = keras_acts.ParametricELU(alpha_initializer=0.05, alpha_constraint=None)
    assert np.all(_alpha_after_one_step_towards_negative(free) < -1.0)


@settings(max_examples=25, deadline=None)
@given(
    hnp.arrays(
        "float32",
        hnp.array_shapes(min_dims=2, max_dims=4),
        elements=st.floats(-50, 50, width=32, allow_subnormal=False),
    )
)
def test_alpha_one_is_keras_elu(x):
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras_acts.ParametricELU()(x)),
        keras.ops.convert_to_numpy(keras.activations.elu(x)),
        rtol=1e-6,
        atol=1e-7,
    )


@pytest.mark.parametrize(
    "kwargs",
    [{"channel_axis": "first"}, {"shared_axes": -1}, {"alpha_constraint": "x"}],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        keras_acts.ParametricELU(**kwargs)


@pytest.mark.parametrize(
    "kwargs, input_shape, match",
    [
        ({"channel_axis": -3}, (None, 4), "channel_axis=-3"),
        ({}, (None, 4, None), "channel axis must be known"),
    ],
)
def test_invalid_shapes(kwargs, input_shape, match):
    with pytest.raises(ValueError, match=match):
        keras_acts.ParametricELU(**kwargs).build(input_shape)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="SavedModel is TensorFlow's"
)
def test_exported_saved_model_serves_the_same_values(tmp_path, rng):
    # On TensorFlow the op is an XLA-compiled function of its own: it must
    # survive export and serve without the layer's Python.
    import tensorflow as tf

    model = keras.Sequential([keras.Input((6,)), keras_acts.ParametricELU()])
    model.layers[0].alpha.assign(rng.uniform(0.1, 2, size=(6,)))
    x = rng.normal(size=(5, 6)).astype("float32")
    model.export(str(tmp_path / "exported"), verbose=False)
    exported = tf.saved_model.load(str(tmp_path / "exported"))
    served = exported.serve(x)
    np.testing.assert_allclose(
        served, np_parametric_elu(x, model.layers[0].alpha.numpy()), rtol=1e-6
    )
