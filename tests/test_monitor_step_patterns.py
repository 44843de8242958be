"""Records in unusual step patterns, found missing by a fault-injection
review: loss-scale factors, accumulated micro-batches in one block, skipped
steps, histograms of a block, recompiling, the JAX dispatcher, appending
probes, and train steps that apply more than once per batch."""

import math
import types

import keras
import numpy as np
import pytest
from helpers import LEARNING_RATE, data, fit
from test_gradient_monitor import expected_sgd_records, read_events, small_model

from keras_acts import ActivationMonitor, GradientMonitor
from keras_acts.callbacks._gradient_collection import WAITING_RECORDS
from keras_acts.callbacks._gradient_records import GradientRecord, rows_of
from keras_acts.callbacks._gradient_statistics import VariableNames

BACKEND = keras.backend.backend()


# M04: applied_gradients must undo the optimizer's own loss_scale_factor.
def test_an_optimizer_loss_scale_factor_is_undone():
    x, y = data()
    model = small_model()
    weights = model.get_weights()
    reference = GradientMonitor()
    fit(model, reference, x, y)
    scaled_model = small_model()
    scaled_model.set_weights(weights)
    scaled_model.compile(
        optimizer=keras.optimizers.SGD(LEARNING_RATE, loss_scale_factor=64.0),
        loss="mse",
    )
    monitor = GradientMonitor()
    fit(scaled_model, monitor, x, y)
    for step in (0, 1):
        expected = reference.layer_norms(step)
        for layer, norm in monitor.layer_norms(step).items():
            assert norm == pytest.approx(expected[layer], rel=1e-5)


# M06: records of the same optimizer at one step are never merged.
def test_micro_batches_of_one_block_stay_separate_records():
    if BACKEND == "torch":
        pytest.skip("PyTorch trains one step per execution.")
    x, y = data()
    model = small_model()
    model.compile(
        optimizer=keras.optimizers.SGD(LEARNING_RATE, gradient_accumulation_steps=2),
        loss="mse",
        steps_per_execution=2,
    )
    monitor = GradientMonitor()
    fit(model, monitor, x, y, batch_size=4)
    global_rows = [r for r in monitor.history if r["layer"] == "(global)"]
    assert [r["step"] for r in global_rows] == [0, 0, 1, 1]
    assert [r["variable"] for r in monitor.history[:4]] == [
        "kernel",
        "bias",
        "kernel",
        "bias",
    ]
    assert len(monitor.history) == 4 * 7


# M26: steps skipped by a LossScaleOptimizer do not shift the host's count.
def test_records_after_skipped_steps_keep_their_epoch():
    keras.config.set_dtype_policy("mixed_float16")
    x, y = data()  # two batches per epoch
    y[3, 0] = np.nan  # the first batch of every epoch is skipped
    model = small_model()
    # At a loss scale of 1 a skipped step is recorded (not taken for an
    # overflow of the scaled gradient).
    model.compile(
        optimizer=keras.optimizers.LossScaleOptimizer(
            keras.optimizers.SGD(LEARNING_RATE), initial_scale=1.0
        ),
        loss="mse",
    )
    monitor = GradientMonitor(freq=2)
    with pytest.warns(RuntimeWarning, match="non-finite"):
        fit(model, monitor, x, y, epochs=2)
    rows = [
        (r["step"], r["epoch"], math.isfinite(r["l2"]))
        for r in monitor.history
        if r["layer"] == "(global)"
    ]
    assert rows == [(0, 0, False), (0, 0, True)]


# M27: on TensorFlow, histograms come from the last record of each block.
@pytest.mark.tensorflow_only
def test_histograms_with_steps_per_execution_are_of_the_last_step(tmp_path):
    x, y = data()
    model = small_model()
    model.compile(
        optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="mse", steps_per_execution=2
    )
    expected = expected_sgd_records(model, x, y, batch_size=8, steps=2)
    monitor = GradientMonitor(log_dir=tmp_path, histograms=True)
    fit(model, monitor, x, y)  # one block: steps 0 and 1
    _, histograms = read_events(tmp_path)
    assert {step for _, step in histograms} == {1}
    paths = ["hidden/kernel", "hidden/bias", "out/kernel", "out/bias"]
    for path, (gradient, _) in zip(paths, expected[1], strict=True):
        left, right, _ = histograms[(f"gradients/{path}", 1)]
        assert left[0] == pytest.approx(gradient.min(), rel=1e-5, abs=1e-7)
        assert right[-1] == pytest.approx(gradient.max(), rel=1e-5, abs=1e-7)


def record_of(statistics, layers=("dense", "dense", "other")):
    """A record of one variable per row of `statistics`, of shape (2,)."""
    names = VariableNames(keras.Sequential(name="m"))
    variables = [
        types.SimpleNamespace(path=f"m/{layer}/v{i}", shape=(2,))
        for i, layer in enumerate(layers[: len(statistics)])
    ]
    indices = np.array([names.index_of(v) for v in variables])
    return GradientRecord(0, 0, names, indices, np.array(statistics), None)


# M28: no update ratio when any variable's update was not measured.
def test_update_ratio_is_none_when_an_update_was_not_measured():
    rows = list(
        rows_of(record_of([[1.0, 1.0, 1.0, 4.0, 1.0], [1.0, 1.0, 1.0, 4.0, -1.0]]))
    )
    ratios = {(r["layer"], r["variable"]): r["update_ratio"] for r in rows}
    assert ratios == {
        ("dense", "v0"): 0.5,
        ("dense", "v1"): None,
        ("dense", None): None,
        ("(global)", None): None,
    }


def test_rows_sum_each_group_alone_and_keep_nonfinite_values_in_their_rows():
    statistics = [
        [9.0, 4.0, 3.0, 16.0, 4.0],  # l2 3, mean_abs 2, max 3, weight 4, ratio 0.5
        [16.0, 2.0, 1.0, 9.0, 0.0],
        [np.nan, np.inf, np.nan, 1.0, 1.0],
    ]
    rows = {(r["layer"], r["variable"]): r for r in rows_of(record_of(statistics))}
    first = rows[("dense", "v0")]
    assert (first["l2"], first["mean_abs"], first["max_abs"]) == (3.0, 2.0, 3.0)
    assert (first["weight_l2"], first["update_ratio"]) == (4.0, 0.5)
    layer = rows[("dense", None)]
    assert (layer["l2"], layer["mean_abs"], layer["max_abs"]) == (5.0, 1.5, 3.0)
    assert layer["update_ratio"] == pytest.approx(2 / 5)
    assert math.isnan(rows[("other", None)]["l2"])
    assert math.isnan(rows[("(global)", None)]["max_abs"])
    assert rows[("(global)", None)]["mean_abs"] == math.inf


# M30: a recompiled model's new optimizer is the one recorded.
def test_recompiling_with_a_new_optimizer_records_it():
    x, y = data()
    model = small_model()
    fit(model, GradientMonitor(), x, y)
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="mse")
    monitor = GradientMonitor()
    fit(model, monitor, x, y)
    assert sorted({r["step"] for r in monitor.history}) == [0, 1]


# M13: on JAX, blocks that cannot record run the plain train function.
@pytest.mark.skipif(BACKEND != "jax", reason="The dispatcher is JAX's.")
def test_jax_runs_the_recording_function_only_on_due_blocks(monkeypatch):
    from keras_acts._backends.jax import channel as jax_channel

    calls = []
    original = jax_channel.Channel._recording

    def counting(self, make_recording_function):
        recording = original(self, make_recording_function)

        def train_function(state, iterator):
            calls.append(1)
            return recording(state, iterator)

        return train_function

    monkeypatch.setattr(jax_channel.Channel, "_recording", counting)
    monitor = GradientMonitor(freq=4)
    fit(small_model(), monitor, *data(samples=64))  # 8 steps
    assert sorted({r["step"] for r in monitor.history}) == [0, 4]
    assert len(calls) == 2


# M21 (and ActivationMonitor's append): a step is probed once.
def test_activation_monitor_append_probes_each_step_once():
    x, y = data()
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, activation="relu"),
            keras.layers.Dense(2),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="mse")
    monitor = ActivationMonitor(x, freq="epoch", append=True)
    fit(model, monitor, x, y)
    fit(model, monitor, x, y)
    assert [r["step"] for r in monitor.history] == [0, 2, 4]


# M15: the probe's step is the optimizer's iterations, not a count of batches.
def test_activation_steps_under_gradient_accumulation():
    x, y = data(samples=32)
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, activation="relu"),
            keras.layers.Dense(2),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(LEARNING_RATE, gradient_accumulation_steps=2),
        loss="mse",
    )
    monitor = ActivationMonitor(x, freq="epoch")
    fit(model, monitor, x, y, epochs=2)  # 4 batches, 2 updates per epoch
    assert [(r["step"], r["epoch"]) for r in monitor.history] == [
        (0, 0),
        (2, 0),
        (4, 1),
    ]


# Found while injecting: a custom train_step applying twice per batch.
@pytest.mark.tensorflow_only
# A train_step that applies twice per batch: the host's count of steps is
# off, so it must read every block rather than skip "undue" ones.
@pytest.mark.tensorflow_only
def test_a_train_step_applying_twice_per_batch_loses_no_record():
    model = RepeatedUpdates(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, activation="tanh"),
            keras.layers.Dense(2),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE))
    monitor = GradientMonitor(freq=2)
    fit(model, monitor, *data(samples=32))  # 4 batches, 8 updates
    assert sorted({r["step"] for r in monitor.history}) == [0, 2, 4, 6]


class RepeatedUpdates(keras.Sequential):
    """A train_step that applies `updates` gradient steps per batch."""

    updates = 2

    def train_step(self, data):
        import tensorflow as tf

        x, y = data
        for _ in range(self.updates):
            with tf.GradientTape() as tape:
                loss = keras.ops.mean(keras.ops.square(self(x) - y))
            self.optimizer.apply(
                tape.gradient(loss, self.trainable_variables),
                self.trainable_variables,
            )
        return {"loss": loss}


@pytest.mark.tensorflow_only
def test_records_overwritten_before_the_host_reads_them_are_reported():
    model = RepeatedUpdates(
        [keras.Input((3,)), keras.layers.Dense(2)],
    )
    slots = 2 * WAITING_RECORDS
    model.updates = slots + 3
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE))
    monitor = GradientMonitor()
    with pytest.warns(RuntimeWarning, match=r"3 record\(s\) were overwritten"):
        fit(model, monitor, *data(samples=8))  # one batch, 3 updates too many
    assert sorted({r["step"] for r in monitor.history}) == list(range(3, slots + 3))


def test_per_epoch_recording_reads_the_device_once_per_epoch(reads):
    monitor = GradientMonitor(freq="epoch")
    fit(small_model(), monitor, *data(samples=48), epochs=3)  # 6 steps each
    assert sorted({r["step"] for r in monitor.history}) == [0, 6, 12]
    assert len(reads) <= 3 + 1  # each epoch's first block, and the end
