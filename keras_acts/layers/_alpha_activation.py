"""Shared machinery of the activations with a learned `alpha` per channel."""

from __future__ import annotations

import numbers
from typing import Any

import keras

from keras_acts import _validation
from keras_acts.types import Constraint, Initializer, Regularizer


def _resolve_initializer(
    initializer: Initializer, minimum: float | None
) -> keras.initializers.Initializer:
    # A bare number is the common way to write a starting slope (0.25 in He et al.).
    if isinstance(initializer, numbers.Real) and not isinstance(initializer, bool):
        value = _validation.real("alpha_initializer", initializer, minimum=minimum)
        return keras.initializers.Constant(value)
    if initializer is None or isinstance(initializer, bool):
        raise ValueError(
            "`alpha_initializer` must be a number, an initializer or its name. "
            f"Received: alpha_initializer={initializer!r}"
        )
    return _validation.keras_object(
        "alpha_initializer", initializer, keras.initializers.get
    )


def _normalize_shared_axes(shared_axes: int | list[int] | tuple[int, ...] | None):
    if shared_axes is None:
        return None
    many = isinstance(shared_axes, (list, tuple))
    axes = list(shared_axes) if many else [shared_axes]
    try:
        if not axes:
            raise ValueError
        axes = [_validation.positive_integer("shared_axes", axis) for axis in axes]
    except ValueError:
        raise ValueError(
            "`shared_axes` must be a positive integer or a non-empty list of "
            "positive integers (axis 0 is the batch axis). "
            f"Received: shared_axes={shared_axes!r}"
        ) from None
    return sorted(set(axes))


class AlphaActivation(keras.layers.Layer):
    """Base of the elementwise activations with a trainable weight `alpha`.

    Subclasses implement `call` using `self._broadcast_alpha()`, which returns
    the float32 `alpha` shaped to broadcast against the inputs, on inputs
    passed through `_ops.floating` (integers and booleans are cast to the
    compute dtype, as `keras.layers.Dense` does).
    """

    # The smallest constant `alpha_initializer` that makes sense, if any.
    minimum_alpha: float | None = None

    def __init__(
        self,
        alpha_initializer: Initializer,
        alpha_regularizer: Regularizer,
        alpha_constraint: Constraint,
        channel_axis: int | None,
        shared_axes: int | list[int] | tuple[int, ...] | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if channel_axis is not None:
            try:
                channel_axis = _validation.integer("channel_axis", channel_axis)
            except ValueError:
                raise ValueError(
                    "`channel_axis` must be an integer axis or None. "
                    f"Received: channel_axis={channel_axis!r}"
                ) from None
        self.alpha_initializer = _resolve_initializer(
            alpha_initializer, self.minimum_alpha
        )
        self.alpha_regularizer = _validation.keras_object(
            "alpha_regularizer", alpha_regularizer, keras.regularizers.get
        )
        self.alpha_constraint = _validation.keras_object(
            "alpha_constraint", alpha_constraint, keras.constraints.get
        )
        self.channel_axis = channel_axis
        self.shared_axes = _normalize_shared_axes(shared_axes)
        self.supports_masking = True

    def build(self, input_shape):
        rank = len(input_shape)
        if rank < 2:
            raise ValueError(
                f"{self.__class__.__name__} expects inputs of rank >= 2 "
                f"(batch, ..., features). Received: input_shape={input_shape}"
            )
        if self.shared_axes is not None:
            alpha_shape, axes = self._shared_axes_alpha_shape(input_shape)
            self._alpha_broadcast_shape = None
        elif self.channel_axis is None:
            alpha_shape, axes = (), {}
            self._alpha_broadcast_shape = None
        else:
            axis = (
                self.channel_axis + rank if self.channel_axis < 0 else self.channel_axis
            )
            if not 1 <= axis < rank:
                raise ValueError(
                    f"`channel_axis` must name a non-batch axis of the input "
                    f"(1 to {rank - 1}, or -1 to {-(rank - 1)}). "
                    f"Received: channel_axis={self.channel_axis} for "
                    f"input_shape={input_shape}"
                )
            channels = input_shape[axis]
            if channels is None:
                raise ValueError(
                    "The size of the channel axis must be known to create one "
                    f"`alpha` per channel. Received: input_shape={input_shape} "
                    f"with channel_axis={self.channel_axis}. Pass "
                    "channel_axis=None for a single shared alpha."
                )
            alpha_shape, axes = (channels,), {axis: channels}
            broadcast = [1] * rank
            broadcast[axis] = channels
            self._alpha_broadcast_shape = tuple(broadcast)
        self.alpha = self.add_weight(
            shape=alpha_shape,
            name="alpha",
            initializer=self.alpha_initializer,
            regularizer=self.alpha_regularizer,
            constraint=self.alpha_constraint,
        )
        self.input_spec = keras.layers.InputSpec(ndim=rank, axes=axes)

    def _shared_axes_alpha_shape(self, input_shape):
        rank = len(input_shape)
        if self.shared_axes[-1] >= rank:
            raise ValueError(
                f"`shared_axes` must name axes of the input (1 to {rank - 1}). "
                f"Received: shared_axes={self.shared_axes} for "
                f"input_shape={input_shape}"
            )
        alpha_shape = []
        axes = {}
        for axis in range(1, rank):
            if axis in self.shared_axes:
                alpha_shape.append(1)
            elif input_shape[axis] is None:
                raise ValueError(
                    f"Axis {axis} is not in `shared_axes`, so it needs a known "
                    f"size to hold one alpha per index. Received: "
                    f"input_shape={input_shape}, shared_axes={self.shared_axes}"
                )
            else:
                alpha_shape.append(input_shape[axis])
                axes[axis] = input_shape[axis]
        return tuple(alpha_shape), axes

    def _broadcast_alpha(self):
        # The raw value: Keras's autocast would otherwise hand out the compute
        # dtype, and the gradient of alpha is accumulated in float32.
        alpha = keras.ops.convert_to_tensor(self.alpha.value)
        if self._alpha_broadcast_shape is None:
            return alpha
        return keras.ops.reshape(alpha, self._alpha_broadcast_shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "alpha_initializer": keras.initializers.serialize(
                    self.alpha_initializer
                ),
                "alpha_regularizer": keras.regularizers.serialize(
                    self.alpha_regularizer
                ),
                "alpha_constraint": keras.constraints.serialize(self.alpha_constraint),
                "channel_axis": self.channel_axis,
                "shared_axes": self.shared_axes,
            }
        )
        return config
