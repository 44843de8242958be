import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from layer_checks import GRADIENT_TOLERANCE, run_layer_checks

import keras_acts
from keras_acts.testing import check_gradients, vector_jacobian_product


def np_maxout(x, num_units, axis=-1, grouping="contiguous"):
    moved = np.moveaxis(x, axis, -1)
    pieces = moved.shape[-1] // num_units
    if grouping == "contiguous":
        out = moved.reshape(moved.shape[:-1] + (num_units, pieces)).max(axis=-1)
    else:
        out = moved.reshape(moved.shape[:-1] + (pieces, num_units)).max(axis=-2)
    return np.moveaxis(out, -1, axis)


def tfa_maxout(x, num_units, axis=-1):
    """TensorFlow Addons' Maxout: a group axis of size k inserted before `axis`."""
    axis = axis % x.ndim
    shape = list(x.shape)
    pieces = shape[axis] // num_units
    shape[axis] = num_units
    shape.insert(axis, pieces)
    return x.reshape(shape).max(axis=axis)


@pytest.mark.parametrize("grouping", ["contiguous", "interleaved"])
@pytest.mark.parametrize(
    "num_units, axis, input_shape",
    [(2, -1, (4, 6)), (3, -1, (2, 3, 4, 6)), (2, 1, (2, 4, 3, 3)), (1, 2, (2, 3, 5))],
)
def test_layer_checks(grouping, num_units, axis, input_shape, tmp_path):
    run_layer_checks(
        keras_acts.Maxout,
        {"num_units": num_units, "axis": axis, "grouping": grouping},
        input_shape,
        tmp_path,
    )


@pytest.mark.parametrize("grouping", ["contiguous", "interleaved"])
@pytest.mark.parametrize(
    "num_units, axis, input_shape",
    [(2, -1, (4, 6)), (4, -1, (2, 3, 5, 8)), (3, 1, (2, 6, 4)), (2, -2, (2, 4, 3))],
)
def test_values_against_numpy(grouping, num_units, axis, input_shape, rng):
    x = rng.normal(size=input_shape).astype("float32")
    layer = keras_acts.Maxout(num_units, axis=axis, grouping=grouping)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer(x)), np_maxout(x, num_units, axis, grouping)
    )


def test_grouping_conventions_on_a_worked_example():
    x = np.array([[0.0, 5.0, 1.0, 2.0, 4.0, 3.0]])
    # contiguous: units take (0, 5, 1) and (2, 4, 3); interleaved: (0, 1, 4), (5, 2, 3)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(keras_acts.Maxout(2)(x)), [[5.0, 4.0]]
    )
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(keras_acts.Maxout(2, grouping="interleaved")(x)),
        [[4.0, 5.0]],
    )


@pytest.mark.parametrize(
    "num_units, axis, input_shape",
    [(2, -1, (3, 8)), (3, -1, (2, 4, 4, 6)), (2, 1, (2, 4, 3, 3))],
)
def test_interleaved_matches_tensorflow_addons(num_units, axis, input_shape, rng):
    x = rng.normal(size=input_shape).astype("float32")
    layer = keras_acts.Maxout(num_units, axis=axis, grouping="interleaved")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer(x)), tfa_maxout(x, num_units, axis)
    )


def test_unknown_sizes_on_other_axes():
    inputs = keras.Input(shape=(None, None, 6))
    model = keras.Model(inputs, keras_acts.Maxout(3)(inputs))
    assert tuple(model.output.shape) == (None, None, None, 3)
    x = np.random.default_rng(0).normal(size=(2, 5, 7, 6))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(x)), np_maxout(x, 3), rtol=1e-6
    )


@pytest.mark.parametrize("grouping", ["contiguous", "interleaved"])
def test_gradients(grouping, rng):
    x = rng.normal(size=(3, 2, 6))
    check_gradients(
        keras_acts.Maxout(3, grouping=grouping), x, tolerance=GRADIENT_TOLERANCE
    )


@pytest.mark.parametrize("channels", [4, 6])  # groups of two, of three
def test_tied_pieces_pass_the_upstream_gradient_on_once(channels, rng):
    # Ties are common (zero inputs and zero biases): the gradient is split
    # between the tied pieces or given to one, never passed to each.
    x = np.zeros((3, channels), "float32")
    upstream = rng.normal(size=(3, 2)).astype("float32")
    grads = vector_jacobian_product(keras_acts.Maxout(2), x, upstream)["inputs"]
    np.testing.assert_allclose(
        grads.reshape(3, 2, -1).sum(axis=-1), upstream, rtol=1e-6
    )


@settings(max_examples=25, deadline=None)
@given(
    hnp.arrays(
        "float32",
        hnp.array_shapes(min_dims=2, max_dims=4),
        elements=st.floats(-1e3, 1e3, width=32, allow_subnormal=False),
    ),
    st.sampled_from(["contiguous", "interleaved"]),
)
def test_one_feature_per_unit_is_the_identity(x, grouping):
    layer = keras_acts.Maxout(x.shape[-1], grouping=grouping)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_units": 0}, "num_units=0"),
        ({"num_units": -2}, "num_units=-2"),
        ({"num_units": 2.0}, "num_units=2.0"),
        ({"num_units": True}, "num_units=True"),
        ({"num_units": 2, "grouping": "strided"}, "grouping='strided'"),
        ({"num_units": 2, "axis": "channels"}, "axis='channels'"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_acts.Maxout(**kwargs)


@pytest.mark.parametrize(
    "kwargs, input_shape, match",
    [
        (
            {"num_units": 4},
            (None, 6),
            r"\(6\) must be a positive multiple of num_units=4",
        ),
        ({"num_units": 2}, (None, 3, 0), r"\(0\) must be a positive multiple"),
        ({"num_units": 2, "axis": 2}, (None, 6), "axis=2"),
        ({"num_units": 2, "axis": 0}, (None, 6), "axis=0"),
        ({"num_units": 2, "axis": -3}, (None, 6), "axis=-3"),
    ],
)
def test_invalid_shapes(kwargs, input_shape, match):
    with pytest.raises(ValueError, match=match):
        keras_acts.Maxout(**kwargs).build(input_shape)


@pytest.mark.parametrize("grouping", ["contiguous", "interleaved"])
@pytest.mark.parametrize(
    "num_units, axis, input_shape, output_shape",
    [
        (2, -1, (0, 4), (0, 2)),  # groups of two: the elementwise maximum
        (2, -1, (0, 6), (0, 2)),  # groups of three: a reduction
        (3, 1, (0, 9, 5), (0, 3, 5)),
        (1, -1, (0, 2, 7), (0, 2, 1)),
    ],
)
def test_an_empty_batch_loses_the_reduced_axis(
    grouping, num_units, axis, input_shape, output_shape
):
    layer = keras_acts.Maxout(num_units, axis=axis, grouping=grouping)
    x = np.zeros(input_shape, "float32")
    outputs = keras.ops.convert_to_numpy(layer(x))
    assert outputs.shape == output_shape == np_maxout(x, num_units, axis).shape
    assert outputs.dtype == np.float32
    assert tuple(layer.compute_output_shape(input_shape)) == output_shape


@pytest.mark.parametrize("grouping", ["contiguous", "interleaved"])
@pytest.mark.parametrize("num_units, features", [(2, 4), (3, 12), (2, 6)])
def test_an_axis_unknown_at_build_is_grouped_when_the_layer_runs(
    grouping, num_units, features, rng
):
    # As tfa.layers.Maxout: the size is read from the inputs.
    inputs = keras.Input(shape=(None,))
    model = keras.Model(inputs, keras_acts.Maxout(num_units, grouping=grouping)(inputs))
    assert tuple(model.output.shape) == (None, num_units)
    x = rng.normal(size=(5, features)).astype("float32")
    expected = np_maxout(x, num_units, grouping=grouping)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x)), expected)
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)


def test_an_axis_unknown_at_build_and_channels_first(rng):
    inputs = keras.Input(shape=(None, 3, 3))
    model = keras.Model(inputs, keras_acts.Maxout(2, axis=1)(inputs))
    assert tuple(model.output.shape) == (None, 2, 3, 3)
    x = rng.normal(size=(2, 8, 3, 3)).astype("float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model(x)), np_maxout(x, 2, axis=1)
    )


def test_an_axis_unknown_at_build_refuses_a_size_num_units_does_not_divide():
    inputs = keras.Input(shape=(None,))
    model = keras.Model(inputs, keras_acts.Maxout(3)(inputs))
    with pytest.raises(
        ValueError, match=r"\(5\) must be a positive multiple of num_units=3"
    ):
        model(np.zeros((2, 5), "float32"))
    with pytest.raises(ValueError, match=r"\(0\) must be a positive multiple"):
        model(np.zeros((2, 0), "float32"))


@pytest.mark.parametrize("layer", [keras_acts.Maxout(4), keras_acts.MaxoutDense(4)])
def test_the_mask_of_padded_sequences_reaches_the_lstm(layer):
    inputs = keras.Input(shape=(None,), dtype="int32")
    hidden = keras.layers.Embedding(10, 8, mask_zero=True)(inputs)
    model = keras.Model(inputs, keras.layers.LSTM(3)(layer(hidden)))
    tokens = np.array([[1, 2, 3, 0, 0]])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(tokens)),
        keras.ops.convert_to_numpy(model(tokens[:, :3])),
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "grouping, expected",
    [
        ("contiguous", [[True, True, False], [True, False, False]]),
        ("interleaved", [[True, True, False], [False, False, False]]),
    ],
)
def test_grouping_a_masked_axis_masks_the_groups_holding_a_masked_entry(
    grouping, expected
):
    x = np.ones((2, 6, 2), "float32")
    x[0, 5] = 0.0
    x[1, 2:] = 0.0
    outputs = keras_acts.Maxout(3, axis=1, grouping=grouping)(
        keras.layers.Masking(0.0)(x)
    )
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(outputs._keras_mask), expected
    )
    inputs = keras.Input(shape=(None, 2))
    symbolic = keras_acts.Maxout(3, axis=1, grouping=grouping)(
        keras.layers.Masking(0.0)(inputs)
    )
    assert tuple(symbolic._keras_mask.shape) == (None, 3)


@pytest.mark.parametrize(
    "dtype, policy",
    [
        ("int32", "float32"),
        ("uint8", "float32"),
        ("bool", "float32"),
        ("float32", "mixed_float16"),
        ("float16", "float32"),
    ],
)
def test_the_symbolic_output_dtype_is_the_eager_one(dtype, policy):
    # Integers stay integers: a maximum is exact in any dtype.
    inputs = keras.Input((4,), dtype=dtype)
    layer = keras_acts.Maxout(2, dtype=policy)
    model = keras.Model(inputs, layer(inputs))
    eager = model(np.array([[1, 0, 1, 1]], dtype))
    assert model.output.dtype == keras.backend.standardize_dtype(eager.dtype)


# What docs/layers/maxout.md says of a TensorFlow graph traced with the
# grouped axis unknown: reshape, not the layer, refuses a size num_units
# does not divide.
@pytest.mark.tensorflow_only
def test_a_tensorflow_graph_traced_with_the_axis_unknown_leaves_it_to_reshape():
    import tensorflow as tf

    layer = keras_acts.Maxout(3)
    grouped = tf.function(
        layer, input_signature=[tf.TensorSpec((None, None), tf.float32)]
    )
    assert tuple(grouped(tf.ones((2, 6))).shape) == (2, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="reshape"):
        grouped(tf.ones((2, 7)))


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("dtype", ["bool", "int32", "float32"])
def test_groups_of_three_in_a_graph_of_unknown_batch_in_any_dtype(dtype):
    # The maximum over an unknown batch starts from the dtype's lowest
    # value, which bool has no iinfo for.
    import tensorflow as tf

    layer = keras_acts.Maxout(2)
    grouped = tf.function(layer, input_signature=[tf.TensorSpec((None, 6), dtype)])
    x = np.eye(2, 6).astype(dtype)
    np.testing.assert_array_equal(
        grouped(tf.constant(x)).numpy(), x.reshape(2, 2, 3).max(axis=-1)
    )
