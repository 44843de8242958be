"""Measures the numbers of the demo's deep sigmoid net that the docs quote
and writes them to docs/numbers/demo.json (pages read them through
docs/hooks/numbers.py).

python docs/scripts/demo_numbers.py
"""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

OUTPUT = pathlib.Path(__file__).resolve().parents[1] / "numbers" / "demo.json"


def measure(steps: int = 2000, seed: int = 1) -> dict[str, float]:
    """The sigmoid XOR net of `keras-acts demo`: how its gradient shrinks from
    the output layer down at the demo's report step, and its size at the
    last record."""
    from keras_acts.callbacks import GradientMonitor
    from keras_acts.demo import HIDDEN_NAMES, OUTPUT_NAME, REPORT_FREQ, train_xor

    monitor = GradientMonitor(freq=REPORT_FREQ, warn=False)
    _, result = train_xor("sigmoid", steps=steps, seed=seed, monitors=[monitor])
    relative = result.relative_gradient_norms()
    # Outward from the input: each layer's norm over the one below it.
    chain = [relative[name] for name in HIDDEN_NAMES + (OUTPUT_NAME,)]
    factors = np.array(chain[1:]) / np.array(chain[:-1])
    last = monitor.layer_norms()
    return {
        "sigmoid_first_layer_ratio": chain[0],
        "sigmoid_mean_factor": float(np.exp(-np.log(chain[0]) / len(HIDDEN_NAMES))),
        "sigmoid_min_factor": float(factors.min()),
        "sigmoid_max_factor": float(factors.max()),
        "sigmoid_final_median_norm": float(np.median(list(last.values()))),
        "sigmoid_final_loss": result.loss,
        "steps": steps,
    }


def main() -> None:
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps(measure(), indent=2) + "\n")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
