"""Shared machinery of the elementwise activations with learned parameters,
one value of each per channel (or per element, or one shared)."""

from __future__ import annotations

import dataclasses
from typing import Any

import keras

from keras_acts import _validation
from keras_acts.types import Constraint, Initializer, Regularizer


@dataclasses.dataclass(frozen=True)
class Parameter:
    """A learned parameter of a `ChannelwiseActivation`, as its constructor
    received it. `minimum` bounds a constant (number) initializer; `positive`
    requires it to be above zero."""

    initializer: Initializer
    regularizer: Regularizer = None
    constraint: Constraint = None
    minimum: float | None = None
    positive: bool = False


def _resolve_initializer(
    name: str, initializer: Initializer, minimum: float | None, positive: bool
) -> keras.initializers.Initializer:
    argument = f"{name}_initializer"
    # A bare number is the common way to write a starting value (PReLU's 0.25
    # in He et al.).
    if _validation.is_real(initializer):
        value = _validation.real(
            argument, initializer, minimum=minimum, positive=positive
        )
        return keras.initializers.Constant(value)
    if initializer is None or isinstance(initializer, bool):
        raise ValueError(
            f"`{argument}` must be a number, an initializer or its name. "
            f"Received: {argument}={initializer!r}"
        )
    return _validation.keras_object(argument, initializer, keras.initializers.get)


def _normalize_shared_axes(shared_axes: int | list[int] | tuple[int, ...] | None):
    if shared_axes is None:
        return None
    many = isinstance(shared_axes, (list, tuple))
    axes = list(shared_axes) if many else [shared_axes]
    try:
        axes = [_validation.positive_integer("shared_axes", axis) for axis in axes]
    except ValueError:
        raise ValueError(
            "`shared_axes` must be a positive integer or a list of positive "
            "integers (axis 0 is the batch axis; an empty list for one value "
            f"per element). Received: shared_axes={shared_axes!r}"
        ) from None
    return sorted(set(axes))


class ChannelwiseActivation(keras.layers.Layer):
    """Base of the elementwise activations with learned parameters.

    A subclass passes its parameters by name (`{"alpha": Parameter(...)}`);
    each becomes a float32 weight of that name, all of the same shape: one
    value per channel, per element (`shared_axes=[]`), or one in all. The
    config holds `<name>_initializer`, `<name>_regularizer` and
    `<name>_constraint` for each. `call` works on inputs passed through
    `_ops.floating` (integers and booleans cast to the compute dtype, as
    `keras.layers.Dense` does) with `self.broadcast(name)`, the float32 value
    shaped to broadcast against them.
    """

    def __init__(
        self,
        parameters: dict[str, Parameter],
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
        self._parameter_names = tuple(parameters)
        for name, parameter in parameters.items():
            setattr(
                self,
                f"{name}_initializer",
                _resolve_initializer(
                    name, parameter.initializer, parameter.minimum, parameter.positive
                ),
            )
            setattr(
                self,
                f"{name}_regularizer",
                _validation.keras_object(
                    f"{name}_regularizer", parameter.regularizer, keras.regularizers.get
                ),
            )
            setattr(
                self,
                f"{name}_constraint",
                _validation.keras_object(
                    f"{name}_constraint", parameter.constraint, keras.constraints.get
                ),
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
            shape, axes = self._shared_axes_shape(input_shape)
            self._broadcast_shape = None
        elif self.channel_axis is None:
            shape, axes = (), {}
            self._broadcast_shape = None
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
                    f"value per channel. Received: input_shape={input_shape} "
                    f"with channel_axis={self.channel_axis}. Pass "
                    "channel_axis=None for a single shared value."
                )
            shape, axes = (channels,), {axis: channels}
            broadcast = [1] * rank
            broadcast[axis] = channels
            self._broadcast_shape = tuple(broadcast)
        for name in self._parameter_names:
            weight = self.add_weight(
                shape=shape,
                name=name,
                initializer=getattr(self, f"{name}_initializer"),
                regularizer=getattr(self, f"{name}_regularizer"),
                constraint=getattr(self, f"{name}_constraint"),
                # Inside call, Keras would otherwise hand out the value in the
                # compute dtype (float16 under mixed precision), and on
                # PyTorch the parameter's gradient would flow back through
                # that cast, overflowing past 65504.
                autocast=False,
            )
            setattr(self, name, weight)
        self.input_spec = keras.layers.InputSpec(ndim=rank, axes=axes)

    def _shared_axes_shape(self, input_shape):
        rank = len(input_shape)
        if self.shared_axes and self.shared_axes[-1] >= rank:
            raise ValueError(
                f"`shared_axes` must name axes of the input (1 to {rank - 1}). "
                f"Received: shared_axes={self.shared_axes} for "
                f"input_shape={input_shape}"
            )
        shape = []
        axes = {}
        for axis in range(1, rank):
            if axis in self.shared_axes:
                shape.append(1)
            elif input_shape[axis] is None:
                raise ValueError(
                    f"Axis {axis} is not in `shared_axes`, so it needs a known "
                    f"size to hold one value per index. Received: "
                    f"input_shape={input_shape}, shared_axes={self.shared_axes}"
                )
            else:
                shape.append(input_shape[axis])
                axes[axis] = input_shape[axis]
        return tuple(shape), axes

    def broadcast(self, name: str):
        """The float32 parameter `name`, shaped to broadcast against the
        inputs."""
        value = keras.ops.convert_to_tensor(getattr(self, name).value)
        if self._broadcast_shape is None:
            return value
        return keras.ops.reshape(value, self._broadcast_shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        for name in self._parameter_names:
            config.update(
                {
                    f"{name}_initializer": keras.initializers.serialize(
                        getattr(self, f"{name}_initializer")
                    ),
                    f"{name}_regularizer": keras.regularizers.serialize(
                        getattr(self, f"{name}_regularizer")
                    ),
                    f"{name}_constraint": keras.constraints.serialize(
                        getattr(self, f"{name}_constraint")
                    ),
                }
            )
        config.update(
            {"channel_axis": self.channel_axis, "shared_axes": self.shared_axes}
        )
        return config
