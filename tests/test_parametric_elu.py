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
