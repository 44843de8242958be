"""ParametricELU's own checks; those it shares with the other learnable
activations are in test_learnable_activations.py."""

import keras
import numpy as np
import pytest
from layer_checks import np_parametric_elu

import keras_acts


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


def _compiled():
    from keras_acts._backends.tensorflow import kernels

    return kernels, kernels._compiled_parametric_elu


@pytest.mark.tensorflow_only
def test_the_xla_compiled_op_runs_on_a_cpu_only_machine(rng):
    # The layer must reach the XLA-compiled function (docs/benchmarks.md
    # counts on it), not fall back to the keras.ops version unnoticed.
    import tensorflow as tf

    kernels, compiled = _compiled()
    if not all(d.device_type == "CPU" for d in tf.config.list_physical_devices()):
        pytest.skip("an accelerator: Keras compiles the step, the op is keras.ops")
    assert kernels._only_cpus()
    x = rng.normal(size=(3, 7, 11)).astype("float32")  # a shape of its own
    layer = keras_acts.ParametricELU(alpha_initializer=0.7)
    before = compiled.experimental_get_tracing_count()
    outputs = keras.ops.convert_to_numpy(layer(x))
    assert compiled.experimental_get_tracing_count() == before + 1
    np.testing.assert_allclose(outputs, np_parametric_elu(x, 0.7), rtol=1e-6)
    # And from inside fit's step, which Keras does not compile on a CPU.
    model = keras.Sequential(
        [keras.Input((13,)), keras_acts.ParametricELU(), keras.layers.Dense(1)]
    )
    model.compile("sgd", "mse")
    before = compiled.experimental_get_tracing_count()
    model.fit(np.ones((4, 13)), np.zeros((4, 1)), verbose=0)
    assert compiled.experimental_get_tracing_count() > before
    # It is compiled by XLA: only such a function has a compiler IR.
    alpha = tf.ones((11,))
    assert "HloModule" in compiled.experimental_get_compiler_ir(x, alpha)(stage="hlo")


@pytest.mark.tensorflow_only
def test_with_an_accelerator_the_op_is_the_keras_ops_one(monkeypatch, rng):
    kernels, compiled = _compiled()
    monkeypatch.setattr(kernels, "_only_cpus", lambda: False)
    x = rng.normal(size=(2, 5, 17)).astype("float32")
    before = compiled.experimental_get_tracing_count()
    outputs = keras.ops.convert_to_numpy(keras_acts.ParametricELU()(x))
    assert compiled.experimental_get_tracing_count() == before
    np.testing.assert_allclose(outputs, np_parametric_elu(x, 1.0), rtol=1e-6)
