"""Models with every layer survive .keras save/load in another Python process.

One subprocess serves all models (a TensorFlow import costs seconds): it loads
each model with safe_mode=True and no custom_objects, predicts, trains further,
and saves again; this process then loads the re-saved files and compares.
"""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_acts

MODELS = {
    "prelu": lambda: keras_acts.PReLU(),
    "prelu_shared_axes": lambda: keras_acts.PReLU(shared_axes=[1]),
    "prelu_channels_first": lambda: keras_acts.PReLU(channel_axis=1),
    "parametric_elu": lambda: keras_acts.ParametricELU(alpha_regularizer="l2"),
    "maxout": lambda: keras_acts.Maxout(2),
    "maxout_interleaved": lambda: keras_acts.Maxout(2, axis=1, grouping="interleaved"),
    "maxout_dense": lambda: keras_acts.MaxoutDense(3, pieces=3),
    "prelu_per_element": lambda: keras_acts.PReLU(shared_axes=[]),
    "pelu": lambda: keras_acts.PELU(),
    "srelu": lambda: keras_acts.SReLU(channel_axis=1),
    "swish": lambda: keras_acts.Swish(beta_regularizer="l2"),
    "snake": lambda: keras_acts.Snake(channel_axis=None),
    "rrelu": lambda: keras_acts.RReLU(seed=3),
}


def replaced_named_output():
    """A `replace_activations` copy whose ReLU output layer "price" is now a
    PReLU under that name (the Dense is "price_linear"), compiled with a
    loss keyed by it: a load that lost the name fails in `fit`."""
    inputs = keras.Input((4, 6))
    x = keras.layers.Dense(6, "relu")(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(1, activation="relu", name="price")(x)
    model = keras_acts.replace_activations(
        keras.Model(inputs, outputs), "relu", keras_acts.PReLU
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss={"price": "mse"})
    return model


def standardize_built_in_fit():
    """A Sequential without an Input whose Standardize, given its statistics,
    is built inside the first fit (where an assignment was lost)."""
    model = keras.Sequential(
        [
            keras_acts.Standardize(mean=[1.0] * 6, variance=[4.0] * 6),
            keras.layers.Flatten(),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def layer_model(make_layer):
    return lambda: build(make_layer)


SAVED = {
    **{name: layer_model(make) for name, make in MODELS.items()},
    "replaced_named_output": replaced_named_output,
    "standardize_built_in_fit": standardize_built_in_fit,
}

CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    import keras_acts  # registers the layers; no custom_objects below

    folder = sys.argv[1]
    x = np.load(f"{folder}/x.npy")
    y = np.load(f"{folder}/y.npy")
    report = {}
    for name in json.loads(sys.argv[2]):
        model = keras.saving.load_model(f"{folder}/{name}.keras", safe_mode=True)
        np.save(f"{folder}/{name}_loaded.npy", model.predict(x, verbose=0))
        model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        np.save(f"{folder}/{name}_retrained.npy", model.predict(x, verbose=0))
        model.save(f"{folder}/{name}_retrained.keras")
        report[name] = int(model.optimizer.iterations.numpy())
    print(json.dumps(report))
    """
)


def build(make_layer):
    inputs = keras.Input((4, 6))
    x = keras.layers.Dense(6)(inputs)
    x = make_layer()(x)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fresh_process")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4, 6)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y)
    expected = {}
    for name, make_model in SAVED.items():
        model = make_model()
        model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        expected[name] = model.predict(x, verbose=0)
        model.save(folder / f"{name}.keras")
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), json.dumps(list(SAVED))],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    iterations = json.loads(child.stdout.strip().splitlines()[-1])
    return folder, x, expected, iterations


@pytest.mark.parametrize("name", SAVED)
def test_loaded_in_fresh_process_gives_identical_outputs(saved_models, name):
    folder, _, expected, _ = saved_models
    np.testing.assert_array_equal(
        np.load(folder / f"{name}_loaded.npy"), expected[name]
    )


@pytest.mark.parametrize("name", SAVED)
def test_train_further_resave_and_load_again(saved_models, name):
    folder, x, expected, iterations = saved_models
    # 2 epochs of 2 steps before saving, 2 more after loading: optimizer state kept.
    assert iterations[name] == 8
    retrained = np.load(folder / f"{name}_retrained.npy")
    assert not np.array_equal(retrained, expected[name])
    model = keras.saving.load_model(folder / f"{name}_retrained.keras", safe_mode=True)
    np.testing.assert_array_equal(model.predict(x, verbose=0), retrained)


def test_a_replaced_output_keeps_its_name_through_save_and_load(saved_models):
    # The fresh process's fit (with the loss keyed "price") already needs the
    # name; this names what was loaded.
    folder, _, _, _ = saved_models
    model = keras.saving.load_model(
        folder / "replaced_named_output_retrained.keras", safe_mode=True
    )
    assert model.output_names == ["price"]
    assert isinstance(model.get_layer("price"), keras_acts.PReLU)
    assert model.get_layer("price_linear").get_config()["activation"] == "linear"


def test_given_statistics_built_in_fit_are_saved_and_loaded(saved_models):
    folder, _, expected, _ = saved_models
    assert np.isfinite(expected["standardize_built_in_fit"]).all()
    model = keras.saving.load_model(folder / "standardize_built_in_fit.keras")
    standardize = model.layers[0]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(standardize.mean), 1.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(standardize.variance), 4.0)
