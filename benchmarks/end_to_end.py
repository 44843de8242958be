"""Training time of a small 1D CNN (MNIST-1D's size: 40 samples, 10 classes)
with each keras_acts layer, against the same model with the closest Keras
built-in, with `model.fit` on every Keras backend.

Each backend runs in a child process of its own. Within it the two models of
a pair alternate, one epoch each per round, after a first epoch that traces;
each round gives one ratio of epoch times (ours / built-in), and the script
prints their median and range. Run from the repository root:

    python benchmarks/end_to_end.py
    python benchmarks/end_to_end.py --backends jax --rounds 9
    python benchmarks/end_to_end.py --json benchmarks/results/end_to_end.json
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BACKENDS = ("tensorflow", "jax", "torch")
TARGET = 1.05  # largest accepted ratio of step times
LENGTH, CLASSES, FILTERS = 40, 10, 32
# 128 steps per epoch: with 32, single rounds on TensorFlow ranged from half
# to twice their median, on a quiet machine.
SAMPLES, BATCH = 16384, 128


def pairs():
    """(name, a factory of our activation, a factory of the closest built-in)."""
    import keras

    import keras_acts

    layers = keras.layers
    return [
        ("PReLU", keras_acts.PReLU, lambda: layers.PReLU(shared_axes=[1])),
        ("ParametricELU", keras_acts.ParametricELU, layers.ELU),
        ("PELU", keras_acts.PELU, layers.ELU),
        ("SReLU", keras_acts.SReLU, layers.ReLU),
        ("Swish", keras_acts.Swish, lambda: layers.Activation("silu")),
        ("Snake", keras_acts.Snake, lambda: layers.Activation("silu")),
        ("RReLU", keras_acts.RReLU, lambda: layers.LeakyReLU(0.23)),
    ]


def cnn(activation, maxout=None):
    """Two convolutions and a dense layer, each followed by `activation()`.
    With `maxout=True` each convolution has twice the filters, pooled in
    pairs by keras_acts.Maxout; with `maxout=False` (its baseline) the same
    wide convolutions are followed by a ReLU."""
    import keras

    import keras_acts

    x = inputs = keras.Input((LENGTH, 1))
    for _ in range(2):
        if maxout is None:
            x = keras.layers.Conv1D(FILTERS, 5, padding="same")(x)
            x = activation()(x)
        else:
            x = keras.layers.Conv1D(2 * FILTERS, 5, padding="same")(x)
            x = keras_acts.Maxout(FILTERS)(x) if maxout else keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling1D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64)(x)
    x = (activation or keras.layers.ReLU)()(x)
    model = keras.Model(inputs, keras.layers.Dense(CLASSES)(x))
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def epoch_seconds(model, x, y):
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    return time.perf_counter() - start


def run_backend(args):
    import keras
    import numpy as np

    backend = keras.backend.backend()
    version = __import__(backend).__version__
    print(f"\n== backend {backend} ({backend} {version}, keras {keras.__version__})")
    print(f"{'layer':<16}{'ours ms':>10}{'base ms':>10}{'ratio':>8}{'range':>14}")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, LENGTH, 1)).astype("float32")
    y = rng.integers(0, CLASSES, size=SAMPLES)
    steps = SAMPLES // BATCH
    builders = [
        (name, lambda ours=ours: cnn(ours), lambda base=base: cnn(base))
        for name, ours, base in pairs()
    ] + [("Maxout", lambda: cnn(None, maxout=True), lambda: cnn(None, maxout=False))]
    for name, build_ours, build_base in builders:
        if args.layers and name not in args.layers:
            continue
        ours, base = build_ours(), build_base()
        for model in (ours, base):
            epoch_seconds(model, x, y)  # traces
        times = {id(ours): [], id(base): []}
        for round_ in range(args.rounds):
            # Alternating which goes first evens out drifts within a round.
            order = (ours, base) if round_ % 2 == 0 else (base, ours)
            for model in order:
                times[id(model)].append(epoch_seconds(model, x, y) / steps)
        ratios = [a / b for a, b in zip(times[id(ours)], times[id(base)], strict=True)]
        record = {
            "backend": backend,
            "version": version,
            "layer": name,
            "ours_ms": statistics.median(times[id(ours)]) * 1e3,
            "base_ms": statistics.median(times[id(base)]) * 1e3,
            "ratio": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "target": TARGET,
            "rounds": args.rounds,
        }
        over = "  over" if record["ratio"] > TARGET else ""
        spread = f"{record['ratio_min']:.2f}-{record['ratio_max']:.2f}"
        print(
            f"{name:<16}{record['ours_ms']:>10.2f}{record['base_ms']:>10.2f}"
            f"{record['ratio']:>8.2f}{spread:>14}{over}",
            flush=True,
        )
        print("record: " + json.dumps(record), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=BACKENDS, choices=BACKENDS)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--layers", nargs="+", default=None)
    parser.add_argument("--json", type=pathlib.Path, default=None)
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.in_process:
        run_backend(args)
        return
    print(
        f"ms per training step (batch {BATCH}), median of {args.rounds} alternating "
        "rounds; ratio = ours / built-in (median, and range over the rounds)"
    )
    records = []
    for backend in args.backends:
        command = [
            sys.executable,
            __file__,
            "--in-process",
            "--rounds",
            str(args.rounds),
        ]
        if args.layers:
            command += ["--layers", *args.layers]
        with subprocess.Popen(
            command,
            env={**os.environ, "KERAS_BACKEND": backend},
            stdout=subprocess.PIPE,
            text=True,
        ) as child:
            for line in child.stdout:
                if line.startswith("record: "):
                    records.append(json.loads(line.removeprefix("record: ")))
                else:
                    print(line, end="", flush=True)
        if child.returncode:
            raise SystemExit(f"the {backend} run failed (exit {child.returncode})")
    over = [f"{r['backend']} {r['layer']}" for r in records if r["ratio"] > TARGET]
    print("\nover target: " + ", ".join(over) if over else "\nall targets met")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"records": records}, indent=1) + "\n")
        args.json.with_suffix(".md").write_text(table(records))
        print(f"wrote {args.json} and {args.json.with_suffix('.md')}")


def table(records: list[dict]) -> str:
    """A markdown table: a row per layer, a column per backend, each cell the
    median ratio and its range (bold over the target)."""
    names = {"tensorflow": "TF", "jax": "JAX", "torch": "PyTorch"}
    backends = [b for b in BACKENDS if any(r["backend"] == b for r in records)]
    cells = {(r["layer"], r["backend"]): r for r in records}
    lines = [
        "| layer | "
        + " | ".join(f"{names[b]} ms (built-in ms)" for b in backends)
        + " | "
        + " | ".join(f"{names[b]} ratio" for b in backends)
        + " |",
        "| --- |" + " --- |" * (2 * len(backends)),
    ]
    for layer in dict.fromkeys(r["layer"] for r in records):
        times, ratios = [], []
        for backend in backends:
            r = cells.get((layer, backend))
            if r is None:
                times.append("")
                ratios.append("")
                continue
            times.append(f"{r['ours_ms']:.2f} ({r['base_ms']:.2f})")
            text = f"{r['ratio']:.2f} ({r['ratio_min']:.2f}–{r['ratio_max']:.2f})"
            ratios.append(f"**{text}**" if r["ratio"] > r["target"] else text)
        lines.append(f"| {layer} | " + " | ".join(times + ratios) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
