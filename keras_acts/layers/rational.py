"""The rational activation, the Padé activation unit of Molina et al. (2020)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_acts import _validation
from keras_acts.layers import _kernels
from keras_acts.layers._channelwise import ChannelwiseActivation
from keras_acts.layers._ops import floating
from keras_acts.layers._rational_coefficients import COEFFICIENTS, DEGREES
from keras_acts.types import Constraint, Regularizer

# `silu` is another name of Swish with beta = 1.
APPROXIMATIONS = ("leaky_relu", "relu", "gelu", "swish", "silu", "tanh", "sigmoid")
VARIANTS = ("safe", "absolute")

Coefficients = str | keras.initializers.Initializer | Sequence[float] | None


class _Values(keras.initializers.Initializer):
    """Given coefficients along axis 0, the same for every channel."""

    def __init__(self, values: Sequence[float]) -> None:
        self.values = tuple(values)

    def __call__(self, shape, dtype=None):
        values = np.asarray(self.values, np.float64)
        values = values.reshape((-1,) + (1,) * (len(shape) - 1))
        return ops.cast(np.broadcast_to(values, shape), dtype or "float32")

    def get_config(self) -> dict[str, Any]:
        return {"values": list(self.values)}


def _fitted(approximation: str, variant: str, part: int, degree: int):
    """The shipped fit's numerator (`part` 0) or denominator (1), padded with
    zeros to `degree`."""
    name = "swish" if approximation == "silu" else approximation
    values = COEFFICIENTS[variant][name][part]
    size = degree + 1 if part == 0 else degree
    return tuple(values) + (0.0,) * (size - len(values))


def _coefficients_argument(name: str, value: Coefficients, size: int):
    """`value` as a tuple of `size` floats, an initializer, or None."""
    if value is None:
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        values = list(np.asarray(value, dtype=object).ravel())
        if len(values) != size or not all(_validation.is_real(v) for v in values):
            raise ValueError(
                f"`{name}` must be {size} numbers, an initializer or its name. "
                f"Received: {name}={value!r}"
            )
        return tuple(_validation.real(name, v) for v in values)
    if isinstance(value, (bool, numbers.Number)):
        raise ValueError(
            f"`{name}` must be {size} numbers, an initializer or its name. "
            f"Received: {name}={value!r}"
        )
    return _validation.keras_object(name, value, keras.initializers.get)


@keras.saving.register_keras_serializable(package="keras_acts")
class Rational(ChannelwiseActivation):
    r"""The rational activation (Padé activation unit) with learned coefficients.

    Formula, in the "safe" form of Molina et al. (2020):

    $$
    F(x) = \frac{P(x)}{Q(x)}
         = \frac{a_0 + a_1 x + \dots + a_m x^m}
                {1 + |b_1 x + b_2 x^2 + \dots + b_n x^n|}
    $$

    with all `a_k` and `b_k` learned, by default one set for the whole layer
    as in the paper. `Q(x) >= 1`, so `F` has no poles. `P` and `Q` are
    evaluated in at least float32 (float16 inputs are cast up), so inputs
    beyond about `3.4e38 ** (1 / m)` in magnitude (5e7 at `m = 5`), where
    `x ** m` overflows float32, give inf or NaN. The coefficients start
    as a least-squares fit of the activation named by `approximation` on
    [-3, 3] (shipped with the package, at the default degrees `m = 5`,
    `n = 4`).

    `variant="absolute"` is the denominator of the authors' libraries'
    default ("version A" of rational_activations, the Python reference of
    ml-research/pau): `Q(x) = 1 + |b_1| |x| + ... + |b_n| |x|^n`, even in
    `x` and also at least 1. "safe" is rational_activations' "version B".
    Not offered: "version C" (`0.1 + |b_0 + b_1 x + ...|`, which can come
    within 0.1 of a pole) and "version D" (version B with random noise on the
    coefficients in training).

    Args:
        approximation: The activation whose fit gives the initial
            coefficients: `"leaky_relu"` (slope 0.01, as in the paper),
            `"relu"`, `"gelu"`, `"swish"` (or its other name, `"silu"`),
            `"tanh"` or `"sigmoid"`; `None` to give both initializers
            instead. The fits have degrees (5, 4); larger degrees start from
            them with zeros as the extra coefficients. Defaults to
            `"leaky_relu"`.
        numerator_degree: `m`, the degree of `P`. Defaults to `5`.
        denominator_degree: `n`, the degree of the sum in `Q`. Defaults to
            `4`.
        variant: `"safe"` or `"absolute"`, the form of `Q` (see above).
            Defaults to `"safe"`.
        numerator_initializer: Initial `a_0, ..., a_m`: `m + 1` numbers, or an
            initializer or its name; `None` takes them from `approximation`.
            Defaults to `None`.
        denominator_initializer: Initial `b_1, ..., b_n`, as
            `numerator_initializer`. Defaults to `None`.
        numerator_regularizer: Regularizer of the numerator's coefficients.
            Defaults to `None`.
        denominator_regularizer: Regularizer of the denominator's
            coefficients. Defaults to `None`.
        numerator_constraint: Constraint of the numerator's coefficients.
            Defaults to `None`.
        denominator_constraint: Constraint of the denominator's coefficients.
            Defaults to `None`.
        channel_axis: `None` for one set of coefficients shared by all units,
            as in the paper; an axis (`-1` for channels-last, `1` for
            channels-first) for one set per channel along it. Defaults to
            `None`.
        shared_axes: As in `keras.layers.PReLU`: the axes (counting the batch
            axis as 0) along which the coefficients are shared; every other
            non-batch axis gets one set per index. When given, it decides the
            coefficients' shape and `channel_axis` is ignored. Defaults to
            `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        Any tensor of rank >= 2 (whose channel axis has a known size, with
        `channel_axis`). Integer and boolean inputs are cast to the compute
        dtype.

    Output shape:
        Same as the input.

    Example:
        ```python
        layer = keras_acts.Rational()  # starts as the fit of leaky ReLU
        x = np.array([[-2.0, -0.5, 0.0, 1.0, 3.0]], "float32")
        y = keras.ops.convert_to_numpy(layer(x))
        print(" ".join(f"{value:.3f}" for value in y[0]))
        print(layer.numerator.shape, layer.denominator.shape)
        ```

        ```text
        -0.019 -0.002 0.034 1.001 2.990
        (6,) (4,)
        ```

    References:
        - [Molina et al., 2020, Padé Activation Units: End-to-end Learning
          of Flexible Activation Functions in Deep Networks](
          https://arxiv.org/abs/1907.06732)
        - [ml-research/pau](https://github.com/ml-research/pau), the paper's
          implementation (CUDA kernels of the safe form)
        - [ml-research/rational_activations](
          https://github.com/ml-research/rational_activations), the authors'
          library: versions A, B, C and D of the denominator
    """

    def __init__(
        self,
        approximation: str | None = "leaky_relu",
        numerator_degree: int = DEGREES[0],
        denominator_degree: int = DEGREES[1],
        variant: str = "safe",
        numerator_initializer: Coefficients = None,
        denominator_initializer: Coefficients = None,
        numerator_regularizer: Regularizer = None,
        denominator_regularizer: Regularizer = None,
        numerator_constraint: Constraint = None,
        denominator_constraint: Constraint = None,
        channel_axis: int | None = None,
        shared_axes: int | list[int] | tuple[int, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            parameters={},
            channel_axis=channel_axis,
            shared_axes=shared_axes,
            **kwargs,
        )
        if approximation is not None:
            approximation = _validation.one_of(
                "approximation", approximation, APPROXIMATIONS
            )
        self.approximation = approximation
        self.numerator_degree = _validation.positive_integer(
            "numerator_degree", numerator_degree
        )
        self.denominator_degree = _validation.positive_integer(
            "denominator_degree", denominator_degree
        )
        self.variant = _validation.one_of("variant", variant, VARIANTS)
        self.numerator_initializer = _coefficients_argument(
            "numerator_initializer", numerator_initializer, self.numerator_degree + 1
        )
        self.denominator_initializer = _coefficients_argument(
            "denominator_initializer", denominator_initializer, self.denominator_degree
        )
        for part, degree, given in (
            ("numerator", self.numerator_degree, self.numerator_initializer),
            ("denominator", self.denominator_degree, self.denominator_initializer),
        ):
            if given is not None:
                continue
            if approximation is None:
                raise ValueError(
                    f"With approximation=None, `{part}_initializer` must give "
                    f"the initial coefficients. Received: {part}_initializer=None"
                )
            fitted = DEGREES[0] if part == "numerator" else DEGREES[1]
            if degree < fitted:
                raise ValueError(
                    f"The fits of `approximation` have degrees {DEGREES}: "
                    f"`{part}_degree` must be at least {fitted} to start from "
                    f"one, or pass `{part}_initializer`. Received: "
                    f"{part}_degree={degree}, approximation={approximation!r}"
                )
        self.numerator_regularizer = _validation.keras_object(
            "numerator_regularizer", numerator_regularizer, keras.regularizers.get
        )
        self.denominator_regularizer = _validation.keras_object(
            "denominator_regularizer", denominator_regularizer, keras.regularizers.get
        )
        self.numerator_constraint = _validation.keras_object(
            "numerator_constraint", numerator_constraint, keras.constraints.get
        )
        self.denominator_constraint = _validation.keras_object(
            "denominator_constraint", denominator_constraint, keras.constraints.get
        )

    def _initializer(self, part: int):
        given = (self.numerator_initializer, self.denominator_initializer)[part]
        if isinstance(given, tuple):
            return _Values(given)
        if given is not None:
            return given
        degree = (self.numerator_degree, self.denominator_degree)[part]
        return _Values(_fitted(self.approximation, self.variant, part, degree))

    def build(self, input_shape):
        # The base class checks the axes and sets the broadcast shape.
        super().build(input_shape)
        rank = len(input_shape)
        if self.shared_axes is not None:
            shape = self._shared_axes_shape(input_shape)[0]
        elif self.channel_axis is None:
            shape = ()
        else:
            shape = (input_shape[self.channel_axis % rank],)
        self.numerator = self.add_weight(
            shape=(self.numerator_degree + 1, *shape),
            name="numerator",
            initializer=self._initializer(0),
            regularizer=self.numerator_regularizer,
            constraint=self.numerator_constraint,
            autocast=False,
        )
        self.denominator = self.add_weight(
            shape=(self.denominator_degree, *shape),
            name="denominator",
            initializer=self._initializer(1),
            regularizer=self.denominator_regularizer,
            constraint=self.denominator_constraint,
            autocast=False,
        )

    def _broadcast_coefficients(self, weight):
        value = ops.convert_to_tensor(weight.value)
        if self._broadcast_shape is None:
            return value
        return ops.reshape(value, (value.shape[0], *self._broadcast_shape))

    def call(self, inputs):
        return _kernels.rational(
            floating(inputs, self.compute_dtype),
            self._broadcast_coefficients(self.numerator),
            self._broadcast_coefficients(self.denominator),
            self.variant,
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()

        def initializer(value):
            if isinstance(value, tuple):
                return list(value)
            return None if value is None else keras.initializers.serialize(value)

        config.update(
            {
                "approximation": self.approximation,
                "numerator_degree": self.numerator_degree,
                "denominator_degree": self.denominator_degree,
                "variant": self.variant,
                "numerator_initializer": initializer(self.numerator_initializer),
                "denominator_initializer": initializer(self.denominator_initializer),
                "numerator_regularizer": keras.regularizers.serialize(
                    self.numerator_regularizer
                ),
                "denominator_regularizer": keras.regularizers.serialize(
                    self.denominator_regularizer
                ),
                "numerator_constraint": keras.constraints.serialize(
                    self.numerator_constraint
                ),
                "denominator_constraint": keras.constraints.serialize(
                    self.denominator_constraint
                ),
            }
        )
        return config
