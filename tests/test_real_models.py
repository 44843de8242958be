"""The monitors and diagnose on the models people train today: for each
model of the zoo, `diagnose` (a fit with both monitors), then
`replace_activations` and a fit of the new model with both monitors. Each is
healthy, so: no crash, no flag, and no more than one warning per problem
(none at all here).

keras.applications networks (weights=None, 32x32 inputs, one step of 4
images, compiled without XLA) and keras-hub backbones (built from arguments,
no download) run on TensorFlow only, one after the other in this process, to
keep CI's cost small (compiling BERT on JAX costs more than the test); there
the new application's fit is left to tests/test_replace_real_models.py, which
trains each swap. Subclassed models, with and without a custom `train_step`,
run on every backend, as the monitors' backend code is what differs.
"""

import warnings

import keras
import numpy as np
import pytest
from helpers import KERAS_HUB_RESNET, KERAS_HUB_TEXT

import keras_acts
from keras_acts import ActivationMonitor, DiagnosisWarning, GradientMonitor

BACKEND = keras.backend.backend()
LOGITS_LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def images(count=8, classes=10):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(count, 32, 32, 3)).astype("float32")
    return x, rng.integers(0, classes, count)


def first(structure, count=4):
    return keras.tree.map_structure(lambda a: a[:count], structure)


def monitored_fit(model, x, y):
    """Two steps with both monitors: the flags, and the warnings given."""
    gradients = GradientMonitor(freq=1)
    activations = ActivationMonitor((first(x), first(y)), freq=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(
            x, y, batch_size=4, epochs=1, verbose=0, callbacks=[gradients, activations]
        )
    given = [str(w.message) for w in caught if issubclass(w.category, DiagnosisWarning)]
    return gradients.flags() + activations.flags(), given


def check_healthy(model, x, y, old, new, fit_replaced=True, steps=2, **surgery):
    """diagnose, then the swap and (with `fit_replaced`) a monitored fit of
    the new model."""
    diagnosis = keras_acts.diagnose(
        model, x, y, steps=steps, batch_size=4, verbose=False
    )
    assert diagnosis.flags == [], str(diagnosis)
    assert diagnosis.activations.history, "the probe read no layer"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # what it cannot reach
        replaced = keras_acts.replace_activations(model, old, new, **surgery)
    assert any(isinstance(layer, new) for layer in _all_layers(replaced))
    if fit_replaced:
        replaced.compile(keras.optimizers.Adam(1e-3), LOGITS_LOSS)
        flags, given = monitored_fit(replaced, x, y)
        assert flags == [] and given == [], given
    return diagnosis


def _all_layers(model):
    for layer in model.layers:
        yield layer
        yield getattr(layer, "activation", None)
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


ON_TENSORFLOW = pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="real architectures on TensorFlow only, to keep CI's cost small; "
    "the subclassed cases run on every backend",
)


# name, constructor arguments, the activation swapped, its replacement and
# the surgery's arguments.
APPLICATIONS = [
    ("ResNet50", {}, "relu", keras_acts.PReLU, {}),
    ("MobileNetV2", {"alpha": 0.35}, "relu", keras_acts.PReLU, {"capped": "keep"}),
    ("MobileNetV3Small", {}, "hard_swish", keras_acts.Swish, {}),
    ("EfficientNetB0", {}, "swish", keras_acts.Swish, {}),
    ("ConvNeXtTiny", {}, "gelu", keras_acts.Swish, {}),
    ("DenseNet121", {}, "relu", keras_acts.ParametricELU, {}),
]


@ON_TENSORFLOW
@pytest.mark.parametrize(
    "name, arguments, old, new, surgery",
    APPLICATIONS,
    ids=[a[0] for a in APPLICATIONS],
)
def test_keras_applications(name, arguments, old, new, surgery):
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(
        weights=None,
        input_shape=(32, 32, 3),
        classes=10,
        classifier_activation=None,
        **arguments,
    )
    model.compile(keras.optimizers.Adam(1e-3), LOGITS_LOSS, jit_compile=False)
    # One step of one batch: the probe reads every layer before and after it.
    x, y = images(count=4)
    check_healthy(model, x, y, old, new, fit_replaced=False, steps=1, **surgery)


def text_classifier(backbone):
    """Two logits from BERT's pooled output, or the mean of GPT-2's sequence."""
    inputs = {
        tensor.name: keras.Input((16,), dtype="int32", name=tensor.name)
        for tensor in backbone.inputs
    }
    features = backbone(inputs)
    if isinstance(features, dict):
        pooled = features["pooled_output"]
    else:
        pooled = keras.layers.GlobalAveragePooling1D()(features)
    model = keras.Model(inputs, keras.layers.Dense(2)(pooled))
    model.compile(keras.optimizers.Adam(1e-3), LOGITS_LOSS)
    return model


@ON_TENSORFLOW
@pytest.mark.parametrize("backbone", ["BertBackbone", "GPT2Backbone"])
def test_keras_hub_text_backbones(backbone):
    keras_hub = pytest.importorskip("keras_hub")
    keras.utils.set_random_seed(0)
    model = text_classifier(getattr(keras_hub.models, backbone)(**KERAS_HUB_TEXT))
    rng = np.random.default_rng(0)
    x = {
        "token_ids": rng.integers(1, 100, size=(8, 16)).astype("int32"),
        "padding_mask": np.ones((8, 16), "int32"),
    }
    if "segment_ids" in model.input:
        x["segment_ids"] = np.zeros((8, 16), "int32")
    y = rng.integers(0, 2, 8)
    diagnosis = check_healthy(model, x, y, "gelu", keras_acts.Swish)
    # The feed-forward Dense inside each transformer layer is measured.
    layers = {row["layer"] for row in diagnosis.activations.history}
    prefix = "bert_backbone" if backbone == "BertBackbone" else "gpt2_backbone"
    assert f"{prefix}/transformer_layer_1/feedforward_intermediate_dense" in layers


@ON_TENSORFLOW
def test_keras_hub_image_backbone():
    keras_hub = pytest.importorskip("keras_hub")
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.ResNetBackbone(**KERAS_HUB_RESNET)
    inputs = keras.Input((32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(backbone(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10)(pooled))
    model.compile(keras.optimizers.Adam(1e-3), LOGITS_LOSS)
    check_healthy(model, *images(), "relu", keras_acts.PReLU)


class ConvNet(keras.Model):
    """A subclassed convnet with BatchNormalization and a residual block."""

    def __init__(self):
        super().__init__()
        self.stem = keras.layers.Conv2D(8, 3, padding="same")
        self.norm = keras.layers.BatchNormalization()
        self.relu = keras.layers.ReLU()
        self.branch = keras.layers.Conv2D(8, 3, padding="same", activation="relu")
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(10)

    def call(self, inputs, training=False):
        features = self.relu(self.norm(self.stem(inputs), training=training))
        return self.head(self.pool(features + self.branch(features)))


class ConvNetWithTrainStep(ConvNet):
    """The same, trained by a custom train_step, as Keras's guides write one
    for TensorFlow and PyTorch (on JAX, Keras's own stateless step)."""

    def train_step(self, *args):
        if BACKEND == "jax":  # JAX's is stateless: train_step(state, data)
            return super().train_step(*args)
        (x, y) = args[0]
        if BACKEND == "torch":
            self.zero_grad()
            loss = self.compute_loss(x=x, y=y, y_pred=self(x, training=True))
            loss.backward()
            variables = self.trainable_weights
            self.optimizer.apply([v.value.grad for v in variables], variables)
        else:
            import tensorflow as tf

            with tf.GradientTape() as tape:
                loss = self.compute_loss(x=x, y=y, y_pred=self(x, training=True))
            variables = self.trainable_variables
            self.optimizer.apply(tape.gradient(loss, variables), variables)
        return {"loss": loss}


@pytest.mark.parametrize("model_class", [ConvNet, ConvNetWithTrainStep])
def test_subclassed_models(model_class):
    keras.utils.set_random_seed(0)
    model = model_class()
    model.compile(keras.optimizers.Adam(1e-3), LOGITS_LOSS)
    x, y = images()
    model(x[:1])
    diagnosis = keras_acts.diagnose(model, x, y, steps=2, batch_size=4, verbose=False)
    assert diagnosis.flags == [], str(diagnosis)
    # The ReLU layer and the branch's Conv2D(activation="relu"), read
    # without a layer graph.
    rows = diagnosis.activations.history
    assert len({row["layer"] for row in rows}) == 2
    assert {row["activation"] for row in rows} == {"relu"}
    flags, given = monitored_fit(model, x, y)
    assert flags == [] and given == [], given
    # Surgery needs a layer graph: a subclassed model gets the recipe.
    with pytest.raises(ValueError, match="Functional"):
        keras_acts.replace_activations(model, "relu", keras_acts.PReLU)
