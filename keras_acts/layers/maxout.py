"""Maxout over groups of features (Goodfellow et al., 2013)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_acts import _validation
from keras_acts.layers._kernels import group_max

GROUPINGS = ("contiguous", "interleaved")


@keras.saving.register_keras_serializable(package="keras_acts")
class Maxout(keras.layers.Layer):
    """Keeps the maximum of each group of features along an axis.

    The `features` entries of `axis` are split into `num_units` groups of
    `k = features / num_units`, and each group is replaced by its maximum.
    The layer has no weights: placed after a `Dense` or `Conv` layer with
    `num_units * k` outputs, it makes each output the maximum of `k` affine
    pieces, the maxout unit of Goodfellow et al.

    Groupings:
        - `"contiguous"` (pylearn2's and Lasagne's convention): unit `j` takes
          features `j*k, ..., j*k + k - 1`.
        - `"interleaved"`: unit `j` takes features `j, j + num_units,
          j + 2*num_units, ...`. This gives exactly the outputs of
          `tfa.layers.Maxout` (TensorFlow Addons), so weights trained with it
          keep their meaning.

    Contiguous is the default because it is the cheaper reduction.

    Args:
        num_units: Number of outputs along `axis`; must divide its size.
        axis: The axis holding the features. Defaults to `-1`.
        grouping: `"contiguous"` or `"interleaved"`. Defaults to
            `"contiguous"`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        Any tensor of rank >= 2 whose size on `axis` is divisible by
        `num_units`. Any axis may be unknown when the model is built, `axis`
        too (as in `tfa.layers.Maxout`): its size is then read when the
        layer runs, and a size that `num_units` does not divide raises a
        ValueError, except in a TensorFlow graph traced with that size
        unknown (a `tf.function` whose `input_signature` leaves it `None`,
        a `fit` that retraced for several sizes), where TensorFlow's reshape
        refuses it with an `InvalidArgumentError`. Integer inputs stay integers
        (a maximum is exact in any dtype); an empty batch gives an empty
        batch. A Keras mask (of `Embedding(mask_zero=True)` or `Masking`)
        passes on; where `axis` is one the mask covers, an output entry is
        masked unless every entry of its group is unmasked.

    Output shape:
        The input shape with `num_units` on `axis`.

    Example:
        ```python
        model = keras.Sequential([
            keras.Input(shape=(32, 32, 3)),
            keras.layers.Conv2D(4 * 16, 3),
            keras_acts.Maxout(16),  # 16 channels, each the max of 4
        ])
        print(model.output_shape)
        ```

        ```text
        (None, 30, 30, 16)
        ```

    References:
        - [Goodfellow et al., 2013, Maxout Networks](
          https://arxiv.org/abs/1302.4389)
    """

    def __init__(
        self,
        num_units: int,
        axis: int = -1,
        grouping: str = "contiguous",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        num_units = _validation.positive_integer("num_units", num_units)
        axis = _validation.integer("axis", axis)
        grouping = _validation.one_of("grouping", grouping, GROUPINGS)
        self.num_units = num_units
        self.axis = axis
        self.grouping = grouping
        self.supports_masking = True

    def _resolve_axis(self, input_shape) -> int:
        rank = len(input_shape)
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 1 <= axis < rank:
            raise ValueError(
                f"`axis` must name a non-batch axis of the input (1 to {rank - 1}, "
                f"or -1 to {-(rank - 1)}). Received: axis={self.axis} for "
                f"input_shape={input_shape}"
            )
        return axis

    def build(self, input_shape):
        axis = self._resolve_axis(input_shape)
        features = input_shape[axis]
        # An unknown size (a sequence of features, say) is checked in `call`,
        # as TensorFlow Addons' Maxout does.
        self._check_features(features, input_shape)
        self.input_spec = keras.layers.InputSpec(
            ndim=len(input_shape),
            axes={axis: features} if features is not None else None,
        )

    def _check_features(self, features, input_shape) -> None:
        # An empty axis has no maximum; ops.max would give zeros for it.
        if isinstance(features, int) and (features == 0 or features % self.num_units):
            raise ValueError(
                f"The size of axis {self.axis} ({features}) must be a positive "
                f"multiple of num_units={self.num_units}. Received: "
                f"input_shape={tuple(input_shape)}"
            )

    def call(self, inputs):
        axis = self._resolve_axis(inputs.shape)
        # A dimension unknown when traced is a tensor here; reshape then
        # refuses a size that num_units does not divide when the step runs.
        shape = list(ops.shape(inputs))
        self._check_features(shape[axis], inputs.shape)
        grouped, reduce_axis = self._group(inputs, axis)
        return group_max(grouped, reduce_axis)

    def _group(self, tensor, axis: int):
        """`tensor` with `axis` split into its groups, and the axis holding
        each group's members."""
        shape = list(ops.shape(tensor))
        # Unknown (None) only on the symbolic mask of a model being built.
        pieces = None if shape[axis] is None else shape[axis] // self.num_units
        if self.grouping == "contiguous":
            groups, reduce_axis = [self.num_units, pieces], axis + 1
        else:
            groups, reduce_axis = [pieces, self.num_units], axis
        grouped = ops.reshape(tensor, shape[:axis] + groups + shape[axis + 1 :])
        return grouped, reduce_axis

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        axis = self._resolve_axis(inputs.shape)
        if axis >= len(mask.shape):
            # The usual case, a mask over timesteps and maxout over features:
            # each output entry has the mask entry of its inputs.
            return mask
        # Maxout over a masked axis (timesteps, say): the maximum does not
        # skip masked entries, so a unit is valid only if its whole group is.
        grouped, reduce_axis = self._group(mask, axis)
        return ops.all(grouped, axis=reduce_axis)

    def compute_output_shape(self, input_shape):
        axis = self._resolve_axis(input_shape)
        self._check_features(input_shape[axis], input_shape)
        output_shape = list(input_shape)
        output_shape[self._resolve_axis(input_shape)] = self.num_units
        return tuple(output_shape)

    def compute_output_spec(self, inputs):
        # The maximum keeps the inputs' dtype, integers too, where Keras's
        # default spec would have the compute dtype.
        return keras.KerasTensor(
            self.compute_output_shape(inputs.shape), dtype=inputs.dtype
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {"num_units": self.num_units, "axis": self.axis, "grouping": self.grouping}
        )
        return config
