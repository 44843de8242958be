"""replace_activations on the models people train today: each
keras.applications family that uses the activation asked for, and keras-hub
backbones, whose feed-forward activation sits inside a composite layer.

Each application is built once (weights=None, its smallest variant, 32x32 or
its minimum input, batch 2), and each replacement is checked the same way:
the uses replaced against the uses the model has, the outputs (the original's
where the new layer starts as the old activation), one training step, and a
.keras round trip. TensorFlow only, to keep CI's cost small: the surgery does
not depend on the backend, and tests/test_replace_activations.py runs it on
every backend.
"""

import functools
import json
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest
from helpers import KERAS_HUB_RESNET, KERAS_HUB_TEXT

import keras_acts
from keras_acts import replace_activations

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="real architectures on TensorFlow only, to keep CI's cost small; "
    "tests/test_replace_activations.py runs the surgery on every backend",
)


def prelu_at_zero():
    # A ReLU until its slopes train: the same outputs as the original.
    return keras_acts.PReLU(alpha_initializer=0.0)


def outputs(model, x):
    return keras.tree.map_structure(
        keras.ops.convert_to_numpy, model(x, training=False)
    )


def uses(model, old):
    """How many times `model` (nested models included) applies the
    activation `old`: Activation layers, a layer's `activation=` and, for
    "relu", ReLU layers with no slope or threshold (capped or not)."""
    function = keras.activations.get(old)
    count = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            count += uses(layer, old)
        elif isinstance(layer, keras.layers.ReLU):
            plain = layer.negative_slope == 0 and layer.threshold == 0
            count += old == "relu" and plain
        else:
            count += getattr(layer, "activation", None) is function
    return count


# The MobileNetV3Small cases run one after the other: one model kept at a time.
@functools.lru_cache(maxsize=1)
def application(name, size):
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(
        weights=None, input_shape=(size, size, 3), classes=3, classifier_activation=None
    )
    # ConvNeXt's layer scales start at 1e-6, which leaves the gradients of
    # the layers before them below what one SGD step shows in float32: set
    # them to 1.
    for layer in model.layers:
        if layer.__class__.__name__ == "LayerScale":
            layer.gamma.assign(keras.ops.ones_like(layer.gamma))
    return model


# application, input size, old, new, uses of old, whether the new layer
# starts as old (the same outputs).
APPLICATIONS = [
    # Activation("gelu") after each block's first pointwise Dense.
    ("ConvNeXtTiny", 32, "gelu", keras_acts.Swish, 18, False),
    # 33 Activation("swish") and the 16 squeeze-excite Conv2D(activation=).
    ("EfficientNetB0", 32, "swish", keras_acts.Swish, 49, True),
    ("EfficientNetV2B0", 32, "swish", keras_acts.Swish, 55, True),
    # Every ReLU(max_value=6): capped="keep".
    ("MobileNetV2", 32, "relu", prelu_at_zero, 35, True),
    ("MobileNetV3Small", 32, "hard_swish", keras_acts.Swish, 19, False),
    # 14 ReLU() and the 9 ReLU(6.) of the squeeze-excite hard sigmoids.
    ("MobileNetV3Small", 32, "relu", prelu_at_zero, 23, True),
    # ResNet50 (49 uses, the same outputs) is in test_replace_activations.py,
    # on every backend.
    ("ResNet50V2", 32, "relu", prelu_at_zero, 49, True),
    ("DenseNet121", 32, "relu", prelu_at_zero, 121, True),
    ("Xception", 71, "relu", prelu_at_zero, 35, True),
    ("NASNetMobile", 32, "relu", prelu_at_zero, 192, True),
]


LOGITS_LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def train_step(model, new_layers, x, y, loss, optimizer="sgd"):
    """One eager step (tracing a graph of hundreds of layers costs more than
    the step), with a finite loss: for each new layer, whether its weights
    moved."""
    before = [[w.numpy().copy() for w in layer.weights] for layer in new_layers]
    model.compile(optimizer, loss, run_eagerly=True)
    assert np.isfinite(model.train_on_batch(x, y))
    return [
        any(np.any(w.numpy() != b) for w, b in zip(layer.weights, old, strict=True))
        for layer, old in zip(new_layers, before, strict=True)
    ]


@pytest.mark.parametrize(
    "name, size, old, new, count, same",
    [pytest.param(*case, id=f"{case[0]}-{case[2]}") for case in APPLICATIONS],
)
def test_applications(name, size, old, new, count, same, tmp_path):
    model = application(name, size)
    x = np.random.default_rng(0).normal(size=(2, size, size, 3)).astype("float32")
    assert uses(model, old) == count
    if name.startswith("MobileNet") and old == "relu":
        with pytest.raises(ValueError, match=r"is ReLU\(max_value=6.0\)"):
            replace_activations(model, old, new)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        replaced = replace_activations(model, old, new, capped="keep")
    new_class = type(new())
    made = [layer for layer in replaced.layers if isinstance(layer, new_class)]
    assert len(made) == count
    assert uses(replaced, old) == 0
    assert len(replaced.weights) == len(model.weights) + sum(
        len(layer.weights) for layer in made
    )
    result = outputs(replaced, x)
    assert result.shape == (2, 3) and np.all(np.isfinite(result))
    if same:
        np.testing.assert_allclose(result, outputs(model, x), atol=1e-5)
    moved = train_step(replaced, made, x, np.array([0, 2]), LOGITS_LOSS)
    # Under a cap, slopes that start at 0 never train: the PReLU gives the
    # cap (a ReLU(6., negative_slope=1.0)) exactly 0 for every negative
    # input, where the cap's gradient is 0 (the docs say so).
    names = {layer.name for layer in replaced.layers}
    under_cap = [f"{layer.name}_cap" in names for layer in made]
    assert sum(under_cap) == {"MobileNetV2": 35, "MobileNetV3Small": 9}.get(name, 0) * (
        old == "relu"
    )
    assert not any(m for m, cap in zip(moved, under_cap, strict=True) if cap)
    assert any(moved) or all(under_cap)
    replaced.save(tmp_path / "replaced.keras")
    loaded = keras.saving.load_model(tmp_path / "replaced.keras")
    assert [layer.name for layer in loaded.layers] == [
        layer.name for layer in replaced.layers
    ]
    np.testing.assert_allclose(outputs(loaded, x), outputs(replaced, x), atol=1e-6)


class TanhGelu(keras.layers.Layer):
    """keras-hub's gelu_approximate as a layer: the same function."""

    def call(self, x):
        return keras.activations.gelu(x, approximate=True)


def text_inputs(backbone):
    rng = np.random.default_rng(0)
    x = {
        "token_ids": rng.integers(1, 100, size=(2, 16)).astype("int32"),
        "padding_mask": np.ones((2, 16), "int32"),
    }
    if "segment_ids" in [tensor.name for tensor in backbone.inputs]:
        x["segment_ids"] = np.zeros((2, 16), "int32")
    return x


def classifier(backbone, x):
    """A tiny model on top of a text backbone: two logits from BERT's pooled
    output, or from the mean of GPT-2's sequence."""
    inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key) for key in x}
    features = backbone(inputs)
    if isinstance(features, dict):  # BERT
        pooled = features["pooled_output"]
    else:  # GPT-2: the sequence
        pooled = keras.layers.GlobalAveragePooling1D()(features)
    return keras.Model(inputs, keras.layers.Dense(2)(pooled))


# The fresh process that loads the BERT classifier: `import keras_acts` (and
# keras_hub, for its layers) and nothing else, safe_mode on.
LOAD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    import keras_hub
    import keras_acts

    model = keras.saving.load_model(sys.argv[1], safe_mode=True)
    with open(sys.argv[2]) as file:
        x = {key: np.array(value, "int32") for key, value in json.load(file).items()}
    print(json.dumps(keras.ops.convert_to_numpy(model(x)).tolist()))
    """
)


@pytest.mark.parametrize(
    "backbone, composite",
    [("BertBackbone", "TransformerEncoder"), ("GPT2Backbone", "TransformerDecoder")],
)
def test_keras_hub_text_backbones(backbone, composite, tmp_path):
    keras_hub = pytest.importorskip("keras_hub")
    keras.utils.set_random_seed(0)
    model = getattr(keras_hub.models, backbone)(**KERAS_HUB_TEXT)
    x = text_inputs(model)
    # The gelu of each transformer layer is its `activation` argument (a
    # Dense inside it applies it): replaced through the layer's
    # configuration, the layer's weights kept. A layer computing the same
    # function gives the same outputs.
    same = replace_activations(model, "gelu", TanhGelu)
    for ours, theirs in zip(
        keras.tree.flatten(outputs(same, x)),
        keras.tree.flatten(outputs(model, x)),
        strict=True,
    ):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    replaced = replace_activations(model, "gelu", keras_acts.Swish)
    transformers = [
        layer for layer in replaced.layers if type(layer).__name__ == composite
    ]
    made = [layer.activation for layer in transformers]
    assert len(made) == KERAS_HUB_TEXT["num_layers"]
    assert all(isinstance(layer, keras_acts.Swish) and layer.built for layer in made)
    assert [layer.name for layer in made] == [
        f"transformer_layer_{i}_swish" for i in range(KERAS_HUB_TEXT["num_layers"])
    ]
    assert transformers[0].get_config()["activation"]["class_name"] == "Swish"
    assert len(replaced.weights) == len(model.weights) + len(made)
    # A keras-hub backbone comes back as a Functional model with its inputs
    # and outputs.
    assert keras.tree.map_structure(lambda tensor: tensor.shape, replaced.output) == (
        keras.tree.map_structure(lambda tensor: tensor.shape, model.output)
    )
    tiny = classifier(replaced, x)
    # Adam: its step does not shrink with BERT's small gradients.
    assert all(train_step(tiny, made, x, np.array([0, 1]), LOGITS_LOSS, "adam"))
    path = tmp_path / "tiny.keras"
    tiny.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(outputs(loaded, x), outputs(tiny, x), atol=1e-6)
    if backbone != "BertBackbone":
        return
    # Once, in a fresh process.
    (tmp_path / "x.json").write_text(
        json.dumps({key: value.tolist() for key, value in x.items()})
    )
    child = subprocess.run(
        [sys.executable, "-c", LOAD, str(path), str(tmp_path / "x.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    fresh = np.array(json.loads(child.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(fresh, outputs(tiny, x), atol=1e-6)


def test_keras_hub_image_backbone(tmp_path):
    keras_hub = pytest.importorskip("keras_hub")
    keras.utils.set_random_seed(0)
    model = keras_hub.models.ResNetBackbone(**KERAS_HUB_RESNET)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    count = uses(model, "relu")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        replaced = replace_activations(model, "relu", prelu_at_zero)
    made = [layer for layer in replaced.layers if isinstance(layer, keras_acts.PReLU)]
    assert count == len(made) == 5
    np.testing.assert_allclose(outputs(replaced, x), outputs(model, x), atol=1e-5)
    inputs = keras.Input((32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(replaced(inputs))
    tiny = keras.Model(inputs, keras.layers.Dense(2)(pooled))
    assert all(train_step(tiny, made, x, np.array([0, 1]), LOGITS_LOSS))
    tiny.save(tmp_path / "tiny.keras")
    loaded = keras.saving.load_model(tmp_path / "tiny.keras")
    np.testing.assert_allclose(outputs(loaded, x), outputs(tiny, x), atol=1e-6)


def test_keras_hub_vit_says_why_it_cannot_be_copied():
    keras_hub = pytest.importorskip("keras_hub")
    vit = keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3),
        patch_size=8,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        mlp_dim=16,
    )
    # keras-hub 0.32's ViTPatchingAndEmbedding cannot be rebuilt from its
    # own configuration; where it can, the gelu of the MLP blocks is a Dense
    # that MLP builds in its code, and the error names it.
    with pytest.raises(
        ValueError,
        match=r"'vit_patching_and_embedding' \(ViTPatchingAndEmbedding\) cannot be "
        r"rebuilt from its get_config\(\)|/mlp/dense_1 \(Dense\) unchanged: it is "
        r"built inside mlp \(MLP\)",
    ):
        replace_activations(vit, "gelu", keras_acts.Swish)


def test_a_subclassed_model_gets_the_recipe():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(4, activation="gelu")

        def call(self, x):
            return self.dense(x)

    net = Net()
    net(np.zeros((1, 3), "float32"))
    with pytest.raises(ValueError) as error:
        replace_activations(net, "gelu", keras_acts.Swish)
    message = str(error.value)
    assert "is a subclassed Net" in message
    for recipe in (
        "build the same network as a Functional model",
        "create the new layers in __init__",
        "apply them in call()",
        "a keras.activations function, an Activation layer or a layer's activation=",
    ):
        assert recipe in message
