"""`Standardize.adapt` against `keras.layers.Normalization.adapt`: time, peak
memory and accuracy on the same data.

Each measurement runs in its own process, so that its peak resident memory
(ru_maxrss) is its own; the ratios ours / Normalization compare runs made on
the same machine within seconds. The data is float32 with a large offset
(mean 1e4, standard deviation 1), where E[x^2] - E[x]^2 loses digits; the
error is the largest relative error of the variance against NumPy in float64.
Times are the median over `--rounds` rounds, the two layers alternating; the
memory and the error are the first round's (the data is the same in every
round). `--json` writes the figures, keyed for the docs' placeholders
(`tabular_1e7_normalization_seconds`, `images_1e8_standardize_error`,
`tabular_1e8_time_ratio`: the median of the per-round ratios, ...), with the
machine and the versions. Run from the repository root:

    python benchmarks/standardize.py --json docs/numbers/standardize.json
    python benchmarks/standardize.py --sizes 1e6 1e7 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import subprocess
import sys

SHAPES = {"tabular": (100,), "images": (32, 32, 3)}

CHILD = r"""
import json, os, resource, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import keras
import keras_acts

which, kind, values = sys.argv[1], sys.argv[2], int(float(sys.argv[3]))
row_shape = tuple(json.loads(sys.argv[4]))
rows = max(1, values // int(np.prod(row_shape)))
rng = np.random.default_rng(0)
x = np.empty((rows,) + row_shape, np.float32)
for start in range(0, rows, 4096):  # filled in chunks: no float64 copy
    part = x[start : start + 4096]
    part[...] = 1e4 + rng.standard_normal(part.shape, dtype=np.float32)
if which == "Standardize":
    layer = keras_acts.Standardize()
else:
    layer = keras.layers.Normalization()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
layer.adapt(x)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
variance = np.asarray(layer.variance).reshape(-1)
reference = np.zeros(row_shape[-1])
flat = x.reshape(-1, row_shape[-1])
mean = np.zeros(row_shape[-1])
for start in range(0, len(flat), 65536):
    mean += flat[start : start + 65536].sum(axis=0, dtype=np.float64)
mean /= len(flat)
for start in range(0, len(flat), 65536):
    deviations = flat[start : start + 65536].astype(np.float64) - mean
    reference += (deviations * deviations).sum(axis=0)
reference /= len(flat)
error = float(np.max(np.abs(variance - reference) / reference))
backend = keras.backend.backend()
print(json.dumps({"seconds": seconds, "extra_mb": max(0, peak - before) / 1024,
                  "error": error, "values": rows * int(np.prod(row_shape)),
                  backend: __import__(backend).__version__}))
"""


def measure(which: str, kind: str, values: float) -> dict:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            which,
            kind,
            str(values),
            json.dumps(SHAPES[kind]),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def compare(kind: str, size: float, rounds: int) -> dict[str, dict]:
    """Both layers' first-round figures with their median time over rounds,
    and the median over rounds of the time ratio ours / Normalization."""
    runs = {"Standardize": [], "Normalization": []}
    for _ in range(rounds):
        for name, results in runs.items():
            results.append(measure(name, kind, size))
    ratios = [
        ours["seconds"] / theirs["seconds"]
        for ours, theirs in zip(*runs.values(), strict=True)
    ]
    return {
        name: results[0] | {"seconds": statistics.median(r["seconds"] for r in results)}
        for name, results in runs.items()
    } | {"time_ratio": statistics.median(ratios)}


def numbers(cases: dict[tuple[str, float], dict[str, dict]]) -> dict:
    """The figures the docs quote: each case's, and the range of the errors."""
    found: dict = {}
    for (kind, size), case in cases.items():
        prefix = f"{kind}_{size:.0e}".replace("e+0", "e")
        found[f"{prefix}_time_ratio"] = case["time_ratio"]
        for name in ("Standardize", "Normalization"):
            for metric in ("seconds", "extra_mb", "error"):
                found[f"{prefix}_{name.lower()}_{metric}"] = case[name][metric]
    for name in ("normalization", "standardize"):
        errors = [v for k, v in found.items() if k.endswith(f"{name}_error")]
        found[f"{name}_error_min"], found[f"{name}_error_max"] = (
            min(errors),
            max(errors),
        )
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e6, 1e7, 1e8])
    parser.add_argument(
        "--kinds", nargs="+", default=list(SHAPES), choices=list(SHAPES)
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=pathlib.Path, help="write the figures here")
    args = parser.parse_args(argv)
    print("adapt on float32 data, mean 1e4, std 1; extra MB = peak RSS growth in adapt")
    header = f"{'data':<9}{'values':>8}{'layer':>15}{'seconds':>9}{'extra MB':>10}"
    print(header + f"{'var error':>11}{'time ratio':>12}{'mem ratio':>11}")
    cases = {}
    for kind in args.kinds:
        for size in args.sizes:
            cases[kind, size] = compare(kind, size, args.rounds)
            ours, theirs = (
                cases[kind, size]["Standardize"],
                cases[kind, size]["Normalization"],
            )
            for name, r in (("Normalization", theirs), ("Standardize", ours)):
                line = (
                    f"{kind:<9}{r['values']:>8.0e}{name:>15}{r['seconds']:>9.2f}"
                    f"{r['extra_mb']:>10.0f}{r['error']:>11.1e}"
                )
                if name == "Standardize":
                    memory = ours["extra_mb"] / max(theirs["extra_mb"], 1)
                    ratio = cases[kind, size]["time_ratio"]
                    line += f"{ratio:>12.2f}{memory:>11.2f}"
                print(line)
    if args.json is not None:
        from layers import machine  # benchmarks/layers.py, beside this script

        # The machine and versions at the top level, so that a page can
        # quote them (`{{ standardize.keras }}`).
        first = next(iter(cases.values()))["Standardize"]
        backend = {k: v for k, v in first.items() if isinstance(v, str)}
        payload = machine() | backend | {"rounds": args.rounds} | numbers(cases)
        args.json.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
