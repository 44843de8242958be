"""ActivationMonitor's measurements of how training moves, on the probe
batch and on a schedule of their own (`dynamics_freq`): the loss, the
curvature against the step the optimizer takes, and each layer's gradient
noise against the batch size.

- Curvature: the largest eigenvalue of the loss's Hessian with respect to
  the trainable weights, by Lanczos iteration (power iteration that keeps
  its Krylov space) of Hessian-vector products (the backend's own double
  differentiation). Gradient descent with step
  size `eta` is unstable along a direction of curvature `lambda` once
  `eta * lambda > 2` (with heavy-ball momentum `beta`, `2 + 2 * beta`;
  with Adam's moving average of gradients, `(2 + 2 * beta_1) / (1 -
  beta_1)`, Cohen et al. 2022). `stability` is that product over that
  threshold: above 1 the step overshoots the sharpest valley.
- The step of an adaptive optimizer is measured, not configured: the norm
  of the update it makes at that step over the norm of the probe's
  gradient (`effective_step`).
- Gradient noise: the probe's examples are split into groups, whose
  gradients' spread estimates the per-example gradient variance
  (McCandlish et al. 2018). `noise_scale` is the batch size at which the noise in a
  mini-batch gradient equals its signal: a batch far below it takes steps
  mostly of noise.
"""

from __future__ import annotations

import math
import time
from typing import Any

import keras
import numpy as np

from keras_acts import _backends
from keras_acts.callbacks._gradient_statistics import VariableNames
from keras_acts.callbacks._rules import GLOBAL

# Hessian-vector products per curvature measurement: the stability rule
# needs the curvature within a factor, not to three digits.
LANCZOS_ITERATIONS = 12
# The probe's examples are split into this many groups for the gradient
# noise: each group's gradient is one backward pass of the probe.
NOISE_GROUPS = 8
# Optimizers whose momentum is a moving average of the gradients (Adam's
# beta_1), by the name of their momentum coefficient; SGD's and RMSprop's
# `momentum` is heavy-ball momentum.
AVERAGED_MOMENTUM = "beta_1"
HEAVY_BALL_MOMENTUM = "momentum"


# With dynamics_freq="auto", the measurements take at most this fraction of
# the time spent training between them.
DYNAMICS_BUDGET = 0.02


# A measurement's forward and backward passes of the probe batch: the
# loss's gradient, one per noise group, and two per Hessian-vector product.
MEASUREMENT_PASSES = 1 + NOISE_GROUPS + 2 * LANCZOS_ITERATIONS


class TimeBudget:
    """Spaces measurements so that their time stays within `budget` of the
    time between them: each is due once the time since the last one ended
    (or since the budget was made), times `budget`, covers what the last one
    took (or what the first is expected to take; with no expectation, the
    first is due at once)."""

    def __init__(self, budget: float = DYNAMICS_BUDGET, clock=time.perf_counter):
        self.budget = budget
        self.clock = clock
        self._cost: float | None = None
        self._since = clock()

    def expect(self, seconds: float) -> None:
        """Prices the first measurement at `seconds`."""
        if self._cost is None:
            self._cost = seconds

    def due(self) -> bool:
        if self._cost is None:
            return True
        return (self.clock() - self._since) * self.budget >= self._cost

    def time(self, work) -> float:
        """Runs `work()`; returns the seconds it took."""
        began = self.clock()
        work()
        return self.clock() - began

    def measure(self, measurement):
        """Runs `measurement()`, timed; returns what it returns."""
        began = self.clock()
        result = measurement()
        self._since = self.clock()
        self._cost = self._since - began
        return result


def stability_threshold(optimizer) -> float:
    """The curvature times step size above which `optimizer`'s updates
    overshoot a quadratic valley."""
    # Attributes, not get_config(): its conversion of the learning rate
    # warns under numpy 2 on PyTorch and JAX.
    averaged = getattr(optimizer, AVERAGED_MOMENTUM, None)
    if averaged is not None:
        beta = float(averaged)
        return (2.0 + 2.0 * beta) / (1.0 - beta)
    beta = float(getattr(optimizer, HEAVY_BALL_MOMENTUM, None) or 0.0)
    if getattr(optimizer, "nesterov", False):
        return (2.0 + 2.0 * beta) / (1.0 + 2.0 * beta)
    return 2.0 + 2.0 * beta


def configured_step(optimizer) -> float | None:
    """The step size of an optimizer whose step is its learning rate times
    the gradient (SGD); None for one that scales each step by the
    gradients' own size."""
    if type(optimizer).__name__ != "SGD":
        return None
    return float(_backends.to_numpy(optimizer.learning_rate))


def largest_eigenvalue(product, shapes, seed: int = 0) -> float:
    """The largest eigenvalue of the symmetric operator `product` (a list of
    arrays of `shapes` to a list of arrays), by Lanczos iteration from a
    fixed random start: power iteration that keeps its Krylov space, so
    that it converges in fewer products and finds the largest eigenvalue,
    not the one of largest magnitude (a loss can curve down more steeply
    than up). Without reorthogonalization: it keeps three vectors, however
    large the model, and lost orthogonality only repeats eigenvalues found
    already."""
    sizes = [int(np.prod(shape)) for shape in shapes]
    total = sum(sizes)
    bounds = np.cumsum(sizes)[:-1]

    def apply(flat):
        parts = [
            part.reshape(shape)
            for part, shape in zip(np.split(flat, bounds), shapes, strict=True)
        ]
        return np.concatenate(
            [np.asarray(image, np.float64).ravel() for image in product(parts)]
        )

    vector = np.random.default_rng(seed).standard_normal(total)
    vector /= np.linalg.norm(vector)
    previous = np.zeros(total)
    diagonal, off_diagonal = [], []
    for _ in range(min(LANCZOS_ITERATIONS, total)):
        image = apply(vector)
        if not np.all(np.isfinite(image)):
            return math.nan
        diagonal.append(float(image @ vector))
        image -= diagonal[-1] * vector
        if off_diagonal:
            image -= off_diagonal[-1] * previous
        norm = float(np.linalg.norm(image))
        if norm <= 1e-12 * max(1.0, abs(diagonal[-1])):
            break  # the Krylov space is invariant: its eigenvalues are exact
        off_diagonal.append(norm)
        previous, vector = vector, image / norm
    count = len(diagonal)
    tridiagonal = (
        np.diag(diagonal)
        + np.diag(off_diagonal[: count - 1], 1)
        + np.diag(off_diagonal[: count - 1], -1)
    )
    return float(np.linalg.eigvalsh(tridiagonal).max())


class DynamicsProbe:
    """The loss, curvature and gradient noise of `model` on the probe batch.

    `predict` runs the model as the activation probe does (normalization
    layers on the batch's own statistics); `batch_size` is the training
    batch size the noise is judged at.
    """

    def __init__(self, model, predict, probe: tuple[Any, Any, Any], batch_size):
        self.model = model
        self.predict = predict
        self.x, self.y, self.sample_weight = probe
        self.variables = list(model.trainable_variables)
        names = VariableNames(model)
        self.layer_of = [names.layers[names.index_of(v)] for v in self.variables]
        self.layers = list(dict.fromkeys(self.layer_of))
        self.count = len(keras.tree.flatten(self.x)[0])
        self.batch_size = batch_size or self.count
        groups = min(NOISE_GROUPS, self.count)
        self.parts = (
            np.array_split(np.arange(self.count), groups) if groups >= 2 else []
        )
        # Per-example weights select the examples whose share of the loss is
        # differentiated. Both functions are compiled once per fit where the
        # backend compiles (TensorFlow's graphs, JAX's jit): a measurement
        # calls them twenty times.
        autodiff = _backends.module("autodiff")
        self._gradients_of = autodiff.compiled(
            lambda weights: autodiff.value_and_gradients(
                self._loss(weights), self.variables
            )[::2],
            model.variables,
        )
        everything = self._masked(np.ones(self.count, np.float32))
        self._hessian_times = autodiff.compiled(
            lambda vectors: autodiff.hessian_vector_product(
                self._loss(everything), self.variables, vectors
            ),
            model.variables,
        )

    def _loss(self, sample_weight):
        def loss():
            predictions = self.predict(self.x)
            value = self.model.compute_loss(
                x=self.x,
                y=self.y,
                y_pred=predictions,
                sample_weight=sample_weight,
                training=False,
            )
            return value, None

        return loss

    def _gradients(self, mask: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """The loss and its gradient, with the examples weighted by `mask`."""
        scalar, gradients = self._gradients_of(self._masked(mask))
        return float(_backends.to_numpy(scalar)), [
            np.zeros(v.shape) if g is None else np.asarray(_backends.to_numpy(g))
            for v, g in zip(self.variables, gradients, strict=True)
        ]

    def measure(self) -> dict[str, Any]:
        """The probe's loss, its gradient (as arrays per variable), the
        curvature, and the noise scale of each layer's gradient and of the
        whole model's (under `"(global)"`)."""
        loss, gradient = self._gradients(np.ones(self.count, np.float32))
        noise = self._noise_scales(gradient) if self.parts else {}

        def product(vector):
            return [
                np.asarray(_backends.to_numpy(p))
                for p in self._hessian_times(
                    [
                        np.asarray(v, dtype=variable.dtype)
                        for v, variable in zip(vector, self.variables, strict=True)
                    ]
                )
            ]

        sharpness = largest_eigenvalue(product, [v.shape for v in self.variables])
        return {
            "loss": loss,
            "gradient": gradient,
            "sharpness": sharpness,
            "noise_scale": noise,
        }

    def _noise_scales(self, gradient: list[np.ndarray]) -> dict[str, float | None]:
        """Per layer and `"(global)"`: tr(Sigma) / |G|^2, the batch size at
        which a mini-batch gradient's noise equals its signal.

        Each group's gradient is that of its examples' share of the loss in
        the forward pass of the whole probe (the others weigh 0), so that
        BatchNormalization sees the same batch as for the full gradient;
        scaled by `count / len(group)`, it is the group's mean gradient
        for a loss averaged over the batch (Keras's default reduction).
        """
        count = self.count
        groups = []
        for part in self.parts:
            mask = np.zeros(count, np.float32)
            mask[part] = 1.0
            _, group = self._gradients(mask)
            groups.append([g * (count / len(part)) for g in group])
        # The spread around the groups' own mean: a regularization loss,
        # counted in every group alike, cancels there.
        center = [np.mean(gs, axis=0) for gs in zip(*groups, strict=True)]
        spread = np.zeros(len(self.variables))
        for part, group in zip(self.parts, groups, strict=True):
            spread += len(part) * np.array(
                [
                    float(np.sum((g - c) ** 2))
                    for g, c in zip(group, center, strict=True)
                ]
            )
        trace = spread / (len(self.parts) - 1)
        signal = np.array([float(np.sum(g * g)) for g in gradient]) - trace / count
        scales = {}
        for layer in self.layers:
            members = [i for i, name in enumerate(self.layer_of) if name == layer]
            scales[layer] = _noise_scale(
                trace[members].sum(), signal[members].sum(), count
            )
        scales[GLOBAL] = _noise_scale(trace.sum(), signal.sum(), count)
        return scales

    def _masked(self, mask: np.ndarray):
        """The probe's sample weights times `mask` (one weight per example)."""
        if self.sample_weight is None:
            return mask

        def times_mask(weight):
            return (weight * mask.reshape((-1,) + (1,) * (np.ndim(weight) - 1))).astype(
                np.float32
            )

        return keras.tree.map_structure(times_mask, self.sample_weight)


def _noise_scale(trace: float, signal: float, examples: int) -> float | None:
    """tr(Sigma) / |G|^2; None where there is no noise to measure, or where
    it is above the probe's number of examples: the probe's own mean
    gradient then holds more noise than signal, and the signal estimate is
    the difference of two near-equal numbers (a vanished or dead layer's
    gradient, which the other rules name, is such a case)."""
    if trace <= 0.0 or signal <= 0.0 or trace / signal > examples:
        return None
    return float(trace / signal)


def update_norm(before: list[np.ndarray], variables) -> float:
    """The norm of the change of `variables` since `before`."""
    return math.sqrt(
        sum(
            float(np.sum((np.asarray(_backends.to_numpy(v), np.float64) - b) ** 2))
            for v, b in zip(variables, before, strict=True)
        )
    )
