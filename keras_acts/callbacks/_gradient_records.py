"""GradientMonitor's records on the host: the statistics of one recorded step,
merged across optimizers, and the rows they give per variable, per layer
and for the whole model."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_acts.callbacks._gradient_statistics import (
    MAX_ABS,
    NOT_MEASURED,
    SUM_ABS,
    SUM_SQUARES,
    UPDATE_SQUARES,
    WEIGHT_SQUARES,
    VariableNames,
)
from keras_acts.callbacks._rules import GLOBAL

STATS = ("l2", "mean_abs", "max_abs", "weight_l2", "update_ratio")
COLUMNS = ("step", "epoch", "layer", "variable") + STATS


@dataclass
class GradientRecord:
    step: int
    epoch: int
    names: VariableNames
    indices: np.ndarray  # the variables recorded, indices into `names`
    statistics: np.ndarray  # (len(indices), 5), the capture's columns
    gradients: list[np.ndarray] | None  # for histograms

    def merged(self, other: GradientRecord) -> GradientRecord:
        """One record of two optimizers' records at the same step."""
        gradients = None
        if self.gradients is not None and other.gradients is not None:
            gradients = self.gradients + other.gradients
        return GradientRecord(
            self.step,
            self.epoch,
            self.names,
            np.concatenate([self.indices, other.indices]),
            np.concatenate([self.statistics, other.statistics]),
            gradients,
        )

    def joins(self, other: GradientRecord) -> bool:
        """Whether `other` holds other variables of the same step."""
        return (
            self.step == other.step
            and self.names is other.names
            and not np.intersect1d(self.indices, other.indices).size
        )


def aggregate(statistics: np.ndarray, sizes: np.ndarray) -> dict[str, Any]:
    """The row values of a group of variables, from their device statistics."""
    sum_squares = float(np.sum(statistics[:, SUM_SQUARES]))
    weight_squares = float(np.sum(statistics[:, WEIGHT_SQUARES]))
    updates = statistics[:, UPDATE_SQUARES]
    update_ratio = None
    if weight_squares > 0 and np.all(updates != NOT_MEASURED):
        update_ratio = math.sqrt(float(np.sum(updates))) / math.sqrt(weight_squares)
    size = int(np.sum(sizes))
    return {
        "l2": math.sqrt(sum_squares),  # NaN and Inf pass through
        "mean_abs": float(np.sum(statistics[:, SUM_ABS])) / size if size else 0.0,
        "max_abs": float(np.max(statistics[:, MAX_ABS])),
        "weight_l2": math.sqrt(weight_squares),
        "update_ratio": update_ratio,
    }


def _groups(record: GradientRecord) -> list[tuple[str, str | None, np.ndarray]]:
    """(layer, variable, positions in the record) of every row of a record,
    in order: variables, layers, then the whole."""
    names, indices = record.names, record.indices
    key = tuple(indices)
    if key not in names.row_groups:
        groups = [
            (names.layers[i], names.names[i], np.array([position]))
            for position, i in enumerate(indices)
        ]
        layers = dict.fromkeys(names.layers[i] for i in sorted(indices))
        for layer in layers:
            positions = [p for p, i in enumerate(indices) if names.layers[i] == layer]
            groups.append((layer, None, np.array(positions)))
        groups.append((GLOBAL, None, np.arange(len(indices))))
        names.row_groups[key] = groups
    return names.row_groups[key]


def rows_of(
    record: GradientRecord, layers_only: bool = False
) -> Iterator[dict[str, Any]]:
    """The rows of a record, keyed by `COLUMNS`: its variables (unless
    `layers_only`), its layers, then the whole model (`GLOBAL`)."""
    sizes = np.asarray(record.names.sizes)[record.indices]
    for layer, variable, positions in _groups(record):
        if layers_only and variable is not None:
            continue
        yield {
            "step": record.step,
            "epoch": record.epoch,
            "layer": layer,
            "variable": variable,
            **aggregate(record.statistics[positions], sizes[positions]),
        }


def layer_rows_of(record: GradientRecord) -> dict[str, dict[str, Any]]:
    """`{layer: row}` of a record's layers, input side first, `GLOBAL` last."""
    return {row["layer"]: row for row in rows_of(record, layers_only=True)}


def nonfinite_layers(record: GradientRecord) -> dict[str, list[str]]:
    """The layers whose gradient, and those whose weights, hold NaN or Inf."""
    found = {}
    for what, columns in (
        ("gradient", [SUM_SQUARES, SUM_ABS]),
        ("weights", [WEIGHT_SQUARES]),
    ):
        totals = record.statistics[:, columns].sum(axis=1)
        bad = np.flatnonzero(~np.isfinite(totals))
        if bad.size:
            found[what] = list(
                dict.fromkeys(record.names.layers[record.indices[i]] for i in bad)
            )
    return found


def scalars_of(record: GradientRecord, stats) -> Iterator[tuple[str, float]]:
    """TensorBoard scalars `gradients/<layer path>/<stat>` of a record."""
    for row in rows_of(record, layers_only=True):
        tag_layer = "global" if row["layer"] == GLOBAL else row["layer"]
        for stat in stats:
            if row[stat] is not None:
                yield f"gradients/{tag_layer}/{stat}", row[stat]


def histograms_of(record: GradientRecord) -> Iterator[tuple[str, Any]]:
    """TensorBoard histograms `gradients/<variable path>` of a record."""
    if record.gradients is not None:
        for index, gradient in zip(record.indices, record.gradients, strict=True):
            yield f"gradients/{record.names.paths[index]}", gradient
