"""Forward+backward time of each keras_acts layer against its closest Keras
peer, on every Keras backend.

Keras picks its backend once per process, so each backend runs in a child
process of its own. Within it both sides run alternately on the same inputs,
so the printed ratios (ours / baseline) hold on a shared, noisy machine where
the absolute times do not. Each round gives one ratio; the script prints
their median and their range over the rounds. Run from the repository root:

    python benchmarks/layers.py                    # 3 backends, 1e4 to 1e7 elements
    python benchmarks/layers.py --backends jax torch --sizes 1e6
    python benchmarks/layers.py --json benchmarks/results/layers.json

`--json` also writes the results as a markdown table beside the file (the
docs' Benchmarks page includes it, and docs/scripts/make_figures.py draws its
chart from the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BACKENDS = ("tensorflow", "jax", "torch")
CHANNELS = 64
MAXOUT_UNITS = 16
# Per backend, the modes timed and which target applies: "unfused" for what
# `fit` runs by default (tf.function without XLA, PyTorch eager), "compiled"
# for XLA (TensorFlow jit_compile, JAX jit), None for no target.
MODES = {
    "tensorflow": {"eager": None, "function": "unfused", "xla": "compiled"},
    "jax": {"jit": "compiled"},
    "torch": {"eager": "unfused"},
}
# Largest ours/baseline ratio accepted.
TARGETS = {
    "PReLU": {"unfused": 1.25, "compiled": 1.10},
    "ParametricELU": {"unfused": 1.6, "compiled": 1.25},
    "Maxout contiguous": {"unfused": 1.25, "compiled": 1.10},
    "Maxout interleaved": {"unfused": 1.25, "compiled": 1.10},
    # Against the same formula in keras.ops, differentiated by autodiff.
    "PELU": {"unfused": 1.6, "compiled": 1.25},
    "Swish": {"unfused": 1.6, "compiled": 1.25},
    "Snake": {"unfused": 1.6, "compiled": 1.25},
    "SReLU": {"unfused": 1.6, "compiled": 1.25},
    "RReLU (training)": {"unfused": 1.6, "compiled": 1.25},
    "Rational": {"unfused": 1.6, "compiled": 1.25},
}
# Issue #17 holds these on PyTorch eager to their target only from this size:
# below it the fixed cost of a Python autograd.Function dominates.
TORCH_EAGER_FROM = {name: 1e6 for name in ("ParametricELU", "PELU", "Swish", "Snake")}


def target(name: str, backend: str, mode: str, elements: int) -> float | None:
    """The largest ratio accepted for this row, or None."""
    if backend == "torch" and elements < TORCH_EAGER_FROM.get(name, 0):
        return None
    return TARGETS[name].get(MODES[backend][mode])


def pairs():
    """(name, our layer, Keras baseline) with the same parameter shapes."""
    import keras

    import keras_acts
    from keras_acts.layers._rational_coefficients import COEFFICIENTS

    class ReshapeMax(keras.layers.Layer):
        """The hand-written maxout that Maxout is compared with."""

        def __init__(self, num_units, interleaved, **kwargs):
            super().__init__(**kwargs)
            self.num_units = num_units
            self.interleaved = interleaved

        def call(self, x):
            k = x.shape[-1] // self.num_units
            if self.interleaved:
                grouped = keras.ops.reshape(x, (-1, k, self.num_units))
                return keras.ops.max(grouped, axis=1)
            return keras.ops.max(keras.ops.reshape(x, (-1, self.num_units, k)), axis=2)

    class Autodiff(keras.layers.Layer):
        """`formula(x, **parameters)` in plain keras.ops, one float32 value of
        each parameter per channel (a list: those values, for the layer),
        differentiated by the backend's autodiff: what a user would write
        without keras_acts."""

        def __init__(self, formula, **initial):
            super().__init__()
            self.formula = formula
            self.initial = initial

        def build(self, input_shape):
            self.parameters = {
                name: self.add_weight(
                    shape=(len(value),)
                    if isinstance(value, list)
                    else (input_shape[-1],),
                    initializer=keras.initializers.Constant(value),
                    name=name,
                )
                for name, value in self.initial.items()
            }

        def call(self, x):
            return self.formula(
                x, **{name: w.value for name, w in self.parameters.items()}
            )

    ops = keras.ops

    def pelu(x, a, b):
        return ops.where(x >= 0, a / b * x, a * (ops.exp(ops.minimum(x, 0) / b) - 1))

    def srelu(x, t_left, a_left, t_right, a_right):
        t_right = t_left + ops.abs(t_right)
        left = t_left + a_left * (x - t_left)
        right = t_right + a_right * (x - t_right)
        return ops.where(x < t_left, left, ops.where(x > t_right, right, x))

    def swish(x, beta):
        return x * ops.sigmoid(beta * x)

    def snake(x, alpha):
        return x + ops.sin(alpha * x) ** 2 / alpha

    # Rational's default start, the fit of leaky ReLU.
    leaky = COEFFICIENTS["safe"]["leaky_relu"]

    def rational(x, numerator, denominator):
        # The safe PAU by Horner's scheme, one set of coefficients.
        p = numerator[-1]
        for k in range(numerator.shape[0] - 2, -1, -1):
            p = p * x + numerator[k]
        s = denominator[-1]
        for k in range(denominator.shape[0] - 2, -1, -1):
            s = s * x + denominator[k]
        return p / (1 + ops.abs(s * x))

    class Training(keras.layers.Layer):
        """Calls the layer in training mode (RReLU's random slopes)."""

        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def call(self, x):
            return self.layer(x, training=True)

        def compute_output_shape(self, input_shape):
            return input_shape

    class RandomSlopes(keras.layers.Layer):
        def __init__(self, lower, upper):
            super().__init__()
            self.lower, self.upper = lower, upper
            self.seed = keras.random.SeedGenerator(0)

        def call(self, x, training=None):
            slopes = keras.random.uniform(
                ops.shape(x), self.lower, self.upper, seed=self.seed
            )
            return ops.where(x >= 0, x, slopes * x)

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
        ("PELU", keras_acts.PELU(), Autodiff(pelu, a=1.0, b=1.0)),
        (
            "SReLU",
            keras_acts.SReLU(
                t_left_initializer=-0.5,
                a_left_initializer=0.2,
                t_right_initializer=1.0,
                a_right_initializer=0.5,
            ),
            Autodiff(srelu, t_left=-0.5, a_left=0.2, t_right=1.0, a_right=0.5),
        ),
        ("Swish", keras_acts.Swish(), Autodiff(swish, beta=1.0)),
        ("Snake", keras_acts.Snake(), Autodiff(snake, alpha=1.0)),
        (
            "Rational",
            keras_acts.Rational(),
            Autodiff(rational, numerator=list(leaky[0]), denominator=list(leaky[1])),
        ),
        (
            "RReLU (training)",
            Training(keras_acts.RReLU(seed=0)),
            Training(RandomSlopes(1 / 8, 1 / 3)),
        ),
    ]


# Each returns a function of (x, upstream) giving the sum of the outputs and
# the gradients with respect to the input and every trainable weight. The sum
# consumes the output, so XLA cannot prune a forward pass that the backward
# pass does not need; in a model the next layer consumes it.
def tensorflow_step(layer, mode):
    import tensorflow as tf

    def step(x, upstream):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
        sources = [x] + [v.value for v in layer.trainable_variables]
        gradients = tape.gradient(y, sources, output_gradients=upstream)
        return [tf.reduce_sum(y)] + gradients

    if mode == "eager":
        return step
    return tf.function(step, jit_compile=mode == "xla")


def jax_step(layer, mode):
    import jax

    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]

    def outputs(trainable, x):
        return layer.stateless_call(trainable, non_trainable, x)[0]

    @jax.jit
    def step(trainable, x, upstream):
        y, backward = jax.vjp(outputs, trainable, x)
        weight_gradients, input_gradient = backward(upstream)
        return [y.sum(), input_gradient, *weight_gradients]

    return lambda x, upstream: step(trainable, x, upstream)


def torch_step(layer, mode):
    import torch

    weights = [v.value for v in layer.trainable_variables]

    def step(x, upstream):
        x = x.detach().requires_grad_(True)
        y = layer(x)
        gradients = torch.autograd.grad(y, [x, *weights], upstream)
        return [y.detach().sum(), *gradients]

    return step


def time_pair(ours, baseline, x, upstream, repeats, rounds):
    """Seconds per call of each in every round, measured in alternating
    rounds: `(ours, baseline)`, two lists of `rounds` values."""
    import keras

    def finish(result):  # waits for the device
        return [keras.ops.convert_to_numpy(t) for t in result]

    timings = {id(ours): [], id(baseline): []}
    for fn in (ours, baseline):
        for _ in range(2):  # trace, compile and warm caches
            finish(fn(x, upstream))
    for _ in range(rounds):
        for fn in (ours, baseline):
            start = time.perf_counter()
            for _ in range(repeats):
                result = fn(x, upstream)
            finish(result)
            timings[id(fn)].append((time.perf_counter() - start) / repeats)
    return timings[id(ours)], timings[id(baseline)]


def summary(ours, baseline):
    """Median times and the median, lowest and highest ratio of the rounds
    (each round's two timings ran back to back, so their ratio is the
    measurement; the spread of the ratios is the noise)."""
    ratios = [a / b for a, b in zip(ours, baseline, strict=True)]
    return {
        "ours_ms": statistics.median(ours) * 1e3,
        "base_ms": statistics.median(baseline) * 1e3,
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }


def run_backend(args) -> list[str]:
    """Times every pair on this process's backend; returns the misses."""
    import keras
    import numpy as np

    backend = keras.backend.backend()
    make_step = {"tensorflow": tensorflow_step, "jax": jax_step, "torch": torch_step}
    version = __import__(backend).__version__  # the backend's own package
    print(
        f"\n== backend {backend} ({backend} {version}, keras {keras.__version__}, "
        f"{os.cpu_count()} CPUs)"
    )
    header = f"{'layer':<20}{'elements':>10}{'mode':>10}{'ours ms':>10}"
    print(header + f"{'base ms':>10}{'ratio':>8}{'range':>14}{'target':>8}")
    failures = []
    rng = np.random.default_rng(0)
    for size in args.sizes:
        rows = max(1, int(size) // CHANNELS)
        x = keras.ops.convert_to_tensor(
            rng.normal(size=(rows, CHANNELS)).astype("float32")
        )
        for name, ours_layer, base_layer in pairs():
            if args.layers and name not in args.layers:
                continue
            ours_layer(x)
            base_layer(x)
            upstream_shape = ours_layer.compute_output_shape(tuple(x.shape))
            upstream = keras.ops.convert_to_tensor(
                rng.normal(size=upstream_shape).astype("float32")
            )
            # About 1e6 elements per round: enough calls to time small sizes.
            repeats = max(2, int(1e6 / size))
            for mode in MODES[backend]:
                result = summary(
                    *time_pair(
                        make_step[backend](ours_layer, mode),
                        make_step[backend](base_layer, mode),
                        x,
                        upstream,
                        repeats,
                        args.rounds,
                    )
                )
                limit = target(name, backend, mode, rows * CHANNELS)
                flag = ""
                if limit is not None:
                    over = result["ratio"] > limit
                    flag = f"{limit:>8.2f}" + ("  over" if over else "")
                    if over:
                        failures.append(
                            f"{backend} {name} {size:.0e} {mode}: {result['ratio']:.2f}"
                        )
                spread = f"{result['ratio_min']:.2f}-{result['ratio_max']:.2f}"
                print(
                    f"{name:<20}{rows * CHANNELS:>10.0e}{mode:>10}"
                    f"{result['ours_ms']:>10.3f}{result['base_ms']:>10.3f}"
                    f"{result['ratio']:>8.2f}{spread:>14}{flag}",
                    flush=True,
                )
                record = {
                    "backend": backend,
                    "version": version,
                    "layer": name,
                    "elements": rows * CHANNELS,
                    "mode": mode,
                    "target": limit,
                    "rounds": args.rounds,
                    **result,
                }
                print("record: " + json.dumps(record), flush=True)
    return failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=BACKENDS, choices=BACKENDS)
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e4, 1e5, 1e6, 1e7])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--layers", nargs="+", default=None, help="Only these rows (by name)."
    )
    parser.add_argument(
        "--json",
        type=pathlib.Path,
        default=None,
        help="Also write the results to this JSON file, and a markdown table "
        "beside it (.md).",
    )
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.in_process:
        failures = run_backend(args)
        for failure in failures:
            print(f"over target: {failure}")
        return
    print(
        "fwd+bwd per call, median of alternating rounds; ratio = ours / baseline "
        "(median, and range over the rounds)"
    )
    failures = []
    records = []
    for backend in args.backends:
        command = [sys.executable, __file__, "--in-process"]
        command += ["--rounds", str(args.rounds), "--sizes", *map(str, args.sizes)]
        if args.layers:
            command += ["--layers", *args.layers]
        with subprocess.Popen(
            command,
            env={**os.environ, "KERAS_BACKEND": backend},
            stdout=subprocess.PIPE,
            text=True,
        ) as child:
            for line in child.stdout:
                if line.startswith("over target: "):
                    failures.append(line.removeprefix("over target: ").strip())
                elif line.startswith("record: "):
                    records.append(json.loads(line.removeprefix("record: ")))
                else:
                    print(line, end="", flush=True)
        if child.returncode:
            raise SystemExit(f"the {backend} run failed (exit {child.returncode})")
    print("\nover target: " + "; ".join(failures) if failures else "\nall targets met")
    if args.json is not None:
        write_results(args.json, records, args.rounds)


def machine() -> dict:
    import keras
    import numpy as np

    models = (
        [
            line.split(":", 1)[1].strip()
            for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ]
        if pathlib.Path("/proc/cpuinfo").exists()
        else []
    )
    return {
        "cpu": models[0] if models else platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "keras": keras.__version__,
    }


def write_results(path: pathlib.Path, records: list[dict], rounds: int) -> None:
    """The records as JSON, and as the markdown table the docs include."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"machine": machine(), "records": records}, indent=1) + "\n"
    )
    path.with_suffix(".md").write_text(table(records))
    print(f"wrote {path} and {path.with_suffix('.md')} ({rounds} rounds)")


def table(records: list[dict]) -> str:
    """A markdown table: a row per layer and size, a column per backend and
    mode, each cell the median ratio and its range (bold over the target)."""
    columns = [(backend, mode) for backend in BACKENDS for mode in MODES[backend]]
    columns = [
        c for c in columns if any((r["backend"], r["mode"]) == c for r in records)
    ]
    names = {"tensorflow": "TF", "jax": "JAX", "torch": "PyTorch"}
    lines = [
        "| layer | elements | "
        + " | ".join(f"{names[b]} {m}" for b, m in columns)
        + " |",
        "| --- | --- | " + " | ".join("---" for _ in columns) + " |",
    ]
    rows = {}
    for record in records:
        rows.setdefault((record["layer"], record["elements"]), {})[
            (record["backend"], record["mode"])
        ] = record
    for (layer, elements), cells in rows.items():
        texts = []
        for column in columns:
            r = cells.get(column)
            if r is None:
                texts.append("")
                continue
            text = f"{r['ratio']:.2f} ({r['ratio_min']:.2f}–{r['ratio_max']:.2f})"
            over = r["target"] is not None and r["ratio"] > r["target"]
            texts.append(f"**{text}**" if over else text)
        size = f"{elements:.0e}".replace("e+0", "e")
        lines.append(f"| {layer} | {size} | " + " | ".join(texts) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
