"""The parametric exponential linear unit of Trottier et al. (2017)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_acts import _validation
from keras_acts.layers._channelwise import ChannelwiseActivation, Parameter
from keras_acts.layers._kernels import pelu
from keras_acts.layers._ops import floating
from keras_acts.types import Constraint, Initializer, Regularizer

# The lowest value the default constraint lets `a` and `b` take. The authors'
# code (ltrottier/pelu.resnet.torch, models/PELU/PELU.lua) resets a value at
# or below 0.1 to 0.11; a clip at 0.1 is the Keras constraint closest to it.
_MIN_PARAMETER = 0.1


@keras.saving.register_keras_serializable(package="keras_acts")
class _MinValue(keras.constraints.Constraint):
    """Clips a weight from below at `min_value` after each update."""

    def __init__(self, min_value: float = _MIN_PARAMETER) -> None:
        self.min_value = _validation.real("min_value", min_value, positive=True)

    def __call__(self, w):
        return ops.maximum(w, ops.cast(self.min_value, w.dtype))

    def get_config(self) -> dict[str, Any]:
        return {"min_value": self.min_value}


# One shared object: the constraint holds no state.
_AT_LEAST_0_1 = _MinValue(_MIN_PARAMETER)


@keras.saving.register_keras_serializable(package="keras_acts")
class PELU(ChannelwiseActivation):
    r"""Parametric exponential linear unit: an ELU with learned scales.

    Formula:

    $$
    f(x) = \begin{cases}
      \dfrac{a}{b} \, x & x \ge 0 \\
      a \, (e^{x / b} - 1) & x < 0
    \end{cases}
    $$

    with `a > 0` and `b > 0` learned, by default one of each per channel.
    `a` sets the saturation value `-a` of the negative part, `b` how fast it
    decays; the slope of the positive part, `a / b`, keeps the function
    differentiable at 0. With `a = b = 1` it is the plain ELU.

    By default `a` and `b` are clipped from below at 0.1 after each update:
    positive, so that the function stays increasing and `1 / b` finite. The
    authors' code bounds them at the same place but resets a value at or
    below 0.1 to 0.11, and also resets an `a` of 2 or more to 1.99; it holds
    one pair per layer (`channel_axis=None` here), the setting of the
    paper's results. keras-contrib's PELU holds one pair per input element
    (`shared_axes=[]` here).

    Args:
        a_initializer: Initializer of `a`; a number means a constant, which
            must be positive. Defaults to `1.0`.
        b_initializer: Initializer of `b`; a number means a constant, which
            must be positive. Defaults to `1.0`.
        a_regularizer: Regularizer of `a`. Defaults to `None`.
        b_regularizer: Regularizer of `b`. Defaults to `None`.
        a_constraint: Constraint of `a`; `None` lifts the default. Defaults to
            clipping from below at 0.1.
        b_constraint: Constraint of `b`; `None` lifts the default. Defaults to
            clipping from below at 0.1.
        channel_axis: The axis holding the channels, one `a` and one `b` per
            index along it: `-1` for channels-last, `1` for channels-first;
            `None` for a single pair shared by all units. Defaults to `-1`.
        shared_axes: For migration from `keras.layers.PReLU`-style layers: the
            axes (counting the batch axis as 0) along which `a` and `b` are
            shared; every other non-batch axis gets one pair per index (`[]`:
            one per element). When given, it decides the shape of `a` and `b`
            and `channel_axis` is ignored.
            Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        Any tensor of rank >= 2 whose channel axis has a known size.
        Integer and boolean inputs are cast to the compute dtype.

    Output shape:
        Same as the input.

    Example:
        ```python
        model = keras.Sequential([
            keras.Input(shape=(8,)),
            keras.layers.Dense(16),
            keras_acts.PELU(),  # 16 learned a's and 16 learned b's
        ])
        print(model.layers[-1].a.shape, model.layers[-1].b.shape)
        ```

        ```text
        (16,) (16,)
        ```

    References:
        - [Trottier et al., 2017, Parametric Exponential Linear Unit for Deep
          Convolutional Neural Networks](https://arxiv.org/abs/1605.09332)
    """

    def __init__(
        self,
        a_initializer: Initializer = 1.0,
        b_initializer: Initializer = 1.0,
        a_regularizer: Regularizer = None,
        b_regularizer: Regularizer = None,
        a_constraint: Constraint = _AT_LEAST_0_1,
        b_constraint: Constraint = _AT_LEAST_0_1,
        channel_axis: int | None = -1,
        shared_axes: int | list[int] | tuple[int, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            parameters={
                "a": Parameter(
                    a_initializer, a_regularizer, a_constraint, positive=True
                ),
                "b": Parameter(
                    b_initializer, b_regularizer, b_constraint, positive=True
                ),
            },
            channel_axis=channel_axis,
            shared_axes=shared_axes,
            **kwargs,
        )

    def call(self, inputs):
        return pelu(
            floating(inputs, self.compute_dtype),
            self.broadcast("a"),
            self.broadcast("b"),
        )
