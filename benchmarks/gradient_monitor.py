"""Training-step overhead of GradientMonitor, and of the naive alternative.

Every configuration trains the same model in the same process; configurations
alternate in rounds (in reverse order every other round), each fit's first
epoch (tracing) is left out, and in each round a configuration's fastest
epoch counts (noise only adds time), against plain `fit`'s in the same round.
The overhead printed is the median of those per-round ratios, with their
spread (min, max and interquartile range), so that it holds on a shared,
noisy machine; `--json PATH` writes the same figures with the versions and
the machine, for charts. Run from
the repository root:

    python benchmarks/gradient_monitor.py
    python benchmarks/gradient_monitor.py --models mlp --rounds 5
    python benchmarks/gradient_monitor.py --devices 2   # MirroredStrategy
    python benchmarks/gradient_monitor.py --models mlp --json \\
        benchmarks/results/gradient_monitor-tensorflow-mlp.json
    KERAS_BACKEND=jax python benchmarks/gradient_monitor.py --models mlp
    python benchmarks/gradient_monitor.py --fits       # repeated fits

With `--devices n` (n > 1) the CPU is split into n logical devices and every
configuration trains under a MirroredStrategy over them, plain fit included.
The naive pass is a TensorFlow one-device baseline: it is left out under a
strategy and on the other backends.

`--fits` measures what users who call `fit` again and again pay (fine-tuning
stages, tuners, loops over epochs): the wall time of whole 2-step fits,
tracing included, and the peak memory of the process, on
`keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3))` and a
stack of 300 `Dense(8)` layers. Each sequence of fits runs in a fresh child
process (peak memory only grows): "plain" fits four times without a
monitor; "monitored" fits twice, each with a new GradientMonitor, then once
without, then with a monitor whose freq records no step of that fit (what
reusing the recording step costs, without the statistics); "mixed" fits
without, with a new monitor, then without.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_acts import GradientMonitor  # noqa: E402

BATCH = 256
# The largest overhead accepted at freq=1, by backend (issue #17), and under
# MirroredStrategy; at freq=100, 2% everywhere.
FREQ1_TARGETS = {"tensorflow": 0.10, "jax": 0.15, "torch": 0.10}
MIRRORED_TARGET = 0.12


def targets(devices: int) -> dict:
    """The largest overhead accepted, by freq."""
    freq1 = MIRRORED_TARGET if devices > 1 else FREQ1_TARGETS[keras.backend.backend()]
    return {1: freq1, 100: 0.02}


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


# Per fit: None (no monitor) or the monitor's freq. A freq of 10**6 records
# nothing after step 0: the cost of reusing the recording step, alone.
FIT_SEQUENCES = {
    "plain": (None, None, None, None),
    "monitored": (1, 1, None, 10**6),
    "mixed": (None, 1, None, None),
}


def resnet50():
    return keras.applications.ResNet50(
        weights=None, input_shape=(32, 32, 3), classes=10
    )


def dense300():
    layers = [keras.Input((8,))] + [keras.layers.Dense(8) for _ in range(300)]
    return keras.Sequential(layers, name="dense_300x8")


def run_fit_sequence(model_name: str, sequence: str) -> dict:
    """In this process: the fits of one sequence, timed, and the peak RSS."""
    model = {"resnet50": resnet50, "dense300": dense300}[model_name]()
    classes = model.output_shape[-1]
    model.compile(
        optimizer=keras.optimizers.SGD(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(),
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16,) + tuple(model.input_shape[1:])).astype("float32")
    y = rng.integers(0, classes, size=(16,))
    seconds = []
    for freq in FIT_SEQUENCES[sequence]:
        callbacks = [] if freq is None else [GradientMonitor(freq=freq)]
        start = time.perf_counter()
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=callbacks)
        seconds.append(time.perf_counter() - start)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "peak_mb": peak_kb / 1024}


def repeated_fits(model_names) -> None:
    print(
        f"keras {keras.__version__}, backend {keras.backend.backend()}, "
        f"{os.cpu_count()} CPUs; 2-step fits, tracing included"
    )
    for name in model_names:
        results = {}
        for sequence in FIT_SEQUENCES:
            child = subprocess.run(
                [sys.executable, __file__, "--fit-sequence", name, sequence],
                capture_output=True,
                text=True,
                check=True,
            )
            results[sequence] = json.loads(child.stdout.strip().splitlines()[-1])
        plain, monitored, mixed = (results[s] for s in FIT_SEQUENCES)
        rows = [
            ("first fit (monitored / plain)", monitored, 0, plain, 0),
            ("second fit, new monitor / plain", monitored, 1, plain, 1),
            ("fourth fit, new monitor recording nothing", monitored, 3, plain, 3),
            ("monitored fit after a plain one / plain", mixed, 1, plain, 1),
            ("plain fit after monitored ones / plain", mixed, 2, plain, 2),
        ]
        print(f"\n{name}: {model_count(name)}")
        print(f"{'fit':<44}{'seconds':>16}{'ratio':>8}")
        for label, ours, index, base, base_index in rows:
            a, b = ours["seconds"][index], base["seconds"][base_index]
            print(f"{label:<44}{a:>7.2f} / {b:>6.2f}{a / b:>8.2f}")
        for sequence in ("monitored", "mixed"):
            ratio = results[sequence]["peak_mb"] / plain["peak_mb"]
            print(
                f"{'peak RSS, ' + sequence + ' / plain':<44}"
                f"{results[sequence]['peak_mb']:>7.0f} / {plain['peak_mb']:>6.0f}"
                f"{ratio:>8.2f}"
            )


def model_count(name: str) -> str:
    model = {"resnet50": resnet50, "dense300": dense300}[name]()
    return (
        f"{model.count_params():,} parameters, "
        f"{len(model.trainable_variables)} trainable variables"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", action="store_true", help="repeated fits")
    parser.add_argument("--fit-models", nargs="+", default=["resnet50", "dense300"])
    parser.add_argument("--fit-sequence", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs + 1")
    parser.add_argument("--freqs", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument(
        "--no-naive",
        dest="naive",
        action="store_false",
        help="leave out the naive tape pass",
    )
    parser.add_argument("--json", help="write the results to this JSON file")
    parser.add_argument(
        "--devices",
        type=int,
        default=1,
        help="logical CPU devices; above 1, training runs under MirroredStrategy",
    )
    args = parser.parse_args(argv)
    if args.fit_sequence:
        print(json.dumps(run_fit_sequence(*args.fit_sequence)))
        return
    if args.fits:
        repeated_fits(args.fit_models)
        return
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
        f"{args.rounds} rounds, {type(strategy).__name__} over "
        f"{strategy.num_replicas_in_sync} device(s)"
    )
    rng = np.random.default_rng(0)
    failures = []
    results = []
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
        for freq in args.freqs:
            configs[f"monitor freq={freq}"] = lambda f=freq: [GradientMonitor(freq=f)]
        naive = (
            args.naive and args.devices == 1 and keras.backend.backend() == "tensorflow"
        )
        for freq in args.freqs if naive else ():
            configs[f"naive tape freq={freq}"] = (
                lambda f=freq, p=(x[:BATCH], y[:BATCH]): [NaiveGradientNorms(*p, f)]
            )
        # Warm-up, untimed: the first fit of a process is slower throughout.
        model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0)
        # Per configuration, its fastest timed epoch of each round.
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
                step_times[label].append(min(timer.seconds[1:]) / args.steps)
        plain = np.array(step_times["plain fit"])
        print(
            f"\n{name}: {model.count_params():,} parameters, "
            f"{len(model.trainable_variables)} variables; "
            f"plain step {np.median(plain) * 1e3:.2f} ms (median of rounds)"
        )
        print(
            f"{'configuration':<24}{'step ms':>9}{'overhead':>10}"
            f"{'min':>9}{'max':>9}{'IQR':>17}{'target':>9}"
        )
        for label, times in step_times.items():
            # Each round's ratio to plain fit in the same round.
            overheads = np.array(times) / plain - 1
            median = float(np.median(overheads))
            q1, q3 = (float(q) for q in np.percentile(overheads, [25, 75]))
            kind, _, freq = label.partition(" freq=")
            freq = int(freq) if freq else None
            target = targets(args.devices).get(freq) if kind == "monitor" else None
            met = None if target is None else bool(median <= target)
            note = "" if target is None else f"{target:>8.0%}"
            if met is False:
                note += "  over"
                failures.append(f"{name} {label}: {median:+.1%}")
            print(
                f"{label:<24}{np.median(times) * 1e3:>9.2f}{median:>+10.1%}"
                f"{overheads.min():>+9.1%}{overheads.max():>+9.1%}"
                f"{f'{q1:+.1%} to {q3:+.1%}':>17}{note}"
            )
            results.append(
                {
                    "model": name,
                    "parameters": model.count_params(),
                    "variables": len(model.trainable_variables),
                    "configuration": kind,
                    "freq": freq,
                    "step_ms_median": float(np.median(times) * 1e3),
                    "overhead_median": median,
                    "overhead_min": float(overheads.min()),
                    "overhead_max": float(overheads.max()),
                    "overhead_q1": q1,
                    "overhead_q3": q3,
                    "overheads": [float(o) for o in overheads],
                    "target": target,
                    "met": met,
                }
            )
    print(
        "\n"
        + ("over target: " + "; ".join(failures) if failures else "all targets met")
    )
    if args.json:
        write_json(args, strategy, results)


def versions() -> dict:
    found = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
    }
    for module in ("jax", "torch"):
        try:
            found[module] = __import__(module).__version__
        except ImportError:
            pass
    return found


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def write_json(args, strategy, results) -> None:
    """The figures of this run, for charts: one entry per model and
    configuration, the overhead as a fraction of the plain step."""
    payload = {
        "benchmark": "gradient_monitor",
        "backend": keras.backend.backend(),
        "versions": versions(),
        "machine": {
            "cpu": cpu_model(),
            "cpus": os.cpu_count(),
            "system": f"{platform.system()} {platform.release()}",
        },
        "settings": {
            "batch": BATCH,
            "steps_per_epoch": args.steps,
            "epochs": args.epochs,
            "rounds": args.rounds,
            "devices": args.devices,
            "strategy": type(strategy).__name__,
            "measure": "per round, each configuration's fastest timed epoch over "
            "plain fit's in the same round; median and spread over rounds",
        },
        "results": results,
    }
    folder = os.path.dirname(os.path.abspath(args.json))
    os.makedirs(folder, exist_ok=True)
    with open(args.json, "w") as file:
        json.dump(payload, file, indent=1)
        file.write("\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
