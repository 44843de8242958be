import re
import warnings

import keras
import numpy as np
import pytest
from helpers import Subclassed

import keras_acts
from keras_acts import ActivationMonitor, GradientMonitor, replace_activations


def prelu_at_zero():
    return keras_acts.PReLU(alpha_initializer=0.0)


def outputs(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def class_names(model):
    return [layer.__class__.__name__ for layer in model.layers]


def sequential():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(6, activation="relu", name="hidden"),
            keras.layers.ReLU(name="plain_relu"),
            keras.layers.Dense(6, name="linear"),
            keras.layers.Activation("relu", name="activation"),
            keras.layers.ReLU(negative_slope=0.1, name="leaky"),
            keras.layers.Dense(1, activation="sigmoid", name="out"),
        ],
        name="stack",
    )


def test_sequential_every_use_replaced_and_weights_kept(rng):
    model = sequential()
    x = rng.normal(size=(8, 5)).astype("float32")
    with pytest.warns(UserWarning, match=r"leaky \(ReLU\(negative_slope=0.1\)\)"):
        replaced = replace_activations(model, "relu", prelu_at_zero)
    assert class_names(replaced) == [
        "Dense",
        "PReLU",
        "PReLU",
        "Dense",
        "PReLU",
        "ReLU",  # leaky: another function, kept
        "Dense",
    ]
    # Each new layer is named after the layer it replaces or follows.
    assert [layer.name for layer in replaced.layers][1:5] == [
        "hidden_p_re_lu",
        "plain_relu",
        "linear",
        "activation",
    ]
    assert replaced.get_layer("hidden").activation is keras.activations.linear
    assert replaced.get_layer("out").activation is keras.activations.sigmoid
    for name in ("hidden", "linear", "out"):
        for ours, theirs in zip(
            replaced.get_layer(name).get_weights(),
            model.get_layer(name).get_weights(),
            strict=True,
        ):
            np.testing.assert_array_equal(ours, theirs)
    # Slopes at 0 are ReLUs: the same function until they train.
    np.testing.assert_allclose(outputs(replaced, x), outputs(model, x), rtol=1e-6)
    # The original is untouched.
    assert class_names(model)[1:3] == ["ReLU", "Dense"]
    assert model.get_layer("hidden").activation is keras.activations.relu


def test_replacements_are_the_new_function(rng):
    model = sequential()
    x = rng.normal(size=(8, 5)).astype("float32")
    with pytest.warns(UserWarning, match="leaky"):
        replaced = replace_activations(model, "relu", keras_acts.PReLU)
    slopes = [w for w in replaced.weights if w.path.endswith("alpha")]
    assert len(slopes) == 3
    assert all(np.all(keras.ops.convert_to_numpy(w) == 0.25) for w in slopes)
    assert not np.allclose(outputs(replaced, x), outputs(model, x))


def functional_with_nested_models():
    keras.utils.set_random_seed(0)
    inner_sequential = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(4, activation="relu")], name="inner_seq"
    )
    inner_inputs = keras.Input((4,))
    inner_functional = keras.Model(
        inner_inputs,
        keras.layers.Activation("relu")(keras.layers.Dense(3)(inner_inputs)),
        name="inner_fn",
    )
    shared = keras.layers.ReLU(name="shared")
    inputs = keras.Input((6,))
    a = shared(keras.layers.Dense(4)(inputs))
    b = shared(keras.layers.Dense(2)(inputs))  # same layer, other width
    x = inner_functional(inner_sequential(a))
    x = keras.layers.Concatenate()([x, b])
    return keras.Model(inputs, keras.layers.Dense(1)(x), name="outer")


def test_functional_nested_and_shared_layers(rng):
    model = functional_with_nested_models()
    x = rng.normal(size=(8, 6)).astype("float32")
    replaced = replace_activations(model, "relu", prelu_at_zero)
    prelus = [w for w in replaced.weights if w.path.endswith("alpha")]
    # Two for the shared ReLU's two uses (widths 4 and 2), one in each inner
    # model.
    assert {"shared", "shared_1"} <= {layer.name for layer in replaced.layers}
    assert sorted(tuple(w.shape) for w in prelus) == [(2,), (3,), (4,), (4,)]
    assert class_names(replaced.get_layer("inner_seq")) == ["Dense", "PReLU"]
    assert "PReLU" in class_names(replaced.get_layer("inner_fn"))
    np.testing.assert_allclose(outputs(replaced, x), outputs(model, x), rtol=1e-6)


@pytest.mark.parametrize("application", ["ResNet50", "MobileNetV2"])
def test_applications_keep_their_outputs(application, rng):
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, application)(
        weights=None, input_shape=(32, 32, 3), classes=5
    )
    x = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    capped = "keep" if application == "MobileNetV2" else "refuse"
    replaced = replace_activations(model, "relu", prelu_at_zero, capped=capped)
    counts = {
        name: sum(isinstance(layer, cls) for layer in replaced.layers)
        for name, cls in (("prelu", keras_acts.PReLU), ("relu", keras.layers.ReLU))
    }
    if application == "ResNet50":
        # Every Activation("relu") of the 16 blocks and the stem.
        assert counts == {"prelu": 49, "relu": 0}
    else:
        # Each ReLU(6.) became a PReLU and its cap.
        assert counts == {"prelu": 35, "relu": 35}
    assert len(replaced.weights) == len(model.weights) + counts["prelu"]
    # predict, not a call: JAX runs a large model's call op by op.
    np.testing.assert_allclose(
        replaced.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5
    )


def test_a_capped_relu_is_refused_or_kept_never_dropped(rng):
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.ReLU(max_value=1.0, name="relu1")]
    )
    with pytest.raises(
        ValueError, match=r"'relu1' is ReLU\(max_value=1.0\).*capped='keep'"
    ):
        replace_activations(model, "relu", keras_acts.PReLU)
    x = np.array([[-4.0, 0.5, 3.0]], "float32")
    kept = replace_activations(
        model, keras.layers.ReLU, keras_acts.PReLU, capped="keep"
    )
    np.testing.assert_allclose(outputs(kept, x), [[-1.0, 0.5, 1.0]])


def test_a_layer_class_as_old(rng):
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.LeakyReLU(), keras.layers.Dense(2)]
    )
    replaced = replace_activations(model, keras.layers.LeakyReLU, keras_acts.PReLU)
    assert class_names(replaced) == ["PReLU", "Dense"]
    # A replaced layer with weights of its own: they go with it.
    with_slopes = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4), keras.layers.PReLU()]
    )
    replaced = replace_activations(with_slopes, keras.layers.PReLU, keras_acts.PReLU)
    assert class_names(replaced) == ["Dense", "PReLU"]
    assert isinstance(replaced.layers[1], keras_acts.PReLU)


def test_activations_inside_a_layers_computation_are_named_and_kept():
    model = keras.Sequential(
        [
            keras.Input((4, 3)),
            keras.layers.SimpleRNN(5, activation="relu", name="rnn"),
            keras.layers.Dense(2, activation="relu"),
        ]
    )
    with pytest.warns(UserWarning, match=r"rnn \(SimpleRNN\) unchanged"):
        replaced = replace_activations(model, "relu", keras_acts.PReLU)
    assert class_names(replaced) == ["SimpleRNN", "Dense", "PReLU"]
    only_rnn = keras.Sequential(
        [keras.Input((4, 3)), keras.layers.SimpleRNN(5, activation="relu")]
    )
    with pytest.raises(ValueError, match="no use of 'relu'.*SimpleRNN"):
        replace_activations(only_rnn, "relu", keras_acts.PReLU)


@pytest.mark.parametrize(
    "model, old, new, kwargs, match",
    [
        (
            Subclassed,
            "relu",
            keras_acts.PReLU,
            {},
            r"subclassed Subclassed.*as a Functional model.*in call\(\)",
        ),
        (sequential, "no_such_activation", keras_acts.PReLU, {}, "old='no_such"),
        (sequential, 3, keras_acts.PReLU, {}, "old=3"),
        (sequential, "relu", keras_acts.PReLU(), {}, "not one layer instance"),
        (sequential, "relu", "prelu", {}, "`new` must be a callable"),
        (sequential, "relu", lambda: "prelu", {}, "must return a Keras layer"),
        (sequential, "relu", keras_acts.PReLU, {"capped": "drop"}, "capped='drop'"),
        (sequential, "tanh", keras_acts.PReLU, {}, "no use of 'tanh'"),
        (
            sequential,
            "relu",
            lambda: keras_acts.Maxout(3),
            {},
            r"'stack/linear/kernel' has shape \(3, 6\).*layer 'linear' has \(6, 6\)"
            r".*`new` must keep it",
        ),
    ],
)
def test_invalid_arguments(model, old, new, kwargs, match):
    with pytest.raises(ValueError, match=match):
        replace_activations(model(), old, new, **kwargs)


def test_new_must_make_a_new_layer_each_time():
    layer = keras_acts.PReLU()
    with pytest.raises(ValueError, match="new layer on each call"):
        replace_activations(sequential(), "relu", lambda: layer)


def test_result_trains_with_both_monitors_and_saves(rng, tmp_path):
    model = sequential()
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
    with pytest.warns(UserWarning, match="leaky"):
        replaced = replace_activations(model, "relu", keras_acts.PReLU)
    assert replaced.compiled and replaced.loss == "binary_crossentropy"
    assert replaced.optimizer is not model.optimizer
    x = rng.normal(size=(32, 5)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    gradients = GradientMonitor(warn=False)
    activations = ActivationMonitor(x[:16], warn=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        replaced.fit(
            x, y, epochs=2, batch_size=16, verbose=0, callbacks=[gradients, activations]
        )
    replacements = {"hidden_p_re_lu", "plain_relu", "activation"}
    assert {
        row["layer"] for row in gradients.history if row["variable"] == "alpha"
    } == replacements
    assert replacements <= {row["layer"] for row in activations.history}
    path = tmp_path / "replaced.keras"
    replaced.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(outputs(loaded, x), outputs(replaced, x), rtol=1e-6)


def test_operations_in_the_graph_are_rebuilt(rng):
    # ConvNeXt and MobileNetV3 add and multiply tensors with `+` and `*`:
    # operations, not layers, in the graph; they have no weights to copy.
    inputs = keras.Input((4,))
    x = keras.layers.Dense(4, activation="relu")(inputs)
    x = inputs + keras.layers.Activation("relu")(x) * 0.5
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    replaced = replace_activations(model, "relu", prelu_at_zero)
    assert class_names(replaced).count("PReLU") == 2
    x = rng.normal(size=(8, 4)).astype("float32")
    np.testing.assert_allclose(outputs(replaced, x), outputs(model, x), rtol=1e-6)


@keras.saving.register_keras_serializable(package="test_replace_activations")
class FeedForward(keras.layers.Layer):
    """A composite layer like keras-hub's TransformerEncoder: it builds a
    Dense with the `activation` of its configuration, and gives its output
    shape without running its call."""

    def __init__(self, units, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.inner = keras.layers.Dense(
            self.units, activation=self.activation, name="inner"
        )
        self.inner.build(input_shape)
        self.outer = keras.layers.Dense(input_shape[-1], name="outer")
        self.outer.build((*input_shape[:-1], self.units))

    def call(self, x):
        return x + self.outer(self.inner(x))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
        }


def composite_model(*blocks):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3, 5))
    x = inputs
    for block in blocks:
        x = block(x)
    return keras.Model(inputs, keras.layers.Dense(1, name="out")(x))


def test_an_activation_in_a_composite_layers_configuration(rng, tmp_path):
    model = composite_model(FeedForward(6, name="ffn"), FeedForward(4, "tanh"))
    x = rng.normal(size=(8, 3, 5)).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        replaced = replace_activations(model, "relu", prelu_at_zero)
    ffn = replaced.get_layer("ffn")
    # Rebuilt from its configuration with the new layer as its activation,
    # built at once, and named after the layer it sits in.
    assert isinstance(ffn.activation, keras_acts.PReLU)
    assert ffn.activation.built and ffn.activation.name == "ffn_p_re_lu"
    assert ffn.get_config()["activation"]["class_name"] == "PReLU"
    assert len(replaced.weights) == len(model.weights) + 1
    # Its weights are the original's: the same outputs, slopes at 0.
    np.testing.assert_allclose(outputs(replaced, x), outputs(model, x), rtol=1e-6)
    replaced.compile(keras.optimizers.SGD(0.1), "mse")
    replaced.fit(x, x[:, :, :1], epochs=1, verbose=0)
    assert np.any(keras.ops.convert_to_numpy(ffn.activation.alpha) != 0)
    replaced.save(tmp_path / "composite.keras")
    loaded = keras.saving.load_model(tmp_path / "composite.keras")
    assert isinstance(loaded.get_layer("ffn").activation, keras_acts.PReLU)
    np.testing.assert_allclose(outputs(loaded, x), outputs(replaced, x), rtol=1e-6)
    # In a Sequential model too.
    sequential = keras.Sequential([keras.Input((3, 5)), FeedForward(6, name="ffn")])
    replaced = replace_activations(sequential, "relu", keras_acts.PReLU)
    assert replaced.get_layer("ffn").activation.built


class HardCoded(keras.layers.Layer):
    """A composite layer whose ReLU is in its code, not its configuration."""

    def build(self, input_shape):
        self.inner = keras.layers.Dense(4, activation="relu", name="inner")
        self.inner.build(input_shape)

    def call(self, x):
        return self.inner(x)


class NamesOnly(FeedForward):
    """A composite layer whose `activation` must be a name."""

    def __init__(self, units, activation="relu", **kwargs):
        if activation not in ("relu", "gelu"):
            raise ValueError(f"activation must be 'relu' or 'gelu': {activation}")
        super().__init__(units, activation, **kwargs)


def test_uses_that_stay_are_named_with_why():
    model = composite_model(
        keras.layers.Dense(5, activation="relu"),
        HardCoded(name="block"),
        NamesOnly(3, name="names"),
    )
    with pytest.warns(UserWarning) as record:
        replaced = replace_activations(model, "relu", keras_acts.PReLU)
    (message,) = [
        str(warning.message)
        for warning in record
        if str(warning.message).startswith("replace_activations")
    ]
    assert message.startswith(
        "replace_activations replaced 1 use of 'relu' and left 2 uses, where the "
        "copy still computes it: "
    )
    assert (
        "block/inner (Dense) unchanged: it is built inside block (HardCoded), "
        "whose configuration has no argument for it"
    ) in message
    assert (
        "names (NamesOnly) unchanged: its `activation` takes only names, not a "
        "layer (ValueError: activation must be 'relu' or 'gelu'"
    ) in message
    assert class_names(replaced)[1:5] == ["Dense", "PReLU", "HardCoded", "NamesOnly"]
    with pytest.raises(ValueError, match=r"no use of 'relu'.*block/inner \(Dense\)"):
        replace_activations(
            composite_model(HardCoded(name="block")), "relu", keras_acts.PReLU
        )


@keras.saving.register_keras_serializable(package="test_replace_activations")
def gelu_approximate(x):
    # keras-hub's BERT and GPT-2 activation, by the same name.
    return keras.activations.gelu(x, approximate=True)


def test_gelu_includes_its_tanh_approximation():
    model = composite_model(
        keras.layers.Dense(4, activation=gelu_approximate),
        FeedForward(4, activation=gelu_approximate, name="ffn"),
        keras.layers.Activation("gelu"),
    )
    replaced = replace_activations(model, "gelu", keras_acts.Swish)
    assert sum(isinstance(layer, keras_acts.Swish) for layer in replaced.layers) == 2
    assert isinstance(replaced.get_layer("ffn").activation, keras_acts.Swish)


@pytest.mark.parametrize(
    "relu_layer, described",
    [
        (keras.layers.ReLU(threshold=0.5, name="odd"), "ReLU(threshold=0.5)"),
        (keras.layers.ReLU(negative_slope=0.2, name="odd"), "ReLU(negative_slope=0.2)"),
        (
            keras.layers.ReLU(max_value=6.0, threshold=1.0, name="odd"),
            "ReLU(max_value=6.0, threshold=1.0)",
        ),
    ],
    ids=["threshold", "negative_slope", "capped_threshold"],
)
def test_a_relu_layer_that_is_not_plain_relu_stays_and_is_named(
    relu_layer, described, rng
):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(6),
            relu_layer,
            keras.layers.Dense(3, activation="relu"),
        ]
    )
    x = rng.normal(size=(16, 4)).astype("float32")
    with pytest.warns(UserWarning, match=rf"odd \({re.escape(described)}\)") as record:
        replaced = replace_activations(model, "relu", prelu_at_zero)
    assert "another function than relu" in str(record[0].message)
    assert class_names(replaced) == ["Dense", "ReLU", "Dense", "PReLU"]
    kept = replaced.get_layer("odd")
    assert (kept.threshold, kept.negative_slope, kept.max_value) == (
        relu_layer.threshold,
        relu_layer.negative_slope,
        relu_layer.max_value,
    )
    # The same function: slopes at 0 leave the last layer a plain ReLU.
    np.testing.assert_allclose(outputs(replaced, x), outputs(model, x), rtol=1e-6)
    only = keras.Sequential([keras.Input((4,)), keras.layers.ReLU(threshold=0.5)])
    with pytest.raises(ValueError, match=r"no use of 'relu'.*ReLU\(threshold=0.5\)"):
        replace_activations(only, "relu", keras_acts.PReLU)


def _framework_relus():
    """Functions of the frameworks that compute relu, usable on this backend."""
    functions = [keras.ops.relu]
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        functions.append(tf.nn.relu)
    elif backend == "jax":
        import jax

        functions.append(jax.nn.relu)
    elif backend == "torch":
        import torch

        functions += [torch.relu, torch.nn.functional.relu]
    return functions


# Ids by module and name, not repr: a repr holds the function's address,
# which differs between pytest-xdist's workers.
@pytest.mark.parametrize(
    "function",
    _framework_relus(),
    ids=lambda f: f"{getattr(f, '__module__', None)}.{getattr(f, '__name__', f)}",
)
def test_a_frameworks_own_relu_is_a_use_of_relu(function, rng):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(6, activation=function, name="hidden"),
            keras.layers.Dense(5),
            keras.layers.Activation(function, name="act"),
        ]
    )
    x = rng.normal(size=(16, 4)).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        replaced = replace_activations(model, "relu", prelu_at_zero)
    assert class_names(replaced) == ["Dense", "PReLU", "Dense", "PReLU"]
    assert replaced.get_layer("hidden").activation is keras.activations.linear
    np.testing.assert_allclose(outputs(replaced, x), outputs(model, x), rtol=1e-6)


def relu(x):
    """Not relu: a function of the user's that only has its name."""
    return x * 3


def test_a_function_named_like_old_is_named_and_kept(rng):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(6, activation=relu, name="own"),
            keras.layers.Dense(3, activation="relu", name="keras_relu"),
        ]
    )
    x = rng.normal(size=(16, 4)).astype("float32")
    with pytest.warns(UserWarning, match="does not know to compute") as record:
        replaced = replace_activations(model, "relu", prelu_at_zero)
    assert "own (Dense(activation=test_replace_activations.relu))" in str(
        record[0].message
    )
    # Still the user's function (a copy from the configuration would have
    # Keras's relu: Keras saves a function by its name).
    assert replaced.get_layer("own").activation is relu
    np.testing.assert_allclose(outputs(replaced, x), outputs(model, x), rtol=1e-6)


def test_an_unrelated_lambda_activation_is_kept_with_its_weights(rng):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    doubled = keras.layers.Dense(5, activation=lambda z: z * 2, name="doubled")(inputs)
    hidden = keras.layers.Dense(3, activation="relu", name="hidden")(doubled)
    model = keras.Model(inputs, hidden)
    sequential = keras.Sequential(
        [keras.Input((4,)), model.get_layer("doubled"), model.get_layer("hidden")]
    )
    x = rng.normal(size=(16, 4)).astype("float32")
    for original in (model, sequential):
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            warnings.filterwarnings("ignore", message=".*lambda")  # Keras's own
            replaced = replace_activations(original, "relu", prelu_at_zero)
        kept = replaced.get_layer("doubled")
        assert kept is not original.get_layer("doubled")
        assert kept.activation is original.get_layer("doubled").activation
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(kept.kernel),
            keras.ops.convert_to_numpy(original.get_layer("doubled").kernel),
        )
        np.testing.assert_allclose(
            outputs(replaced, x), outputs(original, x), rtol=1e-6
        )


def test_a_composite_layer_configured_among_others_in_a_sequential(rng):
    sequential = keras.Sequential(
        [
            keras.Input((3, 5)),
            keras.layers.Dense(5, name="before"),
            FeedForward(6, name="ffn"),
            keras.layers.Dense(2, name="after"),
        ]
    )
    x = rng.normal(size=(4, 3, 5)).astype("float32")
    replaced = replace_activations(sequential, "relu", prelu_at_zero)
    assert isinstance(replaced.get_layer("ffn").activation, keras_acts.PReLU)
    np.testing.assert_allclose(outputs(replaced, x), outputs(sequential, x), rtol=1e-6)


@pytest.mark.parametrize("policy", ["float64", "mixed_bfloat16", "mixed_float16"])
def test_the_new_layers_take_the_policy_of_the_layers_they_replace(policy, rng):
    keras.config.set_dtype_policy(policy)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(6, activation="relu"),
            keras.layers.ReLU(max_value=6.0),
            keras.layers.Dense(1, dtype="float32"),
        ]
    )
    # As in a script that loads or edits a model made in another policy.
    keras.config.set_dtype_policy("float32")
    copy = replace_activations(model, "relu", prelu_at_zero, capped="keep")
    made = copy.layers[1:4]  # the Dense's new PReLU, the ReLU's, and its cap
    assert [layer.__class__.__name__ for layer in made] == ["PReLU", "PReLU", "ReLU"]
    assert {layer.dtype_policy.name for layer in made} == {policy}
    x = rng.normal(size=(4, 6)) * 10
    np.testing.assert_array_equal(outputs(copy, x), outputs(model, x))


@pytest.mark.parametrize("given", ["mixed_bfloat16", "float32"])
def test_a_policy_that_new_gives_is_kept(given):
    # Even the global policy (float32 here), given explicitly.
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(6, activation="relu", dtype="float64")]
    )
    copy = replace_activations(model, "relu", lambda: keras_acts.PReLU(dtype=given))
    assert copy.layers[-1].dtype_policy.name == given
    assert keras.config.dtype_policy().name == "float32"


def test_the_outputs_keep_their_names_and_the_copy_trains_as_compiled(rng):
    # Keras names outputs after the layers that compute them, and keys
    # compiled losses and metrics by those names: a new layer that computes
    # an output takes the name (a Dense's, its cap's place), or the copy
    # "compiled like the original" failed in fit.
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, name="hidden")(inputs)
    price = keras.layers.Dense(1, activation="relu", name="price")(hidden)
    capped = keras.layers.ReLU(max_value=6.0, name="capped")(hidden)
    plain = keras.layers.Activation("relu", name="plain")(hidden)
    model = keras.Model(inputs, [price, capped, plain])
    model.compile(
        "sgd",
        loss={"price": "mse", "capped": "mse", "plain": "mse"},
        metrics={"price": ["mae"]},
    )
    copy = replace_activations(model, "relu", prelu_at_zero, capped="keep")
    assert copy.output_names == ["price", "capped", "plain"]
    # The Dense keeps its weights under a name of its own.
    assert isinstance(copy.get_layer("price"), keras_acts.PReLU)
    np.testing.assert_array_equal(
        copy.get_layer("price_linear").get_weights()[0],
        model.get_layer("price").get_weights()[0],
    )
    assert copy.get_layer("price_linear").activation is keras.activations.linear
    cap = copy.get_layer("capped")
    assert isinstance(cap, keras.layers.ReLU) and cap.max_value == 6.0
    assert isinstance(copy.get_layer("capped_p_re_lu"), keras_acts.PReLU)
    x = rng.normal(size=(16, 4)).astype("float32") * 4
    pairs = zip(copy.predict(x, verbose=0), model.predict(x, verbose=0), strict=True)
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
    targets = [x[:, :1], np.tile(x, 2), np.tile(x, 2)]
    history = copy.fit(x, targets, epochs=1, verbose=0)
    assert "price_mae" in history.history


def test_frozen_layers_and_models_stay_frozen():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    frozen = keras.layers.Dense(4, activation="relu", name="frozen")
    frozen.trainable = False
    outputs = keras.layers.Dense(2, activation="relu", name="free")(frozen(inputs))
    model = keras.Model(inputs, outputs)
    copy = replace_activations(model, "relu", keras_acts.PReLU)
    assert copy.get_layer("frozen_p_re_lu").trainable is False
    assert copy.get_layer("free").trainable is True
    assert len(copy.trainable_weights) == len(model.trainable_weights) + 1
    model.trainable = False
    copy = replace_activations(model, "relu", keras_acts.PReLU)
    assert copy.trainable is False and copy.trainable_weights == []


def test_a_named_input_of_a_sequential_keeps_its_name():
    model = keras.Sequential(
        [keras.Input((4,), name="tokens"), keras.layers.Dense(2, activation="relu")]
    )
    assert replace_activations(model, "relu", keras_acts.PReLU).inputs[0].name == (
        "tokens"
    )


def test_a_wrapped_layer_and_a_lambda_get_advice_that_fits():
    inputs = keras.Input((5, 3))
    wrapped = keras.layers.TimeDistributed(
        keras.layers.Dense(4, activation="relu"), name="td"
    )(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="relu")(wrapped))
    with pytest.warns(UserWarning, match=r"in the layer that td \(TimeDistributed\)"):
        replace_activations(model, "relu", keras_acts.PReLU)
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Lambda(lambda z: z * 2),
            keras.layers.Dense(2, activation="relu"),
        ]
    )
    with pytest.raises(ValueError, match="enable_unsafe_deserialization"):
        replace_activations(model, "relu", keras_acts.PReLU)
