"""Collects the figures that the Benchmarks pages quote in prose from the
results the benchmark scripts wrote (benchmarks/results/*.json) into
docs/numbers/benchmarks.json, which pages read through docs/hooks/numbers.py.
It measures nothing; rerun it after a benchmark run:

python docs/scripts/benchmark_numbers.py

Keys, for a ratio and the lowest and highest of its rounds (suffixes
`_min`, `_max`), named after the results file:
- `layers_<backend>_<mode>_<layer>_<elements>` from layers.json, e.g.
  `layers_torch_eager_parametricelu_1e6` (`layers_before_...` from
  layers-before.json, the code before a change, kept for comparison);
- `end_to_end_<backend>_<layer>` from end_to_end.json, e.g.
  `end_to_end_jax_maxout`;
and, for a monitor's overhead in percent (suffixes `_min`, `_max`),
`monitor_<run>_freq<freq>`, e.g. `monitor_tensorflow_mlp_freq1` for
gradient_monitor-tensorflow-mlp.json (`monitor_<run>_naive_freq<freq>` for
the naive second gradient pass it is compared with), and the plain step's
milliseconds as `monitor_<run>_plain_ms`; from a comparison of two revisions
(benchmarks/revisions.py, revisions-<run>.json), the overhead in percent of
each, `revisions_<run>_<model>_freq<freq>_base` and `..._this` (suffixes
`_q1`, `_q3` for the quartiles of the rounds).
"""

from __future__ import annotations

import json
import pathlib
import re

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
OUTPUT = ROOT / "docs" / "numbers" / "benchmarks.json"


def slug(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


def with_range(key: str, record: dict) -> dict:
    """A ratio record's median, lowest and highest ratio."""
    return {
        key: record["ratio"],
        f"{key}_min": record["ratio_min"],
        f"{key}_max": record["ratio_max"],
    }


def collect(results: pathlib.Path = RESULTS) -> dict[str, float]:
    numbers: dict[str, float] = {}
    for path in sorted(results.glob("layers*.json")):
        for record in json.loads(path.read_text())["records"]:
            size = f"{record['elements']:.0e}".replace("e+0", "e")
            parts = (path.stem, record["backend"], record["mode"], record["layer"])
            numbers |= with_range("_".join(map(slug, parts)) + f"_{size}", record)
    for path in sorted(results.glob("end_to_end*.json")):
        for record in json.loads(path.read_text())["records"]:
            key = f"{slug(path.stem)}_{record['backend']}_{slug(record['layer'])}"
            numbers |= with_range(key, record)
    for path in sorted(results.glob("gradient_monitor-*.json")):
        run = slug(path.stem.removeprefix("gradient_monitor-"))
        for record in json.loads(path.read_text())["results"]:
            if record["configuration"] == "plain fit":
                numbers[f"monitor_{run}_plain_ms"] = record["step_ms_median"]
            elif record["configuration"] in ("monitor", "naive tape"):
                naive = "naive_" if record["configuration"] == "naive tape" else ""
                key = f"monitor_{run}_{naive}freq{record['freq']}"
                numbers[key] = 100 * record["overhead_median"]
                numbers[f"{key}_min"] = 100 * record["overhead_min"]
                numbers[f"{key}_max"] = 100 * record["overhead_max"]
    for path in sorted(results.glob("revisions-*.json")):
        run = slug(path.stem.removeprefix("revisions-"))
        for record in json.loads(path.read_text())["results"]:
            if record["configuration"] != "monitor":
                continue
            key = f"revisions_{run}_{record['model']}_freq{record['freq']}"
            for side in ("base", "this"):
                values = np.asarray(record[f"{side}_overheads"])
                numbers[f"{key}_{side}"] = 100 * float(np.median(values))
                quartiles = 100 * np.percentile(values, [25, 75])
                numbers[f"{key}_{side}_q1"] = float(quartiles[0])
                numbers[f"{key}_{side}_q3"] = float(quartiles[1])
    return numbers


def main() -> None:
    OUTPUT.write_text(json.dumps(collect(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
