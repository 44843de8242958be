"""What the monitors cost at their defaults and at `freq=1`, what `diagnose`
costs, and the peak memory of a monitored fit (issue #27).

Parts, each run in child processes, one per backend:

- `steps`: the time `fit` takes per step (wall time, and the process's CPU
  time, which other processes on a shared machine disturb less) with
  `GradientMonitor()` and `ActivationMonitor(probe)` at their default
  arguments, and with
  `GradientMonitor(freq=1)`, against plain `fit` on the same model in the
  same round. Configurations alternate in rounds (in reverse order every
  other round); in each fit the first `--warm-epochs` epochs are left out
  (tracing, and the default schedule's first steps, which it always
  records, and its ramp), and the rest count whole: every recorded step
  of them is in the time, and every callback's hooks, but not the time
  Keras takes at each epoch's start to make the dataset's iterator (it
  stalls there for seconds at random epochs of ResNet50 on this machine,
  monitored or not; `Timer`). The figure is the median over rounds of the
  ratio to plain fit in the same round, less one, with its range.
- `diagnose`: wall time of `keras_acts.diagnose(model, x, y, steps=N)`
  against a plain first `fit` of the same N steps, tracing included for
  both, each in a fresh child process (a first fit is what a user pays).
  diagnose builds its optimizer before the step is traced, and TensorFlow
  traces a step that builds one twice; the second ratio (`_built`) is
  against a plain fit whose optimizer was built first, which leaves only
  what the monitoring costs.
- `memory`: peak resident memory (the child's `ru_maxrss`) of a process
  that builds the model and fits it, plain or with a monitor, each in a
  fresh child.

Run from the repository root (short runs: this is a 2-core machine):

    python benchmarks/monitor_cost.py --parts steps --models mlp
    python benchmarks/monitor_cost.py --parts steps --models resnet50 \\
        --backends tensorflow --steps 20 --epochs 5 --warm-epochs 2
    python benchmarks/monitor_cost.py --parts diagnose memory \\
        --backends tensorflow
    python benchmarks/monitor_cost.py ... --json docs/numbers/monitor_cost.json

`--json` merges this run's figures into the file (keys
`<backend>_<model>_<configuration>`, the overhead in percent in wall time,
`..._cpu` in CPU time, each with `_min` and `_max`;
`<backend>_diagnose_ratio`; `<backend>_memory_<configuration>`, and the
versions as `<package>_version`), so that parts run separately add up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BACKENDS = ("tensorflow", "jax", "torch")
# The largest overhead accepted (issue #27).
DEFAULT_TARGET = 0.03
FREQ1_TARGETS = {
    ("tensorflow", "mlp"): 0.10,
    ("jax", "mlp"): 0.15,
    ("torch", "mlp"): 0.10,
    ("tensorflow", "resnet50"): 0.25,
}
DIAGNOSE_TARGET = 1.5
MEMORY_TARGET = 1.2


def build(name: str):
    import keras

    if name == "mlp":  # benchmarks/gradient_monitor.py's
        layers = [keras.Input((256,))]
        layers += [keras.layers.Dense(256, activation="relu") for _ in range(10)]
        model = keras.Sequential(layers + [keras.layers.Dense(10)], name="mlp")
        batch = 256
    else:
        model = keras.applications.ResNet50(
            weights=None, input_shape=(32, 32, 3), classes=10
        )
        batch = 32
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=name == "mlp"),
    )
    return model, batch


def data(model, examples: int):
    import numpy as np

    rng = np.random.default_rng(0)
    shape = (examples,) + tuple(model.input_shape[1:])
    x = rng.normal(size=shape).astype("float32")
    return x, rng.integers(0, 10, size=(examples,))


def configurations(x, y, batch):
    import keras_acts

    probe = (x[:batch], y[:batch])
    return {
        "plain": lambda: [],
        "gradient_default": lambda: [keras_acts.GradientMonitor()],
        "activation_default": lambda: [keras_acts.ActivationMonitor(probe)],
        "gradient_freq1": lambda: [keras_acts.GradientMonitor(freq=1)],
    }


def step_costs(args) -> dict:
    """In this process: per model, each configuration's overhead per round."""
    import keras

    class Timer(keras.callbacks.Callback):
        """From the first timed epoch's begin to the end of training, after
        every other callback's own epoch and train ends, less the time that
        Keras takes at each epoch's start to make the dataset's iterator
        (from this callback's `on_epoch_begin`, the last, to `Head`'s first
        `on_train_batch_begin`): on this machine that stalls for about two
        seconds at random epochs of ResNet50, in plain and monitored fits
        alike, which would swamp what the monitors cost."""

        def __init__(self):
            super().__init__()
            self.iterators = [0.0, 0.0]  # wall, CPU
            self.epoch_start = None

        def on_epoch_begin(self, epoch, logs=None):
            now = time.perf_counter(), time.process_time()
            if epoch == args.warm_epochs:
                self.start = now
            self.epoch_start = now if epoch >= args.warm_epochs else None

        def first_step(self):
            if self.epoch_start is not None:
                self.iterators[0] += time.perf_counter() - self.epoch_start[0]
                self.iterators[1] += time.process_time() - self.epoch_start[1]
                self.epoch_start = None

        def on_train_end(self, logs=None):
            self.seconds = time.perf_counter() - self.start[0] - self.iterators[0]
            self.cpu_seconds = time.process_time() - self.start[1] - self.iterators[1]

    class Head(keras.callbacks.Callback):
        """First of the callbacks: tells `timer` where each epoch's first
        step begins, before any other callback's batch hook."""

        def __init__(self, timer):
            super().__init__()
            self.timer = timer

        def on_train_batch_begin(self, batch, logs=None):
            self.timer.first_step()

    found = {}
    for name in args.models:
        model, batch = build(name)
        x, y = data(model, args.steps * batch)
        configs = configurations(x, y, batch)
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # warm-up
        seconds = {label: [] for label in configs}
        cpu_seconds = {label: [] for label in configs}
        for round_ in range(args.rounds):
            order = list(configs.items())
            for label, callbacks in order if round_ % 2 == 0 else order[::-1]:
                timer = Timer()
                model.fit(
                    x,
                    y,
                    batch_size=batch,
                    epochs=args.epochs,
                    verbose=0,
                    callbacks=[Head(timer), *callbacks(), timer],
                )
                seconds[label].append(timer.seconds)
                cpu_seconds[label].append(timer.cpu_seconds)
        timed = (args.epochs - args.warm_epochs) * args.steps
        found[name] = {
            "plain_ms": statistics.median(seconds["plain"]) / timed * 1e3,
            "overheads": overheads(seconds),
            "cpu_overheads": overheads(cpu_seconds),
        }
    return found


def overheads(seconds: dict) -> dict:
    """Per configuration, its ratio to plain fit in each round, less one."""
    return {
        label: [t / p - 1 for t, p in zip(times, seconds["plain"], strict=True)]
        for label, times in seconds.items()
        if label != "plain"
    }


def first_fit(args) -> dict:
    """In this process: the wall time of a first fit (or diagnose) of
    `--diagnose-steps` steps, and the peak memory."""
    import keras_acts

    model, batch = build(args.model)
    x, y = data(model, args.diagnose_steps * batch)
    start = time.perf_counter()
    if args.child == "plain_built":
        # As diagnose builds its own optimizer: the step is traced once.
        model.optimizer.build(model.trainable_variables)
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    elif args.child == "diagnose":
        keras_acts.diagnose(
            model, x, y, steps=args.diagnose_steps, batch_size=batch, verbose=False
        )
    else:
        callbacks = {
            "plain": [],
            "gradient_default": [keras_acts.GradientMonitor()],
            "gradient_freq1": [keras_acts.GradientMonitor(freq=1)],
        }[args.child]
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0, callbacks=callbacks)
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "peak_mb": peak_kb / 1024}


def child(backend: str, *argv: str) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend)
    done = subprocess.run(
        [sys.executable, __file__, *argv],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode:
        raise RuntimeError(f"{backend} {argv}: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def spread(values) -> dict:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def run_steps(args, numbers: dict) -> None:
    for backend in args.backends:
        found = child(
            backend,
            "--child",
            "steps",
            "--models",
            *args.models,
            "--rounds",
            str(args.rounds),
            "--steps",
            str(args.steps),
            "--epochs",
            str(args.epochs),
            "--warm-epochs",
            str(args.warm_epochs),
        )
        for name, result in found.items():
            print(
                f"\n{backend}, {name}: plain step {result['plain_ms']:.1f} ms; "
                f"{args.rounds} rounds, {args.epochs - args.warm_epochs} timed "
                f"epochs of {args.steps} steps"
            )
            numbers[f"{backend}_{name}_plain_ms"] = result["plain_ms"]
            measures = [
                (label, "", found) for label, found in result["overheads"].items()
            ] + [
                (label, "_cpu", found)
                for label, found in result["cpu_overheads"].items()
            ]
            for label, kind, found in measures:
                figures = spread(found)
                target = (
                    DEFAULT_TARGET
                    if label.endswith("default")
                    else FREQ1_TARGETS.get((backend, name))
                )
                verdict = ""
                if target is not None:
                    met = figures["median"] <= target
                    verdict = f"target {target:.0%}: {'met' if met else 'MISSED'}"
                clock = "CPU time" if kind else "wall time"
                print(
                    f"  {label:<20}{clock:<10}{figures['median']:>+8.1%} "
                    f"({figures['min']:+.1%} to {figures['max']:+.1%})  {verdict}"
                )
                key = f"{backend}_{name}_{label}{kind}"
                numbers[key] = 100 * figures["median"]
                numbers[key + "_min"] = 100 * figures["min"]
                numbers[key + "_max"] = 100 * figures["max"]


def run_first_fits(args, numbers: dict, part: str) -> None:
    labels = (
        ("plain", "plain_built", "diagnose")
        if part == "diagnose"
        else ("plain", "gradient_default", "gradient_freq1")
    )
    for backend in args.backends:
        results = {label: [] for label in labels}
        for round_ in range(args.rounds):
            for label in labels if round_ % 2 == 0 else labels[::-1]:
                results[label].append(
                    child(
                        backend,
                        "--child",
                        label,
                        "--model",
                        args.model,
                        "--diagnose-steps",
                        str(args.diagnose_steps),
                    )
                )
        plain = results["plain"]
        seconds = statistics.median(r["seconds"] for r in plain)
        peak = statistics.median(r["peak_mb"] for r in plain)
        print(
            f"\n{backend}, {args.model}, {args.diagnose_steps} steps, first fits "
            f"in fresh processes: plain {seconds:.1f} s, peak {peak:.0f} MB"
        )
        comparisons = (
            [("diagnose", "plain", ""), ("diagnose", "plain_built", "_built")]
            if part == "diagnose"
            else [(label, "plain", "") for label in labels[1:]]
        )
        for label, baseline, suffix in comparisons:
            if part == "diagnose":
                ratios = [
                    r["seconds"] / p["seconds"]
                    for r, p in zip(results[label], results[baseline], strict=True)
                ]
                key, target = f"{backend}_diagnose_ratio{suffix}", DIAGNOSE_TARGET
                what = f"time / {baseline}"
            else:
                ratios = [
                    r["peak_mb"] / p["peak_mb"]
                    for r, p in zip(results[label], plain, strict=True)
                ]
                key, target = f"{backend}_memory_{label}", MEMORY_TARGET
                what = "peak RSS"
            figures = spread(ratios)
            met = "met" if figures["median"] <= target else "MISSED"
            print(
                f"  {label:<20}{what} {figures['median']:.2f}x "
                f"({figures['min']:.2f} to {figures['max']:.2f}), "
                f"target {target}x: {met}"
            )
            numbers[key] = figures["median"]
            numbers[key + "_min"] = figures["min"]
            numbers[key + "_max"] = figures["max"]


def machine() -> dict:
    found = {"python": platform.python_version(), "cpus": os.cpu_count()}
    for module in ("keras", "tensorflow", "jax", "torch", "numpy"):
        try:
            found[module] = __import__(module).__version__
        except ImportError:
            pass
    try:
        with open("/proc/cpuinfo") as file:
            found["cpu"] = next(
                line.split(":", 1)[1].strip()
                for line in file
                if line.startswith("model name")
            )
    except (OSError, StopIteration):
        found["cpu"] = platform.processor()
    return found


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--parts", nargs="+", default=["steps"], choices=["steps", "diagnose", "memory"]
    )
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument("--models", nargs="+", default=["mlp"])
    parser.add_argument("--model", default="resnet50", help="for diagnose, memory")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--warm-epochs", type=int, default=2)
    parser.add_argument("--diagnose-steps", type=int, default=6)
    parser.add_argument("--json", help="merge the figures into this JSON file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "steps":
        print(json.dumps(step_costs(args)))
        return
    if args.child:
        print(json.dumps(first_fit(args)))
        return
    numbers = {}
    for part in args.parts:
        if part == "steps":
            run_steps(args, numbers)
        else:
            run_first_fits(args, numbers, part)
    if args.json:
        try:
            with open(args.json) as file:
                merged = json.load(file)
        except FileNotFoundError:
            merged = {}
        merged.update(numbers)
        # Flat, for the docs' placeholders (`monitor_cost.keras_version`).
        merged.update(
            {
                name if name.startswith("cpu") else f"{name}_version": value
                for name, value in machine().items()
            }
        )
        with open(args.json, "w") as file:
            json.dump(merged, file, indent=1, sort_keys=True)
            file.write("\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
