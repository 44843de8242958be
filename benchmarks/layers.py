"""Forward+backward time of each keras_acts layer against its closest Keras peer.

Both sides run in the same process, alternately, on the same inputs, so the
printed ratios (ours / baseline) hold on a shared, noisy machine where the
absolute times do not. Run from the repository root:

    python benchmarks/layers.py                 # 1e4 to 1e7 elements
    python benchmarks/layers.py --sizes 4e6 --modes function xla
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_acts  # noqa: E402

CHANNELS = 64
MAXOUT_UNITS = 16
# Largest ours/baseline ratio accepted, per mode ("eager" has no target).
TARGETS = {
    "PReLU": {"function": 1.25, "xla": 1.10},
    "ParametricELU": {"function": 2.0, "xla": 1.25},
    "Maxout contiguous": {"function": 1.25, "xla": 1.10},
    "Maxout interleaved": {"function": 1.25, "xla": 1.10},
}


class ReshapeMax(keras.layers.Layer):
    """The hand-written maxout that Maxout is compared with."""

    def __init__(self, num_units, interleaved, **kwargs):
        super().__init__(**kwargs)
        self.num_units = num_units
        self.interleaved = interleaved

    def call(self, x):
        k = x.shape[-1] // self.num_units
        if self.interleaved:
            return tf.reduce_max(tf.reshape(x, [-1, k, self.num_units]), axis=1)
        return tf.reduce_max(tf.reshape(x, [-1, self.num_units, k]), axis=2)


def pairs():
    """(name, our layer, Keras baseline) with the same parameter shapes."""
    return [
        (
            "PReLU",
            keras_acts.PReLU(),
            keras.layers.PReLU(keras.initializers.Constant(0.25)),
        ),
        ("ParametricELU", keras_acts.ParametricELU(), keras.layers.ELU()),
        (
            "Maxout contiguous",
            keras_acts.Maxout(MAXOUT_UNITS),
            ReshapeMax(MAXOUT_UNITS, interleaved=False),
        ),
        (
            "Maxout interleaved",
            keras_acts.Maxout(MAXOUT_UNITS, grouping="interleaved"),
            ReshapeMax(MAXOUT_UNITS, interleaved=True),
        ),
    ]


def forward_backward(layer, mode):
    def step(x, upstream):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
        sources = [x] + [v.value for v in layer.trainable_variables]
        gradients = tape.gradient(y, sources, output_gradients=upstream)
        # Consuming the output keeps XLA from pruning a forward pass that the
        # backward pass does not need; in a model the next layer consumes it.
        return [tf.reduce_sum(y)] + gradients

    if mode == "eager":
        return step
    return tf.function(step, jit_compile=mode == "xla")


def time_pair(ours, baseline, x, upstream, repeats, rounds):
    """Median seconds per call of each, measured in alternating rounds."""
    timings = {id(ours): [], id(baseline): []}
    for fn in (ours, baseline):
        for _ in range(2):  # trace, compile and warm caches
            [t.numpy() for t in fn(x, upstream)]
    for _ in range(rounds):
        for fn in (ours, baseline):
            start = time.perf_counter()
            for _ in range(repeats):
                result = fn(x, upstream)
            [t.numpy() for t in result]
            timings[id(fn)].append((time.perf_counter() - start) / repeats)
    return statistics.median(timings[id(ours)]), statistics.median(
        timings[id(baseline)]
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e4, 1e5, 1e6, 1e7])
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["eager", "function", "xla"],
        choices=["eager", "function", "xla"],
    )
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)

    print(
        f"keras {keras.__version__}, tensorflow {tf.__version__}, "
        f"backend {keras.backend.backend()}, {os.cpu_count()} CPUs"
    )
    print("fwd+bwd per call, median of alternating rounds; ratio = ours / baseline")
    header = f"{'layer':<20}{'elements':>10}{'mode':>10}{'ours ms':>10}"
    print(header + f"{'base ms':>10}{'ratio':>8}{'target':>8}")
    failures = []
    rng = np.random.default_rng(0)
    for size in args.sizes:
        rows = max(1, int(size) // CHANNELS)
        x = tf.constant(rng.normal(size=(rows, CHANNELS)).astype("float32"))
        for name, ours_layer, base_layer in pairs():
            ours_layer(x)
            base_layer(x)
            upstream_shape = ours_layer.compute_output_shape(x.shape)
            upstream = tf.constant(rng.normal(size=upstream_shape).astype("float32"))
            # About 1e6 elements per round: enough calls to time small sizes.
            repeats = max(2, int(1e6 / size))
            for mode in args.modes:
                ours, base = time_pair(
                    forward_backward(ours_layer, mode),
                    forward_backward(base_layer, mode),
                    x,
                    upstream,
                    repeats,
                    args.rounds,
                )
                ratio = ours / base
                target = TARGETS[name].get(mode)
                flag = ""
                if target is not None:
                    flag = f"{target:>8.2f}" + ("" if ratio <= target else "  over")
                    if ratio > target:
                        failures.append(f"{name} {size:.0e} {mode}: {ratio:.2f}")
                print(
                    f"{name:<20}{rows * CHANNELS:>10.0e}{mode:>10}"
                    f"{ours * 1e3:>10.3f}{base * 1e3:>10.3f}{ratio:>8.2f}{flag}"
                )
    if failures:
        print("over target: " + "; ".join(failures))
    else:
        print("all targets met")


if __name__ == "__main__":
    main()
