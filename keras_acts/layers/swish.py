"""The Swish activation of Ramachandran et al. (2017) with a learned beta."""

from __future__ import annotations

from typing import Any

import keras

from keras_acts.layers._channelwise import ChannelwiseActivation, Parameter
from keras_acts.layers._kernels import swish
from keras_acts.layers._ops import floating
from keras_acts.types import Constraint, Initializer, Regularizer


@keras.saving.register_keras_serializable(package="keras_acts")
class Swish(ChannelwiseActivation):
    r"""Swish with one learned `beta` per channel.

    Formula:

    $$
    f(x) = x \, \sigma(\beta x) = \frac{x}{1 + e^{-\beta x}}
    $$

    with `beta` learned, by default one per channel. With `beta = 1` it is
    `keras.activations.silu`; as `beta` grows it approaches the ReLU, and at
    `beta = 0` it is the linear function `x / 2`. keras-contrib's Swish
    learned a single `beta` (`channel_axis=None` here).

    Args:
        beta_initializer: Initializer of `beta`; a number means a constant.
            Defaults to `1.0`.
        beta_regularizer: Regularizer of `beta`. Defaults to `None`.
        beta_constraint: Constraint of `beta`. Defaults to `None`.
        channel_axis: The axis holding the channels, one `beta` per index
            along it: `-1` for channels-last, `1` for channels-first; `None` for
            a single `beta` shared by all units. Defaults to `-1`.
        shared_axes: For migration from `keras.layers.PReLU`-style layers: the
            axes (counting the batch axis as 0) along which `beta` is shared;
            every other non-batch axis gets one `beta` per index (`[]`: one
            per element). When given, it decides the shape of `beta` and
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
            keras.Input(shape=(8,)),
            keras.layers.Dense(16),
            keras_acts.Swish(),  # 16 learned betas, starting as SiLU
        ])
        print(model.layers[-1].beta.shape)
        ```

        ```text
        (16,)
        ```

    References:
        - [Ramachandran et al., 2017, Searching for Activation Functions](
          https://arxiv.org/abs/1710.05941)
    """

    def __init__(
        self,
        beta_initializer: Initializer = 1.0,
        beta_regularizer: Regularizer = None,
        beta_constraint: Constraint = None,
        channel_axis: int | None = -1,
        shared_axes: int | list[int] | tuple[int, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            parameters={
                "beta": Parameter(beta_initializer, beta_regularizer, beta_constraint)
            },
            channel_axis=channel_axis,
            shared_axes=shared_axes,
            **kwargs,
        )

    def call(self, inputs):
        return swish(floating(inputs, self.compute_dtype), self.broadcast("beta"))
