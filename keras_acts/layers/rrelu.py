"""The randomized leaky ReLU of Xu et al. (2015)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_acts import _validation
from keras_acts.layers._ops import floating


@keras.saving.register_keras_serializable(package="keras_acts")
class RReLU(keras.layers.Layer):
    r"""Leaky ReLU whose negative slope is random in training.

    Formula:

    $$
    f(x) = \begin{cases}
      x & x \ge 0 \\
      a \, x & x < 0
    \end{cases}
    $$

    In training (`training=True`, as inside `fit`) every negative element
    gets its own slope `a`, drawn uniformly from `[lower, upper]` afresh at
    each call; in inference `a = (lower + upper) / 2` for every element, a
    plain leaky ReLU. These are the semantics of `torch.nn.RReLU`, whose
    defaults it keeps. The gradient with respect to the inputs is the slope
    used (`1` for `x >= 0`, so 1 at `x = 0`, as in TensorFlow Addons'
    `rrelu`; `torch.nn.RReLU` gives the slope there). The layer has no
    weights: the noise regularizes, as dropout does.

    Args:
        lower: Smallest slope, at least `0`. Defaults to `1/8`.
        upper: Largest slope, at least `lower` (`upper == lower` gives a plain
            leaky ReLU). Defaults to `1/3`.
        seed: A non-negative integer seeding the slopes drawn in training, for
            reproducible runs; `None` for a random seed. Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: The input tensor.
        training: Whether to draw random slopes (training) or use their mean
            (inference). Keras sets it inside `fit`, `evaluate` and `predict`.
            Defaults to `None`, inference.

    Input shape:
        Any tensor. Integer and boolean inputs are cast to the compute dtype.

    Output shape:
        Same as the input.

    Example:
        ```python
        model = keras.Sequential([
            keras.Input(shape=(8,)),
            keras.layers.Dense(16),
            keras_acts.RReLU(seed=0),  # slopes in [1/8, 1/3] while training
        ])
        rrelu = model.layers[-1]
        x = np.array([[-1.0, -1.0, -1.0, 2.0]])
        print(keras.ops.convert_to_numpy(rrelu(x)).round(4))  # the mean slope, 11/48
        print(keras.ops.convert_to_numpy(rrelu(x, training=True)).round(4))
        ```

        ```text
        [[-0.2292 -0.2292 -0.2292  2.    ]]
        [[-0.169  -0.2721 -0.2917  2.    ]]
        ```

    References:
        - [Xu et al., 2015, Empirical Evaluation of Rectified Activations in
          Convolutional Network](https://arxiv.org/abs/1505.00853)
    """

    def __init__(
        self,
        lower: float = 1 / 8,
        upper: float = 1 / 3,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        lower = _validation.real("lower", lower, minimum=0.0)
        upper = _validation.real("upper", upper, minimum=0.0)
        if upper < lower:
            raise ValueError(
                "`upper` must be at least `lower`: the slopes are drawn from "
                f"[lower, upper]. Received: lower={lower}, upper={upper}"
            )
        if seed is not None:
            seed = _validation.integer("seed", seed, minimum=0)
        self.lower = lower
        self.upper = upper
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True
        # No weights that depend on the input: built now, as Keras's own
        # stateless layers (ReLU, LeakyReLU, Dropout) are.
        self.built = True

    def call(self, inputs, training=None):
        x = floating(inputs, self.compute_dtype)
        if training and self.upper > self.lower:
            slopes = keras.random.uniform(
                ops.shape(x),
                minval=self.lower,
                maxval=self.upper,
                dtype=x.dtype,
                seed=self.seed_generator,
            )
        else:
            # As torch.nn.RReLU in eval mode: the mean slope, rounded to the
            # compute dtype.
            slopes = ops.cast((self.lower + self.upper) / 2, x.dtype)
        # The where's gradient is 1 for x >= 0 and the slope elsewhere.
        return ops.where(x >= 0, x, x * slopes)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"lower": self.lower, "upper": self.upper, "seed": self.seed})
        return config
