"""The report of `keras_acts.diagnose`."""

from __future__ import annotations

from dataclasses import dataclass

from keras_acts.callbacks import ActivationMonitor, GradientMonitor
from keras_acts.callbacks.flag import Flag


@dataclass
class Diagnosis:
    """What `keras_acts.diagnose` found.

    Attributes:
        flags: The problems, each a `keras_acts.Flag` with what to try.
        gradients: The GradientMonitor of the run, for its tables and plots.
        activations: The ActivationMonitor of the run.
        steps: The training steps taken.
        model_name: The name of the model whose copy was trained.
    """

    flags: list[Flag]
    gradients: GradientMonitor
    activations: ActivationMonitor
    steps: int
    model_name: str

    def __str__(self) -> str:
        head = (
            f"keras_acts.diagnose: {self.steps} training steps of a copy of model "
            f"{self.model_name!r}"
        )
        if not self.flags:
            return f"{head}: no problems found."
        return "\n".join([f"{head}:"] + [f"- {flag}" for flag in self.flags])
