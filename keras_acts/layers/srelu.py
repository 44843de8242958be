"""The S-shaped rectified linear unit of Jin et al. (2016)."""

from __future__ import annotations

from typing import Any

import keras

from keras_acts.layers._channelwise import ChannelwiseActivation, Parameter
from keras_acts.layers._kernels import srelu
from keras_acts.layers._ops import floating
from keras_acts.types import Constraint, Initializer, Regularizer

# keras-contrib's defaults. Each is copied for each layer: an unseeded Keras
# initializer draws the same values at every call, so one shared object would
# give every SReLU layer the same parameters.
_UNIFORM_0_TO_1 = keras.initializers.RandomUniform(minval=0.0, maxval=1.0)
_UNIFORM_0_TO_5 = keras.initializers.RandomUniform(minval=0.0, maxval=5.0)


def _own_copy(initializer):
    if initializer is _UNIFORM_0_TO_1 or initializer is _UNIFORM_0_TO_5:
        return initializer.from_config(initializer.get_config())
    return initializer


@keras.saving.register_keras_serializable(package="keras_acts")
class SReLU(ChannelwiseActivation):
    r"""S-shaped rectified linear unit: the identity between two learned
    thresholds, with learned slopes outside them.

    Formula:

    $$
    f(x) = \begin{cases}
      t_l + a_l \, (x - t_l) & x < t_l \\
      x & t_l \le x \le t_r \\
      t_r + a_r \, (x - t_r) & x > t_r
    \end{cases}
    $$

    where $t_l$ is `t_left`, $a_l$ is `a_left`, $a_r$ is `a_right` and the right
    threshold $t_r$ is `t_left + abs(t_right)`, all four weights learned, by
    default one of each per channel. As in keras-contrib's SReLU, the weight
    `t_right` holds the distance from the left threshold to the right one, so
    the right threshold $t_r$ is never left of `t_left`, whatever the updates
    do.
    At `t_right = 0` the gradient by `t_right` is the one of $t_r$ (the sign of
    `t_right` taken as `+1`), so the thresholds can move apart again.

    With `a_left = 0`, `a_right = 1` and `t_left = 0` it is the plain ReLU;
    with `a_right = 1` it is a leaky ReLU whose kink is at `t_left`.

    Args:
        t_left_initializer: Initializer of the left threshold `t_left`; a
            number means a constant. Defaults to `"zeros"`.
        a_left_initializer: Initializer of the left slope `a_left`. Defaults
            to `keras.initializers.RandomUniform(0.0, 1.0)`.
        t_right_initializer: Initializer of `t_right`, the distance between
            the thresholds (its absolute value). Defaults to
            `keras.initializers.RandomUniform(0.0, 5.0)`.
        a_right_initializer: Initializer of the right slope `a_right`.
            Defaults to `"ones"`.
        t_left_regularizer: Regularizer of `t_left`. Defaults to `None`.
        a_left_regularizer: Regularizer of `a_left`. Defaults to `None`.
        t_right_regularizer: Regularizer of `t_right`. Defaults to `None`.
        a_right_regularizer: Regularizer of `a_right`. Defaults to `None`.
        t_left_constraint: Constraint of `t_left`. Defaults to `None`.
        a_left_constraint: Constraint of `a_left`. Defaults to `None`.
        t_right_constraint: Constraint of `t_right`. Defaults to `None`.
        a_right_constraint: Constraint of `a_right`. Defaults to `None`.
        channel_axis: The axis holding the channels, one set of parameters
            per index along it: `-1` for channels-last, `1` for
            channels-first; `None` for a single set shared by all units.
            Defaults to `-1`.
        shared_axes: For migration from `keras.layers.PReLU`-style layers
            (and keras-contrib's SReLU): the axes (counting the batch axis as
            0) along which the parameters are shared; every other non-batch
            axis gets one set per index (`[]`: one per element). When given,
            it decides the parameters' shape and `channel_axis` is ignored.
            Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        Any tensor of rank >= 2 whose channel axis has a known size.
        Integer and boolean inputs are cast to the compute dtype.

    Output shape:
        Same as the input.

    Example:
        ```python
        inputs = keras.Input(shape=(None, None, 3))
        x = keras.layers.Conv2D(16, 3)(inputs)
        srelu = keras_acts.SReLU()
        x = srelu(x)
        print(srelu.count_params())  # 4 parameters for each of 16 channels
        ```

        ```text
        64
        ```

    References:
        - [Jin et al., 2016, Deep Learning with S-shaped Rectified Linear
          Activation Units](https://arxiv.org/abs/1512.07030)
    """

    def __init__(
        self,
        t_left_initializer: Initializer = "zeros",
        a_left_initializer: Initializer = _UNIFORM_0_TO_1,
        t_right_initializer: Initializer = _UNIFORM_0_TO_5,
        a_right_initializer: Initializer = "ones",
        t_left_regularizer: Regularizer = None,
        a_left_regularizer: Regularizer = None,
        t_right_regularizer: Regularizer = None,
        a_right_regularizer: Regularizer = None,
        t_left_constraint: Constraint = None,
        a_left_constraint: Constraint = None,
        t_right_constraint: Constraint = None,
        a_right_constraint: Constraint = None,
        channel_axis: int | None = -1,
        shared_axes: int | list[int] | tuple[int, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            parameters={
                "t_left": Parameter(
                    t_left_initializer, t_left_regularizer, t_left_constraint
                ),
                "a_left": Parameter(
                    _own_copy(a_left_initializer), a_left_regularizer, a_left_constraint
                ),
                "t_right": Parameter(
                    _own_copy(t_right_initializer),
                    t_right_regularizer,
                    t_right_constraint,
                ),
                "a_right": Parameter(
                    a_right_initializer, a_right_regularizer, a_right_constraint
                ),
            },
            channel_axis=channel_axis,
            shared_axes=shared_axes,
            **kwargs,
        )

    def call(self, inputs):
        return srelu(
            floating(inputs, self.compute_dtype),
            *(self.broadcast(name) for name in self._parameter_names),
        )
