"""The snake activation of Ziyin et al. (2020), with a learned frequency."""

from __future__ import annotations

from typing import Any

import keras

from keras_acts.layers._channelwise import ChannelwiseActivation, Parameter
from keras_acts.layers._kernels import snake
from keras_acts.layers._ops import floating
from keras_acts.types import Constraint, Initializer, Regularizer


@keras.saving.register_keras_serializable(package="keras_acts")
class Snake(ChannelwiseActivation):
    r"""Snake: the identity plus a periodic term of learned frequency.

    Formula:

    $$
    f(x) = x + \frac{\sin^2(\alpha x)}{\alpha}
    $$

    with `alpha` learned, by default one per channel. The function is
    monotonic (`f'(x) = 1 + sin(2 * alpha * x) >= 0`) and grows like `x`, with
    ripples of period `pi / alpha` and height `1 / alpha`, so a network of
    snakes can extrapolate periodic signals that ReLU or tanh networks cannot.
    As `alpha -> 0` the function tends to the identity; `alpha = 0` gives
    exactly `x` (and finite gradients), and a negative `alpha` mirrors the
    ripples below the line: `f(x; -alpha) = x - sin(alpha * x)**2 / alpha`.

    The function of `tfa.layers.Snake` (TensorFlow Addons), whose single
    `frequency`, starting at 1, is `channel_axis=None` here.

    Args:
        alpha_initializer: Initializer of `alpha`; a number means a constant.
            Ziyin et al. suggest `0.2` to about `0.56` for standard tasks
            such as image classification and `5` to `50` for data with
            expected periodicity. Defaults to `1.0`, as TensorFlow Addons.
        alpha_regularizer: Regularizer of `alpha`. Defaults to `None`.
        alpha_constraint: Constraint of `alpha`. Defaults to `None`.
        channel_axis: The axis holding the channels, one `alpha` per index
            along it: `-1` for channels-last, `1` for channels-first; `None` for
            a single `alpha` shared by all units. Defaults to `-1`.
        shared_axes: For migration from `keras.layers.PReLU`-style layers: the
            axes (counting the batch axis as 0) along which `alpha` is shared;
            every other non-batch axis gets one `alpha` per index (`[]`: one
            per element). When given, it decides the shape of `alpha` and
            `channel_axis` is ignored.
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
            keras.Input(shape=(1,)),
            keras.layers.Dense(64),
            keras_acts.Snake(alpha_initializer=5.0),  # 64 learned frequencies
            keras.layers.Dense(1),
        ])
        print(model.layers[1].alpha.shape)
        ```

        ```text
        (64,)
        ```

    References:
        - [Ziyin et al., 2020, Neural Networks Fail to Learn Periodic Functions
          and How to Fix It](https://arxiv.org/abs/2006.08195)
    """

    def __init__(
        self,
        alpha_initializer: Initializer = 1.0,
        alpha_regularizer: Regularizer = None,
        alpha_constraint: Constraint = None,
        channel_axis: int | None = -1,
        shared_axes: int | list[int] | tuple[int, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            parameters={
                "alpha": Parameter(
                    alpha_initializer, alpha_regularizer, alpha_constraint
                )
            },
            channel_axis=channel_axis,
            shared_axes=shared_axes,
            **kwargs,
        )

    def call(self, inputs):
        return snake(floating(inputs, self.compute_dtype), self.broadcast("alpha"))
