"""The parametric leaky ReLU of He et al. (2015)."""

from __future__ import annotations

from typing import Any

import keras

from keras_acts.layers._channelwise import ChannelwiseActivation, Parameter
from keras_acts.layers._kernels import prelu
from keras_acts.layers._ops import floating
from keras_acts.types import Constraint, Initializer, Regularizer


@keras.saving.register_keras_serializable(package="keras_acts")
class PReLU(ChannelwiseActivation):
    r"""Parametric leaky ReLU with one learned slope per channel.

    Formula:

    $$
    f(x) = \begin{cases}
      x & x > 0 \\
      \alpha x & x \le 0
    \end{cases}
    $$

    with `alpha` learned. As in He et al., there is by default one slope per
    channel, so the layer accepts inputs whose other dimensions are unknown,
    such as images of any size. He et al. train the slopes without weight decay;
    with a decoupled-decay optimizer write
    `optimizer.exclude_from_weight_decay(var_names=["alpha"])`.

    Unlike `keras.layers.PReLU`, which starts at `alpha = 0` (a plain ReLU) and
    learns one slope per input element, this layer starts at the paper's 0.25.

    Args:
        alpha_initializer: Initializer of the slopes; a number means a constant.
            Defaults to `0.25`.
        alpha_regularizer: Regularizer of the slopes. Defaults to `None`.
        alpha_constraint: Constraint of the slopes. Defaults to `None`.
        channel_axis: The axis holding the channels, one slope per index along
            it: `-1` for channels-last, `1` for channels-first; `None` for a
            single slope shared by all units. Defaults to `-1`.
        shared_axes: For migration from `keras.layers.PReLU`, with its meaning:
            the axes (counting the batch axis as 0) along which a slope is
            shared; every other non-batch axis gets one slope per index, so
            `[]` means one slope per element (`keras.layers.PReLU()`'s
            default). When given, it decides the slopes' shape and
            `channel_axis` is ignored.
            Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        Any tensor of rank >= 2 whose channel axis has a known size.
        Integer and boolean inputs are cast to the compute dtype (in their
        own dtype the slopes would round to 0).

    Output shape:
        Same as the input.

    Example:
        ```python
        inputs = keras.Input(shape=(None, None, 3))
        x = keras.layers.Conv2D(16, 3)(inputs)
        prelu = keras_acts.PReLU()
        x = prelu(x)
        print(prelu.alpha.shape)  # 16 slopes, one per channel
        ```

        ```text
        (16,)
        ```

    References:
        - [He et al., 2015, Delving Deep into Rectifiers: Surpassing
          Human-Level Performance on ImageNet Classification](
          https://arxiv.org/abs/1502.01852)
    """

    def __init__(
        self,
        alpha_initializer: Initializer = 0.25,
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
        return prelu(floating(inputs, self.compute_dtype), self.broadcast("alpha"))
