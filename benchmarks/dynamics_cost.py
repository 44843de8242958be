"""What ActivationMonitor's dynamics measurements cost (curvature and
gradient noise, `dynamics_freq`), as ratios against the same fit without
them, measured in the same process.

An MLP (64-256-256-10, Adam, batches of 32) trains on scikit-learn's digits
with `ActivationMonitor(probe, freq="epoch")`; configurations alternate in
rounds (in reverse order every other round): `dynamics_freq=None` (the
baseline), the default `"auto"`, and every 100 steps. Each fit runs
`--epochs` epochs (56 steps each) after one warm-up fit that traces the
train function. Printed, and written with `--json`: per configuration, the
median ratio of its fit time to the baseline's in the same round, with the
range, and the measurements taken; and one measurement's time in training
steps. Run from the repository root:

    python benchmarks/dynamics_cost.py
    KERAS_BACKEND=jax python benchmarks/dynamics_cost.py --rounds 3
    python benchmarks/dynamics_cost.py --json docs/numbers/dynamics_cost.json

With `--json`, the figures of the backend in use are merged into the file
under keys prefixed with the backend's name, so that one file holds all
three backends.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import keras_acts  # noqa: E402

CONFIGURATIONS = {"baseline": None, "auto": "auto", "every_100": 100}


def data():
    digits = load_digits()
    x = digits.data.astype("float32")
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1.0)
    return x, digits.target.astype("int32")


def model():
    keras.utils.set_random_seed(0)
    net = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(256, "relu"),
            keras.layers.Dense(256, "relu"),
            keras.layers.Dense(10),
        ]
    )
    net.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return net


def timed_fit(net, x, y, dynamics_freq, epochs):
    monitor = keras_acts.ActivationMonitor(
        (x[:32], y[:32]), freq="epoch", dynamics_freq=dynamics_freq, warn=False
    )
    started = time.perf_counter()
    net.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=[monitor])
    return time.perf_counter() - started, len(monitor.dynamics_history)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--json", help="merge the figures into this file")
    args = parser.parse_args(argv)
    x, y = data()
    net = model()
    timed_fit(net, x, y, None, 1)  # traces the train function
    times = {name: [] for name in CONFIGURATIONS}
    counts = {name: [] for name in CONFIGURATIONS}
    order = list(CONFIGURATIONS)
    for round_index in range(args.rounds):
        for name in order if round_index % 2 == 0 else order[::-1]:
            seconds, measured = timed_fit(net, x, y, CONFIGURATIONS[name], args.epochs)
            times[name].append(seconds)
            counts[name].append(measured)
    steps = args.epochs * int(np.ceil(len(x) / 32))
    backend = keras.backend.backend()
    figures = {}
    for name in ("auto", "every_100"):
        ratios = [t / b for t, b in zip(times[name], times["baseline"], strict=True)]
        figures[f"{backend}_{name}_overhead"] = statistics.median(ratios) - 1
        figures[f"{backend}_{name}_overhead_min"] = min(ratios) - 1
        figures[f"{backend}_{name}_overhead_max"] = max(ratios) - 1
        figures[f"{backend}_{name}_measurements"] = statistics.median(counts[name])
    # One measurement's time, from the fits every 100 steps, in steps.
    step_seconds = statistics.median(times["baseline"]) / steps
    extra = statistics.median(times["every_100"]) - statistics.median(times["baseline"])
    per_measurement = extra / statistics.median(counts["every_100"])
    figures[f"{backend}_measurement_steps"] = per_measurement / step_seconds
    figures[f"{backend}_steps_per_fit"] = steps
    for key, value in figures.items():
        print(f"{key}: {value:.4g}")
    if args.json:
        path = pathlib.Path(args.json)
        merged = json.loads(path.read_text()) if path.exists() else {}
        merged.update({key: round(value, 4) for key, value in figures.items()})
        merged[f"{backend}_machine"] = (
            f"{platform.machine()}, {os.cpu_count()} CPU cores, keras "
            f"{keras.__version__}, rounds {args.rounds}"
        )
        path.write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n")
        print("wrote", path)


if __name__ == "__main__":
    main()
