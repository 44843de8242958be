"""Training-step overhead of GradientMonitor, and of the naive alternative.

Every configuration trains the same model in the same process; configurations
alternate in rounds (in reverse order every other round), each fit's first
epoch (tracing) is left out, and each configuration's fastest epoch counts
(noise only adds time), so the printed overheads against plain `fit` hold on
a shared, noisy machine. Run from
the repository root:

    python benchmarks/gradient_monitor.py
    python benchmarks/gradient_monitor.py --models mlp --rounds 5
    python benchmarks/gradient_monitor.py --devices 2   # MirroredStrategy
    KERAS_BACKEND=jax python benchmarks/gradient_monitor.py --models mlp

With `--devices n` (n > 1) the CPU is split into n logical devices and every
configuration trains under a MirroredStrategy over them, plain fit included.
The naive pass is a TensorFlow one-device baseline: it is left out under a
strategy and on the other backends.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_acts import GradientMonitor  # noqa: E402

BATCH = 256
TARGETS = {1: 0.10, 100: 0.02}  # largest overhead accepted, by freq


def mlp():
    layers = [keras.Input((256,))]
    layers += [keras.layers.Dense(256, activation="relu") for _ in range(10)]
    return keras.Sequential(layers + [keras.layers.Dense(10)], name="mlp_10x256")


def cnn():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ],
        name="small_cnn",
    )


class NaiveGradientNorms(keras.callbacks.Callback):
    """What users write without GradientMonitor: every `freq` batches, a second
    forward and backward pass on a stored batch, then the norms to the host."""

    def __init__(self, x, y, freq):
        super().__init__()
        self.x, self.y, self.freq = x, y, freq
        self._step = None

    def on_train_begin(self, logs=None):
        model = self.model

        @tf.function
        def norms(x, y):
            with tf.GradientTape() as tape:
                loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            return [tf.norm(g) for g in grads]

        self._step = norms
        self.rows = []

    def on_train_batch_end(self, batch, logs=None):
        if batch % self.freq == 0:
            self.rows.append([float(n) for n in self._step(self.x, self.y)])


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs + 1")
    parser.add_argument(
        "--devices",
        type=int,
        default=1,
        help="logical CPU devices; above 1, training runs under MirroredStrategy",
    )
    args = parser.parse_args(argv)
    if args.devices > 1 and keras.backend.backend() != "tensorflow":
        parser.error("--devices above 1 needs the TensorFlow backend")

    strategy = tf.distribute.get_strategy()
    if args.devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.devices
        )
        devices = [f"/cpu:{i}" for i in range(args.devices)]
        strategy = tf.distribute.MirroredStrategy(devices)
    print(
        f"keras {keras.__version__}, backend {keras.backend.backend()}, "
        f"{os.cpu_count()} CPUs, batch {BATCH}, {args.steps} steps per epoch, "
        f"{type(strategy).__name__} over {strategy.num_replicas_in_sync} device(s)"
    )
    rng = np.random.default_rng(0)
    failures = []
    for name in args.models:
        with strategy.scope():
            model = {"mlp": mlp, "cnn": cnn}[name]()
            model.compile(
                optimizer=keras.optimizers.Adam(1e-4),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            )
        shape = (args.steps * BATCH,) + tuple(model.input_shape[1:])
        x = rng.normal(size=shape).astype("float32")
        y = rng.integers(0, 10, size=(args.steps * BATCH,))
        configs = {"plain fit": lambda: []}
        for freq in (1, 10, 100):
            configs[f"monitor freq={freq}"] = lambda f=freq: [GradientMonitor(freq=f)]
        naive = args.devices == 1 and keras.backend.backend() == "tensorflow"
        for freq in (1, 10, 100) if naive else ():
            configs[f"naive tape freq={freq}"] = (
                lambda f=freq, p=(x[:BATCH], y[:BATCH]): [NaiveGradientNorms(*p, f)]
            )
        step_times = {label: [] for label in configs}
        for round_ in range(args.rounds):
            order = list(configs.items())
            for label, callbacks in order if round_ % 2 == 0 else order[::-1]:
                timer = EpochTimer()
                model.fit(
                    x,
                    y,
                    batch_size=BATCH,
                    epochs=args.epochs,
                    verbose=0,
                    callbacks=callbacks() + [timer],
                )
                # The first epoch traces the step function: left out.
                step_times[label].extend(s / args.steps for s in timer.seconds[1:])
        base = min(step_times["plain fit"])
        print(
            f"\n{name}: {model.count_params():,} parameters, "
            f"{len(model.trainable_variables)} variables; "
            f"plain step {base * 1e3:.2f} ms"
        )
        print(f"{'configuration':<24}{'step ms':>10}{'overhead':>10}{'target':>9}")
        for label, times in step_times.items():
            step = min(times)
            overhead = step / base - 1
            target = ""
            if label.startswith("monitor"):
                freq = int(label.split("=")[1])
                if freq in TARGETS:
                    target = f"{TARGETS[freq]:>8.0%}"
                    if overhead > TARGETS[freq]:
                        target += "  over"
                        failures.append(f"{name} {label}: {overhead:+.1%}")
            print(f"{label:<24}{step * 1e3:>10.2f}{overhead:>+10.1%}{target}")
    print(
        "\n"
        + ("over target: " + "; ".join(failures) if failures else "all targets met")
    )


if __name__ == "__main__":
    main()
