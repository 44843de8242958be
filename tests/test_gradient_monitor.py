import csv
import glob
import inspect
import json
import math
import warnings

import keras
import numpy as np
import pytest
from helpers import LEARNING_RATE, HeadFirst, count_calls, data, fit, xor_data

import keras_acts
from keras_acts import GradientMonitor
from keras_acts.callbacks._activation_layers import layer_paths
from keras_acts.callbacks._gradient_collection import WAITING_RECORDS
from keras_acts.callbacks.gradient_monitor import STATS
from keras_acts.demo import XOR_INPUTS, XOR_TARGETS, build_xor_model
from keras_acts.testing import vector_jacobian_product

BACKEND = keras.backend.backend()


def small_model(name="small"):
    return keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, activation="tanh", name="hidden"),
            keras.layers.Dense(2, name="out"),
        ],
        name=name,
    )


def expected_sgd_records(model, x, y, batch_size, steps):
    """Per step: [(gradient, weight before)] of plain SGD on the mean squared
    error, from the backend's own differentiation of the model's outputs."""
    weights = model.get_weights()
    twin = keras.models.clone_model(model)
    records = []
    for step in range(steps):
        start = (step * batch_size) % len(x)
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        twin.set_weights(weights)
        outputs = keras.ops.convert_to_numpy(twin(xb))
        upstream = 2 * (outputs - yb) / yb.size  # d mean((o - y)^2) / d o
        by_path = vector_jacobian_product(twin, xb, upstream)
        gradients = [by_path[v.path] for v in twin.trainable_variables]
        records.append(list(zip(gradients, weights, strict=True)))
        weights = [
            w - LEARNING_RATE * g for w, g in zip(weights, gradients, strict=True)
        ]
    return records


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("steps_per_execution", [1, 2])
def test_records_exactly_the_applied_gradients(jit_compile, steps_per_execution):
    if BACKEND == "torch" and (jit_compile or steps_per_execution > 1):
        pytest.skip("PyTorch trains eagerly, one step per execution.")
    recorded_steps = [0, 1, 2, 3]  # every step of a block of several
    x, y = data()
    model = small_model()
    model.compile(
        optimizer=keras.optimizers.SGD(LEARNING_RATE),
        loss="mse",
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    expected = expected_sgd_records(model, x, y, batch_size=8, steps=4)
    monitor = GradientMonitor()
    fit(model, monitor, x, y, epochs=2)

    variable_rows = [r for r in monitor.history if r["variable"] is not None]
    assert sorted({r["step"] for r in variable_rows}) == recorded_steps
    paths = ["hidden/kernel", "hidden/bias", "out/kernel", "out/bias"]
    for row in variable_rows:
        index = paths.index(f"{row['layer']}/{row['variable']}")
        gradient, weight = expected[row["step"]][index]
        np.testing.assert_allclose(row["l2"], np.linalg.norm(gradient), rtol=1e-5)
        np.testing.assert_allclose(row["mean_abs"], np.abs(gradient).mean(), rtol=1e-5)
        np.testing.assert_allclose(row["max_abs"], np.abs(gradient).max(), rtol=1e-5)
        np.testing.assert_allclose(row["weight_l2"], np.linalg.norm(weight), rtol=1e-5)
        if np.linalg.norm(weight) > 0:
            # Plain SGD moves the weights by exactly lr * gradient.
            np.testing.assert_allclose(
                row["update_ratio"],
                LEARNING_RATE * np.linalg.norm(gradient) / np.linalg.norm(weight),
                rtol=1e-4,
            )
        else:
            assert row["update_ratio"] is None
    for step in recorded_steps:
        norms = monitor.layer_norms(step)
        assert list(norms) == ["hidden", "out"]
        groups = {
            "hidden": expected[step][:2],
            "out": expected[step][2:],
            "(global)": expected[step],
        }
        for layer, pairs in groups.items():
            (row,) = [
                r
                for r in monitor.history
                if r["step"] == step and r["layer"] == layer and r["variable"] is None
            ]
            assert_group_row(row, pairs)


def assert_group_row(row, pairs):
    """A layer or global row against its variables' (gradient, weight) pairs."""
    gradients = np.concatenate([g.ravel() for g, _ in pairs])
    weights = np.concatenate([w.ravel() for _, w in pairs])
    np.testing.assert_allclose(row["l2"], np.linalg.norm(gradients), rtol=1e-5)
    np.testing.assert_allclose(row["mean_abs"], np.abs(gradients).mean(), rtol=1e-5)
    np.testing.assert_allclose(row["max_abs"], np.abs(gradients).max(), rtol=1e-5)
    np.testing.assert_allclose(row["weight_l2"], np.linalg.norm(weights), rtol=1e-5)
    np.testing.assert_allclose(
        row["update_ratio"],
        LEARNING_RATE * np.linalg.norm(gradients) / np.linalg.norm(weights),
        rtol=1e-4,
    )


def test_history_rows_have_the_documented_keys():
    x, y = data()
    monitor = GradientMonitor()
    fit(small_model(), monitor, x, y)
    rows = monitor.history
    assert all(
        list(r) == list(keras_acts.callbacks.gradient_monitor.COLUMNS) for r in rows
    )
    per_step = [r for r in rows if r["step"] == 0]
    assert [(r["layer"], r["variable"]) for r in per_step] == [
        ("hidden", "kernel"),
        ("hidden", "bias"),
        ("out", "kernel"),
        ("out", "bias"),
        ("hidden", None),
        ("out", None),
        ("(global)", None),
    ]


def test_deep_sigmoid_gradients_vanish_where_relu_ones_do_not():
    x = np.tile(XOR_INPUTS, (5, 1))
    y = np.tile(XOR_TARGETS, (5, 1))
    relative = {}
    for activation in ("sigmoid", "relu"):
        model = build_xor_model(activation, seed=1, steps_per_execution=1)
        monitor = GradientMonitor()
        model.fit(
            x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[monitor]
        )
        norms = list(monitor.layer_norms().values())
        relative[activation] = norms[0] / norms[-1]
    assert relative["sigmoid"] * 100 < relative["relu"]


def test_freq_and_epoch_recording():
    x, y = data(samples=32)
    every_third = GradientMonitor(freq=3)
    model = small_model()
    fit(model, every_third, x, y, epochs=3)  # 4 steps per epoch
    assert sorted({r["step"] for r in every_third.history}) == [0, 3, 6, 9]
    # Steps 12 to 14 record nothing, then 15 does (on JAX, the step that
    # cannot record is traced first, without the recording).
    every_fifth = GradientMonitor(freq=5)
    fit(model, every_fifth, x, y)
    assert sorted({r["step"] for r in every_fifth.history}) == [15]

    per_epoch = GradientMonitor(freq="epoch")
    fit(small_model(), per_epoch, x, y, epochs=3)
    globals_ = [r for r in per_epoch.history if r["layer"] == "(global)"]
    assert [(r["step"], r["epoch"]) for r in globals_] == [(0, 0), (4, 1), (8, 2)]


def test_reuse_across_fits_and_restoring_the_optimizer():
    x, y = data()
    model = small_model()
    fit(model, None, x, y)
    plain_function = model.train_function
    monitor = GradientMonitor()
    fit(model, monitor, x, y)
    assert sorted({r["step"] for r in monitor.history}) == [2, 3]
    fit(model, monitor, x, y)
    # A new fit starts a new history; the step counter continues.
    assert sorted({r["step"] for r in monitor.history}) == [4, 5]
    assert "apply" not in vars(model.optimizer)
    assert "train_step" not in vars(model)
    assert model.train_function is plain_function
    history = fit(model, None, x, y)  # plain fit after the monitor
    assert len(history.history["loss"]) == 1
    assert int(model.optimizer.iterations) == 8


def test_training_resumed_from_a_saved_model(tmp_path):
    x, y = data()
    model = small_model()
    fit(model, None, x, y, epochs=2)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    monitor = GradientMonitor()
    fit(loaded, monitor, x, y)
    assert sorted({r["step"] for r in monitor.history}) == [4, 5]


def test_nested_and_subclassed_models_report_layer_paths():
    encoder = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, name="dense_a"),
            keras.layers.Dense(4, name="dense_b"),
        ],
        name="encoder",
    )
    inputs = keras.Input((3,))
    outer = keras.Model(inputs, keras.layers.Dense(2, name="head")(encoder(inputs)))
    monitor = GradientMonitor()
    fit(outer, monitor, *data())
    assert list(monitor.layer_norms()) == ["encoder/dense_a", "encoder/dense_b", "head"]

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__(name="subclassed")
            self.inner = keras.layers.Dense(4, name="inner")
            self.block = keras.Sequential(
                [keras.layers.Dense(2, name="last")], name="block"
            )

        def call(self, inputs):
            return self.block(self.inner(inputs))

    monitor = GradientMonitor()
    fit(Subclassed(), monitor, *data())
    assert list(monitor.layer_norms()) == ["inner", "block/last"]


def test_model_without_trainable_weights_warns_once():
    model = small_model()
    model.trainable = False
    model.compile(optimizer="sgd", loss="mse")
    monitor = GradientMonitor()
    with pytest.warns(RuntimeWarning, match="no trainable weights") as caught:
        model.fit(*data(), batch_size=2, epochs=2, verbose=0, callbacks=[monitor])
    ours = [w for w in caught if "GradientMonitor" in str(w.message)]
    assert len(ours) == 1  # over 16 batches
    assert monitor.history == []


def read_events(folder):
    """{(tag, step): value} of the scalars, and {(tag, step): histogram} as
    (left edges, right edges, counts), from TensorBoard event files."""
    tf = pytest.importorskip("tensorflow")

    scalars, histograms = {}, {}
    for path in glob.glob(str(folder / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                kind = value.metadata.plugin_data.plugin_name
                array = tf.make_ndarray(value.tensor)
                if kind == "scalars":
                    scalars[(value.tag, event.step)] = float(array)
                elif kind == "histograms":
                    histograms[(value.tag, event.step)] = array.T
    return scalars, histograms


@pytest.mark.needs_tensorflow
def test_tensorboard_scalars_and_histograms(tmp_path):
    x, y = data()
    model = small_model()
    fit_kwargs = {"optimizer": keras.optimizers.SGD(LEARNING_RATE), "loss": "mse"}
    model.compile(**fit_kwargs)
    expected = expected_sgd_records(model, x, y, batch_size=8, steps=2)
    monitor = GradientMonitor(log_dir=tmp_path / "logs", histograms=True)
    fit(model, monitor, x, y)
    scalars, histograms = read_events(tmp_path / "logs")
    layer_rows = {
        (r["layer"], r["step"]): r for r in monitor.history if r["variable"] is None
    }
    for stat in STATS:
        for step in (0, 1):
            for layer, tag in (("hidden", "hidden"), ("(global)", "global")):
                assert scalars[(f"gradients/{tag}/{stat}", step)] == pytest.approx(
                    layer_rows[(layer, step)][stat], rel=1e-6
                )
    assert len(histograms) == 8  # 4 variables, 2 steps
    paths = ["hidden/kernel", "hidden/bias", "out/kernel", "out/bias"]
    for step in (0, 1):
        for path, (gradient, _) in zip(paths, expected[step], strict=True):
            left, right, counts = histograms[(f"gradients/{path}", step)]
            assert counts.sum() == gradient.size
            assert left[0] == pytest.approx(gradient.min(), rel=1e-5, abs=1e-7)
            assert right[-1] == pytest.approx(gradient.max(), rel=1e-5, abs=1e-7)


@pytest.mark.needs_tensorflow
def test_stats_chooses_the_tensorboard_scalars(tmp_path):
    monitor = GradientMonitor(log_dir=tmp_path, stats=["l2", "update_ratio"])
    fit(small_model(), monitor, *data())
    scalars, histograms = read_events(tmp_path)
    assert {tag.rsplit("/", 1)[1] for tag, _ in scalars} == {"l2", "update_ratio"}
    assert not histograms
    # The history keeps every statistic.
    assert all(row["max_abs"] is not None for row in monitor.history)


def test_append_keeps_earlier_fits_in_history_and_csv(tmp_path):
    path = tmp_path / "gradients.csv"
    model = small_model()
    monitor = GradientMonitor(csv_path=path, append=True)
    fit(model, monitor, *data())
    fit(model, monitor, *data())
    assert sorted({r["step"] for r in monitor.history}) == [0, 1, 2, 3]
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == len(monitor.history) == 4 * 7
    fresh = GradientMonitor(csv_path=path)
    fit(model, fresh, *data())
    with open(path, newline="") as file:
        assert len(list(csv.DictReader(file))) == 2 * 7
    assert sorted({r["step"] for r in fresh.history}) == [4, 5]


def test_history_rows_are_built_once_per_record(monkeypatch):
    monitor = GradientMonitor()
    fit(small_model(), monitor, *data(samples=32))
    built = []
    original = GradientMonitor._rows_of
    monkeypatch.setattr(
        GradientMonitor,
        "_rows_of",
        lambda self, record: built.append(record.step) or original(self, record),
    )
    first = monitor.history
    second = monitor.history
    assert first == second and first is not second
    assert built == [0, 1, 2, 3]  # once each, on the first access


def test_to_json_writes_non_finite_values_as_valid_json(tmp_path):
    monitor = GradientMonitor()
    with pytest.warns(RuntimeWarning, match="non-finite"):
        fit(small_model(), monitor, *nan_data())
    monitor.to_json(tmp_path / "g.json")

    def refuse(constant):
        raise ValueError(f"not valid JSON: {constant}")

    rows = json.loads((tmp_path / "g.json").read_text(), parse_constant=refuse)
    assert rows[0]["l2"] == "nan"
    assert len(rows) == len(monitor.history)


@pytest.mark.parametrize("freq", ["auto", 1])
def test_csv_survives_a_crash_mid_epoch(tmp_path, freq):
    class Crash(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                raise RuntimeError("simulated crash")

    x, y = data(samples=48)
    path = tmp_path / "gradients.csv"
    model = small_model()
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="mse")
    monitor = GradientMonitor(freq=freq, csv_path=path)
    with pytest.raises(RuntimeError, match="simulated crash"):
        model.fit(
            x, y, batch_size=8, shuffle=False, verbose=0, callbacks=[monitor, Crash()]
        )
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 3 * 7  # steps 0, 1, 2; 7 rows each
    assert [int(r["step"]) for r in rows if r["layer"] == "(global)"] == [0, 1, 2]
    for row, kept in zip(rows, monitor.history, strict=True):
        assert float(row["l2"]) == pytest.approx(kept["l2"], rel=1e-12)


def test_to_csv_json_and_dataframe(tmp_path):
    monitor = GradientMonitor()
    fit(small_model(), monitor, *data())
    monitor.to_csv(tmp_path / "g.csv")
    monitor.to_json(tmp_path / "g.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.csv", "g.json"]
    with open(tmp_path / "g.csv", newline="") as file:
        assert len(list(csv.DictReader(file))) == len(monitor.history)
    rows = json.loads((tmp_path / "g.json").read_text())
    assert rows[0]["layer"] == "hidden" and rows[0]["step"] == 0
    frame = monitor.to_dataframe()
    assert list(frame.columns) == list(keras_acts.callbacks.gradient_monitor.COLUMNS)
    assert len(frame) == len(monitor.history)


def nan_data():
    x, y = data()
    y[3, 0] = np.nan
    return x, y


def test_nonfinite_warn_names_layer_and_step_once_per_fit():
    # Weights that hold NaN stay so: each later record warned again, with
    # its own step in the message, so Python's filters let every one pass.
    monitor = GradientMonitor(freq=1)
    model = small_model()
    for first_step in (0, 4):  # two steps per epoch
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit(model, monitor, *nan_data(), epochs=2)
        messages = [str(w.message) for w in caught if "non-finite" in str(w.message)]
        assert len(messages) == 1
        assert f"step {first_step} in layer(s) hidden, out" in messages[0]
    hidden = [
        r for r in monitor.history if r["layer"] == "hidden" and not r["variable"]
    ]
    assert len(hidden) == 4 and all(math.isnan(r["l2"]) for r in hidden)


@pytest.mark.parametrize("freq", ["auto", 1])
def test_nonfinite_stop_sets_stop_training(freq):
    model = small_model()
    with pytest.warns(RuntimeWarning, match="Stopping training"):
        fit(model, GradientMonitor(freq, on_nonfinite="stop"), *nan_data(), epochs=3)
    assert int(model.optimizer.iterations) == 1


class Crash(keras.callbacks.Callback):
    def __init__(self, at_batch):
        super().__init__()
        self.at_batch = at_batch

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.at_batch:
            raise RuntimeError("simulated crash")


def test_records_of_every_step_wait_for_a_few_blocks_and_none_is_lost(reads):
    # At freq=1, reading after every block made the host wait for the device
    # each step (+22% on TensorFlow, +20% on JAX on the benchmark MLP).
    x, y = data(samples=8 * 40)
    model = small_model()
    weights = model.get_weights()
    waiting = GradientMonitor(freq=1)
    fit(model, waiting, x, y, epochs=2)  # 40 steps an epoch
    assert len(reads) <= 2 * (40 // (WAITING_RECORDS - 1) + 1) + 1
    model = small_model()
    model.set_weights(weights)
    read_at_once = GradientMonitor(freq=1, on_nonfinite="stop")  # every block
    fit(model, read_at_once, x, y, epochs=2)
    assert len(reads) >= 80 + 1
    assert [r.step for r in waiting._records] == list(range(80))
    assert [r.epoch for r in waiting._records] == [0] * 40 + [1] * 40
    for kept, read in zip(waiting._records, read_at_once._records, strict=True):
        np.testing.assert_allclose(kept.statistics, read.statistics, rtol=1e-6)


def test_a_callback_reading_the_monitor_during_fit_sees_every_record(reads):
    monitor = GradientMonitor(freq=1)
    after = HistoryAtBatchEnd(monitor)
    fit(small_model(), [monitor, after], *data(samples=8 * 5))
    assert after.seen == [list(range(step + 1)) for step in range(5)]


def test_records_waiting_when_a_callback_crashes_are_kept(reads):
    monitor = GradientMonitor(freq=1)
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(small_model(), [monitor, Crash(at_batch=5)], *data(samples=8 * 10))
    assert sorted({row["step"] for row in monitor.history}) == list(range(6))
    assert reads.count(True) < 6


def test_nonfinite_raise_restores_the_optimizer():
    model = small_model()
    with pytest.raises(FloatingPointError, match="step 0"):
        fit(model, GradientMonitor(on_nonfinite="raise"), *nan_data())
    assert "apply" not in vars(model.optimizer)


def test_layers_of_one_name_in_two_nested_models_get_a_row_each():
    # Keras's variable paths leave out a nested Functional model's name:
    # both towers' Dense layers are "h/kernel" and "h/bias" there.
    def tower(name):
        inputs = keras.Input((3,))
        return keras.Model(inputs, keras.layers.Dense(4, name="h")(inputs), name=name)

    inputs = keras.Input((3,))
    towers = keras.layers.Concatenate()([tower("a")(inputs), tower("b")(inputs)])
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(towers))
    monitor = GradientMonitor(freq=1)
    fit(model, monitor, *data())
    assert list(monitor.layer_norms(0)) == ["a/h", "b/h", "out"]
    rows = [r for r in monitor.history if r["step"] == 0 and r["variable"]]
    assert [(r["layer"], r["variable"]) for r in rows] == [
        (layer, name) for layer in ("a/h", "b/h", "out") for name in ("kernel", "bias")
    ]


@pytest.mark.parametrize("wrapped_in", [0, 1, 2])
@pytest.mark.parametrize(
    "activation, initializer, vanishes",
    [("sigmoid", "glorot_uniform", True), ("relu", "he_normal", False)],
)
def test_a_subclassed_model_is_read_in_the_order_it_calls_its_layers(
    activation, initializer, vanishes, wrapped_in
):
    # Made head first, the head's variables come first: read in that
    # order, the vanishing rule compared the body with its last layer. The
    # Functional models around it (one, or one in another) list its layers
    # the same way.
    net = model = HeadFirst(activation, initializer)
    for _ in range(wrapped_in):
        inputs = keras.Input((2,))
        model = keras.Model(inputs, model(inputs))
    # Named by the variables' paths, which Functional models leave out.
    prefix = "head_first/" if wrapped_in else ""
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    monitor = GradientMonitor(freq=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", keras_acts.DiagnosisWarning)
        model.fit(*xor_data(), batch_size=16, verbose=0, callbacks=[monitor])
    body = [f"{prefix}s{i}" for i in range(10)]
    head = f"{prefix}head"
    assert list(monitor.layer_norms(0)) == [*body, head]
    rows = [r for r in monitor.history if r["step"] == 0 and r["variable"]]
    assert [r["layer"] for r in rows] == [*np.repeat(body, 2), head, head]
    flags = [flag for flag in monitor.flags() if flag.kind == "vanishing"]
    if vanishes:
        assert flags and f"of {head}'s gradient norm" in flags[0].problem
    else:
        assert not flags
    layers = [net, net.head, *net.body]
    assert not [layer.name for layer in layers if "call" in vars(layer)]


@pytest.mark.parametrize(
    "activation, initializer, vanishes",
    [("sigmoid", "glorot_uniform", True), ("relu", "he_normal", False)],
)
def test_an_output_that_no_loss_reaches_is_not_the_one_compared_with(
    activation, initializer, vanishes
):
    # The head left out of the loss is listed last and gets no gradient:
    # compared with it, every ratio was NaN and the vanishing rule silent.
    keras.utils.set_random_seed(0)
    inputs = keras.Input((2,))
    hidden = inputs
    for index in range(8):
        hidden = keras.layers.Dense(
            10, activation, kernel_initializer=initializer, name=f"h{index}"
        )(hidden)
    main = keras.layers.Dense(1, activation="sigmoid", name="main")(hidden)
    unused = keras.layers.Dense(1, name="unused")(hidden)
    model = keras.Model(inputs, {"main": main, "unused": unused})
    model.compile(keras.optimizers.SGD(0.1), loss={"main": "binary_crossentropy"})
    x, y = xor_data()
    monitor = GradientMonitor(freq=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(
            x, {"main": y, "unused": y}, batch_size=16, verbose=0, callbacks=[monitor]
        )
    assert list(monitor.layer_norms(0))[-2:] == ["main", "unused"]
    assert monitor.layer_norms(0)["unused"] == 0.0
    assert "(norms relative to main)" in monitor.summary()
    assert "nan" not in monitor.summary()
    flags = [flag for flag in monitor.flags() if flag.kind == "vanishing"]
    if vanishes:
        assert flags and "of main's gradient norm" in flags[0].problem
    else:
        assert not flags


@pytest.mark.parametrize("recurrent", [keras.layers.LSTM, keras.layers.GRU])
def test_a_recurrent_layer_whose_cell_is_never_called_keeps_its_place(recurrent):
    # Keras's fused LSTM and GRU (PyTorch, JAX) never call their cell, which
    # holds the weights: unnoted, it was listed after the head and never
    # judged.
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 4))
    hidden = keras.layers.Dense(5, activation="relu", name="proj")(inputs)
    outputs = keras.layers.Dense(1, name="head")(recurrent(5, name="rnn")(hidden))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).normal(size=(16, 6, 4)).astype("float32")
    monitor = GradientMonitor(freq=1)
    fit(model, monitor, x, x[:, 0, :1])
    cell = f"rnn/{recurrent.__name__.lower()}_cell"
    assert list(monitor.layer_norms(0)) == ["proj", cell, "head"]
    assert "(norms relative to head)" in monitor.summary()


def test_the_variables_of_a_subclassed_model_itself_come_last_and_unjudged():
    # Where the net uses its own variable is not known: were it taken for the
    # output layer, the body's vanishing gradients would be compared with it.
    model = HeadFirst("sigmoid", "glorot_uniform", temperature=True)
    monitor = GradientMonitor(freq=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", keras_acts.DiagnosisWarning)
        fit(model, monitor, *xor_data(), batch_size=16)
    assert list(monitor.layer_norms(0))[-3:] == ["s9", "head", "temperature"]
    flags = [flag for flag in monitor.flags() if flag.kind == "vanishing"]
    assert flags and "of head's gradient norm" in flags[0].problem


def test_a_call_put_on_a_layer_by_the_user_is_noted_and_kept():
    model = HeadFirst("relu", "he_normal", depth=2)
    calls = count_calls(model.body[1])
    users_call = model.body[1].call
    monitor = GradientMonitor(freq=1)
    fit(model, monitor, *xor_data(16))
    assert list(monitor.layer_norms(0)) == ["s0", "s1", "head"]
    assert model.body[1].call is users_call and calls


class Block(keras.layers.Layer):
    """A layer with a weight of its own, applied before its sublayer's."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = keras.layers.Dense(4, name="inner")

    def build(self, input_shape):
        self.scale = self.add_weight(
            shape=(input_shape[-1],), initializer="ones", name="scale"
        )

    def call(self, x):
        return self.inner(x * self.scale)


class Structures(keras.Model):
    """Layers in a dict and a list, one called twice, a nested Block, and
    layers made in `build` (which runs in the model's first call)."""

    def __init__(self):
        super().__init__()
        self.out = keras.layers.Dense(1, name="out")
        self.by_name = {"b": keras.layers.Dense(4, name="b")}
        self.shared = keras.layers.Dense(4, name="shared")
        self.listed = [keras.layers.Dense(4, name="l0")]

    def build(self, input_shape):
        self.first = keras.layers.Dense(4, name="a")
        self.block = Block(name="block")

    def call(self, x):
        x = self.by_name["b"](self.first(x))
        x = self.shared(self.listed[0](self.shared(x)))
        return self.out(self.block(x))


def test_layers_in_containers_shared_nested_and_made_in_build_are_in_call_order():
    model = Structures()
    monitor = GradientMonitor(freq=1)
    fit(model, monitor, *xor_data(16), batch_size=16)
    assert list(monitor.layer_norms(0)) == [
        "a",
        "b",
        "shared",  # at its first call
        "l0",
        "block",  # its own weight, noted as the block is entered
        "block/inner",
        "out",
    ]
    layers = [layer for _, layer in layer_paths(model)]
    assert not [layer.name for layer in layers if "call" in vars(layer)]


def test_loss_scale_overflow_is_neither_recorded_nor_flagged():
    # Targets of 1000 put the scaled gradients (about 2000 x 32768) above
    # float16's largest value: the LossScaleOptimizer skips the first steps
    # and halves its scale, as it does at the start of most mixed-precision
    # fits. Nothing is wrong, and nothing is applied.
    keras.config.set_dtype_policy("mixed_float16")
    x, y = data(samples=8 * 10)
    model = small_model()
    monitor = GradientMonitor(freq=1, on_nonfinite="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fit(model, monitor, x, 1000 * y)
    skipped = 10 - int(model.optimizer.iterations)
    assert skipped >= 3 and float(model.optimizer.dynamic_scale) < 2**15
    global_rows = [r for r in monitor.history if r["layer"] == "(global)"]
    assert [r["step"] for r in global_rows] == list(range(10 - skipped))
    assert all(math.isfinite(r["l2"]) for r in global_rows)
    assert "nonfinite" not in {flag.kind for flag in monitor.flags()}


def test_nonfinite_steps_skipped_until_the_loss_scale_is_one_are_recorded():
    # NaN in every batch: the gradient is not finite at any scale. The
    # optimizer skips every step and halves its scale from 2**15; the step
    # at scale 1, the 16th, is recorded (at step 0: none was applied).
    keras.config.set_dtype_policy("mixed_float16")
    x, y = data(samples=8 * 18)
    y[::8] = np.nan
    model = small_model()
    monitor = GradientMonitor(freq=1)
    with pytest.warns(RuntimeWarning, match=r"step 0 in layer\(s\) hidden, out"):
        fit(model, monitor, x, y)
    assert int(model.optimizer.iterations) == 0
    global_rows = [r for r in monitor.history if r["layer"] == "(global)"]
    assert [r["step"] for r in global_rows] == [0, 0, 0]  # scales 1, 1/2, 1/4
    assert all(math.isnan(r["l2"]) and r["update_ratio"] is None for r in global_rows)
    assert "nonfinite" in {flag.kind for flag in monitor.flags()}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"freq": 0}, "freq=0"),
        ({"freq": 2**31}, r"positive integer up to 2147483647.*freq=2147483648"),
        ({"freq": 10**30}, "freq=1000000000000000000000000000000"),
        ({"freq": -2}, "freq=-2"),
        ({"freq": "batch"}, "freq='batch'"),
        ({"freq": 1.5}, "freq=1.5"),
        ({"stats": ["l2", "l3"]}, "stats"),
        ({"on_nonfinite": "ignore"}, "on_nonfinite='ignore'"),
        ({"histograms": True}, "log_dir"),
        ({"vanishing_ratio": 0}, "vanishing_ratio=0"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GradientMonitor(**kwargs)


def test_the_largest_freq_records_the_first_step_only():
    # 2**31 - 1 goes into the traced step as a 32-bit integer on every
    # backend.
    x, y = data()
    monitor = GradientMonitor(freq=2**31 - 1)
    fit(small_model(), monitor, x, y, epochs=2)
    assert {r["step"] for r in monitor.history} == {0}


@pytest.mark.parametrize("argument", ["log_dir", "csv_path"])
def test_unwritable_paths_fail_before_any_step(tmp_path, argument):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    model = small_model()
    with pytest.raises(ValueError, match=argument):
        fit(model, GradientMonitor(**{argument: blocker / "sub" / "x"}), *data())
    assert int(model.optimizer.iterations) == 0


def test_mixed_precision_records_unscaled_gradients():
    x, y = data()
    reference = GradientMonitor()
    model = small_model()
    weights = model.get_weights()
    fit(model, reference, x, y)

    keras.config.set_dtype_policy("mixed_float16")
    mixed_model = small_model()
    mixed_model.set_weights(weights)
    monitor = GradientMonitor()
    fit(mixed_model, monitor, x, y)
    assert isinstance(mixed_model.optimizer, keras.optimizers.LossScaleOptimizer)
    for step in (0, 1):
        expected = reference.layer_norms(step)
        for layer, norm in monitor.layer_norms(step).items():
            assert norm == pytest.approx(expected[layer], rel=2e-2)


@pytest.mark.parametrize(
    "clipping",
    [
        {"clipnorm": 0.01},
        {"global_clipnorm": 0.01},
        {"clipvalue": 0.001},
        # Unscaled first, then clipped, as the optimizer does.
        {"clipnorm": 0.01, "loss_scale_factor": 1024.0},
    ],
)
def test_the_gradient_recorded_is_the_clipped_one_the_optimizer_applies(clipping):
    # Recorded before the clipping, the norms disagreed with the updates, and
    # with a MirroredStrategy run, whose replicas clip before summing.
    x, y = data()
    model = small_model()
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE, **clipping), loss="mse")
    monitor = GradientMonitor(freq=1)
    fit(model, monitor, x, y)
    rows = [r for r in monitor.history if r["variable"]]
    # Plain SGD moves each weight by the learning rate times its gradient (a
    # bias that starts at 0 has no ratio at step 0).
    moved = [r for r in rows if r["update_ratio"] is not None]
    assert len(moved) >= len(rows) - 2
    for row in moved:
        update = row["update_ratio"] * row["weight_l2"]
        assert update == pytest.approx(LEARNING_RATE * row["l2"], rel=1e-3)
    if "clipnorm" in clipping:
        assert max(row["l2"] for row in rows) <= 0.01 * (1 + 1e-5)
    if "global_clipnorm" in clipping:
        norms = [r["l2"] for r in monitor.history if r["layer"] == "(global)"]
        assert max(norms) <= 0.01 * (1 + 1e-5)
    if "clipvalue" in clipping:
        assert max(row["max_abs"] for row in rows) <= 0.001 * (1 + 1e-5)


@pytest.mark.parametrize("learning_rate, stalls", [(0.1, False), (1e-9, True)])
def test_a_converged_run_is_not_taken_for_a_stall(learning_rate, stalls):
    # A regression solved exactly: its updates fall to nothing with its loss,
    # and were flagged as a stall, with advice to raise the learning rate.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], "float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    monitor = GradientMonitor(freq=1)
    fit(model, monitor, x, y, epochs=20, batch_size=32)
    ratios = [r["update_ratio"] for r in monitor.history if r["layer"] == "(global)"]
    assert np.median(ratios[len(ratios) // 2 :]) < 1e-6
    assert ("stalled" in {flag.kind for flag in monitor.flags()}) == stalls


def test_with_append_the_flags_cover_the_earlier_fits():
    # The rules' state was made anew at each fit: flags() forgot the earlier
    # fits that history kept, and a converged model fitted again was judged
    # as stalled from its first loss, already at the floor.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], "float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    monitor = GradientMonitor(freq=1, append=True)
    for _ in range(2):
        fit(model, monitor, x, y, epochs=10, batch_size=32)
    steps = [r["step"] for r in monitor.history if r["layer"] == "(global)"]
    assert steps == list(range(160))
    assert "records (steps 0 to 159)" in monitor.summary()
    assert not monitor.flags()


def test_with_append_another_models_fit_is_judged_on_its_own():
    # The flags cover the earlier fits of the same model: a problem of
    # another model, in layers this one lacks, is not this model's.
    monitor = GradientMonitor(freq=1, append=True)
    stuck = HeadFirst("sigmoid", "glorot_uniform")
    stuck.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", keras_acts.DiagnosisWarning)
        stuck.fit(*xor_data(), batch_size=16, verbose=0, callbacks=[monitor])
    assert "vanishing" in {flag.kind for flag in monitor.flags()}
    fit(small_model(), monitor, *data())
    assert not monitor.flags()


def test_gradient_accumulation_records_micro_batches():
    x, y = data()
    model = small_model()
    model.compile(
        optimizer=keras.optimizers.SGD(LEARNING_RATE, gradient_accumulation_steps=2),
        loss="mse",
    )
    monitor = GradientMonitor()
    fit(model, monitor, x, y, batch_size=4)
    global_rows = [r for r in monitor.history if r["layer"] == "(global)"]
    # Two micro-batches per optimizer iteration: the first only accumulates,
    # and moves no weight.
    assert [r["step"] for r in global_rows] == [0, 0, 1, 1]
    ratios = [r["update_ratio"] for r in global_rows]
    assert ratios[0] is None and ratios[2] is None
    assert ratios[1] > 0 and ratios[3] > 0


def test_under_accumulation_each_micro_batch_is_recorded_unclipped():
    # The optimizer clips the mean of the micro-batches' gradients, not each.
    x, y = data()
    clipped, unclipped = (
        GradientMonitor(freq=1),
        GradientMonitor(freq=1),
    )
    for monitor, clipnorm in ((clipped, 1e-6), (unclipped, None)):
        keras.utils.set_random_seed(0)
        model = small_model()
        model.compile(
            optimizer=keras.optimizers.SGD(
                0.0, clipnorm=clipnorm, gradient_accumulation_steps=2
            ),
            loss="mse",
        )
        fit(model, monitor, x, y, batch_size=4)
    assert clipped.layer_norms(0) == pytest.approx(unclipped.layer_norms(0))
    assert max(clipped.layer_norms(0).values()) > 1e-3


def test_gradient_accumulation_is_not_taken_for_a_stall():
    # Counted as updates of 0, the micro-batches that only accumulate made
    # the median update 0 and flagged every accumulating run as stalled.
    x, y = data(samples=96)
    model = small_model()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3, gradient_accumulation_steps=4),
        loss="mse",
    )
    monitor = GradientMonitor(freq=1)
    fit(model, monitor, x, y, epochs=2, batch_size=4)
    assert len(monitor.history) // 7 >= 40
    assert not monitor.flags()


def test_summary_and_plot_show_vanishing():
    import matplotlib

    matplotlib.use("Agg")
    model = build_xor_model("sigmoid", seed=1, steps_per_execution=1)
    monitor = GradientMonitor()
    model.fit(
        np.tile(XOR_INPUTS, (3, 1)),
        np.tile(XOR_TARGETS, (3, 1)),
        batch_size=4,
        verbose=0,
        shuffle=False,
        callbacks=[monitor],
    )
    text = monitor.summary()
    first_layer_line = text.splitlines()[2]
    assert first_layer_line.endswith("vanishing")
    assert "(global)" in text
    figure = monitor.plot(title="sigmoid")
    heatmap = figure.axes[0].collections[0].get_array()
    assert heatmap.shape == (len(monitor.layer_norms()), 3)
    assert heatmap[0, 0] < heatmap[-1, 0] - 3  # three orders of magnitude


def test_layer_norms_of_an_unrecorded_step():
    monitor = GradientMonitor(freq=2)
    fit(small_model(), monitor, *data())
    with pytest.raises(ValueError, match=r"step=1\. Recorded steps: \[0\]"):
        monitor.layer_norms(1)
    # A string said "No record at step=0" beside "Recorded steps: [0]".
    with pytest.raises(ValueError, match=r"`step` must be an integer.*step='0'"):
        monitor.summary(step="0")
    assert monitor.layer_norms(np.int64(0)) == monitor.layer_norms(0)


def test_mixed_precision_under_xla():
    if BACKEND == "torch":
        pytest.skip("jit_compile=True is torch.compile there: a minute to compile.")
    keras.config.set_dtype_policy("mixed_float16")
    model = small_model()
    monitor = GradientMonitor()
    fit(model, monitor, *data(), jit_compile=True)
    norms = monitor.layer_norms()
    assert set(norms) == {"hidden", "out"}
    assert all(np.isfinite(v) and v > 0 for v in norms.values())


@pytest.mark.tensorflow_only
def test_embedding_gradients_arrive_as_indexed_slices():
    model = keras.Sequential(
        [
            keras.Input((4,), dtype="int32"),
            keras.layers.Embedding(50, 3, name="embed"),
            keras.layers.Flatten(),
            keras.layers.Dense(1, name="out"),
        ]
    )
    import tensorflow as tf

    x = np.random.default_rng(0).integers(0, 50, size=(8, 4)).astype("int32")
    y = np.ones((8, 1), "float32")
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(y, model(tf.constant(x)))
    (gradient,) = tape.gradient(loss, [model.get_layer("embed").embeddings.value])
    assert isinstance(gradient, tf.IndexedSlices)
    expected = np.linalg.norm(tf.convert_to_tensor(gradient).numpy())
    monitor = GradientMonitor()
    fit(model, monitor, x, y)  # one step on the same batch
    (row,) = [
        r
        for r in monitor.history
        if r["layer"] == "embed" and r["variable"] is not None and r["step"] == 0
    ]
    assert row["l2"] == pytest.approx(expected, rel=1e-5)


def test_summary_flags_an_exploding_global_norm():
    monitor = GradientMonitor(exploding_threshold=1e-9, warn=False)
    model = small_model()
    model.compile(keras.optimizers.SGD(1.0), "mse")
    fit(model, monitor, *data())
    assert "exploding gradients: global norm" in monitor.summary()
    assert "above exploding_threshold=1e-09, moving the weights by" in (
        monitor.summary()
    )
    assert [flag.kind for flag in monitor.flags()] == ["exploding"]
    # The same norms with steps of a few percent of the weights: no flag.
    monitor = GradientMonitor(exploding_threshold=1e-9, warn=False)
    model = small_model()
    model.compile(keras.optimizers.SGD(1e-3), "mse")
    fit(model, monitor, *data())
    assert monitor.flags() == []


def test_summary_flags_a_global_norm_that_grew_a_thousandfold():
    # Plain SGD far above the stable step size on a linear model: the
    # gradient grows geometrically.
    x, y = data(samples=8)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="out")])
    model.compile(optimizer=keras.optimizers.SGD(5.0), loss="mse")
    monitor = GradientMonitor(exploding_threshold=1e30, warn=False)
    model.fit(x, y, batch_size=8, epochs=12, verbose=0, callbacks=[monitor])
    norms = [r["l2"] for r in monitor.history if r["layer"] == "(global)"]
    assert norms[-1] / norms[0] > 1e3 and norms[-1] < 1e30
    (flag,) = monitor.flags()
    assert flag.kind == "exploding" and "times its norm at step 0" in flag.problem


@pytest.mark.tensorflow_only
def test_custom_train_step_calling_apply_gradients_is_covered():
    import tensorflow as tf

    class CustomStep(keras.Model):
        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                loss = keras.losses.MeanSquaredError()(y, self(x, training=True))
            gradients = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(
                zip(gradients, self.trainable_variables, strict=True)
            )
            return {"loss": loss}

    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2, name="out")(
        keras.layers.Dense(4, activation="tanh", name="hidden")(inputs)
    )
    model = CustomStep(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE))
    x, y = data()
    expected = expected_sgd_records(model, x, y, batch_size=8, steps=2)
    monitor = GradientMonitor()
    model.fit(x, y, batch_size=8, shuffle=False, verbose=0, callbacks=[monitor])
    for step in (0, 1):
        hidden = np.sqrt(sum(np.sum(g**2) for g, _ in expected[step][:2]))
        assert monitor.layer_norms(step)["hidden"] == pytest.approx(hidden, rel=1e-5)


def test_the_signature_defaults_to_every_statistic():
    # The default is written out in the signature for the docs: it must stay
    # the full list that the monitor knows.
    default = inspect.signature(GradientMonitor).parameters["stats"].default
    assert default == STATS


@pytest.mark.needs_tensorflow
def test_tensorboard_gets_one_value_per_layer_tag_and_step(tmp_path):
    tf = pytest.importorskip("tensorflow")
    monitor = GradientMonitor(log_dir=tmp_path, stats=["l2"])
    fit(small_model(), monitor, *data())  # 2 steps
    written = []
    for path in glob.glob(str(tmp_path / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            written += [(value.tag, event.step) for value in event.summary.value]
    # Per layer and for the whole model, not per variable: a layer's
    # variables written under its tag would give it several values a step.
    tags = ["gradients/hidden/l2", "gradients/out/l2", "gradients/global/l2"]
    assert sorted(written) == sorted((tag, step) for tag in tags for step in (0, 1))


class HistoryAtBatchEnd(keras.callbacks.Callback):
    """The steps a monitor has recorded when each batch ends."""

    def __init__(self, monitor):
        super().__init__()
        self.monitor = monitor
        self.seen = []

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append(sorted({row["step"] for row in self.monitor.history}))


def test_a_record_is_read_at_the_end_of_the_block_that_made_it():
    # So that its CSV rows, logs and warnings come at that step, not later.
    monitor = GradientMonitor(freq=2)
    after = HistoryAtBatchEnd(monitor)
    fit(small_model(), [monitor, after], *data(samples=32))  # 4 steps
    assert after.seen == [[0], [0], [0, 2], [0, 2]]


@pytest.mark.skipif(
    keras.backend.backend() == "torch",
    reason="Keras's own PyTorch trainer converts the logs with np.array, which "
    "numpy 2 warns about whether or not a monitor is attached",
)
def test_a_monitored_fit_gives_no_deprecation_warning():
    # numpy 2 warns for every TensorFlow variable or PyTorch tensor converted
    # with np.array: once per recorded step, before the monitors avoided it.
    x, y = data(samples=32)
    monitors = [GradientMonitor(), keras_acts.ActivationMonitor(x, freq=2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        fit(small_model(), monitors, x, y, epochs=2)
    assert len({row["step"] for row in monitors[0].history}) == 8


def test_an_epoch_without_a_record_logs_nan_not_an_older_value():
    monitor = GradientMonitor(freq=5)
    history = fit(small_model(), monitor, *data(samples=16), epochs=4)  # 2 a epoch
    norms = {row["step"]: row["l2"] for row in monitor.history}
    norms = {step: norm for step, norm in norms.items() if step in (0, 5)}
    logged = history.history["gradient_norm"]
    assert len(logged) == 4 and len(history.history["update_ratio"]) == 4
    assert logged[0] == pytest.approx(norms[0]) and math.isnan(logged[1])
    assert logged[2] == pytest.approx(norms[5]) and math.isnan(logged[3])


def test_activation_logs_are_nan_in_an_epoch_without_a_record():
    x, y = data(samples=16)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, "relu"), keras.layers.Dense(2)]
    )
    monitor = keras_acts.ActivationMonitor(x, freq=5, warn=False)
    history = fit(model, monitor, x, y, epochs=4)
    dead = history.history["dead_fraction"]
    assert "saturated_fraction" not in history.history  # no bounded layer
    assert [math.isnan(value) for value in dead] == [False, True, False, True]


def test_early_stopping_reads_the_gradient_norm():
    # Keras needs the direction of a metric it does not know: mode="min".
    stopping = keras.callbacks.EarlyStopping(
        monitor="gradient_norm", mode="min", patience=0
    )
    monitor = GradientMonitor(freq="epoch")
    history = fit(small_model(), [monitor, stopping], *data(), epochs=50)
    assert 1 < len(history.history["gradient_norm"]) < 50


def without_package(monkeypatch, *names):
    """As if `names` were not installed."""
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in names else real_find_spec(name, *a),
    )


@pytest.mark.parametrize(
    "scale, message",
    [
        ({"vmin": 2.0, "vmax": -2.0}, r"`vmin` must be below `vmax`.*vmin=2.0"),
        ({"vmin": "low"}, r"`vmin` must be a finite number.*vmin='low'"),
        ({"vmax": np.nan}, r"`vmax` must be a finite number"),
        ({"vmin": 1.0, "vmax": 1.0}, r"`vmin` must be below `vmax`"),
    ],
)
def test_plot_refuses_a_colour_scale_it_cannot_draw(scale, message):
    monitor = GradientMonitor()
    fit(small_model(), monitor, *data())
    with pytest.raises(ValueError, match=message):
        monitor.plot(**scale)


def test_plot_without_matplotlib_names_the_extra(monkeypatch):
    monitor = GradientMonitor()
    fit(small_model(), monitor, *data())
    without_package(monkeypatch, "matplotlib")
    with pytest.raises(ImportError, match=r"plot\(\) needs matplotlib: .*\[plot\]"):
        monitor.plot()


def test_log_dir_without_tensorflow_names_every_missing_package(monkeypatch, tmp_path):
    without_package(monkeypatch, "tensorflow", "tensorboard")
    monitor = GradientMonitor(log_dir=tmp_path)
    with pytest.raises(ValueError, match=r"needs tensorflow and tensorboard"):
        fit(small_model(), monitor, *data())


@pytest.mark.skipif(BACKEND != "torch", reason="torch.compile's graph of a step")
@pytest.mark.parametrize("subclassed", [False, True])
def test_a_compiled_pytorch_step_records_without_recompiling_at_every_step(
    subclassed,
):
    # The host says whether each step is due: a tensor condition inside the
    # compiled step recompiled it at every step, up to Dynamo's recompile
    # limit, which it warns about. A subclassed model's layers are not noted
    # (noting calls compiled each layer anew, past that limit).
    import logging

    import torch

    torch._dynamo.reset()
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    dynamo = logging.getLogger("torch._dynamo")
    dynamo.addHandler(handler)
    x, y = xor_data(16) if subclassed else data()
    model = HeadFirst("relu", "he_normal") if subclassed else small_model()
    model.compile(keras.optimizers.SGD(0.01), "mse", jit_compile=True)
    monitor = GradientMonitor(freq=3, warn=False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # Keras's own
            model.fit(x, y, batch_size=1, epochs=2, verbose=0, callbacks=[monitor])
    finally:
        dynamo.removeHandler(handler)
    steps = 2 * len(x)
    assert sorted({r["step"] for r in monitor.history}) == list(range(0, steps, 3))
    assert not [m for m in messages if "recompile_limit" in m]


# Issue #28, fault injection: same-shaped variables, an empty CSV, and live
# warnings per layer.
def test_rows_of_same_shaped_variables_map_to_their_own_gradients():
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(8, activation="tanh", name="first"),
            keras.layers.Dense(8, activation="tanh", name="second"),
            keras.layers.Dense(1, name="out"),
        ]
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 8)).astype("float32")
    y = rng.normal(size=(8, 1)).astype("float32")
    # Distinct magnitudes per variable, so that a swap shows.
    model.set_weights([w * (i + 1) for i, w in enumerate(model.get_weights())])
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    outputs = keras.ops.convert_to_numpy(twin(x))
    by_path = vector_jacobian_product(twin, x, 2 * (outputs - y) / y.size)
    expected = {
        "/".join(variable.path.split("/")[-2:]): np.linalg.norm(
            by_path[twin_variable.path]
        )
        for variable, twin_variable in zip(
            model.trainable_variables, twin.trainable_variables, strict=True
        )
    }
    assert len(set(np.round(list(expected.values()), 6))) == len(expected)
    monitor = GradientMonitor()
    fit(model, monitor, x, y, batch_size=8)
    rows = [r for r in monitor.history if r["variable"] is not None]
    assert len(rows) == len(expected) == 6
    for row in rows:
        path = f"{row['layer']}/{row['variable']}"
        np.testing.assert_allclose(row["l2"], expected[path], rtol=1e-4)


def test_append_to_an_existing_empty_csv_writes_the_header(tmp_path):
    path = tmp_path / "gradients.csv"
    path.write_text("")
    monitor = GradientMonitor(csv_path=path, append=True)
    fit(small_model(), monitor, *data())
    with open(path, newline="") as file:
        header = next(csv.reader(file))
        file.seek(0)
        rows = list(csv.DictReader(file))
    assert tuple(header) == GradientMonitor.COLUMNS
    assert len(rows) == len(monitor.history) == 2 * 7


def test_live_warnings_warn_once_per_kind_and_layer():
    from keras_acts.callbacks._rules import LiveWarnings
    from keras_acts.diagnosis import Flag

    def flag(layer):
        return Flag("vanishing", layer, "small", "try relu", "Diagnosing gradient flow")

    live = LiveWarnings(frozenset({"vanishing"}))
    with pytest.warns(keras_acts.DiagnosisWarning) as caught:
        live.give([flag("first")], "GradientMonitor", step=0)
        live.give([flag("first"), flag("second")], "GradientMonitor", step=1)
        live.give([flag("first"), flag("second")], "GradientMonitor", step=2)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2
    assert "first:" in messages[0] and "second:" in messages[1]


class _UnusedAndEmptyWeights(keras.layers.Layer):
    """A Dense layer with two more trainable variables: one the loss does not
    depend on (no gradient), and one without elements."""

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 2), name="kernel")
        self.unused = self.add_weight(shape=(3,), initializer="ones", name="unused")
        self.empty = self.add_weight(shape=(0,), name="empty")

    def call(self, inputs):
        return keras.ops.matmul(inputs, self.kernel)


def test_variables_without_a_gradient_or_without_elements_record_zeros():
    x, y = data()
    model = keras.Sequential(
        [keras.Input((3,)), _UnusedAndEmptyWeights(name="odd")], name="odd_model"
    )
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="mse")
    monitor = GradientMonitor(freq=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras's own "no gradient" warning
        fit(model, monitor, x, y, epochs=2)
    rows = {
        (r["step"], r["variable"]): r
        for r in monitor.history
        if r["variable"] is not None
    }
    steps = sorted({step for step, _ in rows})
    assert steps == [0, 1, 2, 3]
    for step in steps:
        assert rows[step, "kernel"]["l2"] > 0
        for name in ("unused", "empty"):
            row = rows[step, name]
            assert (row["l2"], row["mean_abs"] or 0.0, row["max_abs"]) == (0, 0, 0)
        np.testing.assert_allclose(rows[step, "unused"]["weight_l2"], np.sqrt(3))


@pytest.mark.skipif(BACKEND != "torch", reason="PyTorch's copies of the weights")
def test_the_copies_of_the_weights_live_only_as_long_as_the_fit():
    from keras_acts import _private_api
    from keras_acts.callbacks._gradient_capture import GradientCapture

    x, y = data()
    model = small_model()
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="mse")
    held = []

    class Look(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            capture = _private_api.hidden(self.model, GradientCapture.ATTRIBUTE)
            held.append([site.storage is not None for site in capture.sites.values()])

    fit(model, [GradientMonitor(freq=1), Look()], x, y)
    assert held and all(held[0]) and all(all(step) for step in held)
    capture = _private_api.hidden(model, GradientCapture.ATTRIBUTE)
    assert capture.sites
    assert all(site.storage is None for site in capture.sites.values())
