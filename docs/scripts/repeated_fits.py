"""The Benchmarks page's repeated fits: what a user who calls `fit` again and
again pays for GradientMonitor, written to docs/numbers/repeated_fits.json.

Each sequence of 2-step fits runs in a fresh process through
`benchmarks/gradient_monitor.py --fit-sequence MODEL SEQUENCE` (the process
behind its `--fits` table), so that the first fit pays its tracing and the
peak memory is the sequence's own; the sequences alternate in rounds, and each
figure is the median over the rounds (a ratio: the median of the per-round
ratios). Run from the repository root:

    python docs/scripts/repeated_fits.py              # 3 rounds
    python docs/scripts/repeated_fits.py --rounds 1

Keys, per model (`resnet50`, `dense300`): `<model>_<row>_seconds` and
`<model>_<row>_plain_seconds` for the fits the table compares, with
`<model>_<row>_ratio`; rows `first` (the first fit, monitored), `second` (a
second fit with a new monitor), `silent` (a later fit with a monitor that
records no step), `plain_after` (a plain fit after a monitored one) and
`monitored_after_plain` (the first monitored fit after a plain one);
`<model>_peak_mb`, `<model>_plain_peak_mb` and `<model>_peak_ratio` for the
whole monitored sequence; `<model>_variables`, `<model>_parameters`,
`<model>_weights_mb` (float32) and `<model>_recording_seconds_per_step` (a
second monitored fit's extra time per recorded step).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
OUTPUT = ROOT / "docs" / "numbers" / "repeated_fits.json"
sys.path.insert(0, str(BENCHMARKS))
from layers import machine  # noqa: E402

STEPS_PER_FIT = 2
# row: (sequence, fit index) against the plain sequence's fit at `plain index`.
ROWS = {
    "first": ("monitored", 0, 0),
    "second": ("monitored", 1, 1),
    "silent": ("monitored", 3, 3),
    "plain_after": ("mixed", 2, 2),
    "monitored_after_plain": ("mixed", 1, 1),
}


def fit_sequence(model: str, sequence: str) -> dict:
    child = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "gradient_monitor.py"),
            "--fit-sequence",
            model,
            sequence,
        ],
        capture_output=True,
        text=True,
    )
    if child.returncode != 0:
        raise RuntimeError(f"{model} {sequence}: {child.stderr[-2000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def numbers(model: str, rounds: list[dict[str, dict]]) -> dict[str, float]:
    """The figures of one model from its rounds (sequence -> fit results)."""

    def median(values) -> float:
        return statistics.median(list(values))

    found = {}
    for row, (sequence, index, plain_index) in ROWS.items():
        ours = [r[sequence]["seconds"][index] for r in rounds]
        plain = [r["plain"]["seconds"][plain_index] for r in rounds]
        found[f"{model}_{row}_seconds"] = median(ours)
        found[f"{model}_{row}_plain_seconds"] = median(plain)
        found[f"{model}_{row}_ratio"] = median(
            a / b for a, b in zip(ours, plain, strict=True)
        )
    found[f"{model}_first_extra_seconds"] = median(
        r["monitored"]["seconds"][0] - r["plain"]["seconds"][0] for r in rounds
    )
    found[f"{model}_recording_seconds_per_step"] = median(
        (r["monitored"]["seconds"][1] - r["plain"]["seconds"][1]) / STEPS_PER_FIT
        for r in rounds
    )
    found[f"{model}_peak_mb"] = median(r["monitored"]["peak_mb"] for r in rounds)
    found[f"{model}_plain_peak_mb"] = median(r["plain"]["peak_mb"] for r in rounds)
    found[f"{model}_peak_ratio"] = median(
        r["monitored"]["peak_mb"] / r["plain"]["peak_mb"] for r in rounds
    )
    return found


def model_sizes(model_name: str) -> dict[str, float]:
    import gradient_monitor  # TensorFlow: only once the timed children are done

    model = getattr(gradient_monitor, model_name)()
    parameters = model.count_params()
    return {
        f"{model_name}_variables": len(model.trainable_variables),
        f"{model_name}_parameters": parameters,
        f"{model_name}_weights_mb": parameters * 4 / 1e6,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet50", "dense300"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=pathlib.Path, default=OUTPUT)
    args = parser.parse_args(argv)
    payload = {"rounds": args.rounds, "steps_per_fit": STEPS_PER_FIT}
    for model in args.models:
        rounds = []
        for round_index in range(args.rounds):
            rounds.append(
                {s: fit_sequence(model, s) for s in ("plain", "monitored", "mixed")}
            )
            print(f"{model}, round {round_index + 1}: {json.dumps(rounds[-1])}")
        payload |= numbers(model, rounds) | model_sizes(model)
    import tensorflow as tf

    # At the top level, so that a page can quote them (`{{ repeated_fits.keras }}`).
    payload |= machine() | {"tensorflow": tf.__version__}
    args.json.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
