"""The exponential linear unit of Clevert et al. (2015) with a learned alpha."""

from __future__ import annotations

from typing import Any

import keras

from keras_acts.layers._channelwise import ChannelwiseActivation, Parameter
from keras_acts.layers._kernels import parametric_elu
from keras_acts.layers._ops import floating
from keras_acts.types import Constraint, Initializer, Regularizer


@keras.saving.register_keras_serializable(package="keras_acts")
class ParametricELU(ChannelwiseActivation):
    r"""Exponential linear unit whose saturation value `alpha` is learned.

    Formula:

    $$
    f(x) = \begin{cases}
      x & x > 0 \\
      \alpha \, (e^{x} - 1) & x \le 0
    \end{cases}
    $$

    The derivative at `x = 0` is taken as 1 (the positive side's) whatever
    `alpha`; `keras.layers.ELU(alpha)` and PyTorch's `torch.nn.ELU(alpha)`
    give `alpha` there. The outputs are the same.

    For very negative inputs the output saturates at `-alpha`. Unlike
    `keras.layers.ELU`, which keeps `alpha` fixed, `alpha` here is a weight,
    by default one per channel. The default constraint keeps `alpha >= 0`: a
    negative `alpha` makes the function non-monotonic.

    On PyTorch, inputs of 100,000 elements or more run a kernel that
    `torch.compile` fuses: the first call of each dtype and rank compiles
    it (seconds). Where compiling fails, a warning says so and the layer
    runs its eager kernels.

    Args:
        alpha_initializer: Initializer of `alpha`; a number means a constant.
            Defaults to `1.0`.
        alpha_regularizer: Regularizer of `alpha`. Defaults to `None`.
        alpha_constraint: Constraint of `alpha`; `None` lifts the default.
            Defaults to `"non_neg"`.
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
            keras.Input(shape=(8,)),
            keras.layers.Dense(16),
            keras_acts.ParametricELU(),  # 16 learned alphas
        ])
        print(model.layers[-1].alpha.shape)
        ```

        ```text
        (16,)
        ```

    References:
        - [Clevert et al., 2015, Fast and Accurate Deep Network Learning by
          Exponential Linear Units (ELUs)](https://arxiv.org/abs/1511.07289)
    """

    def __init__(
        self,
        alpha_initializer: Initializer = 1.0,
        alpha_regularizer: Regularizer = None,
        alpha_constraint: Constraint = "non_neg",
        channel_axis: int | None = -1,
        shared_axes: int | list[int] | tuple[int, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            parameters={
                # A negative alpha would make the negative branch rise again.
                "alpha": Parameter(
                    alpha_initializer, alpha_regularizer, alpha_constraint, minimum=0.0
                )
            },
            channel_axis=channel_axis,
            shared_axes=shared_axes,
            **kwargs,
        )

    def call(self, inputs):
        return parametric_elu(
            floating(inputs, self.compute_dtype), self.broadcast("alpha")
        )
