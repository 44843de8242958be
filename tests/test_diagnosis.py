"""Diagnosis: flags on the classic failures and none on healthy nets, live
warnings once, headline values in Keras's logs, `keras_acts.diagnose`,
dead units on whole data, learned activation parameters, plots."""

import csv
import itertools
import warnings

import keras
import numpy as np
import pytest
from helpers import ConfiglessAdam, ScaledAdam, regression_data

import keras_acts
from keras_acts import ActivationMonitor, DiagnosisWarning, GradientMonitor
from keras_acts.callbacks._gradient_capture import GradientCapture
from keras_acts.demo import XOR_INPUTS, XOR_TARGETS, build_xor_model


def mlp(layers=4, **dense_kwargs):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((10,))]
        + [
            keras.layers.Dense(32, name=f"dense_{i}", **dense_kwargs)
            for i in range(layers)
        ]
        + [keras.layers.Dense(1, name="head")]
    )


def fit_with_monitors(model, x, y, optimizer, epochs=3, **monitor_kwargs):
    model.compile(optimizer, "mse")
    gradients = GradientMonitor(warn=False)
    activations = ActivationMonitor((x[:64], y[:64]), warn=False)
    model.fit(
        x,
        y,
        batch_size=32,
        epochs=epochs,
        verbose=0,
        callbacks=[gradients, activations],
    )
    return [(flag.kind, flag.layer) for flag in gradients.flags() + activations.flags()]


def xor_fit(activation, steps=300, callbacks=()):
    """The classic write-ups' run: the 4 points as the batch, SGD 0.1, one
    step per "epoch"; here one epoch over `steps` copies of the 4 points,
    which trains the same and skips fit's cost per epoch."""
    model = build_xor_model(activation, seed=1, steps_per_execution=1)
    model.fit(
        np.tile(XOR_INPUTS, (steps, 1)),
        np.tile(XOR_TARGETS, (steps, 1)),
        batch_size=4,
        shuffle=False,
        verbose=0,
        callbacks=list(callbacks),
    )


def stuck_sigmoid_xor(steps=300, **monitor_kwargs):
    gradients = GradientMonitor(**monitor_kwargs)
    activations = ActivationMonitor(
        (XOR_INPUTS, XOR_TARGETS), freq=25, **monitor_kwargs
    )
    xor_fit("sigmoid", steps, [gradients, activations])
    return gradients, activations


def test_the_stuck_sigmoid_net_is_diagnosed_by_default():
    gradients, activations = stuck_sigmoid_xor(warn=False)
    kinds = {flag.kind: flag for flag in gradients.flags()}
    # At the last record every gradient is tiny, the output layer's too, so
    # that record alone shows nothing vanishing; the table marks what the
    # run's flags name all the same, so the two never disagree.
    table = gradients.summary().split("Problems")[0].splitlines()[2:]
    marked = {line.split()[0]: line.split()[4:] for line in table}
    assert marked[kinds["vanishing"].layer] == ["vanishing"]
    assert marked["hidden_1"] == ["vanishing"]
    assert marked["output"] == [] and marked["(global)"] == ["stalled"]
    assert set(kinds) == {"vanishing", "stalled"}
    assert kinds["vanishing"].layer.startswith("hidden_")
    assert "hidden_1 gets" in kinds["vanishing"].problem
    assert "try ReLU-family activations" in str(kinds["vanishing"])
    assert "(docs: Diagnosing gradient flow)" in str(kinds["vanishing"])
    text = gradients.summary()
    assert f"- {kinds['vanishing']}" in text
    assert [flag.kind for flag in activations.flags()] == ["off_center"]


# Not the relu XOR net: with 4 examples, a 10-unit ReLU layer of it can keep
# most units dead for good (on JAX's initial weights, the last hidden layer
# does), a true dead-ReLU problem that the net happens to survive.
@pytest.mark.parametrize("activation", ["tanh", "PReLU", "ParametricELU"])
def test_healthy_xor_nets_are_not_flagged(activation):
    gradients = GradientMonitor()
    activations = ActivationMonitor((XOR_INPUTS, XOR_TARGETS), freq=25)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DiagnosisWarning)
        xor_fit(activation, 300, [gradients, activations])
    assert gradients.flags() == [] and activations.flags() == []
    assert "Problems: no problems found." in activations.summary()
    assert "no problems found." in gradients.summary()


def test_a_healthy_regression_net_is_not_flagged():
    x, y = regression_data()
    net = mlp(activation="relu", kernel_initializer="he_normal")
    assert fit_with_monitors(net, x, y, keras.optimizers.Adam(1e-3)) == []


def test_dead_relu_layers_are_flagged():
    x, y = regression_data()
    net = mlp(activation="relu", bias_initializer=keras.initializers.Constant(-50.0))
    flags = fit_with_monitors(net, x, y, keras.optimizers.Adam(1e-3))
    assert {layer for kind, layer in flags if kind == "dead"} == {
        f"dense_{i}" for i in range(4)
    }


def test_saturated_sigmoid_layers_are_flagged():
    x, y = regression_data()
    large = keras.initializers.RandomNormal(stddev=5.0)
    net = mlp(activation="sigmoid", kernel_initializer=large)
    flags = fit_with_monitors(net, x, y, keras.optimizers.Adam(1e-3))
    assert ("saturated", "dense_0") in flags


def test_inputs_far_from_zero_centered_are_flagged():
    x, y = regression_data(offset=50.0)
    net = mlp(activation="tanh")
    flags = fit_with_monitors(net, x, y, keras.optimizers.SGD(0.0))
    assert ("inputs_off_center", "(inputs)") in flags


def test_exploding_gradients_of_large_initial_weights_are_flagged():
    x, y = regression_data()
    large = keras.initializers.RandomNormal(stddev=1.0)
    net = mlp(layers=8, activation="relu", kernel_initializer=large)
    flags = fit_with_monitors(net, x, y, keras.optimizers.SGD(1e-6), epochs=1)
    assert ("exploding", "(global)") in flags
    # The same gradients with no step taken (a learning rate of 0) move
    # nothing: a large norm alone is not a fault.
    net = mlp(layers=8, activation="relu", kernel_initializer=large)
    flags = fit_with_monitors(net, x, y, keras.optimizers.SGD(0.0), epochs=1)
    assert ("exploding", "(global)") not in flags


def test_live_warnings_come_once_per_kind_and_layer():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gradients, activations = stuck_sigmoid_xor()
    messages = [
        str(w.message) for w in caught if issubclass(w.category, DiagnosisWarning)
    ]
    assert len(messages) == len(set(messages)) == 3
    assert sum("gradients vanish" in m for m in messages) == 1
    assert sum("learning has stalled" in m for m in messages) == 1
    assert sum("not zero-centered" in m for m in messages) == 1
    assert all(
        m.startswith(("GradientMonitor: ", "ActivationMonitor: ")) for m in messages
    )


def test_warn_chooses_the_kinds():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stuck_sigmoid_xor(warn=False)
    assert not [w for w in caught if issubclass(w.category, DiagnosisWarning)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        xor_fit("sigmoid", 50, [GradientMonitor(warn=["stalled"])])
    assert not [w for w in caught if issubclass(w.category, DiagnosisWarning)]
    with pytest.raises(ValueError, match="warn=\\['dead'\\]"):
        GradientMonitor(warn=["dead"])
    with pytest.raises(ValueError, match="warn='vanishing'"):
        GradientMonitor(warn="vanishing")


def test_headline_values_reach_history_csv_logger_and_early_stopping(tmp_path):
    x, y = regression_data()
    net = mlp(activation="relu", kernel_initializer="he_normal")
    net.compile(keras.optimizers.Adam(1e-3), "mse")
    # Every step: the last record is the last step's, probed after it below.
    gradients = GradientMonitor(freq=1, warn=False)
    activations = ActivationMonitor(x[:64], freq="epoch", warn=False)
    stopping = keras.callbacks.EarlyStopping(
        monitor="gradient_norm", mode="min", patience=100
    )
    logger = keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))
    history = net.fit(
        x,
        y,
        batch_size=32,
        epochs=3,
        verbose=0,
        callbacks=[gradients, activations, stopping, logger],
    )
    keys = ("gradient_norm", "update_ratio", "dead_fraction")
    for key in keys:
        assert len(history.history[key]) == 3
    # Each epoch's values are those of the monitors' last record.
    last = [r for r in gradients.history if r["layer"] == "(global)"][-1]
    assert history.history["gradient_norm"][-1] == pytest.approx(last["l2"])
    last_dead = max(
        r["dead_fraction"] for r in activations.history if r["step"] == last["step"] + 1
    )
    assert history.history["dead_fraction"][-1] == pytest.approx(last_dead)
    with open(tmp_path / "log.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 3 and all(key in rows[0] for key in keys)
    assert float(rows[-1]["gradient_norm"]) == pytest.approx(last["l2"], rel=1e-6)
    assert stopping.best == pytest.approx(min(history.history["gradient_norm"]))


@pytest.mark.parametrize("use_ema", [False, True])
def test_diagnose_leaves_the_model_and_its_optimizer_as_they_were(use_ema):
    # With use_ema, a JAX fit leaves the averages sharing the weights'
    # buffers, which diagnose's own fit donated: the next fit failed.
    x, y = regression_data()
    net = mlp(activation="relu", bias_initializer=keras.initializers.Constant(-50.0))
    net.compile(keras.optimizers.Adam(1e-3, use_ema=use_ema), "mse")
    net.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[GradientMonitor()])
    # The monitors' capture of the model's own optimizer, not of diagnose's.
    capture = vars(net)[GradientCapture.ATTRIBUTE]
    weights = [w.copy() for w in net.get_weights()]
    optimizer_state = [
        np.array(keras.ops.convert_to_numpy(v)) for v in net.optimizer.variables
    ]
    outputs = keras.ops.convert_to_numpy(net(x[:8]))
    diagnosis = keras_acts.diagnose(net, x, y, steps=16, verbose=False)
    for before, after in zip(weights, net.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    for before, after in zip(optimizer_state, net.optimizer.variables, strict=True):
        np.testing.assert_array_equal(before, keras.ops.convert_to_numpy(after))
    np.testing.assert_array_equal(outputs, keras.ops.convert_to_numpy(net(x[:8])))
    assert vars(net)[GradientCapture.ATTRIBUTE] is capture
    assert net.stop_training is False  # diagnose stops its own fit
    assert {flag.kind for flag in diagnosis.flags} >= {"dead"}
    assert diagnosis.steps == 16
    assert str(diagnosis).startswith("keras_acts.diagnose: 16 training steps of model")
    assert all(f"- {flag}" in str(diagnosis) for flag in diagnosis.flags)
    net.fit(x, y, batch_size=32, epochs=1, verbose=0)


UNCOPYABLE_OPTIMIZERS = {
    # Its config lacks `scale`; its get_config fails; wrapped, which keeps
    # the inner optimizer's variables apart.
    "ScaledAdam": (lambda: ScaledAdam(2.0, learning_rate=1e-3), "scale"),
    "ConfiglessAdam": (lambda: ConfiglessAdam(1e-3), "has no config"),
    "LossScaleOptimizer": (
        lambda: keras.optimizers.LossScaleOptimizer(ScaledAdam(2.0)),
        "scale",
    ),
}


@pytest.mark.parametrize("name", list(UNCOPYABLE_OPTIMIZERS))
def test_an_optimizer_its_config_cannot_make_is_trained_itself_and_set_back(name):
    make, reason = UNCOPYABLE_OPTIMIZERS[name]
    x, y = regression_data()
    net = mlp(activation="relu")
    optimizer = make()
    net.compile(optimizer, "mse")
    # Unbuilt, it could only be set back built, tied to today's variables.
    with pytest.raises(
        ValueError, match=rf"`optimizer` \({name}\) could not be made.*{reason}"
    ):
        keras_acts.diagnose(net, x, y, steps=4, verbose=False)
    assert net.optimizer is optimizer and not optimizer.built
    net.fit(x, y, batch_size=32, epochs=1, verbose=0)
    weights = net.get_weights()
    state = [keras.ops.convert_to_numpy(v) for v in optimizer.variables]
    diagnosis = keras_acts.diagnose(net, x, y, steps=4, verbose=False)
    assert diagnosis.steps == 4 and diagnosis.gradients.history
    assert net.optimizer is optimizer
    for before, after in zip(weights, net.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    for before, after in zip(state, optimizer.variables, strict=True):
        np.testing.assert_array_equal(before, keras.ops.convert_to_numpy(after))


def test_diagnose_refuses_what_it_cannot_train_naming_its_own_arguments():
    x, y = regression_data()
    net = mlp(activation="relu")
    with pytest.raises(ValueError, match="compile the model first"):
        keras_acts.diagnose(net, x, y, verbose=False)
    net.compile("adam", "mse")
    with pytest.raises(ValueError, match="steps=0"):
        keras_acts.diagnose(net, x, y, steps=0, verbose=False)
    with pytest.raises(
        ValueError, match=r"`x`, `y` and `sample_weight`.*x with \[256\], y with \[10\]"
    ):
        keras_acts.diagnose(net, x, y[:10], verbose=False)
    with pytest.raises(ValueError, match=r"compiled with a loss.*pass them as `y`"):
        keras_acts.diagnose(net, x, None, verbose=False)
    with pytest.raises(ValueError, match="Received: x=None"):
        keras_acts.diagnose(net, None, y, verbose=False)
    for not_a_model in ("model", None, net.layers[0]):
        with pytest.raises(ValueError, match="`model` must be a keras.Model"):
            keras_acts.diagnose(not_a_model, x, y, verbose=False)

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, index):
            return x[:32], y[:32]

    # Inputs fit takes but diagnose cannot slice its probe from.
    for data in (Batches(), ((x[:32], y[:32]) for _ in range(4))):
        kind = type(data).__name__
        with pytest.raises(ValueError, match=rf"Dataset as `x`.*x of type {kind}"):
            keras_acts.diagnose(net, data, verbose=False)
    for layer in net.layers:
        layer.trainable = False
    net.compile("adam", "mse")
    with pytest.raises(ValueError, match="no trainable weights"):
        keras_acts.diagnose(net, x, y, verbose=False)


def test_diagnose_on_a_model_without_nonlinearities_says_nothing_of_layers():
    # A Dense-only model: nothing for the activation probe, whose advice
    # (`layers=`) is not an argument of diagnose; the gradients are judged.
    x, y = regression_data()
    net = mlp(layers=2)
    net.compile(keras.optimizers.SGD(1e-3), "mse")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        diagnosis = keras_acts.diagnose(net, x, y, steps=8, verbose=False)
    assert not [w for w in caught if "layers=" in str(w.message)]
    assert diagnosis.gradients.history and diagnosis.flags == []


class SubclassedMLP(keras.Model):
    def __init__(self, bias=0.0):
        super().__init__()
        self.hidden = [
            keras.layers.Dense(
                16, "relu", bias_initializer=keras.initializers.Constant(bias)
            )
            for _ in range(2)
        ]
        self.head = keras.layers.Dense(1)

    def call(self, inputs):
        for layer in self.hidden:
            inputs = layer(inputs)
        return self.head(inputs)


class CustomStep(SubclassedMLP):
    """A custom train_step, as the Keras guide writes one."""

    def train_step(self, data):
        import tensorflow as tf

        x, y = data
        with tf.GradientTape() as tape:
            loss = self.compute_loss(x=x, y=y, y_pred=self(x, training=True))
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        return {"loss": loss}


@pytest.mark.parametrize("model_class", [SubclassedMLP, CustomStep])
def test_diagnose_works_on_subclassed_models_and_sets_them_back(model_class):
    if model_class is CustomStep and keras.backend.backend() != "tensorflow":
        pytest.skip("the custom train_step is written with tf.GradientTape")
    x, y = regression_data()
    for bias, dead in ((0.0, False), (-50.0, True)):
        keras.utils.set_random_seed(0)
        net = model_class(bias)
        net.compile(keras.optimizers.Adam(1e-3), "mse")
        net(x[:1])
        weights = [w.copy() for w in net.get_weights()]
        diagnosis = keras_acts.diagnose(net, x, y, steps=16, verbose=False)
        kinds = {flag.kind for flag in diagnosis.flags}
        assert ("dead" in kinds) is dead, diagnosis
        if not dead:
            assert diagnosis.flags == []
        for before, after in zip(weights, net.get_weights(), strict=True):
            np.testing.assert_array_equal(before, after)
        assert not net.optimizer.built  # its own optimizer was not used


def test_an_interrupt_while_diagnose_reads_the_weights_leaves_the_optimizer(
    monkeypatch,
):
    x, y = regression_data()
    net = mlp(activation="relu")
    net.compile(keras.optimizers.Adam(1e-3), "mse")
    optimizer = net.optimizer
    read = keras_acts._backends.to_numpy

    def interrupted(value):
        if isinstance(value, keras.Variable):  # the weights, not the data
            raise KeyboardInterrupt
        return read(value)

    monkeypatch.setattr(keras_acts._backends, "to_numpy", interrupted)
    with pytest.raises(KeyboardInterrupt):
        keras_acts.diagnose(net, x, y, steps=4, verbose=False)
    assert net.optimizer is optimizer and not optimizer.built


def test_diagnose_judges_the_weights_the_model_has_not_a_fresh_start():
    x, y = regression_data()
    net = mlp(activation="relu")
    net.compile(keras.optimizers.Adam(1e-3), "mse")
    assert keras_acts.diagnose(net, x, y, steps=16, verbose=False).flags == []
    # Weights that kill every ReLU unit: a copy of a fresh initialisation
    # would not see them.
    for layer in net.layers[:-1]:
        layer.bias.assign(np.full(layer.bias.shape, -50.0))
    kinds = {
        f.kind for f in keras_acts.diagnose(net, x, y, steps=16, verbose=False).flags
    }
    assert "dead" in kinds


def test_diagnose_takes_exactly_the_steps_asked_for():
    x, y = regression_data()  # 256 examples: 8 batches of 32
    net = mlp(activation="relu")
    net.compile(keras.optimizers.SGD(1e-3), "mse")
    for steps in (5, 8, 9):  # inside the first epoch, one, inside the second
        diagnosis = keras_acts.diagnose(net, x, y, steps=steps, verbose=False)
        assert diagnosis.steps == steps
        recorded = sorted({r["step"] for r in diagnosis.gradients.history})
        assert recorded == list(range(steps))


@pytest.mark.skipif(
    keras.backend.backend() == "torch",
    reason="Keras runs one step per execution on PyTorch",
)
def test_with_steps_per_execution_the_diagnosis_gives_the_steps_taken():
    # A block of 3 runs whole: 5 steps asked, 6 taken, as recorded.
    x, y = regression_data()
    net = mlp(activation="relu")
    net.compile(keras.optimizers.SGD(1e-3), "mse", steps_per_execution=3)
    diagnosis = keras_acts.diagnose(net, x, y, steps=5, verbose=False)
    recorded = sorted({r["step"] for r in diagnosis.gradients.history})
    assert diagnosis.steps == len(recorded) == 6
    assert str(diagnosis).startswith("keras_acts.diagnose: 6 training steps")


def test_diagnose_takes_a_dataset_for_exactly_the_steps_asked_for():
    tf = pytest.importorskip("tensorflow")
    x, y = regression_data()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    net = mlp(activation="relu")
    net.compile(keras.optimizers.SGD(1e-3), "mse")
    diagnosis = keras_acts.diagnose(net, dataset, steps=11, verbose=False)
    assert diagnosis.steps == 11
    assert diagnosis.gradients.history[-1]["step"] == 10
    with pytest.raises(ValueError, match="takes a dataset as `x` alone"):
        keras_acts.diagnose(net, dataset, y, verbose=False)
    # Unbatched, its elements are single examples: said so, not read as 10
    # examples of inputs against 1 of targets.
    unbatched = tf.data.Dataset.from_tensor_slices((x, y))
    with pytest.raises(ValueError, match=r"does not yield batches.*\(10,\), \(1,\)"):
        keras_acts.diagnose(net, unbatched, steps=2, verbose=False)


@pytest.mark.parametrize("name", ["Adam", "ScaledAdam"])
def test_an_interrupted_diagnose_sets_the_model_back(name):
    # ScaledAdam cannot be copied: diagnose trains it itself.
    x, y = regression_data()
    net = mlp(activation="relu")
    net.compile(
        keras.optimizers.Adam(1e-3) if name == "Adam" else ScaledAdam(2.0), "mse"
    )
    net.fit(x, y, epochs=1, verbose=0)
    weights = [w.copy() for w in net.get_weights()]
    optimizer, iterations = net.optimizer, int(net.optimizer.iterations)

    class Interrupt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 3:
                raise KeyboardInterrupt

    original_fit = net.fit

    def fit_then_interrupt(*args, callbacks=(), **kwargs):
        return original_fit(*args, callbacks=[*callbacks, Interrupt()], **kwargs)

    net.fit = fit_then_interrupt
    with pytest.raises(KeyboardInterrupt):
        keras_acts.diagnose(net, x, y, steps=16, verbose=False)
    del net.fit
    for before, after in zip(weights, net.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    assert net.optimizer is optimizer and int(optimizer.iterations) == iterations


def test_dead_units_counted_on_whole_data():
    # Unit k of the ReLU layer fires only when input k is large, which the
    # probe's first 8 examples never are: dead on the probe, alive on data.
    x = np.zeros((64, 4), "float32")
    x[8:, :] = np.eye(4, dtype="float32")[np.arange(56) % 4] * 3.0
    inputs = keras.Input((4,))
    relu = keras.layers.Dense(
        4,
        activation="relu",
        kernel_initializer="identity",
        bias_initializer=keras.initializers.Constant(-1.0),
        name="relu",
    )(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(relu))
    model.compile(keras.optimizers.SGD(0.0), "mse")
    monitor = ActivationMonitor(x[:8], freq="epoch", dead_data=x, warn=False)
    model.fit(
        x, np.zeros((64, 1)), batch_size=16, epochs=2, verbose=0, callbacks=[monitor]
    )
    rows = monitor.history
    assert [r["dead_fraction"] for r in rows] == [1.0, 1.0, 1.0]
    assert [r["dead_fraction_data"] for r in rows] == [None, 0.0, 0.0]
    assert monitor.flags() == []  # the data shows them alive


@pytest.mark.needs_tensorflow
def test_learned_activation_parameters_over_training(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    x, y = regression_data()
    inputs = keras.Input((10,))
    hidden = keras.layers.Dense(8, activation=keras_acts.PReLU(), name="first")(inputs)
    hidden = keras_acts.ParametricELU(name="elu")(keras.layers.Dense(8)(hidden))
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    model.compile(keras.optimizers.Adam(0.05), "mse")
    monitor = ActivationMonitor(x[:32], freq="epoch", warn=False, log_dir=tmp_path)
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[monitor])
    rows = monitor.parameter_history
    assert {(r["layer"], r["parameter"]) for r in rows} == {
        ("first/p_re_lu", "alpha"),
        ("elu", "alpha"),
    }
    last = [r for r in rows if r["step"] == rows[-1]["step"]]
    alpha = keras.ops.convert_to_numpy(model.get_layer("elu").alpha)
    (elu_row,) = [r for r in last if r["layer"] == "elu"]
    assert elu_row["mean"] == pytest.approx(alpha.mean(), rel=1e-6)
    assert elu_row["min"] == pytest.approx(alpha.min(), rel=1e-6)
    assert elu_row["max"] == pytest.approx(alpha.max(), rel=1e-6)
    first = [r for r in rows if r["step"] == 0 and r["layer"] == "elu"][0]
    assert first["mean"] != elu_row["mean"]  # it learned
    from test_gradient_monitor import read_events

    scalars, histograms = read_events(tmp_path)
    assert ("activation_parameters/elu/alpha/mean", elu_row["step"]) in scalars
    assert ("activation_parameters/first/p_re_lu/alpha", 0) in histograms
    figure = monitor.plot_parameters()
    lines = figure.axes[0].lines
    assert len(lines) == 3  # first, middle and last record
    np.testing.assert_allclose(lines[-1].get_ydata()[1], elu_row["mean"])


def test_plot_shares_a_colour_scale_and_labels_do_not_overlap():
    import matplotlib

    matplotlib.use("Agg")
    x, y = regression_data()
    net = mlp(layers=30, activation="tanh")
    net.compile(keras.optimizers.SGD(0.01), "mse")
    monitor = GradientMonitor(freq=3, warn=False)
    net.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[monitor])
    figure = monitor.plot(vmin=-8, vmax=2)
    heatmap = figure.axes[0]
    assert heatmap.collections[0].get_clim() == (-8, 2)
    recorded = sorted({r["step"] for r in monitor.history})
    assert set(heatmap.get_xticks()) <= set(recorded)
    figure.canvas.draw()
    boxes = [label.get_window_extent() for label in heatmap.get_yticklabels()]
    assert len(boxes) == 31
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)


class _CountingTrainSteps(keras.Sequential):
    calls = 0

    def train_step(self, data):
        _CountingTrainSteps.calls += 1
        return super().train_step(data)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="TensorFlow traces a step that creates variables twice",
)
def test_diagnose_traces_the_training_step_once():
    x, y = regression_data()
    net = _CountingTrainSteps(
        [
            keras.Input((10,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1),
        ],
        name="counting",
    )
    net.compile(keras.optimizers.Adam(1e-3), "mse", metrics=["mae"])
    _CountingTrainSteps.calls = 0
    keras_acts.diagnose(net, x, y, steps=4, verbose=False)
    assert _CountingTrainSteps.calls == 1
    # A plain first fit builds its optimizer and its metrics in the step and
    # traces it twice, which diagnose, building them before, avoids.
    _CountingTrainSteps.calls = 0
    net.compile(keras.optimizers.Adam(1e-3), "mse", metrics=["mae"])
    net.fit(x, y, steps_per_epoch=4, epochs=1, verbose=0)
    assert _CountingTrainSteps.calls == 2


def test_diagnose_builds_a_subclassed_model_never_called_and_sets_it_back():
    x, y = regression_data()
    keras.utils.set_random_seed(0)
    twin = SubclassedMLP()
    twin(x[:1])
    keras.utils.set_random_seed(0)
    net = SubclassedMLP()
    net.compile(keras.optimizers.Adam(1e-3), "mse", metrics=["mae"])
    diagnosis = keras_acts.diagnose(net, x, y, steps=8, verbose=False)
    assert diagnosis.flags == [] and diagnosis.gradients.history
    # Built with the weights it would have had, which diagnose set back.
    for built, after in zip(twin.get_weights(), net.get_weights(), strict=True):
        np.testing.assert_array_equal(built, after)
    assert not net.optimizer.built
    assert all(not np.any(keras.ops.convert_to_numpy(v)) for v in net.metrics_variables)
    history = net.fit(x, y, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"]).all()


class _ActivityPenalty(keras.layers.Layer):
    def call(self, inputs):
        self.add_loss(keras.ops.mean(keras.ops.square(inputs)))
        return inputs


class TwoInputs(keras.Model):
    """Two inputs, and a loss of its own: trained without targets."""

    def __init__(self):
        super().__init__()
        self.left = keras.layers.Dense(8, activation="relu")
        self.right = keras.layers.Dense(8, activation="relu")
        self.head = keras.layers.Dense(1)
        self.penalty = _ActivityPenalty()

    def call(self, inputs):
        left, right = inputs
        return self.penalty(self.head(self.left(left) + self.right(right)))


def test_diagnose_takes_a_list_of_inputs_without_targets():
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(128, 4)), rng.normal(size=(128, 3))]
    x = [a.astype("float32") for a in x]
    net = TwoInputs()
    net.compile(keras.optimizers.Adam(1e-3))
    diagnosis = keras_acts.diagnose(net, x, steps=4, verbose=False)
    # The two inputs are one x, not an (x, y) pair.
    probed = {r["layer"] for r in diagnosis.activations.history}
    assert {net.left.name, net.right.name} <= probed
    assert sorted({r["step"] for r in diagnosis.gradients.history}) == [0, 1, 2, 3]


class EagerOnly(SubclassedMLP):
    """Reads an input's value in `call`: it cannot be built from shapes."""

    def call(self, inputs):
        if float(keras.ops.convert_to_numpy(keras.ops.sum(inputs))) > 1e9:
            inputs = -inputs
        return super().call(inputs)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="Keras builds such a model from shapes on PyTorch (which then "
    "runs it eagerly) and JAX (whose fit cannot trace it)",
)
def test_a_model_that_cannot_be_built_from_shapes_gets_a_clear_error():
    x, y = regression_data()
    net = EagerOnly()
    net.compile(keras.optimizers.Adam(1e-3), "mse")
    with pytest.raises(
        ValueError, match=r"could not build model .*: call the model on a batch"
    ):
        keras_acts.diagnose(net, x, y, steps=4, verbose=False)
    assert not net.optimizer.built


def test_the_probe_is_drawn_from_all_the_data_not_its_first_rows():
    # Data sorted by class, as np.concatenate of the classes gives it:
    # centered overall, but its first 64 rows, one class, are far off
    # center, which diagnose's probe judged.
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [rng.normal(-1.5, 1, size=(512, 4)), rng.normal(1.5, 1, size=(512, 4))]
    ).astype("float32")
    y = np.repeat([0, 1], 512).astype("int32")
    net = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(16, "relu"), keras.layers.Dense(2)]
    )
    net.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    diagnosis = keras_acts.diagnose(net, x, y, steps=4, verbose=False)
    probe = diagnosis.activations.x
    assert len(probe) == 64 and 16 < int(np.sum(diagnosis.activations.y)) < 48
    assert "inputs_off_center" not in {flag.kind for flag in diagnosis.flags}
    # The same rows each time.
    again = keras_acts.diagnose(net, x, y, steps=4, verbose=False)
    np.testing.assert_array_equal(again.activations.x, probe)
