import csv
import functools
import glob
import re
import warnings

import helpers
import keras
import numpy as np
import pytest
from helpers import Subclassed, data

import keras_acts
from keras_acts import ActivationMonitor, GradientMonitor
from keras_acts.callbacks import _activation_layers
from keras_acts.demo import XOR_INPUTS, XOR_TARGETS, build_xor_model
from keras_acts.testing import vector_jacobian_product

BACKEND = keras.backend.backend()


def probe_model():
    """A ReLU layer forced dead, a sigmoid fed large inputs, an identity."""
    inputs = keras.Input((3,))
    dead = keras.layers.Dense(
        4,
        activation="relu",
        bias_initializer=keras.initializers.Constant(-100.0),
        name="dead_relu",
    )(inputs)
    saturated = keras.layers.Dense(
        5,
        activation="sigmoid",
        kernel_initializer=keras.initializers.Constant(50.0),
        name="saturated_sigmoid",
    )(inputs)
    identity = keras.layers.Activation("linear", name="identity")(inputs)
    merged = keras.layers.Concatenate()([dead, saturated, identity])
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(merged))
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    return model


def probe_data(samples=32):
    return data(samples, outputs=1)


# Two steps on the 32 examples of probe_data().
fit = functools.partial(helpers.fit, batch_size=16)


def test_dead_saturated_and_identity_layers_against_numpy():
    x, y = probe_data()
    model = probe_model()
    monitor = ActivationMonitor(
        x, layers=["dead_relu", "saturated_sigmoid", "identity"]
    )
    fit(model, monitor, x, y)
    rows = {r["layer"]: r for r in monitor.history if r["step"] == 0}
    assert rows["dead_relu"]["dead_fraction"] == 1.0
    assert rows["dead_relu"]["zero_fraction"] == 1.0
    assert rows["saturated_sigmoid"]["saturated_fraction"] > 0.9
    assert rows["identity"]["dead_fraction"] is None
    assert rows["identity"]["saturated_fraction"] is None
    assert rows["saturated_sigmoid"]["dead_fraction"] is None
    assert rows["identity"]["activation"] == "linear"
    # Against NumPy on the same probe outputs.
    outputs = keras.Model(model.inputs[0], [model.get_layer(n).output for n in rows])(x)
    for row, values in zip(rows.values(), outputs, strict=True):
        values = np.asarray(keras.ops.convert_to_numpy(values), np.float64)
        assert row["mean"] == pytest.approx(values.mean(), rel=1e-6, abs=1e-9)
        assert row["std"] == pytest.approx(values.std(), rel=1e-6, abs=1e-9)
        if row["dead_fraction"] is not None:
            assert row["dead_fraction"] == np.mean(np.all(values <= 0, axis=0))
        assert row["zero_fraction"] == np.mean(values == 0)
    sigmoid = np.asarray(keras.ops.convert_to_numpy(outputs[1]), np.float64)
    assert rows["saturated_sigmoid"]["saturated_fraction"] == pytest.approx(
        np.mean((sigmoid <= 0.05) | (sigmoid >= 0.95))
    )


def test_default_selection_and_selection_by_type():
    x, y = probe_data()
    monitor = ActivationMonitor(x)
    fit(probe_model(), monitor, x, y)
    assert {r["layer"] for r in monitor.history} == {"dead_relu", "saturated_sigmoid"}
    by_type = ActivationMonitor(x, layers=[keras.layers.Activation])
    fit(probe_model(), by_type, x, y)
    assert {r["layer"] for r in by_type.history} == {"identity"}


def test_output_gradients_match_the_backpropagated_loss_gradient():
    x, y = probe_data()
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, activation="tanh", name="hidden"),
            keras.layers.Dense(1, name="head"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    monitor = ActivationMonitor((x, y), layers=["hidden"])
    fit(model, monitor, x, y)
    hidden = keras.Model(model.inputs[0], model.get_layer("hidden").output)
    h = keras.ops.convert_to_numpy(hidden(x))
    head = model.get_layer("head")
    upstream = 2 * (keras.ops.convert_to_numpy(head(h)) - y) / y.size
    expected = vector_jacobian_product(head, h, upstream)["inputs"]
    row = monitor.history[0]
    assert row["output_grad_l2"] == pytest.approx(np.linalg.norm(expected), rel=1e-5)
    assert row["output_grad_mean_abs"] == pytest.approx(
        np.abs(expected).mean(), rel=1e-5
    )


def test_several_inputs_and_outputs_with_sample_weights():
    rng = np.random.default_rng(0)
    x = {
        "a": rng.normal(size=(16, 3)).astype("float32"),
        "b": rng.normal(size=(16, 2)).astype("float32"),
    }
    y = [rng.normal(size=(16, 1)).astype("float32"), rng.normal(size=(16, 2))]
    weights = rng.uniform(0.5, 2.0, size=16).astype("float32")
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    merged = keras.layers.Concatenate()([a, b])
    hidden = keras.layers.Dense(4, activation="tanh", name="hidden")(merged)
    outputs = [
        keras.layers.Dense(1, name="first")(hidden),
        keras.layers.Dense(2, name="second")(hidden),
    ]
    model = keras.Model({"a": a, "b": b}, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=["mse", "mse"])
    monitor = ActivationMonitor((x, y, weights), layers=["hidden"])
    model.fit(x, y, sample_weight=weights, batch_size=8, verbose=0, callbacks=[monitor])
    row = monitor.history[0]
    h = keras.ops.convert_to_numpy(keras.Model(model.inputs, hidden)(x))
    assert row["mean"] == pytest.approx(h.mean(), rel=1e-6)
    # Each output's weighted mean squared error, summed: its gradient with
    # respect to the hidden layer's output, by hand.
    expected = np.zeros_like(h)
    for name, target in zip(("first", "second"), y, strict=True):
        kernel, bias = (
            keras.ops.convert_to_numpy(w) for w in model.get_layer(name).weights
        )
        error = h @ kernel + bias - target
        upstream = 2 * error / error.shape[1] * weights[:, None] / len(h)
        expected += upstream @ kernel.T
    assert row["output_grad_l2"] == pytest.approx(np.linalg.norm(expected), rel=1e-5)


def test_a_list_probe_is_the_inputs_of_a_model_with_as_many_inputs():
    # As fit reads x=[x1, x2]; read as an (x, y) pair, it fed one input to a
    # two-input model and fit failed. A one-input model's [x, y] is a pair,
    # as Keras reads validation_data.
    rng = np.random.default_rng(0)
    x1, x2, y = (rng.normal(size=(16, 4)).astype("float32") for _ in range(3))
    a, b = keras.Input((4,)), keras.Input((4,))
    hidden = keras.layers.Dense(8, "relu", name="hidden")(
        keras.layers.Concatenate()([a, b])
    )
    two_inputs = keras.Model([a, b], keras.layers.Dense(4)(hidden))
    h = keras.Model(two_inputs.inputs, hidden)([x1, x2])  # before training
    monitor = ActivationMonitor([x1, x2])
    fit(two_inputs, monitor, [x1, x2], y)
    assert monitor.y is None and len(monitor.x) == 2
    assert monitor.history[0]["mean"] == pytest.approx(
        float(keras.ops.mean(h)), rel=1e-6
    )
    one_input = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, "relu")])
    monitor = ActivationMonitor([x1, y])
    fit(one_input, monitor, x1, y)
    assert monitor.y is not None and monitor.history[0]["output_grad_l2"] > 0


def test_deep_sigmoid_net_is_not_zero_centered_where_relu_is():
    x = np.tile(XOR_INPUTS, (25, 1))
    y = np.tile(XOR_TARGETS, (25, 1))
    flagged = {}
    for activation in ("sigmoid", "relu"):
        model = build_xor_model(activation, seed=1, steps_per_execution=1)
        monitor = ActivationMonitor((XOR_INPUTS, XOR_TARGETS), freq="epoch")
        model.fit(x, y, batch_size=4, verbose=0, shuffle=False, callbacks=[monitor])
        hidden = [r for r in monitor.history if r["layer"].startswith("hidden")]
        flagged[activation] = [r for r in hidden if abs(r["mean"]) > r["std"]]
        text = monitor.summary()
        off_center = [f.layer for f in monitor.flags() if f.kind == "off_center"]
        assert ("hidden_1: outputs not zero-centered in 9 layer(s)" in text) == (
            activation == "sigmoid"
        )
        assert off_center == (["hidden_1"] if activation == "sigmoid" else [])
        gradients = [r["output_grad_l2"] for r in hidden if r["step"] == 25]
        if activation == "sigmoid":  # the backpropagated signal decays
            assert gradients[0] < 1e-3 * gradients[-1]
    assert len(flagged["sigmoid"]) == 2 * 9  # every hidden layer, both records
    assert len(flagged["relu"]) <= 2


def test_large_learning_rate_kills_relu_units():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 10)).astype("float32")
    y = (x @ rng.normal(size=(10, 1))).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((10,)),
            keras.layers.Dense(32, activation="relu", name="h1"),
            keras.layers.Dense(32, activation="relu", name="h2"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(keras.optimizers.Adam(0.2), "mse")
    monitor = ActivationMonitor(x, freq="epoch")
    model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[monitor])
    dead = [r["dead_fraction"] for r in monitor.history if r["layer"] == "h2"]
    assert dead[0] == 0.0 and dead[-1] > 0.5
    # A layer is flagged once it stays dead over the last three records, and
    # the table marks it exactly when it is flagged.
    flagged = ("dead", "h2") in [(f.kind, f.layer) for f in monitor.flags()]
    assert flagged == all(fraction > 0.5 for fraction in dead[-3:])
    marked = re.search(r"h2 +relu .* dead$", monitor.summary(), re.MULTILINE)
    assert bool(marked) == flagged


def test_freq_in_steps_records_before_and_during_training():
    x, y = probe_data(64)
    monitor = ActivationMonitor(x, freq=2)
    fit(probe_model(), monitor, x, y, epochs=2)  # 4 steps per epoch
    assert sorted({r["step"] for r in monitor.history}) == [0, 2, 4, 6, 8]


def test_a_probe_of_fewer_than_four_examples_judges_no_unit_dead():
    # One example: a healthy ReLU unit is 0 on it half of the time.
    x, y = probe_data()
    monitor = ActivationMonitor((x[:1], y[:1]), freq="epoch")
    fit(probe_model(), monitor, x, y)
    rows = [r for r in monitor.history if r["layer"] == "dead_relu"]
    assert rows and all(r["dead_fraction"] is None for r in rows)
    assert "dead" not in {flag.kind for flag in monitor.flags()}
    # From four examples on, the forced-dead layer is judged, and dead.
    monitor = ActivationMonitor((x[:4], y[:4]), freq="epoch")
    fit(probe_model(), monitor, x, y)
    dead = [r["dead_fraction"] for r in monitor.history if r["layer"] == "dead_relu"]
    assert dead[0] == pytest.approx(1.0)


def test_the_first_probe_is_of_the_epoch_a_resumed_fit_begins_at():
    x, y = probe_data(64)
    model = probe_model()
    model.compile(keras.optimizers.SGD(0.01), "mse")
    for freq in ("auto", "epoch", 1):
        monitor = ActivationMonitor(x, freq=freq)
        history = model.fit(
            x, y, 16, epochs=3, initial_epoch=2, verbose=0, callbacks=[monitor]
        )
        first = min(monitor.history, key=lambda row: row["step"])
        assert first["epoch"] == 2, freq
        assert np.isfinite(history.history["dead_fraction"][0]), freq


@pytest.mark.tensorflow_only
def test_a_model_compiled_without_a_loss_is_probed_without_its_gradients():
    import tensorflow as tf

    class OwnLoss(keras.Model):
        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(self(x, training=True) - y))
            gradients = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply(gradients, self.trainable_variables)
            return {"loss": loss}

    x, y = probe_data(32)
    reference = probe_model()
    model = OwnLoss(reference.inputs, reference.outputs)
    model.compile(keras.optimizers.SGD(0.01))  # the loss is the train_step's
    monitor = ActivationMonitor((x, y))
    with pytest.warns(UserWarning, match="compiled without a loss"):
        fit(model, monitor, x, y)
    assert monitor.history
    assert all(row["output_grad_l2"] is None for row in monitor.history)


@pytest.mark.needs_tensorflow
def test_outputs_csv_tensorboard_plot(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    x, y = probe_data()
    monitor = ActivationMonitor(
        (x, y), freq="epoch", csv_path=tmp_path / "acts.csv", log_dir=tmp_path / "logs"
    )
    fit(probe_model(), monitor, x, y, epochs=2)
    with open(tmp_path / "acts.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == len(monitor.history) == 3 * 2
    assert list(rows[0]) == list(keras_acts.callbacks.activation_monitor.COLUMNS)
    import tensorflow as tf

    tags = set()
    for path in glob.glob(str(tmp_path / "logs" / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(v.tag for v in event.summary.value)
    assert "activations/dead_relu/dead_fraction" in tags
    assert "activations/saturated_sigmoid" in tags  # the histogram
    figure = monitor.plot()
    # One line per layer where the measure applies: dead for the ReLU,
    # saturated for the sigmoid.
    assert [len(ax.lines) for ax in figure.axes] == [1, 1]


class Block(keras.layers.Layer):
    """A composite layer, as keras-hub's are: a GELU Dense inside, given
    through the block's own `activation` argument, and a shared projection
    called twice."""

    def __init__(self, activation="gelu", **kwargs):
        super().__init__(**kwargs)
        self.activation = keras.activations.get(activation)
        self.inner = keras.layers.Dense(6, activation=self.activation, name="inner")
        self.shared = keras.layers.Dense(6, activation="relu", name="shared")

    def call(self, inputs):
        return self.shared(self.shared(self.inner(inputs)))


class BlockNet(keras.Model):
    """A subclassed model around a composite block and a BatchNormalization."""

    def __init__(self):
        super().__init__()
        self.block = Block(name="block")
        self.norm = keras.layers.BatchNormalization(name="norm")
        self.head = keras.layers.Dense(1, activation="sigmoid", name="head")

    def call(self, inputs, training=False):
        return self.head(self.norm(self.block(inputs), training=training))


def test_subclassed_model_and_nested_layers_are_measured_against_numpy():
    x, y = probe_data()
    model = BlockNet()
    monitor = ActivationMonitor((x, y), freq="epoch")
    fit(model, monitor, x, y)
    rows = {r["layer"]: r for r in monitor.history if r["step"] == 0}
    # The composite block is not itself an activation: its parts are.
    assert list(rows) == ["block/inner", "block/shared", "head"]
    assert rows["block/inner"]["activation"] == "gelu"
    # The last record is of the weights fit ends with.
    inner = keras.ops.convert_to_numpy(model.block.inner(x))
    first = keras.ops.convert_to_numpy(model.block.shared(inner))
    second = keras.ops.convert_to_numpy(model.block.shared(first))
    last = monitor.history[-len(rows) :]
    last = {r["layer"]: r for r in last}
    both_calls = np.concatenate([first, second])
    assert last["block/shared"]["mean"] == pytest.approx(both_calls.mean(), rel=1e-5)
    assert last["block/shared"]["dead_fraction"] == np.mean(
        np.all(both_calls <= 0, axis=0)
    )
    assert last["block/inner"]["mean"] == pytest.approx(inner.mean(), rel=1e-5)
    # The model's own output is left out of the saturation judgement.
    assert "head" in monitor._probe.not_hidden
    assert last["head"]["output_grad_l2"] is not None


@pytest.mark.parametrize("in_functional", [False, True])
def test_a_subclassed_model_is_listed_in_the_order_it_calls_its_layers(in_functional):
    # Made head first; listed so, its rows would not line up with
    # GradientMonitor's, which lists the net from the input. A Functional
    # model around it lists its layers the same way.
    model = helpers.HeadFirst("relu", "he_normal", depth=3)
    names = ["s0", "s1", "s2", "head"]
    if in_functional:
        inputs = keras.Input((2,))
        model = keras.Model(inputs, model(inputs))
        names = [f"head_first/{name}" for name in names]
    x, y = helpers.xor_data(16)
    activations = ActivationMonitor(x, freq="epoch")
    gradients = GradientMonitor(freq=1)
    fit(model, [activations, gradients], x, y)
    layers = [r["layer"] for r in activations.history if r["step"] == 0]
    assert layers == names == list(gradients.layer_norms(0))


def test_layers_a_subclassed_model_makes_in_build_are_measured():
    class BuiltLater(keras.Model):
        def __init__(self):
            super().__init__()
            self.head = keras.layers.Dense(1, activation="sigmoid", name="head")

        def build(self, input_shape):
            self.hidden = keras.layers.Dense(4, activation="relu", name="hidden")

        def call(self, x):
            return self.head(self.hidden(x))

    x, y = helpers.xor_data(16)
    monitor = ActivationMonitor(x, freq="epoch")
    fit(BuiltLater(), monitor, x, y)
    assert [r["layer"] for r in monitor.history if r["step"] == 0] == ["hidden", "head"]


def test_a_call_put_on_a_layer_by_the_user_is_read_and_kept():
    model = helpers.HeadFirst("relu", "he_normal", depth=2)
    calls = helpers.count_calls(model.body[0])
    users_call = model.body[0].call
    x, y = helpers.xor_data(16)
    monitor = ActivationMonitor(x, freq="epoch")
    fit(model, monitor, x, y)
    assert [r["layer"] for r in monitor.history if r["step"] == 0][0] == "s0"
    assert model.body[0].call is users_call and calls


def test_probe_normalises_with_the_batch_statistics_and_leaves_the_moving_ones():
    x, y = probe_data()
    model = BlockNet()
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    model(x)
    # Moving statistics that have not warmed up: inference mode would
    # normalise with mean 0 and variance 1, not what training sees.
    before = [keras.ops.convert_to_numpy(v) for v in model.norm.non_trainable_weights]
    monitor = ActivationMonitor((x, y), layers=["head"])
    monitor.set_model(model)
    monitor.on_train_begin()
    monitor.on_epoch_begin(0)  # the first probe
    after = [keras.ops.convert_to_numpy(v) for v in model.norm.non_trainable_weights]
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)
    block = keras.ops.convert_to_numpy(model.block(x))
    gamma, beta = (keras.ops.convert_to_numpy(v) for v in model.norm.trainable_weights)
    normalised = (block - block.mean(0)) / np.sqrt(block.var(0) + model.norm.epsilon)
    kernel, bias = (keras.ops.convert_to_numpy(v) for v in model.head.weights)
    expected = 1 / (1 + np.exp(-((normalised * gamma + beta) @ kernel + bias)))
    row = monitor.history[0]
    assert row["mean"] == pytest.approx(expected.mean(), rel=1e-4)
    assert row["std"] == pytest.approx(expected.std(), rel=1e-3)
    # The model's own layers are as they were: no `call` left shadowed.
    assert "call" not in vars(model.block.inner)
    assert "call" not in vars(model.norm)


def test_a_model_without_readable_nonlinearities_warns_once_and_fit_goes_on():
    x, _ = probe_data()
    linear = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.warns(UserWarning, match="found no layer with a nonlinearity") as seen:
        history = fit(linear, ActivationMonitor(x), x, np.zeros((32, 2)), epochs=2)
    assert len(history.history["loss"]) == 2
    assert sum("found no layer" in str(w.message) for w in seen) == 1


class TwoOutputs(keras.layers.Layer):
    def call(self, inputs):
        return keras.ops.relu(inputs), keras.ops.relu(-inputs)

    def compute_output_shape(self, input_shape):
        return input_shape, input_shape


class PairNet(keras.Model):
    def __init__(self):
        super().__init__()
        self.pair = TwoOutputs(name="pair")
        self.hidden = keras.layers.Dense(4, activation="tanh", name="hidden")
        self.head = keras.layers.Dense(2, name="head")

    def call(self, inputs):
        positive, negative = self.pair(inputs)
        return self.head(self.hidden(positive - negative))


def test_a_layer_that_cannot_be_read_is_named_once_and_the_rest_measured():
    x, _ = probe_data()
    monitor = ActivationMonitor(x, layers=["pair", "hidden"])
    with pytest.warns(UserWarning, match=r"cannot read the outputs of \['pair'\]"):
        fit(PairNet(), monitor, x, np.zeros((32, 2)))
    assert {r["layer"] for r in monitor.history} == {"hidden"}


def test_selecting_layers_the_model_lacks_is_a_clear_error():
    x, _ = probe_data()
    with pytest.raises(ValueError, match=r"names layers the model does not have"):
        fit(Subclassed(), ActivationMonitor(x, layers=["nope"]), x, np.zeros((32, 2)))
    with pytest.raises(ValueError, match=r"selects no layer"):
        fit(
            Subclassed(),
            ActivationMonitor(x, layers=[keras.layers.Conv2D]),
            x,
            np.zeros((32, 2)),
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"data": np.zeros((0, 3))}, "no examples"),
        ({"data": "an empty tf.data.Dataset"}, "empty"),
        (
            {"data": (np.zeros((4, 3)), np.zeros((3, 1)))},
            r"4 examples in its inputs but \[3\] in its targets",
        ),
        (
            {"data": (np.zeros((4, 3)), [0.5, 1.0, 1.5, 2.0])},
            r"`data` holds its targets as 4 numbers in a list: pass them as one",
        ),
        ({"data": np.zeros((4, 3)), "dead_data": "abc"}, "`dead_data` holds no"),
        ({"data": np.zeros((4, 3)), "freq": 0}, "freq=0"),
        ({"data": np.zeros((4, 3)), "saturation_margin": 0.7}, "saturation_margin"),
        ({"data": np.zeros((4, 3)), "layers": [3]}, "layers"),
    ],
)
def test_invalid_arguments(kwargs, match):
    if isinstance(kwargs["data"], str):
        tf = pytest.importorskip("tensorflow")

        kwargs["data"] = tf.data.Dataset.from_tensor_slices(np.zeros((0, 3)))
    with pytest.raises(ValueError, match=match):
        ActivationMonitor(**kwargs)


def test_dead_data_the_model_cannot_take_is_refused_before_the_first_step():
    x, y = probe_data()
    monitor = ActivationMonitor(x, dead_data=x[:, :2])
    steps = []
    count = keras.callbacks.LambdaCallback(on_train_batch_begin=steps.append)
    with pytest.raises(ValueError, match="`dead_data` does not fit model"):
        fit(probe_model(), [monitor, count], x, y)
    assert steps == []


@pytest.mark.needs_tensorflow
def test_dead_data_may_be_a_dataset_of_x_y_batches():
    # The training set, as fit takes it: the check before the first step
    # feeds the model the inputs, not the (x, y) pair.
    import tensorflow as tf

    x, y = probe_data()
    monitor = ActivationMonitor(
        x, dead_data=tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    )
    fit(probe_model(), monitor, x, y)
    rows = [r for r in monitor.history if r["dead_fraction_data"] is not None]
    assert {r["layer"] for r in rows} == {"dead_relu"}
    assert rows[-1]["dead_fraction_data"] == 1.0


@pytest.mark.needs_tensorflow
def test_unbatched_datasets_are_refused_with_the_fix():
    import tensorflow as tf

    x, y = probe_data()
    with pytest.raises(
        ValueError, match=r"dataset `data` does not yield batches.*`data.batch\(32\)`"
    ):
        ActivationMonitor(tf.data.Dataset.from_tensor_slices((x, y)))
    # Inputs alone have no targets to tell single examples by: the model does.
    monitor = ActivationMonitor(x, dead_data=tf.data.Dataset.from_tensor_slices(x))
    with pytest.raises(ValueError, match=r"batch it: `dead_data.batch\(32\)`"):
        fit(probe_model(), monitor, x, y)


def test_unknown_layer_name_is_refused():
    x, y = probe_data()
    with pytest.raises(ValueError, match=r"\['nope'\]"):
        fit(probe_model(), ActivationMonitor(x, layers=["nope"]), x, y)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("relu", ["in the convolution", "layers after it"])
def test_dead_units_of_a_convolution_are_channels(data_format, relu):
    # Two of the four channels are forced off everywhere: half the units,
    # on whichever axis the channels are; a ReLU layer after the convolution
    # (through an activation and a dropout) has the same units.
    if data_format == "channels_first" and BACKEND == "tensorflow":
        pytest.skip("TensorFlow convolves channels_first on a GPU only.")
    shape = (6, 6, 2) if data_format == "channels_last" else (2, 6, 6)
    inputs = keras.Input(shape)
    conv = keras.layers.Conv2D(
        4,
        3,
        activation="relu" if relu == "in the convolution" else None,
        data_format=data_format,
        name="conv",
        kernel_initializer="ones",
        bias_initializer=keras.initializers.Constant([-100.0, -100.0, 0.0, 0.0]),
    )(inputs)
    measured = "conv"
    if relu == "layers after it":
        hidden = keras.layers.Dropout(0.1)(keras.layers.Activation("relu")(conv))
        conv = keras.layers.ReLU(name="relu")(hidden)
        measured = "relu"
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(conv)))
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    x = np.abs(np.random.default_rng(0).normal(size=(8, *shape))).astype("float32")
    monitor = ActivationMonitor(x, layers=[measured])
    model.fit(x, np.zeros((8, 1)), verbose=0, callbacks=[monitor])
    assert monitor.history[0]["dead_fraction"] == 0.5


def test_the_channel_axis_is_read_from_the_graph():
    def channels_first(*layers, model_kind="functional"):
        if model_kind == "sequential":
            model = keras.Sequential([keras.Input((2, 6, 6)), *layers])
        else:
            inputs = keras.Input((2, 6, 6))
            outputs = inputs
            for layer in layers:
                outputs = layer(outputs)
            model = keras.Model(inputs, outputs)
        return _activation_layers.channels_first(model, layers[-1])

    def conv(data_format):
        return keras.layers.Conv2D(4, 1, data_format=data_format)

    for model_kind in ("functional", "sequential"):
        assert channels_first(conv("channels_first"), model_kind=model_kind)
        for axis in (1, -3):
            assert channels_first(
                conv("channels_first"),
                keras.layers.BatchNormalization(axis=axis),
                keras.layers.ReLU(),
                model_kind=model_kind,
            )
        assert not channels_first(
            conv("channels_last"), keras.layers.ReLU(), model_kind=model_kind
        )
        # A Dense applies to the last axis whatever came before it.
        assert not channels_first(
            conv("channels_first"),
            keras.layers.Dense(3, activation="relu"),
            model_kind=model_kind,
        )
        assert not channels_first(
            keras.layers.BatchNormalization(axis=-1),
            keras.layers.Activation("relu"),
            model_kind=model_kind,
        )


@pytest.mark.parametrize("steps_per_execution", [1, 2])
def test_steps_join_with_gradient_monitor(steps_per_execution):
    if BACKEND == "torch" and steps_per_execution > 1:
        pytest.skip("PyTorch trains one step per execution.")
    x, y = probe_data(64)
    model = probe_model()
    model.compile(
        optimizer=keras.optimizers.SGD(0.0),
        loss="mse",
        steps_per_execution=steps_per_execution,
    )
    activations = ActivationMonitor(x, freq=2)
    gradients = GradientMonitor(freq=2)
    model.fit(
        x, y, batch_size=16, epochs=2, verbose=0, callbacks=[activations, gradients]
    )  # 4 steps per epoch
    assert sorted({r["step"] for r in activations.history}) == [0, 2, 4, 6, 8]
    gradient_epochs = {r["step"]: r["epoch"] for r in gradients.history}
    assert sorted(gradient_epochs) == [0, 2, 4, 6]
    for row in activations.history:
        if row["step"] in gradient_epochs:
            assert row["epoch"] == gradient_epochs[row["step"]]


def test_per_epoch_records_join_with_gradient_monitor():
    x, y = probe_data(64)
    activations = ActivationMonitor(x, freq="epoch")
    gradients = GradientMonitor(freq="epoch")
    fit(probe_model(), [activations, gradients], x, y, epochs=2)
    steps_and_epochs = sorted({(r["step"], r["epoch"]) for r in activations.history})
    # Before training, then at the end of each epoch: the weights that the
    # next epoch's first step starts from.
    assert steps_and_epochs == [(0, 0), (4, 0), (8, 1)]
    assert sorted({(r["step"], r["epoch"]) for r in gradients.history}) == [
        (0, 0),
        (4, 1),
    ]


def single_layer_model(layer, units=6):
    inputs = keras.Input((3,))
    hidden = layer(keras.layers.Dense(units, name="pre")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(hidden))
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    return model


def recorded_outputs(model, layer_name, x):
    probe = keras.Model(model.inputs[0], model.get_layer(layer_name).output)
    return np.asarray(keras.ops.convert_to_numpy(probe(x)), np.float64)


@pytest.mark.parametrize(
    "layer, name, low, high",
    [
        (keras.layers.Activation("tanh", name="act"), "tanh", -1.0, 1.0),
        (keras.layers.Activation("hard_sigmoid", name="act"), "hard_sigmoid", 0, 1),
    ],
)
def test_saturation_uses_the_activation_range_and_margin(layer, name, low, high):
    x, y = probe_data()
    x = x * 3
    model = single_layer_model(layer)
    monitor = ActivationMonitor(x, saturation_margin=0.2)
    fit(model, monitor, x, y)
    (row,) = [r for r in monitor.history if r["layer"] == "act" and r["step"] == 0]
    assert row["activation"] == name
    values = recorded_outputs(model, "act", x)
    margin = 0.2 * (high - low)
    expected = np.mean((values <= low + margin) | (values >= high - margin))
    assert row["saturated_fraction"] == pytest.approx(expected)
    assert 0 < expected < 1


@pytest.mark.parametrize("axis", [-1, 1])
def test_a_softmax_is_saturated_where_its_distributions_are_nearly_one_hot(axis):
    # Attention pooling: a softmax over 32 positions. Near uniform, every
    # entry is below the margin, and entry by entry it counted as saturated;
    # its scores made large, it is nearly one-hot.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 32, 4)).astype("float32")
    inputs = keras.Input((32, 4))
    weights = keras.layers.Softmax(axis=axis, name="weights")(
        keras.layers.Dense(1 if axis == 1 else 32, name="scores")(inputs)
    )
    outputs = keras.layers.Dense(1)(keras.layers.Flatten()(weights))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    saturated = {}
    for scale in (0.01, 300.0):
        kernel, bias = model.get_layer("scores").get_weights()
        model.get_layer("scores").set_weights([kernel * scale, bias])
        monitor = ActivationMonitor(x, saturation_margin=0.2, warn=False)
        fit(model, monitor, x, np.zeros((16, 1)))
        row = next(r for r in monitor.history if r["layer"] == "weights")
        peaks = recorded_outputs(model, "weights", x).max(axis=axis)
        assert row["saturated_fraction"] == pytest.approx(np.mean(peaks >= 0.8))
        saturated[scale] = row["saturated_fraction"]
        kinds = {(f.kind, f.layer) for f in monitor.flags()}
        assert (("saturated", "weights") in kinds) == (saturated[scale] > 0.5)
        model.get_layer("scores").set_weights([kernel, bias])
    assert saturated[0.01] == 0 and saturated[300.0] > 0.5


def test_dead_threshold():
    x, y = probe_data()
    model = single_layer_model(keras.layers.Activation("relu", name="act"))
    threshold = float(np.median(recorded_outputs(model, "act", x).max(axis=0)))
    monitor = ActivationMonitor(x, dead_threshold=threshold)
    fit(model, monitor, x, y)
    (row,) = [r for r in monitor.history if r["layer"] == "act" and r["step"] == 0]
    values = recorded_outputs(model, "act", x)
    expected = np.mean(np.all(values <= threshold, axis=0))
    assert row["dead_fraction"] == expected
    assert expected > np.mean(np.all(values <= 0.0, axis=0))


@pytest.mark.parametrize(
    "layer",
    [
        keras.layers.LeakyReLU(0.1, name="act"),
        keras.layers.ReLU(negative_slope=0.1, name="act"),
        keras.layers.ELU(name="act"),
    ],
)
def test_leaky_units_are_not_counted_as_dying(layer):
    x, y = probe_data()
    model = single_layer_model(layer)
    model.get_layer("pre").bias.assign(np.full(6, -100.0, "float32"))
    monitor = ActivationMonitor(x, layers=["act"])
    fit(model, monitor, x, y)
    assert monitor.history[0]["dead_fraction"] is None
    assert monitor.history[0]["mean"] < -0.99  # every output negative


def test_saturation_is_flagged_in_hidden_layers_only():
    x, y = probe_data()
    inputs = keras.Input((3,))
    large = keras.initializers.Constant(50.0)
    hidden = keras.layers.Dense(
        5, activation="sigmoid", kernel_initializer=large, name="hidden"
    )(inputs)
    outputs = keras.layers.Dense(
        1, activation="sigmoid", kernel_initializer=large, name="output"
    )(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    monitor = ActivationMonitor(x)
    fit(model, monitor, x, y)
    saturated = {r["layer"]: r["saturated_fraction"] for r in monitor.history}
    assert saturated["hidden"] > 0.5 and saturated["output"] > 0.5
    text = monitor.summary()
    assert re.search(r"hidden: \d+% of outputs saturated", text)
    assert not re.search(r"output: \d+% of outputs saturated", text)


def test_a_sigmoid_gate_is_not_judged_as_hidden_units():
    # A squeeze-and-excitation gate (EfficientNet's, MobileNetV3's): its
    # sigmoid only scales features, so it saturates and stays positive by
    # design. The same sigmoid feeding a Dense is hidden units, and judged.
    x, y = probe_data()
    inputs = keras.Input((3,))
    features = keras.layers.Dense(8, "relu", name="features")(inputs)
    big = keras.initializers.Constant(3.0)
    gate = keras.layers.Dense(8, "sigmoid", kernel_initializer=big, name="gate")(
        features
    )
    hidden = keras.layers.Dense(8, "sigmoid", kernel_initializer=big, name="hidden")(
        features
    )
    # As a layer, and as the operator (a GLU written `g * v`).
    glu = keras.layers.Dense(8, "sigmoid", kernel_initializer=big, name="glu")(
        features
    )
    scaled = keras.layers.Multiply()([features, gate])
    merged = keras.layers.Concatenate()([scaled, glu * features, hidden])
    model = keras.Model(inputs, keras.layers.Dense(1)(merged))
    monitor = ActivationMonitor((x, y), warn=False)
    fit(model, monitor, x, y)
    assert {"gate", "glu"} <= monitor._probe.not_hidden
    assert "hidden" not in monitor._probe.not_hidden
    flagged = {(flag.kind, flag.layer) for flag in monitor.flags()}
    assert not {layer for _, layer in flagged} & {"gate", "glu"}
    assert ("off_center", "hidden") in flagged


def test_summary_columns_stay_aligned_with_a_long_activation_name():
    # keras-hub's feed-forward layers apply "gelu_approximate", longer than
    # the column's usual width.
    x, y = probe_data()
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(
                4,
                activation=lambda z: keras.activations.gelu(z, approximate=True),
                name="long",
            ),
            keras.layers.Dense(4, activation="tanh", name="short"),
            keras.layers.Dense(1),
        ]
    )
    model.layers[0].activation.__name__ = "gelu_approximate"
    monitor = ActivationMonitor((x, y), warn=False)
    fit(model, monitor, x, y)
    header, *rows = monitor.summary().splitlines()[1:4]
    column = header.index("    mean") + len("    mean")
    for row in rows:
        assert row[column - 1] != " " and row[column] == " ", row


def test_summary_keeps_large_means_and_deviations_apart():
    # Unscaled inputs give ReLU outputs in the thousands: eight characters
    # and more, which ran into the next column ("1150.7541114.703").
    x, y = probe_data()
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, "relu", kernel_initializer="ones", name="big"),
            keras.layers.Dense(1),
        ]
    )
    raw = 5000.0 * np.abs(x)
    monitor = ActivationMonitor((raw, y), warn=False)
    fit(model, monitor, raw, y)
    header, row = monitor.summary().splitlines()[1:3]
    record = monitor.history[-1]
    assert row.split()[2:4] == [f"{record['mean']:.3f}", f"{record['std']:.3f}"]
    assert record["mean"] > 1000 and record["std"] > 1000
    assert header.index("std") + len("std") == row.index(f"{record['std']:.3f}") + len(
        f"{record['std']:.3f}"
    )


def test_summary_columns_fit_the_longer_of_mean_and_std():
    from keras_acts.callbacks import _reports

    row = {
        "layer": "h",
        "activation": "relu",
        "dead_fraction": 0.0,
        "dead_fraction_data": None,
        "saturated_fraction": None,
        "output_grad_l2": None,
    }
    table = _reports.activation_table(
        0, [{**row, "mean": 0.5, "std": 123456.789}], []
    ).splitlines()
    assert table[2].split()[2:4] == ["0.500", "123456.789"]
    # Short values keep the docs' width: 8 characters each.
    table = _reports.activation_table(0, [{**row, "mean": 0.5, "std": 1.25}], [])
    header, line = table.splitlines()[1:3]
    assert header.index("    mean") + 8 == line.index("0.500") + 5


def test_inputs_off_center_are_not_flagged_where_the_model_standardizes_them():
    # The advice is already taken: an adapted Standardize (or Keras's
    # Normalization) first. Without it, the same raw inputs are flagged.
    x, y = probe_data()
    raw = 50.0 + x
    flagged = {}
    centering = (
        keras_acts.Standardize,
        keras.layers.Normalization,
        # MobileNetV3's way, from pixels to [-1, 1].
        lambda: keras.layers.Rescaling(1.0, offset=-50.0),
        lambda: keras.layers.Rescaling(2.0),  # scales, does not center
    )
    centering += (
        keras.layers.BatchNormalization,  # as the first layer
        "batch_normalization_later",  # after a Dense: the Dense sees raw inputs
    )
    for scaling in (None, *centering):
        layers = [keras.Input((3,))]
        if scaling == "batch_normalization_later":
            layers += [keras.layers.Dense(3), keras.layers.BatchNormalization()]
        elif scaling is not None:
            layer = scaling()
            if hasattr(layer, "adapt"):
                layer.adapt(raw)
            layers.append(layer)
        model = keras.Sequential(
            layers + [keras.layers.Dense(4, "tanh"), keras.layers.Dense(1)]
        )
        monitor = ActivationMonitor((raw, y), warn=False)
        fit(model, monitor, raw, y)
        flagged[scaling] = [flag.kind for flag in monitor.flags()]
    assert "inputs_off_center" in flagged[None]
    standardize, normalization, offset, scale, batch_norm, later = (
        flagged[c] for c in centering
    )
    assert standardize == normalization == offset == batch_norm == []
    assert "inputs_off_center" in scale
    assert "inputs_off_center" in later


@pytest.mark.parametrize(
    "dtype, first, flagged",
    [
        ("uint8", "dense", True),
        ("int32", "dense", False),
        ("uint8", "embedding", False),
    ],
)
def test_integer_inputs_are_judged_as_pixels_only_in_uint8(dtype, first, flagged):
    # Raw uint8 pixels, 0 to 255, are the textbook inputs off center; int32
    # values are token or category ids, whose mean says nothing, and so are
    # uint8 values that go into an Embedding (byte-level tokens).
    x = np.random.default_rng(0).integers(0, 256, size=(64, 3)).astype(dtype)
    y = np.zeros((64, 1), "float32")
    layers = [keras.Input((3,), dtype=dtype)]
    if first == "embedding":
        layers += [keras.layers.Embedding(256, 2), keras.layers.Flatten()]
    model = keras.Sequential(
        layers + [keras.layers.Dense(4, "tanh"), keras.layers.Dense(1)]
    )
    model.compile(keras.optimizers.SGD(0.0), "mse")
    monitor = ActivationMonitor((x, y), warn=False)
    fit(model, monitor, x, y)
    kinds = [flag.kind for flag in monitor.flags()]
    assert ("inputs_off_center" in kinds) is flagged


@pytest.mark.parametrize(
    "loss, mean, std, flagged",
    [
        ("mse", 1000.0, 1000.0, True),
        ("mse", 1000.0, 0.5, True),  # far from zero, however narrow
        ("mse", 0.0, 1000.0, True),  # centered, but wide
        (keras.losses.Huber(), 1000.0, 1000.0, True),
        ("mse", 3.0, 3.0, False),  # within the scale a net learns at once
        ("binary_crossentropy", 1000.0, 1000.0, False),  # not a regression
    ],
)
def test_regression_targets_far_from_unit_scale_are_flagged(loss, mean, std, flagged):
    x, _ = probe_data()
    y = mean + std * np.random.default_rng(0).normal(size=(len(x), 1))
    if loss == "binary_crossentropy":
        y = (y > mean).astype("float32")
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, "tanh"), keras.layers.Dense(1)]
    )
    model.compile(keras.optimizers.SGD(0.0), loss)
    monitor = ActivationMonitor((x, y), warn=False)
    fit(model, monitor, x, y)
    kinds = {(flag.kind, flag.layer) for flag in monitor.flags()}
    assert (("targets_unscaled", "(targets)") in kinds) is flagged


@pytest.mark.parametrize(
    "loss",
    ["MSE", keras.losses.mean_squared_error, ["mse"], {"price": "mse"}],
    ids=["alias", "function", "list", "dict"],
)
def test_regression_losses_in_every_form_compile_takes(loss):
    # Counts (integer targets) in the thousands, under the mean squared
    # error written as an alias, a function, a list or a dict by output.
    x, _ = probe_data()
    y = np.random.default_rng(0).integers(500, 1500, size=(len(x), 1))
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(1, name="price")(keras.layers.Dense(4, "tanh")(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.0), loss)
    monitor = ActivationMonitor((x, y), warn=False)
    fit(model, monitor, x, y)
    kinds = {(flag.kind, flag.layer) for flag in monitor.flags()}
    assert ("targets_unscaled", "(targets)") in kinds


def test_only_the_outputs_that_regress_have_their_targets_judged():
    # Two outputs: a regression in the thousands and labels 0 or 1 under
    # cross-entropy. The flag names the regression's targets by their key.
    x, _ = probe_data()
    rng = np.random.default_rng(0)
    y = {
        "label": rng.integers(0, 2, size=(len(x), 1)).astype("float32"),
        "price": 1000.0 + 100.0 * rng.normal(size=(len(x), 1)),
    }
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, "tanh")(inputs)
    model = keras.Model(
        inputs,
        {
            "price": keras.layers.Dense(1, name="price")(hidden),
            "label": keras.layers.Dense(1, "sigmoid", name="label")(hidden),
        },
    )
    model.compile(
        keras.optimizers.SGD(0.0), {"price": "mse", "label": "binary_crossentropy"}
    )
    monitor = ActivationMonitor((x, y), warn=False)
    fit(model, monitor, x, y)
    flags = [f.layer for f in monitor.flags() if f.kind == "targets_unscaled"]
    assert flags == ["(targets 'price')"]


@pytest.mark.parametrize("examples, warned", [(2048, False), (2049, True)])
def test_a_probe_too_large_for_one_pass_is_warned_about(examples, warned):
    # The probe runs in one pass that keeps every layer's outputs: 10,000
    # small images took gigabytes. Up to 2048 examples, nothing is said.
    x, y = probe_data(examples)
    model = probe_model()
    model.compile(keras.optimizers.SGD(0.0), "mse")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(
            x[:32],
            y[:32],
            batch_size=16,
            verbose=0,
            callbacks=[ActivationMonitor((x, y), warn=False)],
        )
    said = [w for w in caught if "the probe holds" in str(w.message)]
    assert len(said) == warned
    if warned:
        assert f"holds {examples} examples" in str(said[0].message)


def test_targets_keyed_by_output_names_meet_the_loss_of_their_output():
    # A list of losses in the outputs' order, targets in a dict keyed by
    # their layers' names, which do not sort in that order: Keras pairs
    # "z_price" with the mean squared error, not the class ids.
    x, _ = probe_data()
    rng = np.random.default_rng(0)
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, "tanh")(inputs)
    model = keras.Model(
        inputs,
        [
            keras.layers.Dense(1, name="z_price")(hidden),
            keras.layers.Dense(100, name="a_class")(hidden),
        ],
    )
    model.compile(
        keras.optimizers.SGD(0.0),
        ["mse", keras.losses.SparseCategoricalCrossentropy(from_logits=True)],
    )
    flags = {}
    for scale in (1.0, 1000.0):
        y = {
            "z_price": scale * rng.normal(size=(len(x), 1)),
            "a_class": rng.integers(0, 100, size=(len(x), 1)),
        }
        monitor = ActivationMonitor((x, y), warn=False)
        fit(model, monitor, x, y)
        flags[scale] = [
            f.layer for f in monitor.flags() if f.kind == "targets_unscaled"
        ]
    assert flags == {1.0: [], 1000.0: ["(targets 'z_price')"]}


def test_the_monitor_leaves_keras_free_to_dispatch_batch_ends_asynchronously():
    # A batch-end hook makes Keras wait for every step's logs on JAX and
    # PyTorch (a few percent of a small model's step).
    default = keras.callbacks.Callback.on_train_batch_end
    assert ActivationMonitor.on_train_batch_end is default


@pytest.mark.skipif(
    keras.backend.backend() == "torch",
    reason="PyTorch trains one step per execution",
)
def test_the_steps_are_counted_without_a_batch_end_hook():
    # Blocks of 3 steps, the last of each epoch 2 (8 batches an epoch).
    x, y = probe_data(64)
    model = probe_model()
    model.compile(optimizer="sgd", loss="mse", steps_per_execution=3)
    monitor = ActivationMonitor(x, freq=4, warn=False)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[monitor])
    # Due steps inside a block are probed after it, under the step reached.
    assert sorted({r["step"] for r in monitor.history}) == [0, 6, 8, 14, 16]
