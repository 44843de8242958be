"""Every backend: the suite on JAX and PyTorch, and .keras files that move
between all three.

Keras fixes its backend when it is imported, so the other backends run in
child processes: a pytest run of this suite per backend (tests that are
TensorFlow-only by nature are marked so and skipped there), and a child that
loads the models saved under the other backends and saves its own. A backend
that is not installed is skipped; CI installs both CPU builds."""

import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

# TensorFlow only: drives the other backends from a TensorFlow process.
pytestmark = pytest.mark.tensorflow_only

ROOT = pathlib.Path(__file__).resolve().parents[1]
OTHER_BACKENDS = ["jax", "torch"]

SAVE_AND_LOAD = textwrap.dedent(
    """
    import json, pathlib, sys
    import keras, numpy as np
    import keras_acts

    LAYERS = {
        "prelu": lambda: keras_acts.PReLU(),
        "parametric_elu": lambda: keras_acts.ParametricELU(),
        "maxout": lambda: keras_acts.Maxout(4),
        "maxout_interleaved": lambda: keras_acts.Maxout(4, grouping="interleaved"),
        "maxout_dense": lambda: keras_acts.MaxoutDense(4, pieces=3),
        "pelu": lambda: keras_acts.PELU(),
        "srelu": lambda: keras_acts.SReLU(),
        "swish": lambda: keras_acts.Swish(),
        "snake": lambda: keras_acts.Snake(),
        "rrelu": lambda: keras_acts.RReLU(seed=0),
        "standardize": lambda: keras_acts.Standardize(mean=1.0, variance=4.0),
    }

    def save_all(folder, x):
        # Trained a little, so that every weight differs from its initializer.
        folder.mkdir(exist_ok=True)
        y = np.random.default_rng(1).normal(size=(len(x), 1)).astype("float32")
        for name, make in LAYERS.items():
            keras.utils.set_random_seed(0)
            model = keras.Sequential([
                keras.Input((8,)), keras.layers.Dense(8), make(),
                keras.layers.Dense(1),
            ])
            model.compile(keras.optimizers.Adam(0.01), "mse")
            model.fit(x, y, epochs=2, batch_size=16, verbose=0)
            model.save(folder / f"{name}.keras")
            np.save(folder / f"{name}.npy", keras.ops.convert_to_numpy(model(x)))

    def load_all(folder, x):
        differences = {}
        for name in LAYERS:
            model = keras.saving.load_model(folder / f"{name}.keras", safe_mode=True)
            outputs = keras.ops.convert_to_numpy(model(x))
            expected = np.load(folder / f"{name}.npy")
            differences[name] = float(np.max(np.abs(outputs - expected)))
        return differences

    if __name__ == "__main__":
        root = pathlib.Path(sys.argv[1])
        x = np.load(root / "x.npy")
        backend = keras.backend.backend()
        report = {"backend": backend, "loaded": {}}
        for source in json.loads(sys.argv[2]):
            report["loaded"][source] = load_all(root / source, x)
        if not (root / backend).exists():
            save_all(root / backend, x)
        print(json.dumps(report))
    """
)


def installed(backend):
    return importlib.util.find_spec(backend) is not None


def run_on(backend, *args, timeout=600):
    env = {**os.environ, "KERAS_BACKEND": backend}
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_suite_passes_on_backend(backend):
    if not installed(backend):
        pytest.skip(f"{backend} is not installed")
    if backend in os.environ.get("KERAS_ACTS_SUITE_RUN_ELSEWHERE", "").split(","):
        # .ci/run runs the JAX suite itself, in an environment without
        # TensorFlow: once is enough for CI's time.
        pytest.skip(f"the {backend} suite runs in another environment of this CI")
    child = run_on(
        backend, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", timeout=1200
    )
    summary = child.stdout.strip().splitlines()[-1] if child.stdout.strip() else ""
    assert child.returncode == 0, child.stdout[-6000:] + child.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    # The layers, Standardize and check_gradients tests: well over a hundred.
    assert passed > 150, summary


def test_saved_models_load_under_every_backend(tmp_path):
    backends = [b for b in OTHER_BACKENDS if installed(b)]
    if not backends:
        pytest.skip("neither jax nor torch is installed")
    namespace = {"__name__": "save_and_load"}
    exec(SAVE_AND_LOAD, namespace)
    x = np.random.default_rng(0).normal(size=(32, 8)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    namespace["save_all"](tmp_path / "tensorflow", x)

    loaded = {}  # (saved under, loaded under) -> {layer: max difference}
    saved = ["tensorflow"]
    # Each child loads what was saved before it, then saves its own; the first
    # backend runs again to load what the last one saved.
    for backend in backends + backends[:1]:
        sources = [s for s in saved if s != backend and (s, backend) not in loaded]
        if not sources:
            continue
        child = run_on(backend, "-c", SAVE_AND_LOAD, str(tmp_path), json.dumps(sources))
        assert child.returncode == 0, child.stderr[-3000:]
        report = json.loads(child.stdout.strip().splitlines()[-1])
        assert report["backend"] == backend
        for source, differences in report["loaded"].items():
            loaded[(source, backend)] = differences
        saved = list(dict.fromkeys(saved + [backend]))
    for backend in backends:
        loaded[(backend, "tensorflow")] = namespace["load_all"](tmp_path / backend, x)

    every_backend = ["tensorflow", *backends]
    expected = {(a, b) for a in every_backend for b in every_backend if a != b}
    assert set(loaded) == expected
    for pair, differences in loaded.items():
        assert set(differences) == set(namespace["LAYERS"]), pair
        assert max(differences.values()) < 1e-5, (pair, differences)
