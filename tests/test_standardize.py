import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_checks import run_layer_checks

import keras_acts
from keras_acts import Standardize


def np_statistics(x, axis):
    """Mean and variance in float64, one per index of `axis` (None: global)."""
    x = np.asarray(x, np.float64)
    if axis is None:
        return x.mean(), x.var()
    kept = {a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis)}
    reduce = tuple(a for a in range(x.ndim) if a not in kept)
    return x.mean(axis=reduce), x.var(axis=reduce)


def np_standardize(x, mean, variance, axis, center=True, scale=True, epsilon=1e-7):
    x = np.asarray(x, np.float64)
    if axis is not None:
        kept = sorted(
            {a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis)}
        )
        shape = [x.shape[a] if a in kept else 1 for a in range(x.ndim)]
        mean, variance = np.reshape(mean, shape), np.reshape(variance, shape)
    # Floored, as keras.layers.Normalization floors it.
    std = np.where(variance > 0, np.maximum(np.sqrt(variance), epsilon), 1.0)
    out = x - mean if center else x
    return out / std if scale else out


@pytest.mark.parametrize(
    "axis, shape",
    [
        (-1, (50, 4)),
        (None, (50, 4)),
        (-1, (20, 5, 6, 3)),
        (None, (20, 5, 6, 3)),
        ((1, 2), (20, 5, 6, 3)),
        (1, (30, 3, 7)),
    ],
)
@pytest.mark.parametrize("center, scale", [(True, True), (True, False), (False, True)])
def test_statistics_and_values_against_numpy(axis, shape, center, scale, rng):
    x = (rng.normal(size=shape) * rng.uniform(0.5, 3, size=shape[-1:]) + 7).astype(
        "float32"
    )
    layer = Standardize(axis=axis, center=center, scale=scale)
    layer.adapt(x, batch_size=7)
    mean, variance = np_statistics(x, axis)
    np.testing.assert_allclose(layer.mean.numpy(), mean, rtol=1e-6)
    np.testing.assert_allclose(layer.variance.numpy(), variance, rtol=1e-6)
    expected = np_standardize(x, mean, variance, axis, center, scale)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5
    )


def test_large_offset_variance_is_exact():
    rng = np.random.default_rng(1)
    x = (1e4 + 1e-2 * rng.normal(size=(200_000, 2))).astype("float32")
    reference = np.var(x.astype(np.float64), axis=0)
    layer = Standardize()
    layer.adapt(x, batch_size=1000)
    # As exact as float32 weights hold it.
    np.testing.assert_allclose(layer.variance.numpy(), reference, rtol=2e-7)
    # E[x^2] - E[x]^2 on the same float32 data is off by orders of magnitude.
    naive = np.mean(x**2, axis=0, dtype=np.float32) - np.mean(x, axis=0) ** 2
    assert np.all(np.abs(naive - reference) > 10 * reference)


@settings(max_examples=20, deadline=None)
@given(
    chunks=st.lists(st.integers(1, 40), min_size=1, max_size=8),
    axis=st.sampled_from([-1, None, 1]),
)
def test_chunking_does_not_change_the_statistics(chunks, axis):
    rng = np.random.default_rng(sum(chunks))
    x = (rng.normal(size=(sum(chunks), 3, 4)) * 5 + 100).astype("float32")
    whole = Standardize(axis=axis).adapt(x, batch_size=len(x))
    edges = np.cumsum([0] + chunks)
    pieces = Standardize(axis=axis).adapt(
        [x[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)]
    )
    # The float64 results: the float32 weights would hide differences.
    for statistic in ("mean", "variance", "count"):
        np.testing.assert_allclose(
            pieces[statistic], whole[statistic], rtol=1e-10, atol=0
        )


def test_constant_channel_is_centered_not_divided():
    x = np.stack([np.full(10, 3.0), np.arange(10.0)], axis=1).astype("float32")
    layer = Standardize()
    layer.adapt(x)
    assert layer.variance.numpy()[0] == 0.0
    out = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_array_equal(out[:, 0], np.zeros(10))
    assert np.all(np.isfinite(out))


def test_nonfinite_values_raise_with_their_count_or_are_skipped():
    x = np.arange(40.0, dtype="float32").reshape(20, 2)
    x[3, 0] = np.nan
    x[5, 1] = np.inf
    x[6, 1] = -np.inf
    with pytest.raises(ValueError, match="holds 3 NaN or Inf values"):
        Standardize().adapt(x, batch_size=4)
    layer = Standardize()
    layer.adapt(x, batch_size=4, ignore_nonfinite=True)
    finite = [x[np.isfinite(x[:, c]), c].astype(np.float64) for c in range(2)]
    np.testing.assert_allclose(
        layer.mean.numpy(), [f.mean() for f in finite], rtol=1e-6
    )
    np.testing.assert_allclose(
        layer.variance.numpy(), [f.var() for f in finite], rtol=1e-6
    )


@pytest.mark.parametrize("axis", [-1, None])
@pytest.mark.parametrize("center, scale", [(True, True), (True, False), (False, True)])
def test_invert_round_trip(axis, center, scale, rng):
    x = (rng.normal(size=(32, 5)) * 4 + 2).astype("float32")
    forward = Standardize(axis=axis, center=center, scale=scale)
    forward.adapt(x)
    backward = Standardize(
        axis=axis,
        center=center,
        scale=scale,
        mean=forward.mean.numpy(),
        variance=forward.variance.numpy(),
        invert=True,
    )
    mean, variance = np_statistics(x, axis)
    expected = np_standardize(x, mean, variance, axis, center, scale)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(forward(x)), expected, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(backward(forward(x))), x, rtol=1e-5, atol=1e-5
    )


def test_given_statistics_skip_adapt():
    layer = Standardize(mean=[1.0, 2.0], variance=[4.0, 9.0], epsilon=0.0)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(np.array([[3.0, 5.0]]))), [[1.0, 1.0]]
    )


@pytest.mark.parametrize("first", ["standardize", "dense"])
def test_given_statistics_survive_a_build_inside_predict_and_fit(first):
    # A Sequential without an Input builds its layers inside the first
    # predict or fit, in a symbolic scope (JAX, PyTorch) or a trace
    # (TensorFlow), which drops an assignment: the statistics were lost and
    # every output NaN.
    mean, variance = np.array([1.0, 2.0, 3.0]), np.array([4.0, 4.0, 9.0])
    x = np.arange(12, dtype="float32").reshape(4, 3)
    standardize = Standardize(mean=mean, variance=variance, epsilon=0.0)
    if first == "standardize":
        model = keras.Sequential([standardize])
        np.testing.assert_allclose(
            model.predict(x, verbose=0), (x - mean) / np.sqrt(variance), rtol=1e-6
        )
    else:
        model = keras.Sequential([keras.layers.Dense(3), standardize])
        model.compile(optimizer="sgd", loss="mse")
        history = model.fit(x, x, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(standardize.mean), mean)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(standardize.variance), variance
    )


def mapped_in_tf_data(layer, x, batch_size):
    """`layer` mapped over the batches of `x` in a tf.data pipeline."""
    import tensorflow as tf

    batches = tf.data.Dataset.from_tensor_slices(x).batch(batch_size).map(layer)
    return np.concatenate(list(batches.as_numpy_iterator()))


@pytest.mark.needs_tensorflow
def test_given_statistics_build_the_layer_first_mapped_in_tf_data():

    x = np.arange(12, dtype="float32").reshape(4, 3)
    layer = Standardize(mean=[1.0, 2.0, 3.0], variance=[4.0, 4.0, 9.0], epsilon=0.0)
    mapped = mapped_in_tf_data(layer, x, batch_size=2)
    np.testing.assert_allclose(mapped, (x - [1.0, 2.0, 3.0]) / [2.0, 2.0, 3.0])


@pytest.mark.needs_tensorflow
def test_adapt_on_datasets_and_iterables(rng):
    import tensorflow as tf

    x = rng.normal(size=(64, 3)).astype("float32") * 2 + 1
    y = rng.normal(size=(64, 1)).astype("float32")
    mean, variance = np_statistics(x, -1)
    sources = {
        "dataset of x": tf.data.Dataset.from_tensor_slices(x).batch(10),
        "dataset of (x, y)": tf.data.Dataset.from_tensor_slices((x, y)).batch(9),
        "generator": (x[i : i + 16] for i in range(0, 64, 16)),
        "list of tensors": [tf.constant(x[:30]), tf.constant(x[30:])],
    }
    for name, source in sources.items():
        layer = Standardize()
        layer.adapt(source)
        np.testing.assert_allclose(layer.mean.numpy(), mean, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(
            layer.variance.numpy(), variance, rtol=1e-6, err_msg=name
        )
    first_two = Standardize()
    first_two.adapt(tf.data.Dataset.from_tensor_slices(x).batch(16), steps=2)
    np.testing.assert_allclose(
        first_two.mean.numpy(),
        keras.ops.convert_to_numpy(x[:32].mean(axis=0)),
        rtol=1e-6,
    )


# A tf.data map runs the layer on TensorFlow tensors, whatever the backend,
# as it runs keras.layers.Normalization.
@pytest.mark.needs_tensorflow
def test_in_a_tf_data_pipeline_and_a_model(rng):

    x = (rng.uniform(0, 255, size=(16, 4, 4, 3))).astype("float32")
    layer = Standardize()
    layer.adapt(x)
    mapped = mapped_in_tf_data(layer, x, batch_size=5)
    np.testing.assert_allclose(mapped, keras.ops.convert_to_numpy(layer(x)), rtol=1e-6)
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, keras.layers.Dense(1)(layer(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((16, 4, 4, 1)), epochs=1, verbose=0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mean": [1.0, 2.0, 3.0], "variance": [1.0, 4.0, 9.0]},
        {"mean": 2.0, "variance": 4.0, "axis": None, "epsilon": 1e-3},
        {"mean": [1.0, 2.0, 3.0], "variance": [1.0, 4.0, 9.0], "invert": True},
        {"mean": [1.0, 2.0, 3.0], "variance": [1.0, 4.0, 9.0], "center": False},
        {"mean": [1.0, 2.0, 3.0], "variance": [1.0, 4.0, 9.0], "scale": False},
    ],
)
def test_layer_checks(kwargs, tmp_path):
    run_layer_checks(Standardize, kwargs, (6, 5, 3), tmp_path)


def test_calling_before_adapt_raises():
    layer = Standardize()
    with pytest.raises(ValueError, match="no statistics yet"):
        layer(np.zeros((2, 3)))
    # Building a model before adapting is the usual order and works.
    inputs = keras.Input((3,))
    keras.Model(inputs, Standardize()(inputs))


LOAD_IN_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np, keras
    import keras_acts  # registers Standardize; no custom_objects below

    folder = sys.argv[1]
    model = keras.saving.load_model(f"{folder}/standardize.keras", safe_mode=True)
    layer = model.layers[-1]
    outputs = model.predict(np.load(f"{folder}/x.npy"), verbose=0)
    np.save(f"{folder}/out.npy", outputs)
    np.save(f"{folder}/stats.npy", np.stack([layer.mean, layer.variance]))
    """
)


def test_save_and_load_in_a_fresh_process(tmp_path, rng):
    x = (rng.normal(size=(40, 6, 6, 3)) * 30 + 120).astype("float32")
    layer = Standardize(axis=-1)
    layer.adapt(x)
    inputs = keras.Input((6, 6, 3))
    model = keras.Model(inputs, layer(inputs))
    model.save(tmp_path / "standardize.keras")
    np.save(tmp_path / "x.npy", x)
    child = subprocess.run(
        [sys.executable, "-c", LOAD_IN_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    np.testing.assert_array_equal(
        np.load(tmp_path / "stats.npy"), [layer.mean.numpy(), layer.variance.numpy()]
    )
    np.testing.assert_array_equal(
        np.load(tmp_path / "out.npy"),
        keras.ops.convert_to_numpy(model.predict(x, verbose=0)),
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"axis": "channels"}, "axis='channels'"),
        ({"axis": ()}, r"axis=\(\)"),
        ({"center": False, "scale": False}, "does nothing"),
        ({"mean": 1.0}, "both `mean` and `variance`"),
        ({"mean": 0.0, "variance": -1.0}, "variance=-1.0"),
        ({"epsilon": -1e-3}, "epsilon=-0.001"),
        ({"epsilon": float("inf")}, "epsilon=inf"),
        ({"epsilon": float("nan")}, "epsilon=nan"),
        ({"center": "yes"}, "center='yes'"),
        ({"center": 1}, "Received: center=1"),
        ({"scale": 0}, "Received: scale=0"),
        ({"invert": 1.0}, "Received: invert=1.0"),
        ({"invert": "no"}, "invert='no'"),
        ({"mean": float("nan"), "variance": 1.0}, "mean=nan"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Standardize(**kwargs)


@pytest.mark.parametrize(
    "kwargs, data, match",
    [
        ({"axis": 0}, np.zeros((4, 3)), "axis=0"),
        ({"axis": 3}, np.zeros((4, 3)), "axis=3"),
        ({}, np.zeros((0, 3)), "at least one row"),
        ({}, np.zeros(5), "rank >= 2"),
        ({}, iter([]), "no data"),
        ({}, "text", "Received: str"),
        ({}, [np.zeros((2, 3)), np.zeros((2, 4))], r"\(2, 3\) and \(2, 4\)"),
        ({"mean": [1.0, 2.0], "variance": [1.0, 1.0]}, np.zeros((2, 3)), "broadcast"),
        ({}, np.full((4, 3), np.nan), "holds 12 NaN or Inf values"),
        ({}, (), r"data is empty: \(\)"),
        ({}, [[]], r"a batch is empty: \[\]"),
        ({}, [()], r"a batch is empty: \(\)"),
        ({}, [{"a": np.zeros((2, 3))}], r"a batch is a dict with keys \['a'\]"),
        ({}, ({"a": np.zeros((2, 3))}, None), r"data is a dict with keys \['a'\]"),
    ],
)
def test_invalid_data(kwargs, data, match):
    with pytest.raises(ValueError, match=match):
        Standardize(**kwargs).adapt(data)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": -1}, "batch_size=-1"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"batch_size": 2.5}, "batch_size=2.5"),
        ({"steps": 0}, "steps=0"),
        ({"ignore_nonfinite": "yes"}, "ignore_nonfinite='yes'"),
        ({"ignore_nonfinite": 1}, "ignore_nonfinite=1"),
    ],
)
def test_invalid_adapt_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Standardize().adapt(np.zeros((4, 3)), **kwargs)


@pytest.mark.needs_tensorflow
def test_a_dataset_of_dicts_is_refused():
    import tensorflow as tf

    features = {"a": np.zeros((4, 3), "float32")}
    for elements in (features, (features, np.zeros(4))):
        dataset = tf.data.Dataset.from_tensor_slices(elements).batch(2)
        with pytest.raises(
            ValueError, match=r"each element of the dataset is a dict with keys \['a'\]"
        ):
            Standardize().adapt(dataset)


def test_adapt_takes_x_from_an_x_y_tuple(rng):
    x = rng.normal(size=(20, 3)) * 5 + 3
    y = rng.normal(size=(20, 3)) * 100 - 50
    layer = Standardize()
    layer.adapt((x, y))
    mean, variance = np_statistics(x, -1)
    np.testing.assert_allclose(layer.mean.numpy(), mean, rtol=1e-6)
    np.testing.assert_allclose(layer.variance.numpy(), variance, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "mixed_float16"])
@pytest.mark.parametrize("std", [1e-4, 300.0])
def test_statistics_stay_float32_under_half_precision(dtype, std, rng):
    # Centred on 0, so that the inputs themselves survive float16.
    x = (rng.normal(size=(512, 3)) * std).astype("float32")
    layer = Standardize(dtype=dtype)
    layer.adapt(x)
    assert layer.mean.dtype == layer.variance.dtype == "float32"
    np.testing.assert_allclose(
        layer.variance.numpy(), x.astype(np.float64).var(0), rtol=1e-6
    )
    outputs = keras.ops.convert_to_numpy(layer(x.astype("float16")))
    assert outputs.dtype == np.float16
    # Scaled as in float64, not left unscaled or turned into zeros or
    # infinities.
    mean, variance = np_statistics(x, -1)
    expected = np_standardize(x, mean, variance, -1)
    np.testing.assert_allclose(
        outputs.astype(np.float64).std(0), expected.std(0), rtol=2e-2
    )


def test_integer_images_are_standardized_as_floats(rng):
    images = rng.integers(0, 256, size=(16, 4, 4, 3)).astype("uint8")
    layer = Standardize()
    layer.adapt(images)
    outputs = keras.ops.convert_to_numpy(layer(images))
    assert outputs.dtype == np.float32
    mean, variance = np_statistics(images, -1)
    np.testing.assert_allclose(
        outputs, np_standardize(images, mean, variance, -1), rtol=1e-5, atol=1e-5
    )


def test_statistics_survive_model_from_json_and_clone_model(rng):
    x = (rng.normal(size=(32, 3)) * 4 + 2).astype("float32")
    layer = Standardize()
    layer.adapt(x)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, layer(inputs))
    expected = keras.ops.convert_to_numpy(model(x))
    from_json = keras.models.model_from_json(model.to_json())
    from_json.set_weights(model.get_weights())
    cloned = keras.models.clone_model(model)
    cloned.set_weights(model.get_weights())
    for copy in (from_json, cloned):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(copy(x)), expected)


def test_a_layer_saved_before_adapt_is_not_an_identity(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, Standardize()(inputs))
    model.save(tmp_path / "unadapted.keras")
    loaded = keras.saving.load_model(tmp_path / "unadapted.keras")
    with pytest.raises(ValueError, match="no statistics yet"):
        loaded(np.ones((2, 3), "float32"))


def test_exported_at_top_level():
    assert keras_acts.Standardize is Standardize


@pytest.mark.parametrize("dtype", ["float32", "float16", "mixed_float16"])
def test_a_tiny_standard_deviation_is_scaled_to_one(dtype, rng):
    # sqrt(variance + 1e-7) would give standard deviation 0.3 here; the
    # floor of keras.layers.Normalization gives 1.
    x = rng.normal(size=(2000, 3)) * 1e-4
    layer = Standardize(dtype=dtype)
    layer.adapt(x)
    outputs = keras.ops.convert_to_numpy(layer(x.astype("float32")))
    np.testing.assert_allclose(outputs.astype(np.float64).std(0), 1.0, rtol=1e-2)
    reference = keras.layers.Normalization()
    reference.adapt(x.astype("float32"))
    np.testing.assert_allclose(
        outputs.astype(np.float64),
        keras.ops.convert_to_numpy(reference(x.astype("float32"))),
        rtol=2e-2,
        atol=2e-2,
    )


def test_the_standard_deviation_is_floored_at_epsilon():
    # A standard deviation under epsilon divides by epsilon, as
    # keras.layers.Normalization does; a constant channel is only centered.
    layer = Standardize(mean=[0.0, 0.0, 5.0], variance=[1e-6, 4.0, 0.0], epsilon=0.1)
    outputs = keras.ops.convert_to_numpy(layer(np.array([[1.0, 1.0, 7.0]])))
    np.testing.assert_allclose(outputs, [[1.0 / 0.1, 0.5, 2.0]], rtol=1e-6)


def _skip_without_float64():
    if keras.backend.backend() == "jax":
        import jax

        if not jax.config.jax_enable_x64:
            pytest.skip("JAX computes in float32 unless jax_enable_x64 is set")


def test_a_float64_layer_computes_in_float64():
    _skip_without_float64()
    layer = Standardize(dtype="float64", mean=0.1, variance=0.01)
    x = np.array([[0.1 + 1e-9, 0.3, -7.25]])
    outputs = keras.ops.convert_to_numpy(layer(x))
    assert outputs.dtype == np.float64
    assert layer.mean.dtype == layer.variance.dtype == "float64"
    # float32 statistics (0.1 is 0.10000000149 in float32) are off by 1.5e-8.
    np.testing.assert_allclose(outputs, (x - 0.1) / 0.1, rtol=1e-12, atol=1e-15)


def test_a_float64_layer_adapts_to_float64_statistics(rng):
    _skip_without_float64()
    x = 1e4 + rng.normal(size=(100, 2)) * 1e-3
    layer = Standardize(dtype="float64")
    layer.adapt(x)
    np.testing.assert_allclose(layer.mean.numpy(), x.mean(0), rtol=1e-15)
    outputs = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(outputs, (x - x.mean(0)) / x.std(0), rtol=1e-9)


def test_adapting_again_on_other_channels_names_the_shapes(rng):
    layer = Standardize()
    layer.adapt(rng.normal(size=(10, 3)))
    with pytest.raises(
        ValueError, match=r"built for inputs of shape \(None, 3\).*shape \(10, 5\)"
    ):
        layer.adapt(rng.normal(size=(10, 5)))
    with pytest.raises(ValueError, match=r"shape \(10, 3, 1\)"):
        layer.adapt(rng.normal(size=(10, 3, 1)))


def test_adapting_again_on_the_same_channels_replaces_the_statistics(rng):
    layer = Standardize()
    layer.adapt(rng.normal(size=(50, 3)))
    x = rng.normal(size=(40, 3)) * 3 + 2
    layer.adapt(x)
    np.testing.assert_allclose(layer.mean.numpy(), x.mean(0), rtol=1e-6)
    np.testing.assert_allclose(layer.variance.numpy(), x.var(0), rtol=1e-6)


def test_check_gradients_on_an_adapted_layer(rng):
    from keras_acts.testing import check_gradients

    x = rng.normal(size=(64, 3)) * [1.0, 5.0, 0.01] + 2
    layer = Standardize()
    layer.adapt(x)
    errors = check_gradients(layer, x[:4], tolerance=1e-5)
    assert set(errors) == {"inputs"}


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(["center", "scale", "invert"]),
    value=st.one_of(
        st.integers(), st.floats(allow_nan=False), st.text(max_size=3), st.none()
    ),
)
def test_boolean_arguments_refuse_anything_but_a_bool(name, value):
    with pytest.raises(ValueError, match=f"Received: {name}="):
        Standardize(**{name: value})


@pytest.mark.needs_tensorflow
@pytest.mark.parametrize("batch_size", [None, 7])
def test_adapt_batches_an_unbatched_dataset_of_vectors(batch_size, rng):
    import tensorflow as tf

    # Vectors, as keras.layers.Normalization.adapt takes them unbatched.
    rows = rng.normal(5.0, 3.0, size=(300, 3)).astype("float32")
    layer = Standardize()
    layer.adapt(tf.data.Dataset.from_tensor_slices(rows), batch_size=batch_size)
    np.testing.assert_allclose(layer.mean.numpy(), rows.mean(axis=0), rtol=1e-5)
    assert keras.ops.convert_to_numpy(layer(rows)).shape == rows.shape


@pytest.mark.needs_tensorflow
@pytest.mark.parametrize("batch_size", [None, 7])
def test_a_built_layer_adapts_on_a_dataset_of_single_images(batch_size, rng):
    import tensorflow as tf

    images = rng.uniform(0, 255, size=(20, 8, 8, 3)).astype("float32")
    inputs = keras.Input((8, 8, 3))
    layer = Standardize()
    model = keras.Model(inputs, layer(inputs))
    layer.adapt(
        tf.data.Dataset.from_tensor_slices((images, images[:, 0, 0])),
        batch_size=batch_size,
    )
    mean, variance = np_statistics(images, -1)
    np.testing.assert_allclose(layer.mean.numpy(), mean, rtol=1e-5)
    np.testing.assert_allclose(layer.variance.numpy(), variance, rtol=1e-5)
    assert keras.ops.convert_to_numpy(model(images[:2])).shape == (2, 8, 8, 3)


# keras.layers.Normalization broadcasts one example to a batch of one, and
# batching then gives (batch, 1, 3) in silence: Standardize refuses, with the
# same message on every backend.
@pytest.mark.needs_tensorflow
def test_mapping_over_single_examples_names_the_fix(rng):
    import tensorflow as tf

    x = rng.normal(5.0, 3.0, size=(10, 3)).astype("float32")
    layer = Standardize()
    layer.adapt(x)
    with pytest.raises(
        ValueError, match=r"rank 2 \(batch, \.\.\.\)\. Received: inputs of shape \(3,\)"
    ) as error:
        tf.data.Dataset.from_tensor_slices(x).map(layer)
    assert "map the layer after `.batch()`" in str(error.value)
    with pytest.raises(ValueError, match=r"Received: inputs of shape \(1, 2, 3\)\.$"):
        layer(x[None, :2])


# On JAX and PyTorch a tf.data pipeline skips Keras's input checks: a batch
# of one feature would broadcast to the three statistics in silence.
@pytest.mark.needs_tensorflow
@pytest.mark.parametrize("width", [1, 4])
def test_mapping_over_another_number_of_features_is_refused(rng, width):
    import tensorflow as tf

    layer = Standardize()
    layer.adapt(rng.normal(size=(10, 3)))
    batches = tf.data.Dataset.from_tensor_slices(np.ones((4, width), "float32"))
    expected = (
        rf"statistics for 3 indices on axis 1\. Received: inputs of shape "
        rf"\(None, {width}\), with {width} there"
    )
    with pytest.raises(ValueError, match=expected):
        batches.batch(2).map(layer)
    with pytest.raises(ValueError, match="statistics for 3 indices on axis 1"):
        layer(np.ones((2, width), "float32"))
    # Every axis kept is checked, not the first alone.
    images = Standardize(axis=(1, 2))
    images.adapt(rng.normal(size=(10, 2, 3, 1)))
    batches = tf.data.Dataset.from_tensor_slices(np.ones((4, 2, width, 1), "float32"))
    with pytest.raises(ValueError, match="statistics for 3 indices on axis 2"):
        batches.batch(2).map(images)


def test_values_near_the_float64_maximum_are_counted_not_dropped():
    # A float64 sum of these finite values overflows: adapt still counts
    # them, and says so when the statistics themselves overflow.
    big = np.full((4, 1), 1e308)
    with pytest.raises(ValueError, match="variance of the data overflows float64"):
        Standardize().adapt(np.concatenate([np.zeros((4, 1)), big]), batch_size=4)
    with pytest.raises(ValueError, match=r"cannot store mean=1e\+308.*float32"):
        Standardize().adapt(big)


def test_a_float64_layer_adapts_on_values_near_the_float64_maximum():
    _skip_without_float64()
    big = np.full((6, 2), 1e308)
    big[:, 1] = -1.5e308
    big[2, 0] = np.nan
    for data, kwargs, count in [
        (big[3:], {}, [3, 3]),
        (big[3:], {"batch_size": 2}, [3, 3]),
        (big, {"batch_size": 2, "ignore_nonfinite": True}, [5, 6]),
    ]:
        statistics = Standardize(dtype="float64").adapt(data, **kwargs)
        np.testing.assert_array_equal(statistics["count"], count)
        np.testing.assert_array_equal(statistics["mean"], [1e308, -1.5e308])
        np.testing.assert_array_equal(statistics["variance"], [0.0, 0.0])


def test_statistics_beyond_float32_name_the_value_and_the_fix():
    x = np.array([[-1e20], [1e20]], "float32")
    with pytest.raises(
        ValueError, match=r'cannot store variance=1e\+40.*dtype="float64"'
    ):
        Standardize().adapt(x)
    with pytest.raises(ValueError, match=r"cannot store mean=1e\+39"):
        Standardize(mean=1e39, variance=1.0)(np.zeros((1, 1)))


def test_a_float64_layer_stores_statistics_beyond_float32():
    _skip_without_float64()
    x = np.array([[-1e20], [1e20]])
    layer = Standardize(dtype="float64")
    layer.adapt(x)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)), [[-1.0], [1.0]], rtol=1e-12
    )


def test_a_list_of_rows_is_one_array(rng):
    x = rng.normal(3, 2, size=(50, 3))
    mean, variance = np_statistics(x, -1)
    for name, data in {
        "list of lists": x.tolist(),
        "list of tuples": [tuple(row) for row in x.tolist()],
        "list of lists of images": x.reshape(50, 3, 1).tolist(),
    }.items():
        layer = Standardize(axis=1)
        layer.adapt(data)
        np.testing.assert_allclose(layer.mean.numpy(), mean, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(
            layer.variance.numpy(), variance, rtol=1e-6, err_msg=name
        )
    # Integers, as fit reads them.
    np.testing.assert_allclose(
        Standardize().adapt([[1, 10], [3, 30]])["mean"], [2.0, 20.0]
    )
    # A list of arrays, or of (x, y) pairs, stays a list of batches.
    layer = Standardize()
    layer.adapt([(x[:20], None), (x[20:], None)])
    np.testing.assert_allclose(layer.mean.numpy(), mean, rtol=1e-6)
    with pytest.raises(ValueError, match=r"batches of rank >= 2.*shape \(3,\)"):
        Standardize().adapt(list(x))


def test_a_float32_layer_standardizes_exactly_in_a_mixed_float16_model(rng):
    # float16 is spaced 0.5 apart near 1000: a float16 Standardize leaves a
    # handful of distinct values of this data.
    x = rng.normal(1000, 0.5, size=(200, 2)).astype("float32")
    keras.config.set_dtype_policy("mixed_float16")
    inputs = keras.Input((2,))
    standardize = Standardize(dtype="float32")
    standardized = standardize(inputs)
    model = keras.Model(inputs, [standardized, keras.layers.Dense(1)(standardized)])
    standardize.adapt(x)
    outputs, predictions = model.predict(x, verbose=0)
    assert outputs.dtype == np.float32 and predictions.dtype == np.float16
    expected = np_standardize(
        x, standardize.mean.numpy(), standardize.variance.numpy(), -1
    )
    np.testing.assert_allclose(outputs, expected, rtol=1e-6, atol=1e-6)
    # What the docs say of the layer under the policy.
    half = Standardize()
    half.adapt(x)
    assert len(np.unique(keras.ops.convert_to_numpy(half(x))[:, 0])) <= 8
