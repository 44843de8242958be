"""The layers and Standardize under tf.distribute.MirroredStrategy on two
logical CPU devices (including adapt on a distributed dataset), and
GradientMonitor's refusal of several replicas.

Logical devices must be configured before TensorFlow starts, so this runs in
a child process."""

import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import json, os, tempfile
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras, numpy as np
    import keras_acts

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32") * 3 + 1
    y = rng.normal(size=(32, 1)).astype("float32")
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    report = {"replicas": strategy.num_replicas_in_sync}
    with strategy.scope():
        standardize = keras_acts.Standardize()
        standardize.adapt(x)
        model = keras.Sequential([
            keras.Input((6,)), standardize, keras.layers.Dense(8),
            keras_acts.PReLU(), keras_acts.MaxoutDense(4),
            keras_acts.ParametricELU(), keras.layers.Dense(4),
            keras_acts.Maxout(2), keras.layers.Dense(1),
        ])
        model.compile(keras.optimizers.SGD(0.05), "mse")
    losses = model.fit(x, y, batch_size=16, epochs=3, verbose=0).history["loss"]
    report["loss_fell"] = losses[-1] < losses[0]
    path = os.path.join(tempfile.mkdtemp(), "mirrored.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    # Predictions split across two replicas round differently from one device.
    report["load_diff"] = float(np.max(np.abs(
        loaded.predict(x, verbose=0) - model.predict(x, verbose=0)
    )))
    whole = keras_acts.Standardize().adapt(x)
    distributed = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices((x, y)).batch(10)
    )
    parts = keras_acts.Standardize().adapt(distributed)
    report["adapt_distributed"] = max(
        float(np.max(np.abs(parts[k] - whole[k]) / np.abs(whole[k])))
        for k in ("mean", "variance")
    )
    try:
        model.fit(x, y, batch_size=16, verbose=0,
                  callbacks=[keras_acts.GradientMonitor()])
        report["monitor"] = "ran"
    except ValueError as error:
        report["monitor"] = str(error)
    print(json.dumps(report))
    """
)


def test_layers_under_mirrored_strategy_and_monitor_refusal():
    child = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300
    )
    assert child.returncode == 0, child.stderr[-3000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert report["loss_fell"]
    assert report["load_diff"] < 1e-5
    assert report["adapt_distributed"] < 1e-10
    assert "num_replicas_in_sync=2" in report["monitor"]
