import importlib.util
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_dtype_policy("float32")
    # Without the full garbage collection of clear_session(): over a whole
    # run, with a large heap, it costs about a second per test.
    keras.backend.clear_session(free_memory=False)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_collection_modifyitems(config, items):
    if importlib.util.find_spec("tensorflow") is None:
        needs = pytest.mark.skip(
            reason="needs the tensorflow package (TensorBoard logs, tf.data), "
            "which this environment does not have"
        )
        for item in items:
            if item.get_closest_marker("needs_tensorflow"):
                item.add_marker(needs)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return
    skip = pytest.mark.skip(
        reason=f"TensorFlow only (tf.distribute, tf.function tracing or the "
        f"TensorFlow-run checks of the other backends); backend is {backend}"
    )
    for item in items:
        if item.get_closest_marker("tensorflow_only"):
            item.add_marker(skip)


@pytest.fixture
def reads(monkeypatch):
    """The calls of GradientMonitor._collect (its reads of the records), by
    a clock that never makes records wait for time alone."""
    from keras_acts import GradientMonitor
    from keras_acts.callbacks import _gradient_collection

    monkeypatch.setattr(_gradient_collection, "WAITING_SECONDS", float("inf"))
    calls = []
    original = GradientMonitor._collect
    monkeypatch.setattr(
        GradientMonitor,
        "_collect",
        lambda self, final: calls.append(final) or original(self, final),
    )
    return calls
