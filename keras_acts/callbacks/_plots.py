"""The monitors' plots (matplotlib, imported when a plot is drawn)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from keras_acts.callbacks._gradient_records import GradientRecord, layer_rows_of
from keras_acts.callbacks._recorder import require
from keras_acts.callbacks._rules import GLOBAL

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def check_axes(axes: Any, count: int) -> Any:
    """`axes` for a plot of `count` panels: None, or that many matplotlib
    axes."""
    if axes is None:
        return None
    try:
        axes = list(axes)
    except TypeError:
        axes = None
    if axes is None or len(axes) != count:
        raise ValueError(
            f"`axes` must be {count} matplotlib Axes, one per panel, or None for "
            f"a new figure. Received: axes={axes!r}"
        )
    return axes


def plot_gradients(
    records: list[GradientRecord],
    axes: tuple[Axes, Axes] | None,
    title: str | None,
    vmin: float | None,
    vmax: float | None,
) -> Figure:
    """GradientMonitor.plot: a heatmap and lines of each layer's norm."""
    require("GradientMonitor.plot()", "matplotlib", extra="plot")
    import matplotlib.pyplot as plt

    axes = check_axes(axes, 2)
    steps = np.array([r.step for r in records], dtype=float)
    by_record = [layer_rows_of(r) for r in records]
    layers = [
        layer
        for layer in dict.fromkeys(name for rows in by_record for name in rows)
        if layer != GLOBAL
    ]
    if axes is None:
        _, axes = plt.subplots(
            1,
            2,
            figsize=(11, max(3.0, 0.22 * len(layers) + 1.5)),
            layout="constrained",
        )
    heatmap_axes, line_axes = axes
    norms = np.array(
        [
            [rows[layer]["l2"] if layer in rows else np.nan for rows in by_record]
            for layer in layers
        ]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        log_norms = np.where(norms > 0, np.log10(norms), np.nan)
    # Column edges halfway between recorded steps: irregular records
    # keep their place on the step axis.
    middles = (steps[1:] + steps[:-1]) / 2
    first_gap = steps[1] - steps[0] if len(steps) > 1 else 1.0
    last_gap = steps[-1] - steps[-2] if len(steps) > 1 else 1.0
    edges = np.concatenate(
        [[steps[0] - first_gap / 2], middles, [steps[-1] + last_gap / 2]]
    )
    image = heatmap_axes.pcolormesh(
        edges,
        np.arange(len(layers) + 1),
        log_norms,
        cmap="viridis",
        vmin=vmin,
        vmax=vmax,
    )
    heatmap_axes.invert_yaxis()
    # One label per layer while they fit; every few layers past that.
    every = max(1, int(np.ceil(len(layers) / 40)))
    shown = range(0, len(layers), every)
    heatmap_axes.set_yticks(
        [i + 0.5 for i in shown], [layers[i] for i in shown], fontsize=8
    )
    ticks = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), 6)).round())
    heatmap_axes.set_xticks(steps[ticks.astype(int)])
    heatmap_axes.set_xlabel("step")
    heatmap_axes.figure.colorbar(image, ax=heatmap_axes, label="log10 gradient L2 norm")
    if title:
        heatmap_axes.set_title(title)
    for layer, row in zip(layers, norms, strict=True):
        line_axes.plot(steps, row, label=layer)
    line_axes.set_yscale("log")
    line_axes.set_xlabel("step")
    line_axes.set_ylabel("gradient L2 norm")
    if len(layers) <= 12:
        line_axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1, 0.5))
    return heatmap_axes.figure


def plot_activations(
    history: list[dict[str, Any]], axes: tuple[Axes, Axes] | None
) -> Figure:
    """ActivationMonitor.plot: dead and saturated fractions over the steps."""
    require("ActivationMonitor.plot()", "matplotlib", extra="plot")
    import matplotlib.pyplot as plt

    axes = check_axes(axes, 2)
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    dead_axes, saturated_axes = axes
    by_layer: dict[str, list[dict[str, Any]]] = {}
    for row in history:
        by_layer.setdefault(row["layer"], []).append(row)
    for layer, rows in by_layer.items():
        steps = [row["step"] for row in rows]
        for ax, stat in (
            (dead_axes, "dead_fraction"),
            (saturated_axes, "saturated_fraction"),
        ):
            if rows[0][stat] is not None:
                ax.plot(steps, [row[stat] for row in rows], label=layer)
    for ax, title in (
        (dead_axes, "dead units"),
        (saturated_axes, "saturated outputs"),
    ):
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_ylabel("fraction")
        ax.set_ylim(-0.02, 1.02)
        if ax.lines and len(ax.lines) <= 12:
            ax.legend(fontsize=8)
    return dead_axes.figure


def plot_parameters(
    rows: list[dict[str, Any]], ax: Axes | None, steps: Sequence[int] | None
) -> Figure:
    """ActivationMonitor.plot_parameters: learned parameters by layer."""
    require("ActivationMonitor.plot_parameters()", "matplotlib", extra="plot")
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError(
            "ActivationMonitor has no learned activation parameters to plot: "
            "the model has no PReLU or ParametricELU layer, or nothing was "
            "recorded yet."
        )
    recorded = sorted({row["step"] for row in rows})
    if steps is None:
        steps = sorted({recorded[0], recorded[len(recorded) // 2], recorded[-1]})
    missing = [step for step in steps if step not in recorded]
    if missing:
        raise ValueError(f"No record at steps {missing}. Recorded steps: {recorded}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    series = list(dict.fromkeys((row["layer"], row["parameter"]) for row in rows))
    positions = range(len(series))
    for step in steps:
        at_step = {
            (row["layer"], row["parameter"]): row for row in rows if row["step"] == step
        }
        means = [at_step[key]["mean"] if key in at_step else np.nan for key in series]
        ax.plot(positions, means, marker="o", label=f"step {step}")
        if step == steps[-1]:
            ax.fill_between(
                positions,
                [at_step[key]["min"] if key in at_step else np.nan for key in series],
                [at_step[key]["max"] if key in at_step else np.nan for key in series],
                alpha=0.2,
                label=f"min to max, step {step}",
            )
    ax.set_xticks(
        list(positions),
        [f"{layer}\n{parameter}" for layer, parameter in series],
        fontsize=8,
        rotation=45 if len(series) > 6 else 0,
    )
    ax.set_ylabel("learned value")
    ax.set_title("learned activation parameters by layer")
    ax.legend(fontsize=8)
    return ax.figure
