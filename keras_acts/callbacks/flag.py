"""One problem a monitor found."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flag:
    """One problem a monitor found.

    Attributes:
        kind: What kind of problem: one of `"nonfinite"`, `"exploding"`,
            `"vanishing"`, `"stalled"` (GradientMonitor), `"dead"`,
            `"saturated"`, `"off_center"`, `"inputs_off_center"`
            (ActivationMonitor).
        layer: Where: a layer's name or path, `"(global)"` or `"(inputs)"`.
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
