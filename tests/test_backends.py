"""The layers and Standardize on the JAX and PyTorch backends.

Keras fixes its backend when it is imported, so each backend runs in a child
process. The child checks values against NumPy, trains each layer, saves and
reloads it, and loads the models this (TensorFlow) process saved: they must
give the same outputs. Skipped for a backend that is not installed."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_acts

LAYERS = {
    "prelu": lambda: keras_acts.PReLU(),
    "parametric_elu": lambda: keras_acts.ParametricELU(),
    "maxout": lambda: keras_acts.Maxout(4),
    "maxout_interleaved": lambda: keras_acts.Maxout(4, grouping="interleaved"),
    "maxout_dense": lambda: keras_acts.MaxoutDense(4, pieces=3),
    "standardize": lambda: keras_acts.Standardize(mean=1.0, variance=4.0),
}

CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    import keras_acts

    folder, names = sys.argv[1], json.loads(sys.argv[2])
    x = np.load(f"{folder}/x.npy")
    rng = np.random.default_rng(1)
    report = {"backend": keras.backend.backend(), "loaded": {}, "trained": {}}
    for name in names:
        model = keras.saving.load_model(f"{folder}/{name}.keras", safe_mode=True)
        outputs = np.asarray(keras.ops.convert_to_numpy(model(x)))
        expected = np.load(f"{folder}/{name}_out.npy")
        report["loaded"][name] = float(np.max(np.abs(outputs - expected)))

    # Values against NumPy on this backend.
    v = rng.normal(size=(5, 8)).astype("float32")
    prelu = keras_acts.PReLU(alpha_initializer=0.3)
    report["prelu_value"] = float(np.max(np.abs(
        keras.ops.convert_to_numpy(prelu(v)) - np.where(v > 0, v, 0.3 * v))))
    elu = keras_acts.ParametricELU(alpha_initializer=2.0)
    report["elu_value"] = float(np.max(np.abs(
        keras.ops.convert_to_numpy(elu(v)) - np.where(v > 0, v, 2.0 * np.expm1(v)))))
    maxout = keras.ops.convert_to_numpy(keras_acts.Maxout(2)(v))
    report["maxout_value"] = float(np.max(np.abs(
        maxout - v.reshape(5, 2, 4).max(axis=-1))))
    standardize = keras_acts.Standardize()
    standardize.adapt(v * 3 + 2)
    report["standardize_mean"] = float(np.max(np.abs(
        keras.ops.convert_to_numpy(standardize.mean) - (v * 3 + 2).mean(axis=0))))

    # Training on this backend, then a save and load round trip.
    y = rng.normal(size=(len(x), 1)).astype("float32")
    for name in names:
        model = keras.saving.load_model(f"{folder}/{name}.keras")
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
        losses = model.fit(x, y, epochs=8, batch_size=16, verbose=0).history["loss"]
        path = f"{folder}/{name}_{report['backend']}.keras"
        model.save(path)
        again = keras.saving.load_model(path)
        report["trained"][name] = {
            "loss_fell": losses[-1] < losses[0],
            "reload_diff": float(np.max(np.abs(
                keras.ops.convert_to_numpy(again(x))
                - keras.ops.convert_to_numpy(model(x))))),
        }
    print(json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("backends")
    x = np.random.default_rng(0).normal(size=(32, 8)).astype("float32")
    np.save(folder / "x.npy", x)
    for name, make in LAYERS.items():
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((8,)), keras.layers.Dense(8), make(), keras.layers.Dense(1)]
        )
        np.save(folder / f"{name}_out.npy", np.asarray(model(x)))
        model.save(folder / f"{name}.keras")
    return folder


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_layers_on_another_backend(backend, saved_models):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(saved_models), json.dumps(list(LAYERS))],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KERAS_BACKEND": backend},
    )
    assert child.returncode == 0, child.stderr[-3000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["backend"] == backend
    # Saved under TensorFlow, loaded here: the same outputs.
    assert max(report["loaded"].values()) < 1e-5, report["loaded"]
    for key in ("prelu_value", "elu_value", "maxout_value", "standardize_mean"):
        assert report[key] < 1e-5, (key, report[key])
    for name, result in report["trained"].items():
        assert result["loss_fell"], name
        assert result["reload_diff"] < 1e-6, name
