"""The monitors' `summary()` tables. Their marks come from the rules'
findings (`_rules.marks`), the same ones `flags()` returns, so a table marks
exactly the layers its report names."""

from __future__ import annotations

import math
from collections.abc import Container
from typing import Any

from keras_acts.callbacks._rules import (
    DYING_ACTIVATIONS,
    GLOBAL,
    SATURATING_RANGES,
    Finding,
    dead_fraction,
    marks,
    reference_layer,
)
from keras_acts.diagnosis import report


def gradient_table(
    rows: dict[str, dict[str, Any]],
    steps: list[int],
    findings: list[Finding],
    flagged_only: bool = False,
    cleared: list = (),
    unplaced: Container = (),
) -> str:
    """GradientMonitor's table of one record's layer rows (`{layer: row}`,
    `GLOBAL` last; with `flagged_only`, the marked layers and `GLOBAL`),
    then the problems over the records at `steps`, and those `cleared`
    since they were warned about. Norms are relative to the layer the
    vanishing rule compares with (none where no placed layer has a
    gradient; `unplaced` layers are never it)."""
    output = reference_layer(rows, unplaced)
    output_norm = math.nan if output is None else rows[output]["l2"]
    marked = marks(findings)
    width = max(len(layer) for layer in rows)
    relative_to = "" if output is None else f" (norms relative to {output})"
    lines = [
        f"Gradients at step {rows[GLOBAL]['step']}{relative_to}",
        f"{'layer':<{width}}  {'grad l2':>10}  {'relative':>10}  "
        f"{'update/weight':>13}  flag",
    ]
    for layer, row in rows.items():
        if flagged_only and layer != GLOBAL and layer not in marked:
            continue
        relative = row["l2"] / output_norm
        ratio = row["update_ratio"]
        lines.append(
            f"{layer:<{width}}  {row['l2']:>10.3e}  {relative:>10.3e}  "
            f"{'-' if ratio is None else f'{ratio:.3e}':>13}  "
            + ", ".join(marked.get(layer, []))
        )
    title = (
        f"Problems over {len(steps)} record{'s' if len(steps) != 1 else ''} "
        f"(steps {steps[0]} to {steps[-1]})"
    )
    lines.append(report(title, [finding.flag for finding in findings], cleared))
    return "\n".join(line.rstrip() for line in lines)


def activation_table(
    step: int,
    rows: list[dict[str, Any]],
    findings: list[Finding],
    flagged_only: bool = False,
    cleared: list = (),
) -> str:
    """ActivationMonitor's table of one record's rows (with `flagged_only`,
    of the marked layers), then the problems, and those `cleared` since
    they were warned about."""
    marked = marks(findings)
    if flagged_only:
        rows = [row for row in rows if row["layer"] in marked]
    width = max([len("layer")] + [len(row["layer"]) for row in rows])
    # At least 13 wide, as the tables in the docs show; wider for a long
    # name such as keras-hub's gelu_approximate.
    name_width = max([12] + [len(row["activation"]) for row in rows]) + 1
    # Wider for large means and deviations (unscaled inputs), which would
    # run into each other.
    number_width = (
        max([7] + [len(f"{row[key]:.3f}") for row in rows for key in ("mean", "std")])
        + 1
    )
    lines = [
        f"Activations at step {step}",
        f"{'layer':<{width}}  {'activation':<{name_width}}"
        f"{'mean':>{number_width}}{'std':>{number_width}}"
        f"{'dead':>7}{'saturated':>10}{'grad l2':>11}  marks",
    ]
    for row in rows:
        dead = dead_fraction(row)
        saturated = row["saturated_fraction"]
        gradient = row["output_grad_l2"]
        lines.append(
            f"{row['layer']:<{width}}  {row['activation']:<{name_width}}"
            f"{row['mean']:>{number_width}.3f}{row['std']:>{number_width}.3f}"
            f"{'-' if dead is None else f'{dead:.0%}':>7}"
            f"{'-' if saturated is None else f'{saturated:.0%}':>10}"
            f"{'-' if gradient is None else f'{gradient:.2e}':>11}  "
            + ", ".join(marked.get(row["layer"], []))
        )
    lines.append(report("Problems", [finding.flag for finding in findings], cleared))
    return "\n".join(line.rstrip() for line in lines)


def activation_headline(
    rows: list[dict[str, Any]],
    activations: dict[str, str],
    not_hidden: set[str],
) -> dict[str, float]:
    """ActivationMonitor's values in Keras's logs, from a record's `rows`
    (empty in an epoch without a record): the worst layer's dead fraction if
    the monitored layers (`activations`: their activation by layer name)
    have ReLU units, and the worst hidden layer's saturated fraction if they
    have bounded ones; NaN where there is no value."""
    layers = list(activations)
    hidden = [layer for layer in layers if layer not in not_hidden]
    headline = {}
    for key, kinds, judged, fraction in (
        ("dead_fraction", DYING_ACTIVATIONS, layers, dead_fraction),
        (
            "saturated_fraction",
            SATURATING_RANGES,
            hidden,
            lambda row: row["saturated_fraction"],
        ),
    ):
        if not any(activations[layer] in kinds for layer in judged):
            continue
        values = [fraction(row) for row in rows if row["layer"] in judged]
        values = [value for value in values if value is not None]
        headline[key] = max(values) if values else math.nan
    return headline
