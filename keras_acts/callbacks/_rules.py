"""Every kind of problem the monitors flag, in one place: its detection rule,
its thresholds, its advice and the docs page that explains it.

Both monitors' `flags()`, the marks in their `summary()` tables, the live
warnings during `fit` and `keras_acts.diagnose` all read the `Finding`s made
here, so they cannot disagree. A finding is a `Flag` and the layers it
covers (those a summary table marks).

Adding a kind: a `Rule` in `RULES`, its detection in `gradient_findings`,
`activation_findings` or `input_findings`, a test that it fires on a broken
model and stays silent on a healthy one, and a section on its docs page.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from keras_acts import _backends, _warnings
from keras_acts.diagnosis import DiagnosisWarning, Flag

GRADIENT_DOC = "Diagnosing gradient flow"
UNITS_DOC = "Dead and saturated units"
DYNAMICS_DOC = "Learning rate and batch size"
GLOBAL = "(global)"


@dataclass(frozen=True)
class Rule:
    """A kind of flag: which monitor raises it, the mark its layers get in
    that monitor's summary table, what to try and where the docs explain it."""

    kind: str
    monitor: str
    mark: str
    advice: str
    doc: str


RULES = (
    Rule(
        "nonfinite",
        "GradientMonitor",
        "non-finite",
        "try a lower learning rate or gradient clipping (clipnorm=1.0), and "
        "check the inputs and targets for NaN",
        GRADIENT_DOC,
    ),
    Rule(
        "exploding",
        "GradientMonitor",
        "exploding",
        "try a lower learning rate, gradient clipping (clipnorm=1.0) or smaller "
        "initial weights",
        GRADIENT_DOC,
    ),
    Rule(
        "vanishing",
        "GradientMonitor",
        "vanishing",
        "try ReLU-family activations (relu, keras_acts.PReLU, ParametricELU), "
        "He initialization, or Standardize the inputs",
        GRADIENT_DOC,
    ),
    Rule(
        "stalled",
        "GradientMonitor",
        "stalled",
        "the gradients have vanished or the learning rate is too small: look "
        "for vanishing layers, or raise the learning rate",
        GRADIENT_DOC,
    ),
    Rule(
        "dead",
        "ActivationMonitor",
        "dead",
        "try PReLU, LeakyReLU or ELU, a lower learning rate, or He initialization",
        UNITS_DOC,
    ),
    Rule(
        "saturated",
        "ActivationMonitor",
        "saturated",
        "Standardize the inputs, use smaller initial weights, or a ReLU-family "
        "activation",
        UNITS_DOC,
    ),
    Rule(
        "off_center",
        "ActivationMonitor",
        "not zero-centered",
        "try tanh or a zero-centered activation such as keras_acts.ParametricELU",
        "Why activations matter",
    ),
    Rule(
        "inputs_off_center",
        "ActivationMonitor",
        "inputs off center",
        "Standardize them (keras_acts.Standardize, adapted on the training data)",
        "Preprocessing",
    ),
    Rule(
        "inputs_unscaled",
        "ActivationMonitor",
        "inputs on different scales",
        "Standardize them per feature (keras_acts.Standardize, adapted on the "
        "training data)",
        "Preprocessing",
    ),
    Rule(
        "frozen",
        "ActivationMonitor",
        "frozen",
        "set `trainable = True` on the layers to train (if they are meant to "
        "stay fixed, load their trained weights first)",
        GRADIENT_DOC,
    ),
    Rule(
        "lr_too_high",
        "ActivationMonitor",
        "learning rate too high",
        "try a learning rate 3 to 10 times lower, or a schedule that warms up to it",
        DYNAMICS_DOC,
    ),
    Rule(
        "noisy_gradients",
        "ActivationMonitor",
        "noisy gradients",
        "try a larger batch size, or a lower learning rate for this batch size",
        DYNAMICS_DOC,
    ),
    Rule(
        "targets_unscaled",
        "ActivationMonitor",
        "targets unscaled",
        "train on standardized targets (subtract their mean, divide by their "
        "standard deviation) and undo it on the predictions",
        "Preprocessing",
    ),
)
RULES_BY_KIND = {rule.kind: rule for rule in RULES}


def kinds_of(monitor: str) -> tuple[str, ...]:
    return tuple(rule.kind for rule in RULES if rule.monitor == monitor)


@dataclass(frozen=True)
class Finding:
    flag: Flag
    layers: tuple[str, ...]  # the layers the flag covers, marked in tables


def _finding(kind: str, layer: str, problem: str, layers=None) -> Finding:
    rule = RULES_BY_KIND[kind]
    flag = Flag(kind, layer, problem, rule.advice, rule.doc)
    return Finding(flag, tuple(layers) if layers else (layer,))


def marks(findings: Iterable[Finding]) -> dict[str, list[str]]:
    """Per layer, the marks of the findings that cover it, in order."""
    marked: dict[str, list[str]] = {}
    for finding in findings:
        for layer in finding.layers:
            marked.setdefault(layer, []).append(RULES_BY_KIND[finding.flag.kind].mark)
    return marked


# Advice that fits the model: a ReLU net's gradients vanish because its units
# died, not for want of a ReLU; a learning rate high for its optimizer is
# named with its value.
SATURATING = {"sigmoid", "hard_sigmoid", "tanh", "hard_tanh", "softsign"}
# Optimizers that scale each step by the gradients' own size, and the
# learning rate from which a step counts as large, for them and for others.
ADAPTIVE = {"Adam", "AdamW", "Adamax", "Nadam", "RMSprop", "Adagrad", "Adadelta"}
HIGH_LEARNING_RATE = {True: 1e-2, False: 0.5}


@dataclass(frozen=True)
class Context:
    """What advice is fitted to: the nonlinearities a model applies, and the
    optimizer that trains it with its learning rate."""

    activations: frozenset[str] = frozenset()
    optimizer: str | None = None
    learning_rate: float | None = None

    @property
    def adaptive(self) -> bool:
        return self.optimizer in ADAPTIVE

    @property
    def high_learning_rate(self) -> bool:
        return (
            self.learning_rate is not None
            and self.learning_rate >= HIGH_LEARNING_RATE[self.adaptive]
        )


def _fitted_advice(flag: Flag, context: Context) -> str:
    kind, advice = flag.kind, flag.advice
    rate = f"{context.optimizer} learning_rate={context.learning_rate:g}"
    if kind == "vanishing" and not context.activations & SATURATING:
        advice = (
            "no saturating activation here: look for dead units "
            "(ActivationMonitor), and try He initialization, residual "
            "connections or normalization layers"
        )
        if context.high_learning_rate:
            advice = f"try a lower learning rate ({rate} is high); " + advice
    elif context.high_learning_rate:
        advice = advice.replace(
            "a lower learning rate", f"a lower learning rate ({rate} is high)"
        )
    if context.high_learning_rate and rate not in advice:
        # Whatever the flag, a rate this high is part of what to look at.
        advice += f"; and {rate} is high"
    return advice


def fitted(findings: list[Finding], context: Context | None) -> list[Finding]:
    """`findings` with advice fitted to `context` where one is known."""
    if context is None:
        return findings
    return [
        Finding(
            replace(finding.flag, advice=_fitted_advice(finding.flag, context)),
            finding.layers,
        )
        for finding in findings
    ]


# GradientMonitor's rules.
# A global norm this many times the first one counts as exploding; so does
# one above `exploding_threshold` with a step that moves the weights by at
# least this fraction of their norm.
GROWTH_FLAG = 1e3
EXPLODING_UPDATE_RATIO = 0.1
# A layer is vanishing when at least this share of the records finds it
# below `vanishing_ratio` (early records count: a stuck net's gradients later
# shrink everywhere alike).
VANISHING_SHARE = 0.05
# Learning has stalled when the updates are smaller than this fraction of the
# weights, by the median over the records of the later half of the run's
# steps (at least STALLED_LATER of them, the last ones: freq="auto" records
# ever more sparsely), out of at least STALLED_RECORDS.
STALLED_UPDATE_RATIO = 1e-6
STALLED_RECORDS = 10
STALLED_LATER = 3
# A run whose loss fell this far from its first epoch's has converged.
CONVERGED_FALL = 1e-3


class GradientRun:
    """What the gradient rules need from every record of a `fit`, kept as it
    goes, so that they cost the same at the 20,000th record as at the first."""

    def __init__(self, vanishing_ratio: float) -> None:
        self.vanishing_ratio = vanishing_ratio
        self.records = 0
        self.first_step: int | None = None
        self.first_norm: float | None = None
        # The largest finite global norm, its step and the update ratio then.
        self.peak: tuple[float, int, float | None] = (0.0, 0, None)
        self.nonfinite: tuple[int, list[str]] | None = None
        # Per layer: records below vanishing_ratio, the lowest ratio to the
        # output layer's norm, its step, and that output layer.
        self.vanishing: dict[str, list] = {}
        self.update_ratios: list[tuple[int, float]] = []  # (step, ratio)
        # The loss of the first epoch and of the last (Keras's epoch logs).
        self.losses: tuple[float, float] | None = None

    def add_loss(self, loss: Any) -> None:
        """Takes an epoch's loss from Keras's logs (absent in a custom loop)."""
        if isinstance(loss, numbers.Real) and math.isfinite(loss):
            first = loss if self.losses is None else self.losses[0]
            self.losses = (first, float(loss))

    def converged(self) -> bool:
        """Whether the loss fell CONVERGED_FALL-fold: then tiny updates are
        the end of learning, not a stall (the gradients fell with the loss)."""
        if self.losses is None:
            return False
        first, last = self.losses
        return first > 0 and 0 <= last <= CONVERGED_FALL * first

    def add(
        self, rows: dict[str, dict[str, Any]], step: int, unplaced: Container = ()
    ) -> None:
        """Takes one record's layer rows (`{layer: row}`, input side first,
        `GLOBAL` last); the `unplaced` layers, whose place in the net is not
        known, are left out of the vanishing rule."""
        self.records += 1
        if self.first_step is None:
            self.first_step = step
        layers = [layer for layer in rows if layer != GLOBAL]
        norm = rows[GLOBAL]["l2"]
        if not math.isfinite(norm) or not math.isfinite(rows[GLOBAL]["weight_l2"]):
            if self.nonfinite is None:
                bad = [
                    layer
                    for layer in layers
                    if not math.isfinite(rows[layer]["l2"] + rows[layer]["weight_l2"])
                ]
                self.nonfinite = (step, bad)
            return
        if self.first_norm is None:
            self.first_norm = norm
        ratio = rows[GLOBAL]["update_ratio"]
        if norm > self.peak[0]:
            self.peak = (norm, step, ratio)
        elif self.peak[2] is None and ratio is not None and self.peak[0] > 0:
            # The peak was a micro-batch that only accumulated its gradient:
            # its step is the update it went into, the next one measured.
            self.peak = (*self.peak[:2], ratio)
        if ratio is not None:
            self.update_ratios.append((step, ratio))
        output = reference_layer(rows, unplaced)
        if output is None:
            return
        output_norm = rows[output]["l2"]
        placed = [layer for layer in layers if layer not in unplaced]
        # Vanishing is a trend with depth: the layers from the input up to
        # this one all get little. One small layer among healthy ones (an
        # attention query at initialisation, a branch behind a layer scale
        # of 1e-6 in a residual net) is not.
        below_so_far = True
        for layer in placed[: placed.index(output)]:
            ratio = rows[layer]["l2"] / output_norm
            below_so_far = below_so_far and ratio < self.vanishing_ratio
            state = self.vanishing.setdefault(layer, [0, math.inf, step, output])
            state[0] += below_so_far
            if ratio < state[1]:
                state[1:] = [ratio, step, output]


def reference_layer(
    rows: dict[str, dict[str, Any]], unplaced: Container = ()
) -> str | None:
    """The layer whose gradient norm the others are compared with: the last
    placed one whose norm is positive and finite. An output that no loss
    reaches (a loss weight of 0, an auxiliary head left out of the loss)
    gets a zero gradient, and would make every ratio infinite or NaN."""
    for layer in reversed(rows):
        if layer != GLOBAL and layer not in unplaced:
            if 0 < rows[layer]["l2"] < math.inf:
                return layer
    return None


def gradient_findings(run: GradientRun, exploding_threshold: float) -> list[Finding]:
    """GradientMonitor's findings over the records `run` has taken."""
    if not run.records:
        return []
    findings = []
    if run.nonfinite is not None:
        step, layers = run.nonfinite
        findings.append(
            _finding(
                "nonfinite",
                layers[0] if layers else GLOBAL,
                f"non-finite gradients or weights (NaN or Inf) at step {step}, "
                f"in {', '.join(layers) or 'the model'}",
                layers,
            )
        )
    peak, peak_step, update_ratio = run.peak
    growth = peak / run.first_norm if run.first_norm else 0.0
    # A large norm is harmless where the steps stay small (an adaptive
    # optimizer scales them; a normalised net's gradients are large at
    # initialisation): it counts when the weights then move by a large part.
    large_steps = update_ratio is None or update_ratio >= EXPLODING_UPDATE_RATIO
    if (peak > exploding_threshold and large_steps) or growth >= GROWTH_FLAG:
        problem = f"exploding gradients: global norm {peak:.1e} at step {peak_step}"
        if growth >= GROWTH_FLAG:
            problem += f", {growth:.0e} times its norm at step {run.first_step}"
        else:
            problem += f", above exploding_threshold={exploding_threshold:g}"
        if update_ratio is not None and large_steps:
            # Past 1000%, as a multiple ("by 5.0e+12% of their norm" reads badly).
            if not math.isfinite(update_ratio):
                moved = "a non-finite amount"
            elif update_ratio < 10:
                moved = f"{update_ratio:.0%}"
            else:
                moved = f"{update_ratio:.1e} times their norm"
            problem += f", moving the weights by {moved} in one step"
        findings.append(_finding("exploding", GLOBAL, problem))
    vanishing = [
        layer
        for layer, (below, *_) in run.vanishing.items()
        if below >= max(1.0, VANISHING_SHARE * run.records)
    ]
    if vanishing:
        worst = min(vanishing, key=lambda layer: run.vanishing[layer][1])
        _, ratio, step, output = run.vanishing[worst]
        findings.append(
            _finding(
                "vanishing",
                vanishing[-1],
                f"gradients vanish at and below this layer: {worst} gets "
                f"{ratio:.1e} of {output}'s gradient norm at step {step}",
                vanishing,
            )
        )
    if len(run.update_ratios) >= STALLED_RECORDS and not run.converged():
        (first, _), (last, _) = run.update_ratios[0], run.update_ratios[-1]
        later = [
            (step, ratio)
            for step, ratio in run.update_ratios
            if step >= (first + last) / 2
        ]
        if len(later) < STALLED_LATER:
            later = run.update_ratios[-STALLED_LATER:]
        median = float(np.median([ratio for _, ratio in later]))
        if median < STALLED_UPDATE_RATIO:
            findings.append(
                _finding(
                    "stalled",
                    GLOBAL,
                    f"learning has stalled: the updates are {median:.0e} of the "
                    f"weights' norm (median of the {len(later)} records from "
                    f"step {later[0][0]})",
                )
            )
    return findings


# ActivationMonitor's rules.
# The output range of the saturating activations: saturated means within
# `saturation_margin` (as a fraction of the range) of either end.
SATURATING_RANGES = {
    "sigmoid": (0.0, 1.0),
    "hard_sigmoid": (0.0, 1.0),
    "softmax": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
    "hard_tanh": (-1.0, 1.0),
    "softsign": (-1.0, 1.0),
}
# Activations that are flat at 0 for negative inputs: a unit that outputs 0
# for every example gets no gradient and never recovers. A tanh, leaky, ELU
# or maxout unit with negative outputs still learns, so it is not "dead".
DYING_ACTIVATIONS = {"relu", "relu6"}
# Activations whose outputs are all positive: not zero-centered by design.
POSITIVE_ACTIVATIONS = {"sigmoid", "hard_sigmoid"}
FLAG_DEAD = 0.5
# Dead units never come back: a layer counts when more than half its units
# were dead at each of the last DEAD_RECORDS records, which leaves out units
# that a small probe batch finds idle for a while.
DEAD_RECORDS = 3
FLAG_SATURATED = 0.5


def dead_fraction(row: dict[str, Any]) -> float | None:
    """Dead units counted on `dead_data` where they were, else on the probe."""
    if row["dead_fraction_data"] is not None:
        return row["dead_fraction_data"]
    return row["dead_fraction"]


def activation_findings(
    records: Sequence[list[dict[str, Any]]], not_hidden: set[str]
) -> list[Finding]:
    """ActivationMonitor's findings in its layers, from the rows of its
    records (the last is judged; the dead rule also reads the ones before).
    `not_hidden` are the layers whose outputs are not hidden units: the
    model's own outputs (a confident classifier saturates) and gates (a
    squeeze-and-excitation block's sigmoid); they saturate and need not be
    centered by design."""
    if not records:
        return []
    findings = []
    last = records[-1]
    recent = [rows for rows in records[-DEAD_RECORDS:] if len(rows) == len(last)]
    for index, row in enumerate(last):
        layer = row["layer"]
        dead = dead_fraction(row)
        persistent = len(records[-DEAD_RECORDS:]) == DEAD_RECORDS and all(
            (dead_fraction(rows[index]) or 0.0) > FLAG_DEAD for rows in recent
        )
        if dead is not None and dead > FLAG_DEAD and persistent:
            where = "on the probe batch"
            if row["dead_fraction_data"] is not None:
                where = "on dead_data"
            findings.append(
                _finding(
                    "dead",
                    layer,
                    f"{dead:.0%} of units dead {where} at step {row['step']}",
                )
            )
        saturated = row["saturated_fraction"]
        hidden = layer not in not_hidden
        if saturated is not None and saturated > FLAG_SATURATED and hidden:
            findings.append(
                _finding(
                    "saturated",
                    layer,
                    f"{saturated:.0%} of outputs saturated at step {row['step']}",
                )
            )
    off_center = [
        row
        for row in last
        if row["activation"] in POSITIVE_ACTIVATIONS
        and row["layer"] not in not_hidden
        and abs(row["mean"]) > row["std"]
    ]
    if off_center:
        first = off_center[0]
        layers = [row["layer"] for row in off_center]
        findings.append(
            _finding(
                "off_center",
                first["layer"],
                f"outputs not zero-centered in {len(off_center)} layer(s) "
                f"({', '.join(layers)}; here mean {first['mean']:.2f}, std "
                f"{first['std']:.2f}): the next layer's weight gradients "
                "share one sign per example",
                layers,
            )
        )
    return findings


# Fewer rows (examples, or positions of them) than this say nothing of
# centering, nor of dead units: one example has no spread, two standardized
# ones have a mean as large as their spread on average, and a healthy ReLU
# unit is 0 on one example half of the time.
MIN_PROBE_ROWS = 4


# An input feature whose spread is this many times the median feature's:
# it dominates the first layer's sums, and one learning rate cannot suit
# both its weights and the others'.
INPUT_SCALE_RATIO_FLAG = 100.0
FEATURE_CENTERING_ROWS = 16


def input_findings(inputs: dict[str, np.ndarray], pixels: bool = True) -> list[Finding]:
    """Inputs (by the name a flag gives them) whose features sit far from 0
    relative to their spread: every weight gradient of a first-layer unit
    then shares one sign; or, centered, whose features spread on very
    different scales. uint8 inputs are judged as pixels where `pixels`
    (not where an Embedding takes them); other integers are token or
    category ids."""
    findings = []
    for name, values in inputs.items():
        numbers = np.issubdtype(values.dtype, np.floating) or (
            pixels and values.dtype == np.uint8
        )
        if not numbers or values.ndim < 2:
            continue
        features = values.reshape(-1, values.shape[-1]).astype(np.float64)
        if len(features) < MIN_PROBE_ROWS:
            continue
        centers = np.abs(features.mean(axis=0))
        spreads = features.std(axis=0)
        mean, std = float(np.mean(centers)), float(np.mean(spreads))
        # Feature by feature too: one wide feature raises the average spread
        # above the centers of all the others. Over 16 examples at least,
        # where a centered feature's mean strays past its spread by chance
        # once in thousands of features; NaN features are left out.
        judged = np.isfinite(centers) & np.isfinite(spreads)
        centers, spreads = centers[judged], spreads[judged]
        off_center = int(np.sum(centers > spreads))
        if len(features) < FEATURE_CENTERING_ROWS:
            off_center = 0
        if mean > std:
            problem = (
                f"features average {mean:.3g} in absolute value, with a spread "
                f"of {std:.3g}"
            )
        elif off_center > len(centers) / 2:
            problem = (
                f"{off_center} of {len(centers)} features average more than their "
                f"spread in absolute value (median {np.median(centers):.3g}, with "
                f"a median spread of {np.median(spreads):.3g})"
            )
        else:
            findings += _scale_findings(name, spreads)
            continue
        findings.append(
            _finding(
                "inputs_off_center", name, f"inputs far from zero-centered: {problem}"
            )
        )
    return findings


def _scale_findings(name: str, spreads: np.ndarray) -> list[Finding]:
    """A feature far wider than the median one (constant features left
    out): raw units beside standardized ones, a count beside rates."""
    varying = spreads[spreads > 0]
    if varying.size < 2:
        return []
    typical, widest = float(np.median(varying)), float(np.max(varying))
    if widest <= INPUT_SCALE_RATIO_FLAG * typical:
        return []
    wide = int(np.sum(varying > INPUT_SCALE_RATIO_FLAG * typical))
    return [
        _finding(
            "inputs_unscaled",
            name,
            f"input features on very different scales: {wide} of {varying.size} "
            f"spread more than {INPUT_SCALE_RATIO_FLAG:g} times the median "
            f"feature's {typical:.3g}, up to {widest:.3g}",
        )
    ]


# Regression targets whose mean or spread is this large: the loss and its
# gradients start this many times (squared, for the mean squared error) too
# large, and the output layer spends its first steps learning the scale.
TARGET_SCALE_FLAG = 10.0


def target_findings(name: str, targets: Any) -> list[Finding]:
    """Regression targets (counts too) far from zero mean and unit scale."""
    if (
        not isinstance(targets, np.ndarray)
        or not np.issubdtype(targets.dtype, np.number)
        or targets.dtype == bool
    ):
        return []
    columns = targets.reshape(len(targets), -1).astype(np.float64)
    mean = float(np.max(np.abs(columns.mean(axis=0))))
    std = float(np.max(columns.std(axis=0)))
    if max(mean, std) <= TARGET_SCALE_FLAG:
        return []
    return [
        _finding(
            "targets_unscaled",
            name,
            f"regression targets far from zero mean and unit scale: mean up to "
            f"{mean:.3g} in absolute value, standard deviation up to {std:.3g}",
        )
    ]


def logits_findings(outputs: Sequence[tuple[str, Any, str | None]]) -> list[Finding]:
    """For outputs given to a loss that takes logits (the `(name, values,
    nonlinearity)` of each): those already squashed, by a sigmoid or a
    softmax at the end of the model, or seen to be probabilities (each row
    within [0, 1] and summing to 1) where a subclassed model leaves no graph
    to tell the nonlinearity by. The loss squashes them again, to values
    within [0, 1]: a softmax keeps every prediction near uniform, a sigmoid
    keeps every probability between 0.5 and 0.73, and the gradients small
    however confident the model."""
    findings = []
    for name, values, nonlinearity in outputs:
        values = np.asarray(_backends.to_numpy(values), np.float64)
        if nonlinearity not in ("sigmoid", "softmax") and not _probability_rows(values):
            continue
        squash = "sigmoid" if nonlinearity == "sigmoid" else "softmax"
        kept = (
            "every probability between 0.5 and 0.73"
            if squash == "sigmoid"
            else "the predictions near uniform"
        )
        finding = _finding(
            "saturated",
            name,
            f"outputs already squashed by a {squash} (within [0, 1]) given to "
            f"a loss with from_logits=True: its {squash} of values within "
            f"[0, 1] keeps {kept} and the gradients small",
        )
        advice = (
            f"drop the {squash} at the end of the model (the loss applies "
            "it), or compile the loss with from_logits=False"
        )
        findings.append(replace(finding, flag=replace(finding.flag, advice=advice)))
    return findings


def _probability_rows(values: np.ndarray) -> bool:
    """Whether `values` are distributions along their last axis: at least
    two entries, each within [0, 1], each row summing to 1."""
    if values.ndim < 2 or values.shape[-1] < 2:
        return False
    rows = values.reshape(-1, values.shape[-1])
    return bool(
        rows.min() >= 0.0
        and rows.max() <= 1.0
        and np.allclose(rows.sum(axis=-1), 1.0, atol=1e-3)
    )


def frozen_findings(layers: Sequence[tuple[str, Any]]) -> list[Finding]:
    """Layers (the `(path, layer)` pairs of a model) frozen at their initial
    weights: `trainable` is off, yet every bias is exactly zero, as an
    initializer leaves it and no training does. A layer frozen on purpose
    holds trained weights (a pretrained base in fine-tuning) and is not
    flagged; a layer without a bias cannot be told apart and is not either."""
    frozen = []
    for path, layer in layers:
        own = {v.name: v for v in layer.weights} if not layer.trainable else {}
        if (
            "kernel" in own
            and "bias" in own
            and not np.any(_backends.to_numpy(own["bias"]))
        ):
            frozen.append(path)
    if not frozen:
        return []
    return [
        _finding(
            "frozen",
            frozen[0],
            f"{len(frozen)} layer(s) frozen at their initial weights "
            f"({', '.join(frozen)}; trainable=False and biases all zero): "
            "training never changes them",
            frozen,
        )
    ]


# The learning rate and the batch size, from the measurements of
# `_dynamics_probe`. Both kinds need the loss on the probe batch to make no
# progress (at the latest record still above PROGRESS times the first):
# healthy training often runs at the edge of stability, and a normalized
# net's gradients can be noisy at first, and both still learn.
PROGRESS = 0.9
# Probe losses at this many steps at least: one step's change on a small
# probe is no trend.
TREND_RECORDS = 3
# The learning rate is too high when a step overshoots the sharpest valley
# of the loss by this many times what the optimizer can take stably.
STABILITY_FLAG = 2.0
# The gradients are noisy when the mini-batch is this many times smaller
# than the gradient noise scale at the first measurement of the fit: its
# gradient is then mostly noise. (The noise scale is measured up to the
# probe's number of examples, so a vanished or dead gradient, whose signal
# is too small to measure, does not count as noise.) Later measurements
# are not judged: the noise scale grows as training converges, and once a
# learning rate too high has thrown the weights about, in healthy and
# broken runs alike.
NOISE_FLAG = 10.0


def dynamics_findings(
    losses: Sequence[tuple[int, float]],
    records: Sequence[dict[str, Any]],
    batch_size: int | None,
) -> list[Finding]:
    """Learning-rate and gradient-noise findings from the probe losses
    `(step, loss)` of a fit and its dynamics `records`."""
    if len({step for step, _ in losses}) < TREND_RECORDS:
        return []
    (first_step, first), (step, latest) = losses[0], losses[-1]
    if latest < PROGRESS * first or not math.isfinite(latest):
        return []
    trend = (
        f"the probe loss went from {first:.4g} at step {first_step} to "
        f"{latest:.4g} at step {step}"
    )
    findings = []
    judged = [r for r in records if r["stability"] is not None]
    worst = max(judged, key=lambda r: r["stability"], default=None)
    if worst is not None and worst["stability"] >= STABILITY_FLAG:
        findings.append(
            _finding(
                "lr_too_high",
                GLOBAL,
                f"learning rate too high: at step {worst['step']} a step of "
                f"{worst['step_size']:.2g} along the loss's sharpest curvature "
                f"({worst['sharpness']:.3g}) is {worst['stability']:.3g} times "
                f"what the optimizer takes stably, and {trend}",
            )
        )
    first_noise = next((r for r in records if r["noise_scale"]), None)
    if first_noise is not None and batch_size:
        scales = first_noise["noise_scale"]
        overall = scales.get(GLOBAL) or 0.0
        noisy = [
            layer
            for layer, scale in scales.items()
            if layer != GLOBAL and (scale or 0.0) >= NOISE_FLAG * batch_size
        ]
        if overall >= NOISE_FLAG * batch_size and noisy:
            findings.append(
                _finding(
                    "noisy_gradients",
                    GLOBAL,
                    f"noisy gradients: at step {first_noise['step']} a batch of "
                    f"{batch_size} is {overall / batch_size:.3g} times smaller "
                    f"than the gradient noise scale ({overall:.3g} examples), "
                    f"and {trend}",
                    noisy,
                )
            )
    return findings


# Warnings during training.
def check_warn(warn: bool | Sequence[str], kinds: Sequence[str]) -> frozenset[str]:
    """The kinds of flag to warn about, from a monitor's `warn` argument."""
    if isinstance(warn, bool):
        return frozenset(kinds if warn else ())
    if isinstance(warn, str) or not isinstance(warn, Iterable):
        raise ValueError(
            "`warn` must be True, False or a list of flag kinds from "
            f"{tuple(kinds)}. Received: warn={warn!r}"
        )
    warn = list(warn)
    unknown = [kind for kind in warn if kind not in kinds]
    if unknown:
        raise ValueError(
            f"`warn` names unknown flag kinds {unknown}; expected kinds from "
            f"{tuple(kinds)}. Received: warn={warn!r}"
        )
    return frozenset(warn)


# A dead layer is warned about during training once the state has held for
# this many steps, or at the end of the fit: in a deep ReLU net, units that
# the probe finds idle early often come back as the layers below them train.
CONFIRM_STEPS = {"dead": 50}


class LiveWarnings:
    """Warns of each flag the first time it appears in a `fit`: once per kind
    and layer, and for the kinds in `CONFIRM_STEPS` once it has held that
    many steps."""

    def __init__(self, kinds: frozenset[str]) -> None:
        self.kinds = kinds
        self._given: dict[tuple[str, str], Flag] = {}
        self._since: dict[tuple[str, str], int] = {}

    def give(
        self, flags: Iterable[Flag], monitor: str, step: int | None = None
    ) -> None:
        """Warns of `flags` not warned of yet, at `step`; with no step (the
        end of the fit), of every one: each has held to the end."""
        current = {(flag.kind, flag.layer): flag for flag in flags}
        self._since = {key: self._since.get(key, step) for key in current}
        for key, flag in current.items():
            confirmed = step is None or (
                step - self._since[key] >= CONFIRM_STEPS.get(flag.kind, 0)
            )
            if flag.kind in self.kinds and key not in self._given and confirmed:
                self._given[key] = flag
                _warnings.warn(f"{monitor}: {flag}", DiagnosisWarning)

    def cleared(self, flags: Iterable[Flag]) -> list[Flag]:
        """The flags warned about that `flags` (the current ones) no longer
        hold: a state that cleared during training, which the reports mark
        as such."""
        current = {(flag.kind, flag.layer) for flag in flags}
        return [flag for key, flag in self._given.items() if key not in current]
