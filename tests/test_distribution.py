"""The layers, Standardize and GradientMonitor under tf.distribute strategies:
MirroredStrategy on two logical CPU devices, and MultiWorkerMirroredStrategy
with two worker processes on 127.0.0.1.

Logical devices and TF_CONFIG must be set before TensorFlow starts, so each
case runs in child processes, bounded in time."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

# TensorFlow only: tf.distribute strategies.
pytestmark = pytest.mark.tensorflow_only

# Shared by both children: the data, a model with every keras_acts layer, and
# a one-device run of GradientMonitor to compare with.
COMMON = textwrap.dedent(
    """
    import json, os, sys, tempfile
    import keras, numpy as np
    import keras_acts

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32") * 3 + 1
    y = rng.normal(size=(32, 1)).astype("float32")

    def build(optimizer=None):
        keras.utils.set_random_seed(3)
        standardize = keras_acts.Standardize()
        standardize.adapt(x)
        model = keras.Sequential([
            keras.Input((6,)), standardize, keras.layers.Dense(8),
            keras_acts.PReLU(), keras_acts.MaxoutDense(4),
            keras_acts.ParametricELU(), keras.layers.Dense(4),
            keras_acts.Maxout(2), keras.layers.Dense(1, dtype="float32"),
        ])
        model.compile(optimizer or keras.optimizers.SGD(0.05), "mse")
        return model

    def monitored_fit(model):
        monitor = keras_acts.GradientMonitor()
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
                  callbacks=[monitor])
        return monitor.to_dataframe()

    def largest_relative_difference(reference, rows):
        # Layer names differ between the two models (dense, dense_2...).
        assert list(reference.variable) == list(rows.variable), "rows differ"
        return float(max(
            np.max(np.abs(rows[column].values - reference[column].values)
                   / np.abs(reference[column].values))
            for column in ("l2", "mean_abs", "max_abs")
        ))

    def load_difference(model, path):
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        return float(np.max(np.abs(np.asarray(loaded(x)) - np.asarray(model(x)))))

    def adapt_on_distributed(strategy):
        # Each worker of a multi-worker strategy reads only its shard.
        whole = keras_acts.Standardize().adapt(x)
        distributed = strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
        )
        parts = keras_acts.Standardize().adapt(distributed)
        difference = max(
            float(np.max(np.abs(parts[k] - whole[k]) / np.abs(whole[k])))
            for k in ("mean", "variance")
        )
        return {"difference": difference, "count": float(np.max(parts["count"]))}
    """
)

MIRRORED = (
    textwrap.dedent(
        """
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    """
    )
    + COMMON
    + textwrap.dedent(
        """
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    report = {"replicas": strategy.num_replicas_in_sync}
    one_device = monitored_fit(build())
    with strategy.scope():
        model = build()
    report["monitor_difference"] = largest_relative_difference(
        one_device, monitored_fit(model)
    )
    losses = model.fit(x, y, batch_size=16, epochs=3, verbose=0).history["loss"]
    report["loss_fell"] = losses[-1] < losses[0]
    # Predictions split across two replicas round differently from one device.
    report["load_diff"] = load_difference(
        model, os.path.join(tempfile.mkdtemp(), "mirrored.keras")
    )

    keras.config.set_dtype_policy("mixed_float16")
    one_device = monitored_fit(build())
    with strategy.scope():
        mixed = build()
    report["mixed_optimizer"] = type(mixed.optimizer).__name__
    report["mixed_monitor_difference"] = largest_relative_difference(
        one_device, monitored_fit(mixed)
    )
    keras.config.set_dtype_policy("float32")

    report["adapt_distributed"] = adapt_on_distributed(strategy)
    with strategy.scope():
        accumulating = build(
            keras.optimizers.SGD(0.05, gradient_accumulation_steps=2)
        )
    try:
        monitored_fit(accumulating)
        report["accumulation"] = "ran"
    except ValueError as error:
        report["accumulation"] = str(error)

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(8, activation="relu")
            self.head = keras.layers.Dense(1)

        def call(self, inputs):
            return self.head(self.hidden(inputs))

    with strategy.scope():  # never called: diagnose builds it
        unbuilt = Subclassed()
        unbuilt.compile(keras.optimizers.Adam(1e-3), "mse", metrics=["mae"])
    diagnosis = keras_acts.diagnose(
        unbuilt, x, y, steps=4, batch_size=16, verbose=False
    )
    report["diagnose"] = {
        "records": len(diagnosis.gradients.history),
        "weights": sorted({type(v.value).__name__ for v in unbuilt.weights}),
        "metrics": sorted(
            {type(v.value).__name__ for v in unbuilt.metrics_variables}
        ),
        "optimizer_built": unbuilt.optimizer.built,
        "fit_loss": unbuilt.fit(x, y, batch_size=16, verbose=0).history["loss"],
    }
    print(json.dumps(report))
    """
    )
)

# Keras 3's Model.fit fails under a multi-worker MultiWorkerMirroredStrategy
# before the first step, in its own code (keras-team/keras#20585), so the
# workers train with a custom loop: strategy.run of a step that calls
# optimizer.apply, recorded by GradientMonitor.attach.
WORKER = (
    "import tensorflow as tf\n"
    "strategy = tf.distribute.MultiWorkerMirroredStrategy()\n"
    + COMMON
    + textwrap.dedent(
        """
    task = strategy.cluster_resolver.task_id
    report = {"task": task, "replicas": strategy.num_replicas_in_sync}
    one_device_model = build()
    one_device = monitored_fit(one_device_model)
    with strategy.scope():
        model = build()
    monitor = keras_acts.GradientMonitor()

    @tf.function
    def train_step(x_local, y_local):
        def step(x_batch, y_batch):
            with tf.GradientTape() as tape:
                errors = keras.losses.mean_squared_error(
                    y_batch, model(x_batch, training=True)
                )
                loss = tf.reduce_sum(errors) / 16  # the global batch
            gradients = tape.gradient(loss, model.trainable_variables)
            model.optimizer.apply(gradients, model.trainable_variables)
        strategy.run(step, args=(x_local, y_local))

    with monitor.attach(model):
        for epoch in range(2):
            for batch in range(2):
                # Each worker takes its half of the global batch of 16.
                start = batch * 16 + task * 8
                train_step(x[start:start + 8], y[start:start + 8])
    # Same global batches, same steps: the same weights as one device.
    report["weights_diff"] = max(
        float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
        for a, b in zip(one_device_model.weights, model.weights, strict=True)
    )
    report["monitor_difference"] = largest_relative_difference(
        one_device, monitor.to_dataframe()
    )
    report["load_diff"] = load_difference(
        model, os.path.join(sys.argv[1], f"worker{task}.keras")
    )
    report["adapt_distributed"] = adapt_on_distributed(strategy)
    print(json.dumps(report))
    """
    )
)


def run_child(code, *args, env=None, timeout=300):
    child = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    return json.loads(child.stdout.strip().splitlines()[-1])


def test_layers_and_monitor_under_mirrored_strategy():
    report = run_child(MIRRORED)
    assert report["replicas"] == 2
    # The reduced gradient equals the one-device gradient of the global batch.
    assert report["monitor_difference"] < 1e-4
    # Under mixed precision each replica's float16 forward pass rounds on its
    # half of the batch.
    assert report["mixed_optimizer"] == "LossScaleOptimizer"
    assert report["mixed_monitor_difference"] < 5e-3
    assert report["loss_fell"]
    assert report["load_diff"] < 1e-5
    assert report["adapt_distributed"]["difference"] < 1e-10
    assert report["adapt_distributed"]["count"] == 32
    assert "gradient_accumulation_steps" in report["accumulation"]
    # Built in the strategy's scope, as Keras builds: mirrored weights, and
    # the user's optimizer untouched.
    diagnosed = report["diagnose"]
    assert diagnosed["records"] > 0
    assert diagnosed["weights"] == ["MirroredVariable"]
    assert diagnosed["metrics"] == ["SyncOnReadVariable"]
    assert not diagnosed["optimizer_built"]
    assert np.isfinite(diagnosed["fit_loss"]).all()


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def test_layers_and_monitor_under_multi_worker_mirrored_strategy(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = []
    try:
        for index in range(2):
            config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
            env = dict(os.environ, TF_CONFIG=json.dumps(config))
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-c", WORKER, str(tmp_path)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                )
            )
        outputs = [worker.communicate(timeout=300) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr[-3000:]
    reports = [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs]
    assert sorted(r["task"] for r in reports) == [0, 1]
    for report in reports:
        assert report["replicas"] == 2
        assert report["monitor_difference"] < 1e-4
        assert report["weights_diff"] < 1e-5
        assert report["load_diff"] < 1e-6
        # Each worker read half the rows; the merged statistics are the whole's.
        assert report["adapt_distributed"]["difference"] < 1e-10
        assert report["adapt_distributed"]["count"] == 32
