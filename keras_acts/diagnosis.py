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
            `"inputs_unscaled"`, `"frozen"`, `"lr_too_high"`, `"noisy_gradients"`,
            `"targets_unscaled"` (ActivationMonitor).
        layer: Where: a layer's name or path, `"(global)"`, `"(inputs)"` or
            `"(targets)"`.
        problem: What is wrong and how badly, with numbers.
        advice: What to try.
        doc: The title of the docs page that explains it.

    Two flags of the same `kind` and `layer` are the same problem:
    `Diagnosis.compare` matches flags so.
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


# The number in a layer's row that says how bad each kind of problem is
# there, where the monitors' tables hold one.
MEASURES = {
    "vanishing": "relative_gradient",
    "dead": "dead_fraction",
    "saturated": "saturated_fraction",
}


@dataclass(frozen=True)
class Changes:
    """What changed between an earlier diagnosis and a later one, as
    `Diagnosis.compare` finds it.

    Flags are matched by kind and layer: a layer renamed by model surgery
    (such as the `<layer>_<new layer>` that `replace_activations` adds
    after a Dense) is another layer.

    Attributes:
        earlier: The name of the model diagnosed earlier.
        resolved: The earlier flags that no flag of the same kind and layer
            repeats now.
        new: The flags now that no earlier flag of the same kind and layer
            had.
        persisting: The flags now that an earlier flag of the same kind and
            layer had, with the numbers of now.
        numbers: For each layer of the same name in both diagnoses,
            `{quantity: (earlier, now)}` at their last records:
            `"relative_gradient"` (the layer's gradient norm over the output
            layer's), and `"dead_fraction"` and `"saturated_fraction"` where
            the layer's activation has them.
    """

    earlier: str
    resolved: list[Flag]
    new: list[Flag]
    persisting: list[Flag]
    numbers: dict[str, dict[str, tuple[float, float]]]

    def __str__(self) -> str:
        counts = (
            f"{len(self.resolved)} resolved, {len(self.new)} new, "
            f"{len(self.persisting)} persisting"
        )
        lines = [f"Compared with model {self.earlier!r}: {counts}."]
        for title, flags in (
            ("Resolved", self.resolved),
            ("New", self.new),
            ("Persisting", self.persisting),
        ):
            if flags:
                lines.append(f"{title}:")
                lines += [
                    f"- {flag.layer}: {flag.problem}{self._moved(flag)}"
                    for flag in flags
                ]
        return "\n".join(lines)

    def _moved(self, flag: Flag) -> str:
        """The flag's measure in its layer before and now, where both runs
        have it."""
        quantity = MEASURES.get(flag.kind)
        if quantity not in self.numbers.get(flag.layer, {}):
            return ""
        spec = ".0%" if quantity.endswith("fraction") else ".1e"
        before, now = (
            format(value, spec) for value in self.numbers[flag.layer][quantity]
        )
        return f" ({quantity.replace('_', ' ')} {before} before, {now} now)"


@dataclass
class Diagnosis:
    """What `keras_acts.diagnose` found.

    Attributes:
        flags: The problems, each a `keras_acts.Flag` with what to try.
        gradients: The GradientMonitor of the run, for its tables and plots.
        activations: The ActivationMonitor of the run.
        steps: The training steps taken.
        model_name: The name of the model diagnosed.
        changes: With `diagnose(..., compare_with=...)`, what changed since
            the model (or diagnosis) compared with, as `compare` finds it;
            else `None`. Its `resolved`, `new` and `persisting` flags are
            matched by kind and layer, and `numbers` holds each layer's
            `{quantity: (earlier, now)}`.
    """

    flags: list[Flag]
    gradients: GradientMonitor
    activations: ActivationMonitor
    steps: int
    model_name: str
    changes: Changes | None = None

    def compare(self, earlier: Diagnosis) -> Changes:
        """What changed since an earlier diagnosis, such as that of a model
        before `keras_acts.replace_activations`.

        Args:
            earlier: A `keras_acts.Diagnosis` from before.

        Returns:
            A `keras_acts.diagnosis.Changes`: the flags `resolved`
            (earlier, not now), `new` (now, not earlier) and `persisting`,
            matched by kind and layer, and `numbers`, each layer's
            `{quantity: (earlier, now)}` for the layers of the same name in
            both: `"relative_gradient"` (its gradient norm over the output
            layer's), `"dead_fraction"`, `"saturated_fraction"`, at the last
            records. Its `str()` is the comparison that `str(diagnosis)`
            prints with `compare_with`.

        Raises:
            ValueError: for an `earlier` that is not a `keras_acts.Diagnosis`.
        """
        if not isinstance(earlier, Diagnosis):
            raise ValueError(
                "`earlier` must be a keras_acts.Diagnosis, as diagnose "
                f"returns. Received: earlier={earlier!r}"
            )
        before = {(flag.kind, flag.layer) for flag in earlier.flags}
        now = {(flag.kind, flag.layer) for flag in self.flags}
        numbers_before, numbers_now = earlier._numbers(), self._numbers()
        return Changes(
            earlier=earlier.model_name,
            resolved=[f for f in earlier.flags if (f.kind, f.layer) not in now],
            new=[f for f in self.flags if (f.kind, f.layer) not in before],
            persisting=[f for f in self.flags if (f.kind, f.layer) in before],
            numbers={
                layer: {
                    quantity: (numbers_before[layer][quantity], value)
                    for quantity, value in values.items()
                    if quantity in numbers_before[layer]
                }
                for layer, values in numbers_now.items()
                if layer in numbers_before
            },
        )

    def _numbers(self) -> dict[str, dict[str, float]]:
        """`{layer: {quantity: value}}` at the monitors' last records."""
        # Imported here: _rules imports this module.
        from keras_acts.callbacks._rules import dead_fraction

        norms = self.gradients.layer_norms() if self.gradients.history else {}
        output = list(norms.values())[-1] if norms else 0.0
        numbers = {
            layer: {"relative_gradient": norm / output} if output > 0 else {}
            for layer, norm in norms.items()
        }
        rows = self.activations.history
        for row in rows:
            if row["step"] == rows[-1]["step"]:
                values = {
                    "dead_fraction": dead_fraction(row),
                    "saturated_fraction": row["saturated_fraction"],
                }
                numbers.setdefault(row["layer"], {}).update(
                    (name, value) for name, value in values.items() if value is not None
                )
        return numbers

    def __str__(self) -> str:
        text = report(
            f"keras_acts.diagnose: {self.steps} training steps of model "
            f"{self.model_name!r}, set back afterwards",
            self.flags,
        )
        # A Diagnosis made by hand may hold no monitors.
        if getattr(self.gradients, "history", None) == []:
            text += (
                "\nGradients were not measured: the training step applied none "
                "through the model's optimizer, so vanishing, exploding and "
                "stalled gradients were not looked for."
            )
        foreseen = getattr(self.activations, "dynamics_skipped_seconds", None)
        if foreseen is not None:
            text += (
                "\nCurvature and gradient noise were not measured: one "
                f"measurement was foreseen to take {foreseen:.0f} s, over the "
                f"{self.activations.dynamics_max_seconds:g} s allowed, so a "
                "learning rate too high and noisy gradients were not looked for."
            )
        return text if self.changes is None else f"{text}\n{self.changes}"
