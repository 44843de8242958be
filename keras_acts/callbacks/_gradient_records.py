"""GradientMonitor's records on the host: the statistics of one recorded step,
merged across optimizers, and the rows they give per variable, per layer
and for the whole model."""

from __future__ import annotations

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


@dataclass(frozen=True)
class _RowGroups:
    """The rows of the records of one set of variables: (layer, variable)
    of each, and which of the record's variables each row sums over."""

    labels: list[tuple[str, str | None]]
    members: np.ndarray  # (rows, variables), bool
    sizes: np.ndarray  # (rows,): the elements each row sums over


def _groups(record: GradientRecord) -> _RowGroups:
    """The rows of a record, in order: variables, layers, then the whole;
    the layers input side first (`VariableNames.call_rank`)."""
    names, indices = record.names, record.indices
    key = tuple(indices)
    if key not in names.row_groups:
        layer_of = [names.layers[i] for i in indices]
        positions = sorted(
            range(len(indices)), key=lambda p: names.call_rank(layer_of[p])
        )
        labels = [(layer_of[p], names.names[indices[p]]) for p in positions]
        members = [np.arange(len(indices)) == p for p in positions]
        layers = dict.fromkeys(names.layers[i] for i in sorted(indices))
        for layer in sorted(layers, key=names.call_rank):
            labels.append((layer, None))
            members.append(np.array([names.layers[i] == layer for i in indices]))
        labels.append((GLOBAL, None))
        members.append(np.ones(len(indices), bool))
        members = np.array(members)
        sizes = members @ np.asarray(names.sizes, np.int64)[indices]
        names.row_groups[key] = _RowGroups(labels, members, sizes)
    return names.row_groups[key]


def rows_of(
    record: GradientRecord, layers_only: bool = False
) -> Iterator[dict[str, Any]]:
    """The rows of a record, keyed by `COLUMNS`: its variables (unless
    `layers_only`), its layers, then the whole model (`GLOBAL`).

    Every row at once, in a few array operations :
    at `freq=1` the rows are made at every step, on the host."""
    groups = _groups(record)
    members, statistics = groups.members, record.statistics
    # Masked sums, in the order of the variables: adding zeros changes no
    # sum, so each equals the sum over the group alone.
    sums = np.where(members[:, :, None], statistics[None, :, :], 0.0).sum(axis=1)
    largest = np.where(members, statistics[None, :, MAX_ABS], -np.inf).max(axis=1)
    unmeasured = (members & (statistics[None, :, UPDATE_SQUARES] == NOT_MEASURED)).any(
        axis=1
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        l2 = np.sqrt(sums[:, SUM_SQUARES])
        weight_l2 = np.sqrt(sums[:, WEIGHT_SQUARES])
        ratios = np.sqrt(sums[:, UPDATE_SQUARES]) / weight_l2
    # Not `weight_squares > 0` alone: NaN weights have no ratio either.
    measured = (sums[:, WEIGHT_SQUARES] > 0) & ~unmeasured
    sizes = groups.sizes
    for row, (layer, variable) in enumerate(groups.labels):
        if layers_only and variable is not None:
            continue
        yield {
            "step": record.step,
            "epoch": record.epoch,
            "layer": layer,
            "variable": variable,
            "l2": float(l2[row]),
            "mean_abs": float(sums[row, SUM_ABS]) / int(sizes[row])
            if sizes[row]
            else 0.0,
            "max_abs": float(largest[row]),
            "weight_l2": float(weight_l2[row]),
            "update_ratio": float(ratios[row]) if measured[row] else None,
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
