"""A dense layer of maxout units (Goodfellow et al., 2013)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_acts import _validation
from keras_acts.layers._kernels import group_max
from keras_acts.layers._ops import floating
from keras_acts.types import Constraint, Initializer, Regularizer


@keras.saving.register_keras_serializable(package="keras_acts")
class MaxoutDense(keras.layers.Layer):
    r"""Dense layer whose units are the maximum of several affine pieces.

    Formula:

    $$
    f(x)_u = \max_{j = 1, \dots, \text{pieces}} \, (x W_j + b_j)_u
    $$

    The `pieces` weight matrices are stored side by side in one kernel of
    shape `(input_dim, units * pieces)`, column `u * pieces + j` being piece
    `j` of unit `u`, so that the layer computes exactly
    `keras_acts.Maxout(units)(keras.layers.Dense(units * pieces)(x))` in one
    matrix product.

    Args:
        units: Number of output units.
        pieces: Number of affine pieces per unit. Defaults to `2`.
        use_bias: Whether the pieces have biases. Defaults to `True`.
        kernel_initializer: Initializer of the kernel.
            Defaults to `"glorot_uniform"`.
        bias_initializer: Initializer of the bias. Defaults to `"zeros"`.
        kernel_regularizer: Regularizer of the kernel. Defaults to `None`.
        bias_regularizer: Regularizer of the bias. Defaults to `None`.
        kernel_constraint: Constraint of the kernel. Defaults to `None`.
        bias_constraint: Constraint of the bias. Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        A tensor of rank >= 2, `(batch, ..., input_dim)`, with a known
        `input_dim`. Integer and boolean inputs are cast to the compute
        dtype, as `keras.layers.Dense` does.

    Output shape:
        `(batch, ..., units)`.

    Example:
        ```python
        model = keras.Sequential([
            keras.Input(shape=(20,)),
            keras_acts.MaxoutDense(64, pieces=3),
            keras.layers.Dense(1),
        ])
        print(model.layers[0].kernel.shape)  # 64 units of 3 pieces each
        ```

        ```text
        (20, 192)
        ```

    References:
        - [Goodfellow et al., 2013, Maxout Networks](
          https://arxiv.org/abs/1302.4389)
    """

    def __init__(
        self,
        units: int,
        pieces: int = 2,
        use_bias: bool = True,
        kernel_initializer: Initializer = "glorot_uniform",
        bias_initializer: Initializer = "zeros",
        kernel_regularizer: Regularizer = None,
        bias_regularizer: Regularizer = None,
        kernel_constraint: Constraint = None,
        bias_constraint: Constraint = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = _validation.positive_integer("units", units)
        self.pieces = _validation.positive_integer("pieces", pieces)
        self.use_bias = _validation.boolean("use_bias", use_bias)
        for name, value, getter in (
            ("kernel_initializer", kernel_initializer, keras.initializers.get),
            ("bias_initializer", bias_initializer, keras.initializers.get),
            ("kernel_regularizer", kernel_regularizer, keras.regularizers.get),
            ("bias_regularizer", bias_regularizer, keras.regularizers.get),
            ("kernel_constraint", kernel_constraint, keras.constraints.get),
            ("bias_constraint", bias_constraint, keras.constraints.get),
        ):
            setattr(self, name, _validation.keras_object(name, value, getter))
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        self.supports_masking = True

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                "MaxoutDense needs a known size on the last axis. "
                f"Received: input_shape={input_shape}"
            )
        self.kernel = self.add_weight(
            shape=(input_dim, self.units * self.pieces),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.units * self.pieces,),
                name="bias",
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: input_dim})

    def call(self, inputs):
        inputs = floating(inputs, self.compute_dtype)
        affine = ops.matmul(inputs, ops.cast(self.kernel, inputs.dtype))
        if self.bias is not None:
            affine = affine + ops.cast(self.bias, inputs.dtype)
        shape = list(ops.shape(affine))
        grouped = ops.reshape(affine, shape[:-1] + [self.units, self.pieces])
        return group_max(grouped, len(shape))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "pieces": self.pieces,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(
                    self.kernel_constraint
                ),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            }
        )
        return config
