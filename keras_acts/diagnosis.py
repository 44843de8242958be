"""What the monitors find, as the user reads it: a `Flag` per problem, the
`DiagnosisWarning` given during training and the `Diagnosis` of
`keras_acts.diagnose`. The rules that raise flags live in
`keras_acts.callbacks._rules`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keras_acts.callbacks import ActivationMonitor, GradientMonitor


@dataclass(frozen=True)
class Flag:
    """One problem a monitor found.

    Attributes:
        kind: What kind of problem: one of `"nonfinite"`, `"exploding"`,
            `"vanishing"`, `"stalled"` (GradientMonitor), `"dead"`,
            `"saturated"`, `"off_center"`, `"inputs_off_center"`,
            `"targets_unscaled"` (ActivationMonitor).
        layer: Where: a layer's name or path, `"(global)"`, `"(inputs)"` or
            `"(targets)"`.
        problem: What is wrong and how badly, with numbers.
        advice: What to try.
        doc: The title of the docs page that explains it.
    """

    kind: str
    layer: str
    problem: str
    advice: str
    doc: str

    def __str__(self) -> str:
        return f"{self.layer}: {self.problem}: {self.advice} (docs: {self.doc})"


class DiagnosisWarning(RuntimeWarning):
    """A problem that a keras_acts monitor found while training.

    Each is given once per problem and layer in a `fit`. Silence them with
    `warn=False` on the monitor, or with
    `warnings.filterwarnings("ignore", category=keras_acts.DiagnosisWarning)`.
    """


def report(title: str, flags: list[Flag], cleared: list[Flag] = ()) -> str:
    """The lines that list `flags` under `title`, as every report prints them,
    then those warned about during training that have cleared since."""
    lines = [f"{title}: no problems found."]
    if flags:
        lines = [f"{title}:"] + [f"- {flag}" for flag in flags]
    if cleared:
        lines.append("Warned during training, cleared since:")
        lines += [f"- {flag.layer}: {flag.problem}" for flag in cleared]
    return "\n".join(lines)


@dataclass
class Diagnosis:
    """What `keras_acts.diagnose` found.

    Attributes:
        flags: The problems, each a `keras_acts.Flag` with what to try.
        gradients: The GradientMonitor of the run, for its tables and plots.
        activations: The ActivationMonitor of the run.
        steps: The training steps taken.
        model_name: The name of the model diagnosed.
    """

    flags: list[Flag]
    gradients: GradientMonitor
    activations: ActivationMonitor
    steps: int
    model_name: str

    def __str__(self) -> str:
        return report(
            f"keras_acts.diagnose: {self.steps} training steps of model "
            f"{self.model_name!r}, set back afterwards",
            self.flags,
        )
